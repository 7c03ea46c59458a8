package symbols

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testMap = `0000000000000000 D fixed_percpu_data
000000000001ad00 D current_task
ffffffff81000000 T _text
ffffffff81000000 T startup_64
ffffffff81001000 T _stext
ffffffff81002000 T do_wait
ffffffff810022f0 t kernel_wait4
ffffffff81e00000 D init_task
ffffffff82000000 B _end
`

func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSystemMap(t *testing.T) {
	const slide = 0x19000000
	path := writeTemp(t, "System.map", testMap)
	tests := []struct {
		name    string
		info    VMCoreInfo
		slide   uint64
		wantErr string
	}{
		{"no VMCOREINFO", nil, 0, ""},
		{"_stext and KERNELOFFSET agree", &mapInfo{syms: map[string]uint64{"_stext": 0xffffffff81001000 + slide}, offset: slide}, slide, ""},
		{"_stext only", &mapInfo{syms: map[string]uint64{"_stext": 0xffffffff81001000 + slide}}, slide, ""},
		{"KERNELOFFSET only", &mapInfo{syms: map[string]uint64{}, offset: slide}, slide, ""},
		{"another build", &mapInfo{syms: map[string]uint64{"_stext": 0xffffffff81001000 + slide + 0x40}, offset: slide}, 0, "does not match this kernel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := LoadSystemMap(path, tc.info)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s, err := tab.Lookup("do_wait")
			if err != nil || s.Addr != 0xffffffff81002000+tc.slide {
				t.Errorf("do_wait = %#x %v", s.Addr, err)
			}
			if s, _ := tab.Lookup("current_task"); s.Addr != 0x1ad00 {
				t.Errorf("per-CPU current_task relocated to %#x", s.Addr)
			}
			if s, off, ok := tab.LookupAddr(0xffffffff81002000 + tc.slide + 0x160); !ok || s.Name != "do_wait" || off != 0x160 || s.Size != 0x2f0 {
				t.Errorf("LookupAddr(do_wait+0x160) = %s+%#x/%#x %v", s.Name, off, s.Size, ok)
			}
		})
	}
}

func TestSystemMapStub(t *testing.T) {
	// What Debian ships in /boot of linux-image-*.
	stub := "ffffffffffffffff B The real System.map is in the linux-image-6.1.0-50-cloud-amd64-dbg package\n"
	_, err := LoadSystemMap(writeTemp(t, "System.map-6.1.0-50-cloud-amd64", stub), nil)
	if !errors.Is(err, ErrStubSystemMap) || !strings.Contains(err.Error(), "-dbg") {
		t.Fatalf("got %v", err)
	}
	if _, err := LoadSystemMap(writeTemp(t, "empty", "\n\n"), nil); !errors.Is(err, ErrStubSystemMap) {
		t.Fatalf("empty map: %v", err)
	}
}

func TestParseSystemMapErrors(t *testing.T) {
	for _, text := range []string{
		"ffffffff81000000 T\n",
		"zzzz T foo\n",
		"ffffffff81000000 TT foo\n",
		"ffffffff81000000 T foo [mod]\n",
		strings.Repeat("x", maxMapLine+10) + "\n",
	} {
		if _, err := ParseSystemMap(strings.NewReader(text)); err == nil {
			t.Errorf("ParseSystemMap(%.40q) succeeded", text)
		}
	}
}

func FuzzParseSystemMap(f *testing.F) {
	f.Add([]byte(testMap))
	f.Add([]byte("ffffffffffffffff B The real System.map is in the linux-image-x-dbg package\n"))
	f.Add([]byte("ffffffffc0a01000 t fuse_x\t[fuse]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		syms, err := ParseSystemMap(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		tab := NewSymTable("fuzz", syms, vmlinuxRanges(syms))
		for _, s := range syms {
			if _, err := tab.Lookup(s.Name); err != nil {
				t.Fatalf("parsed %q but cannot look it up", s.Name)
			}
			tab.LookupAddr(s.Addr)
		}
	})
}
