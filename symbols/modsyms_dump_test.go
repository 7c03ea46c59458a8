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
	frames := sharedTruthFrames(t)
	checkTruthFrames(t, all, frames, framesModules)
	for _, f := range frames {
		if !framesModules.has(f) {
			continue
		}
		if _, ok := byName[f.Module]; !ok {
			t.Errorf("truth frame %s [%s]: module not loaded", f.Func, f.Module)
			continue
		}
		if s, err := all.Lookup(f.Func); err == nil && p.SymbolizeAddr(s.Addr+f.Offset) == "" {
			t.Errorf("%s+%#x [%s]: empty symbolization", f.Func, f.Offset, f.Module)
		}
	}
	// A vmlinux address still resolves through the combined table.
	if s, _, ok := all.LookupAddr(vm.syms[len(vm.syms)/2].Addr); !ok || s.Module != "" {
		t.Errorf("vmlinux address through the combined table: %+v ok=%v", s, ok)
	}
}
