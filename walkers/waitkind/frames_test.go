package waitkind

import "testing"

func TestFramesMatchCompilerSuffixes(t *testing.T) {
	f := NewFrames("__mutex_lock", "rwsem_down_write_slowpath", "__down")
	for _, tc := range []struct {
		sym  string
		want bool
	}{
		{"__mutex_lock", true},
		{"__mutex_lock.constprop.0", true},
		{"__mutex_lock.isra.12", true},
		{"__mutex_lock.part.0", true},
		{"__mutex_lock.cold", true},
		{"__mutex_lock.constprop.0.cold", true},
		{"__mutex_lock.llvm.8812345", true},
		{"rwsem_down_write_slowpath.isra.0", true},
		{"__mutex_lock_slowpath", false},
		{"mutex_lock", false},
		{"__down_common", false},
		{"__down.part.0", true},
		{"", false},
		{".constprop.0", false},
	} {
		if got := f.Match(tc.sym); got != tc.want {
			t.Errorf("Match(%q) = %v, want %v", tc.sym, got, tc.want)
		}
	}
	if (Frames{}).Match("__mutex_lock") {
		t.Error("empty set matched")
	}
}
