package symbols

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/testdata"
)

// TestSymbolsGeneratedDumps runs the symbol loaders on every generated dump
// (5.10, 6.1, 6.12, sid): kallsyms through VMCOREINFO where the kernel
// publishes it, the rodata scan on 5.10 (and, forced, everywhere the tables
// use the 5.10 layout), module symbols through BTF, all checked against the
// guest's own /proc stacks.
func TestSymbolsGeneratedDumps(t *testing.T) {
	for _, rd := range testdata.GeneratedDumps(t) {
		gd, path := rd.Generated, rd.Path
		t.Run(rd.Name, func(t *testing.T) {
			d, err := kcore.Open(path, kcore.Options{})
			if err != nil {
				t.Fatalf("kcore.Open(%s): %v", path, err)
			}
			defer d.Close()
			info := d.VMCoreInfo()
			if info == nil {
				t.Fatalf("%s: no VMCOREINFO", path)
			}
			st, err := LoadKernelSymbols(d, info, SymbolOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s", gd.ID(), st.Describe())
			_, inVMCI := info.Symbol("kallsyms_names")
			if !inVMCI && !strings.Contains(st.Describe(), "scanning") {
				t.Errorf("no kallsyms in VMCOREINFO, yet the loader did not scan: %s", st.Describe())
			}
			if stext, ok := info.Symbol("_stext"); ok {
				if s, err := st.Lookup("_stext"); err != nil || s.Addr != stext {
					t.Errorf("_stext %#x (%v), VMCOREINFO %#x", s.Addr, err, stext)
				}
			}
			for _, name := range []string{"init_task", "linux_banner", "__start_BTF", "__stop_BTF", "modules"} {
				if _, err := st.Lookup(name); err != nil {
					t.Error(err)
				}
			}
			// The scan finds the tables on every kernel, where VMCOREINFO
			// has them at the same address.
			if _, ki, err := loadKallsymsScan(d, info); err != nil {
				t.Errorf("forced scan: %v", err)
			} else if want, ok := info.Symbol("kallsyms_names"); ok && ki.NamesAddr != want {
				t.Errorf("scan found kallsyms_names at %#x, VMCOREINFO has %#x", ki.NamesAddr, want)
			}
			all := st
			types, err := LoadBTFFromMemory(d, st)
			if err != nil {
				t.Errorf("BTF (for module symbols): %v", err)
			} else {
				p := NewProgram(d, st, types)
				mods, err := LoadModuleSymbols(p)
				if err != nil {
					t.Errorf("module symbols: %v", err)
				} else {
					all = CombineTables(st, mods)
				}
			}
			checkTruthFrames(t, all, truthFrames(t, gd.Truth), framesAll)
			// The real System.map of the -dbg package, relocated by this
			// dump's KASLR slide, agrees with kallsyms.
			if ks, ok := st.(*SymTable); ok {
				for _, root := range debugRoots(gd.Kernel, gd.DebugRoot) {
					p := filepath.Join(root, "boot", "System.map-"+info.OSRelease())
					if _, err := os.Stat(p); err != nil {
						continue
					}
					sm, err := LoadSystemMap(p, info)
					if err != nil {
						t.Errorf("%s: %v", p, err)
						break
					}
					t.Log(sm.Describe())
					compareWithKallsyms(t, ks, sm)
					break
				}
			}
			// Debian's /boot System.map is a stub: it must be recognised as one.
			if gd.KernelRoot != "" {
				maps, _ := filepath.Glob(filepath.Join(gd.KernelRoot, "boot", "System.map-*"))
				for _, m := range maps {
					_, err := LoadSystemMap(m, info)
					switch {
					case errors.Is(err, ErrStubSystemMap):
						t.Logf("%s: recognised as a stub", m)
					case err != nil:
						t.Errorf("%s: %v", m, err)
					}
				}
			}
		})
	}
}
