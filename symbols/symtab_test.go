package symbols

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestSymTableLookups(t *testing.T) {
	const base = 0xffffffff81000000
	syms := []Symbol{
		{Name: "_text", Addr: base, Type: 'T'},
		{Name: "startup_64", Addr: base, Type: 'T'},
		{Name: "show_cpuinfo", Addr: base + 0x100, Type: 't'},
		{Name: "show_cpuinfo", Addr: base + 0x900, Type: 't'}, // a second static one
		{Name: "do_wait", Addr: base + 0x1000, Type: 'T'},
		{Name: "sized", Addr: base + 0x2000, Size: 0x10, Type: 'T'},
		{Name: "after", Addr: base + 0x3000, Type: 'T'},
		{Name: "dup", Addr: base + 0x3100, Type: 'd'},
		{Name: "dup", Addr: base + 0x3200, Type: 'D'},
		{Name: "_end", Addr: base + 0x4000, Type: 'B'},
	}
	tab := NewSymTable("test", slices.Clone(syms), []SymRange{{Lo: base, Hi: base + 0x4000, Name: "image"}})

	lookups := []struct {
		name string
		addr uint64
		err  bool
	}{
		{"do_wait", base + 0x1000, false},
		{"show_cpuinfo", base + 0x100, false}, // both local: the first
		{"dup", base + 0x3200, false},         // the global wins
		{"missing", 0, true},
	}
	for _, tc := range lookups {
		s, err := tab.Lookup(tc.name)
		if tc.err {
			if !errors.Is(err, ErrNoSymbol) {
				t.Errorf("Lookup(%s): err %v, want ErrNoSymbol", tc.name, err)
			}
			continue
		}
		if err != nil || s.Addr != tc.addr {
			t.Errorf("Lookup(%s) = %#x, %v; want %#x", tc.name, s.Addr, err, tc.addr)
		}
	}
	if n := len(tab.LookupAll("show_cpuinfo")); n != 2 {
		t.Errorf("LookupAll(show_cpuinfo) = %d symbols, want 2", n)
	}

	addrs := []struct {
		addr uint64
		want string
		off  uint64
		size uint64
		ok   bool
	}{
		{base - 1, "", 0, 0, false},
		{base, "_text", 0, 0x100, true}, // first alias, as the kernel
		{base + 0x1ff, "show_cpuinfo", 0xff, 0x800, true},
		{base + 0x1234, "do_wait", 0x234, 0x1000, true},
		{base + 0x200f, "sized", 0xf, 0x10, true},
		{base + 0x2010, "sized", 0x10, 0x10, true}, // past a known size, before the next symbol
		{base + 0x3fff, "dup", 0xdff, 0xe00, true},
		{base + 0x4000, "", 0, 0, false},         // _end: outside the range
		{base + 100<<20, "", 0, 0, false},        // far past the end
		{0xffffffffc0000000, "", 0, 0, false},    // module space
		{0x10, "", 0, 0, false},                  // small numbers
		{^uint64(0), "", 0, 0, false},            // the top
		{base + 0x3000, "after", 0, 0x100, true}, // exact
	}
	for _, tc := range addrs {
		s, off, ok := tab.LookupAddr(tc.addr)
		if ok != tc.ok || s.Name != tc.want || off != tc.off || (ok && s.Size != tc.size) {
			t.Errorf("LookupAddr(%#x) = %s+%#x/%#x %v, want %s+%#x/%#x %v", tc.addr, s.Name, off, s.Size, ok, tc.want, tc.off, tc.size, tc.ok)
		}
	}
	names := tab.Names()
	if !slices.IsSorted(names) || len(names) != 8 {
		t.Errorf("Names() = %v", names)
	}
	names[0] = "clobbered"
	if tab.Names()[0] == "clobbered" {
		t.Error("Names() shares its slice")
	}
}

func TestSymTableDerivedRange(t *testing.T) {
	tab := NewSymTable("x", []Symbol{{Name: "a", Addr: 0x1000, Type: 'T'}, {Name: "b", Addr: 0x2000, Size: 0x80, Type: 'T'}}, nil)
	if s, _, ok := tab.LookupAddr(0x1fff); !ok || s.Name != "a" {
		t.Errorf("inside a: %v %v", s, ok)
	}
	if _, _, ok := tab.LookupAddr(0x2080); ok {
		t.Error("past the last sized symbol")
	}
}

func TestCombineTables(t *testing.T) {
	vm := NewSymTable("vmlinux", []Symbol{
		{Name: "do_wait", Addr: 0xffffffff81001000, Type: 'T'},
		{Name: "helper", Addr: 0xffffffff81002000, Type: 't'},
		{Name: "_end", Addr: 0xffffffff82000000, Type: 'B'},
	}, nil)
	mods := NewSymTable("modules", []Symbol{
		{Name: "request_wait_answer", Addr: 0xffffffffc0001000, Type: 't', Module: "fuse"},
		{Name: "helper", Addr: 0xffffffffc0002000, Type: 'T', Module: "fuse"},
		{Name: "do_wait", Addr: 0xffffffffc0003000, Type: 'T', Module: "other"},
	}, []SymRange{{Lo: 0xffffffffc0000000, Hi: 0xffffffffc0002800, Name: "fuse"}, {Lo: 0xffffffffc0003000, Hi: 0xffffffffc0003100, Name: "other"}})
	c := CombineTables(vm, nil, mods)
	tests := []struct {
		name, module string
	}{
		{"do_wait", ""}, // vmlinux global first
		{"helper", ""},  // no vmlinux global: the first match, the vmlinux local
		{"request_wait_answer", "fuse"},
	}
	for _, tc := range tests {
		s, err := c.Lookup(tc.name)
		if err != nil || s.Module != tc.module {
			t.Errorf("Lookup(%s) = %+v %v, want module %q", tc.name, s, err, tc.module)
		}
	}
	if s, off, ok := c.LookupAddr(0xffffffffc0001010); !ok || s.Name != "request_wait_answer" || off != 0x10 || s.Size != 0x1000 {
		t.Errorf("module LookupAddr: %+v %#x %v", s, off, ok)
	}
	if _, _, ok := c.LookupAddr(0xffffffffc0002900); ok {
		t.Error("past the end of fuse")
	}
	if got := c.Names(); len(got) != 4 {
		t.Errorf("Names() = %v", got)
	}
	if _, err := c.Lookup("nope"); !errors.Is(err, ErrNoSymbol) {
		t.Errorf("missing: %v", err)
	}
}

// benchTable builds a table of n synthetic symbols.
func benchTable(n int) (*SymTable, []Symbol) {
	syms := make([]Symbol, n)
	for i := range syms {
		syms[i] = Symbol{Name: fmt.Sprintf("sym_%07d_%x", i, i*2654435761), Addr: 0xffffffff81000000 + uint64(i)*0x40, Type: 'T'}
	}
	return NewSymTable("bench", slices.Clone(syms), []SymRange{{Lo: syms[0].Addr, Hi: syms[n-1].Addr + 0x40}}), syms
}

func BenchmarkSymTableLookup(b *testing.B) {
	tab, syms := benchTable(100000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := tab.Lookup(syms[(i*7919)%len(syms)].Name); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSymTableLookupAddr(b *testing.B) {
	tab, syms := benchTable(100000)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, ok := tab.LookupAddr(syms[(i*7919)%len(syms)].Addr + 3); !ok {
			b.Fatal("miss")
		}
	}
}
