package symbols

import (
	"strings"
	"testing"
)

func TestLoadKernelSymbolsSources(t *testing.T) {
	syms := testKernelSyms(testText, 300) // a scan wants a kernel-sized count
	base := uint64(testText + 0x210000)
	mem, addrs := memWithKallsyms(t, base, syms, genOpts{enc: encAbsolutePercpu})
	full := infoFor(addrs, testText+0x1000)
	full.release = "6.1.0-50-cloud-amd64"
	old := &mapInfo{syms: map[string]uint64{"_stext": testText + 0x1000}, release: "5.10.0-32-cloud-amd64"}
	sysmap := writeTemp(t, "System.map", "ffffffff9a001000 T _stext\nffffffff9a002000 T do_wait\nffffffff9a800000 B _end\n")
	stub := writeTemp(t, "System.map-stub", "ffffffffffffffff B The real System.map is in the linux-image-5.10.0-32-cloud-amd64-dbg package\n")
	empty := newSparseMem()
	empty.write(testText+0x1000, make([]byte, 1<<20))

	tests := []struct {
		name     string
		mem      *sparseMem
		info     VMCoreInfo
		opts     SymbolOptions
		wantDesc string
		wantErr  []string
	}{
		{"6.0+: VMCOREINFO kallsyms", mem, full, SymbolOptions{}, "VMCOREINFO", nil},
		{"< 6.0: the scan", mem, old, SymbolOptions{}, "scanning", nil},
		{"forced scan", mem, full, SymbolOptions{Source: SourceScan}, "scanning", nil},
		{"forced System.map", mem, full, SymbolOptions{Source: SourceSystemMap, SystemMap: sysmap}, "System.map", nil},
		{"no tables, System.map given", empty, old, SymbolOptions{SystemMap: sysmap}, "System.map", nil},
		{"no tables, no files", empty, old, SymbolOptions{},
			"", []string{"no kallsyms in VMCOREINFO (kernel < 6.0)", "found no token table", "linux-image-5.10.0-32-cloud-amd64-dbg", "--system-map FILE", "--vmlinux FILE"}},
		// A 6.1 dump whose kallsyms pages are damaged or left out: that is
		// the cause, not a kernel before 6.0.
		{"6.0+: kallsyms tables unreadable", empty, full, SymbolOptions{},
			"", []string{"no kernel symbols: VMCOREINFO names the kallsyms tables but they could not be read", "kallsyms from VMCOREINFO", "linux-image-6.1.0-50-cloud-amd64-dbg", "--system-map FILE"}},
		// A 6.1 dump whose VMCOREINFO lost its kallsyms lines.
		{"6.0+: VMCOREINFO without kallsyms", empty, &mapInfo{syms: map[string]uint64{"_stext": testText + 0x1000}, release: "6.1.0-50-cloud-amd64"}, SymbolOptions{},
			"", []string{"no kernel symbols: the VMCOREINFO of this 6.1.0-50-cloud-amd64 kernel lacks the kallsyms symbols", "found no token table"}},
		{"no tables, stub System.map", empty, old, SymbolOptions{SystemMap: stub},
			"", []string{"found no token table", "stub"}},
		{"no VMCOREINFO at all", empty, nil, SymbolOptions{}, "", []string{"no VMCOREINFO", "<release>-dbg"}},
		{"typed nil VMCOREINFO", empty, (*mapInfo)(nil), SymbolOptions{}, "", []string{"no VMCOREINFO"}},
		{"forced kallsyms on 5.10", mem, old, SymbolOptions{Source: SourceKallsyms}, "", []string{"kernel symbols from kallsyms", "kernel < 6.0"}},
		{"forced vmlinux without a path", mem, full, SymbolOptions{Source: SourceVmlinux}, "", []string{"vmlinux", "no file given"}},
		{"unknown source", mem, full, SymbolOptions{Source: "bogus"}, "", []string{"unknown symbol source"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := LoadKernelSymbols(tc.mem, tc.info, tc.opts)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("loaded %s", st.Describe())
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "--symbols") {
					t.Errorf("error %q names --symbols, which kwalk does not have", err)
				}
				if mi, ok := tc.info.(*mapInfo); ok && mi != nil && releaseAtLeast(mi.release, 6, 0) && strings.Contains(err.Error(), "kernel < 6.0") {
					t.Errorf("error %q blames the kernel version of a 6.1 dump", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(st.Describe(), tc.wantDesc) {
				t.Errorf("loaded %q, want %q", st.Describe(), tc.wantDesc)
			}
			if s, err := st.Lookup("do_wait"); err != nil || s.Addr != testText+0x2000 {
				t.Errorf("do_wait = %#x %v", s.Addr, err)
			}
		})
	}
}

func TestParseSymbolSource(t *testing.T) {
	for in, want := range map[string]SymbolSource{"": SourceAuto, "auto": SourceAuto, "KALLSYMS": SourceKallsyms,
		"scan": SourceScan, "System.map": SourceSystemMap, "vmlinux": SourceVmlinux, "proc": SourceProc} {
		if got, err := ParseSymbolSource(in); err != nil || got != want {
			t.Errorf("ParseSymbolSource(%q) = %q %v", in, got, err)
		}
	}
	if _, err := ParseSymbolSource("dwarf"); err == nil {
		t.Error("dwarf accepted")
	}
}

func TestReleaseAtLeast(t *testing.T) {
	for _, tc := range []struct {
		release string
		want    bool
	}{
		{"6.1.0-50-cloud-amd64", true}, {"6.0.0", true}, {"5.10.0-32-cloud-amd64", false},
		{"10.2", true}, {"5.19.17", false}, {"", false}, {"<release>", false}, {"6", false},
	} {
		if got := releaseAtLeast(tc.release, 6, 0); got != tc.want {
			t.Errorf("releaseAtLeast(%q, 6, 0) = %v", tc.release, got)
		}
	}
}
