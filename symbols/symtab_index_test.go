package symbols

import (
	"fmt"
	"slices"
	"testing"
)

// TestNameIndex checks the index against a scan of the symbols.
func TestNameIndex(t *testing.T) {
	many := func(n int, name func(i int) string, typ func(i int) byte) []Symbol {
		out := make([]Symbol, n)
		for i := range out {
			out[i] = Symbol{Name: name(i), Type: typ(i), Addr: uint64(i)}
		}
		return out
	}
	tests := []struct {
		name string
		syms []Symbol
	}{
		{"empty", nil},
		{"small", []Symbol{{Name: "b", Type: 't'}, {Name: "a", Type: 'T'}, {Name: "b", Type: 'T'}}},
		{"repeats", many(5000, func(i int) string {
			return fmt.Sprintf("__ksymtab_%d", (i*7919)%1300)
		}, func(i int) byte { return "tTdDwW"[i%6] })},
		{"locals only", many(300, func(i int) string { return fmt.Sprint(i % 7) }, func(int) byte { return 't' })},
		{"one name", many(2000, func(int) string { return "same" }, func(i int) byte { return "tT"[i%2] })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkNameIndex(t, tt.syms) })
	}
}

// TestNameIndexSharedDump checks the index on a real kernel's names.
func TestNameIndexSharedDump(t *testing.T) {
	d := openSharedDump(t)
	tab, _, err := loadKallsymsVMCoreInfo(d, d.VMCoreInfo())
	if err != nil {
		t.Fatal(err)
	}
	checkNameIndex(t, tab.Symbols())
}

// checkNameIndex compares each name's lookups with a scan: Lookup the
// first global in table order (else the first local), LookupAll globals
// then locals, Names every name once, sorted.
func checkNameIndex(t *testing.T, syms []Symbol) {
	t.Helper()
	ix := buildNameIndex(syms)
	want := map[string][]int{}
	var names []string
	for _, global := range []bool{true, false} {
		for i, s := range syms {
			if s.isGlobal() == global {
				if want[s.Name] == nil {
					names = append(names, s.Name)
				}
				want[s.Name] = append(want[s.Name], i)
			}
		}
	}
	for name, all := range want {
		if got, ok := ix.lookup(name); !ok || got != all[0] {
			t.Fatalf("lookup(%q) = %d, %v; want %d", name, got, ok, all[0])
		}
		if got := ix.all(syms, name); !slices.Equal(got, all) {
			t.Fatalf("all(%q) = %v, want %v", name, got, all)
		}
	}
	if _, ok := ix.lookup("no such symbol"); ok {
		t.Fatal("lookup of a missing name succeeded")
	}
	tab := NewSymTable("test", slices.Clone(syms), nil)
	slices.Sort(names)
	if got := tab.Names(); !slices.Equal(got, names) {
		t.Fatalf("Names() has %d names, want %d", len(got), len(names))
	}
}

// TestSymTableLookupWhileIndexing checks that lookups answered by the scan
// (while the index is built in the background) agree with the index.
func TestSymTableLookupWhileIndexing(t *testing.T) {
	syms := []Symbol{
		{Name: "dup", Addr: 0x1000, Type: 't'},
		{Name: "dup", Addr: 0x2000, Type: 'T'},
		{Name: "dup", Addr: 0x3000, Type: 'T'},
		{Name: "loc", Addr: 0x4000, Type: 'd'},
		{Name: "loc", Addr: 0x5000, Type: 'd'},
	}
	indexed := NewSymTable("indexed", slices.Clone(syms), nil)
	scanning := NewSymTable("scanning", slices.Clone(syms), nil)
	scanning.deferIndex(100)
	for _, name := range []string{"dup", "loc", "missing"} {
		want, wantErr := indexed.Lookup(name)
		got, gotErr := scanning.Lookup(name)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Errorf("Lookup(%q) while indexing = %+v, %v; with the index %+v, %v", name, got, gotErr, want, wantErr)
		}
	}
	if scanning.byName.Load() != nil {
		t.Error("deferred lookups built the index")
	}
	scanning.deferIndex(0)
	if _, err := scanning.Lookup("dup"); err != nil || scanning.byName.Load() == nil {
		t.Errorf("a lookup past the deferred ones did not build the index (%v)", err)
	}
	scanning.IndexNamesInBackground() // already built: nothing to do
}

func BenchmarkNameIndexSharedDump(b *testing.B) {
	syms := sharedTable(b).Symbols()
	for b.Loop() {
		buildNameIndex(syms)
	}
}
