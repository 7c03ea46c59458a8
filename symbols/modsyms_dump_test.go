package symbols

import (
	"testing"
)

// TestModuleSymbolsSharedDump loads module symbols through BTF from the
// dump and checks every module frame of the guest's /proc stacks.
func TestModuleSymbolsSharedDump(t *testing.T) {
	d := openSharedDump(t)
	info := d.VMCoreInfo()
	vm, _, err := loadKallsymsVMCoreInfo(d, info)
	if err != nil {
		t.Fatal(err)
	}
	types, err := LoadBTFFromMemory(d, vm)
	if err != nil {
		t.Fatalf("BTF from the dump: %v", err)
	}
	p := NewProgram(d, vm, types)
	mt, mods, err := LoadModules(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range p.Warnings {
		t.Errorf("warning: %s", w)
	}
	t.Logf("%s", mt.Describe())
	byName := map[string]ModuleInfo{}
	for _, m := range mods {
		byName[m.Name] = m
		if m.NumSyms == 0 || len(m.Ranges) == 0 {
			t.Errorf("module %s: %d symbols, ranges %v", m.Name, m.NumSyms, m.Ranges)
		}
	}
	all := CombineTables(vm, mt)
	checked := 0
	for _, f := range truthFrames(t) {
		if f.module == "" {
			continue
		}
		if _, ok := byName[f.module]; !ok {
			t.Errorf("truth frame %s [%s]: module not loaded", f.name, f.module)
			continue
		}
		s, err := all.Lookup(f.name)
		if err != nil {
			t.Errorf("truth frame %s [%s]: %v", f.name, f.module, err)
			continue
		}
		got, off, ok := all.LookupAddr(s.Addr + f.off)
		if !ok || got.Name != f.name || got.Module != f.module || off != f.off || got.Size != f.size {
			t.Errorf("LookupAddr(%s+%#x) = %s+%#x/%#x [%s] ok=%v, guest printed %s+%#x/%#x [%s]",
				f.name, f.off, got.Name, off, got.Size, got.Module, ok, f.name, f.off, f.size, f.module)
		}
		if p.SymbolizeAddr(s.Addr+f.off) == "" {
			t.Error("empty symbolization")
		}
		checked++
	}
	t.Logf("%d distinct module truth frames match", checked)
	if checked == 0 {
		t.Error("no module truth frames checked")
	}
	// A vmlinux address still resolves through the combined table.
	if s, _, ok := all.LookupAddr(vm.syms[len(vm.syms)/2].Addr); !ok || s.Module != "" {
		t.Errorf("vmlinux address through the combined table: %+v ok=%v", s, ok)
	}
}
