package symbols

import (
	"path/filepath"
	"testing"
)

// TestSystemMapSharedDump relocates the real System.map of the shared dump's
// kernel and compares it with the dump's own kallsyms.
func TestSystemMapSharedDump(t *testing.T) {
	d := openSharedDump(t)
	info := d.VMCoreInfo()
	path := dbgFile(t, filepath.Join("boot", "System.map-"+info.OSRelease()))
	sm, err := LoadSystemMap(path, info)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sm.Describe())
	ks, _, err := loadKallsymsVMCoreInfo(d, info)
	if err != nil {
		t.Fatal(err)
	}
	compareWithKallsyms(t, ks, sm)
	checkTruthNames(t, sm)
}

// TestVmlinuxSymbolsSharedDump does the same with the vmlinux ELF symtab.
func TestVmlinuxSymbolsSharedDump(t *testing.T) {
	d := openSharedDump(t)
	info := d.VMCoreInfo()
	path := dbgFile(t, filepath.Join("boot", "vmlinux-"+info.OSRelease()))
	vm, err := LoadVmlinuxSymbols(path, info)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(vm.Describe())
	ks, _, err := loadKallsymsVMCoreInfo(d, info)
	if err != nil {
		t.Fatal(err)
	}
	compareWithKallsyms(t, ks, vm)
	checkTruthNames(t, vm)
}

// compareWithKallsyms: every kernel-image kallsyms symbol is in other at
// the same address.
func compareWithKallsyms(t *testing.T, ks, other *SymTable) {
	t.Helper()
	missing, moved := 0, 0
	for _, s := range ks.Symbols() {
		if s.Addr < kernelHalf {
			continue // per-CPU offsets
		}
		all := other.LookupAll(s.Name)
		if len(all) == 0 {
			missing++
			continue
		}
		found := false
		for _, o := range all {
			found = found || o.Addr == s.Addr
		}
		if !found {
			if moved < 5 {
				t.Errorf("%s: kallsyms %#x, %s has %#x", s.Name, s.Addr, other.Describe(), all[0].Addr)
			}
			moved++
		}
	}
	t.Logf("%d kallsyms symbols, %d not in %s, %d at other addresses", ks.Len(), missing, other.Describe(), moved)
	// kallsyms leaves out nothing the link has; a few linker symbols aside,
	// the sets agree.
	if missing > ks.Len()/100 {
		t.Errorf("%d of %d kallsyms symbols missing", missing, ks.Len())
	}
}

// checkTruthNames resolves the guest's vmlinux frames by name and offset.
// Sizes are not compared: a file has symbols kallsyms leaves out.
func checkTruthNames(t *testing.T, st *SymTable) {
	t.Helper()
	n := 0
	for _, f := range sharedTruthFrames(t) {
		if !framesVmlinux.has(f) {
			continue
		}
		s, err := st.Lookup(f.Func)
		if err != nil {
			t.Errorf("truth frame %s: %v", f.Func, err)
			continue
		}
		got, off, ok := st.LookupAddr(s.Addr + f.Offset)
		if !ok || got.Name != f.Func || off != f.Offset {
			t.Errorf("LookupAddr(%s+%#x) = %s+%#x ok=%v", f.Func, f.Offset, got.Name, off, ok)
		}
		n++
	}
	t.Logf("%d truth frames resolve", n)
}
