package symbols

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadProcKallsyms(t *testing.T) {
	dir := t.TempDir()
	kall := `0000000000000000 A fixed_percpu_data
ffffffff9a000000 T _text
ffffffff9a001000 T _stext
ffffffff9a002000 T do_wait
ffffffff9b000000 B _end
ffffffffc0a01000 t request_wait_answer	[fuse]
ffffffffc0a012a0 t fuse_simple_request	[fuse]
ffffffffc0b00000 t other_fn	[other]
`
	os.WriteFile(filepath.Join(dir, "kallsyms"), []byte(kall), 0o644)
	os.WriteFile(filepath.Join(dir, "modules"), []byte("fuse 163840 3 - Live 0xffffffffc0a00000\n"), 0o644)
	tab, err := LoadProcKallsyms(filepath.Join(dir, "kallsyms"))
	if err != nil {
		t.Fatal(err)
	}
	s, off, ok := tab.LookupAddr(0xffffffffc0a01159)
	if !ok || s.Name != "request_wait_answer" || s.Module != "fuse" || off != 0x159 || s.Size != 0x2a0 {
		t.Errorf("LookupAddr in fuse: %+v %#x %v", s, off, ok)
	}
	if _, _, ok := tab.LookupAddr(0xffffffffc0a00000 + 163840 + 10); ok {
		t.Error("claimed an address past fuse's end")
	}
	if s, _, ok := tab.LookupAddr(0xffffffffc0b00000); !ok || s.Module != "other" {
		t.Errorf("module without /proc/modules line: %+v %v", s, ok)
	}
	// kptr_restrict: every address 0.
	hidden := strings.NewReplacer("ffffffff9a000000", "0000000000000000", "ffffffff9a001000", "0000000000000000",
		"ffffffff9a002000", "0000000000000000", "ffffffff9b000000", "0000000000000000",
		"ffffffffc0a01000", "0000000000000000", "ffffffffc0a012a0", "0000000000000000", "ffffffffc0b00000", "0000000000000000").Replace(kall)
	_, err = LoadProcKallsyms(writeTemp(t, "kallsyms", hidden))
	if !errors.Is(err, ErrHiddenAddresses) {
		t.Errorf("hidden addresses: %v", err)
	}
}

// TestLoadProcKallsymsLive reads this machine's own /proc/kallsyms.
func TestLoadProcKallsymsLive(t *testing.T) {
	const path = "/proc/kallsyms"
	tab, err := LoadProcKallsyms(path)
	if errors.Is(err, ErrHiddenAddresses) || errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
		t.Skipf("SKIP: %s not usable here: %v", path, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Log(tab.Describe())
	for _, name := range []string{"_stext", "_text", "do_wait"} {
		s, err := tab.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if got, off, ok := tab.LookupAddr(s.Addr); !ok || got.Addr != s.Addr || off != 0 {
			t.Errorf("LookupAddr(%s %#x) = %+v %#x %v", name, s.Addr, got, off, ok)
		}
	}
}
