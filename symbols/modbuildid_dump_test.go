package symbols

import (
	"path/filepath"
	"testing"

	"github.com/kwalk/kwalk/debuginfod"
	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/testdata"
)

// TestModuleBuildIDGeneratedDumps reads every loaded module's build-id on
// every generated dump (5.10 to 7.x, x86_64 and arm64), and where the
// kernel's -dbg package is unpacked, checks the fuse module's against its
// debug file (the build-id debuginfod serves it by).
func TestModuleBuildIDGeneratedDumps(t *testing.T) {
	checked := 0
	for _, rd := range testdata.GeneratedDumps(t) {
		gd, path := rd.Generated, rd.Path
		if gd == nil {
			continue
		}
		t.Run(rd.Name, func(t *testing.T) {
			d, err := kcore.Open(path, kcore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			st, err := LoadKernelSymbols(d, d.VMCoreInfo(), SymbolOptions{})
			if err != nil {
				t.Fatal(err)
			}
			types, err := LoadBTFFromMemory(d, st)
			if err != nil {
				t.Fatal(err)
			}
			p := NewProgram(d, st, types)
			_, mods, err := LoadModules(p)
			if err != nil {
				t.Fatal(err)
			}
			var want string
			if gd.DebugRoot != "" {
				ko := filepath.Join(gd.DebugRoot, "lib", "modules", gd.Truth.Release(), "kernel", "fs", "fuse", "fuse.ko")
				if want, err = debuginfod.FileBuildID(ko); err != nil {
					t.Logf("no fuse debug file: %v", err)
				}
			}
			for _, m := range mods {
				if m.Name == "kwalk_oops" {
					continue // the generator writes it by hand, without notes (testdata/gen/oopsmod.go)
				}
				id, err := ModuleBuildID(p, m.Addr)
				if err != nil || len(id) < 16 {
					t.Errorf("module %s: build-id %q: %v", m.Name, id, err)
					continue
				}
				checked++
				if m.Name == "fuse" && want != "" {
					if id != want {
						t.Errorf("fuse: build-id %s in memory, %s in its debug file", id, want)
					} else {
						t.Logf("fuse: build-id %s, as its debug file's", id)
					}
				}
			}
		})
	}
	t.Logf("%d module build-ids read", checked)
}
