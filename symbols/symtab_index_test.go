package symbols

import (
	"fmt"
	"slices"
	"testing"
)

// TestSortNameIndex checks the radix sort against a plain comparison sort.
func TestSortNameIndex(t *testing.T) {
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
		{"shared prefixes", many(5000, func(i int) string {
			return fmt.Sprintf("__ksymtab_%d", (i*7919)%1300)
		}, func(i int) byte { return "tTdDwW"[i%6] })},
		{"short and long", many(4000, func(i int) string {
			return []string{"a", "ab", "abcdefgh", "abcdefghi", "abcdefg", "zz", "abcdefgh_x", "~"}[i%8] + fmt.Sprint(i%3)
		}, func(i int) byte { return "tT"[i/3%2] })},
		{"one name", many(2000, func(int) string { return "same" }, func(i int) byte { return "tT"[i%2] })},
		{"distinct", many(3000, func(i int) string { return fmt.Sprintf("%08x_sym", i*2654435761%(1<<32)) }, func(int) byte { return 'T' })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkNameIndex(t, tt.syms) })
	}
}

// TestSortNameIndexSharedDump checks the radix sort on a real kernel's names.
func TestSortNameIndexSharedDump(t *testing.T) {
	d := openSharedDump(t)
	tab, _, err := loadKallsymsVMCoreInfo(d, d.VMCoreInfo())
	if err != nil {
		t.Fatal(err)
	}
	checkNameIndex(t, tab.Symbols())
}

func checkNameIndex(t *testing.T, syms []Symbol) {
	t.Helper()
	got := buildNameIndex(syms)
	want := slices.Clone(got)
	slices.SortFunc(want, compareEntries)
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("entry %d is %+v, want %+v", i, got[i], want[i])
		}
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
	scanning.building.Store(true) // as buildIndexAsync leaves it before the index is stored
	for _, name := range []string{"dup", "loc", "missing"} {
		want, wantErr := indexed.Lookup(name)
		got, gotErr := scanning.Lookup(name)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Errorf("Lookup(%q) while indexing = %+v, %v; with the index %+v, %v", name, got, gotErr, want, wantErr)
		}
	}
}

func BenchmarkNameIndexSharedDump(b *testing.B) {
	syms := sharedTable(b).Symbols()
	for b.Loop() {
		buildNameIndex(syms)
	}
}
