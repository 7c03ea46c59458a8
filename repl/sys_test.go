package repl

import "testing"

func TestFindPanic(t *testing.T) {
	tests := []struct {
		lines []string
		want  string
	}{
		{[]string{"Linux version 6.1", "fuse: init"}, ""},
		{[]string{"sysrq: Trigger a crash", "Kernel panic - not syncing: sysrq triggered crash", "CPU: 0 PID: 1"}, "Kernel panic - not syncing: sysrq triggered crash"},
		{[]string{"a", "sysrq: Trigger a crash"}, "sysrq: Trigger a crash"},
		{[]string{"BUG: soft lockup - CPU#0 stuck for 22s!"}, ""},
	}
	for _, tc := range tests {
		if got := findPanic(tc.lines); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.lines, got, tc.want)
		}
	}
}
