package symtest

import (
	"errors"
	"testing"

	"github.com/kwalk/kwalk/kcore"
)

func TestLayout(t *testing.T) {
	k := NewKernel()
	inner := Union("", M("a", k.U32), M("b", k.U64))
	tests := []struct {
		name string
		got  func() uint64
		want uint64
	}{
		{"u8 then u64 aligns to 8", func() uint64 { return k.Off("struct t1", "b") }, 8},
		{"size rounds to the strictest member", func() uint64 { return k.Size("struct t1") }, 16},
		{"through an anonymous union", func() uint64 { return k.Off("struct t2", "b") }, 8},
		{"dotted path", func() uint64 { return k.Off("struct t3", "in.b") }, 4 + 4},
		{"union size", func() uint64 { return inner.Size }, 8},
		{"list_head", func() uint64 { return k.Size("struct list_head") }, 16},
	}
	k.Types.Add(Layout("t1", M("a", k.U8), M("b", k.U64)))
	k.Types.Add(Layout("t2", M("x", k.U32), M("", inner)))
	k.Types.Add(Layout("t3", M("x", k.U32), M("in", Layout("", M("a", k.U32), M("b", k.U32)))))
	for _, tc := range tests {
		if got := tc.got(); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestSymbolsAdd(t *testing.T) {
	s := NewSymbols()
	s.Add("b", 0x2000, 0x10, 'T')
	s.Add("a", 0x1000, 0, 'T')
	s.Add("c", 0x3000, 0x10, 'D')
	s.Add("b", 0x2800, 0x10, 'T') // replaces b
	for _, tc := range []struct {
		addr, off uint64
		name      string
		ok        bool
	}{
		{0x1004, 4, "a", true},
		{0x2004, 0x1004, "a", true}, // a has no size: up to whatever follows
		{0x2804, 4, "b", true},
		{0x2810, 0, "", false}, // past b
		{0xfff, 0, "", false},
	} {
		sym, off, ok := s.LookupAddr(tc.addr)
		if ok != tc.ok || sym.Name != tc.name || off != tc.off {
			t.Errorf("LookupAddr(%#x) = %s+%#x %v, want %s+%#x %v", tc.addr, sym.Name, off, ok, tc.name, tc.off, tc.ok)
		}
	}
	if b, err := s.Lookup("b"); err != nil || b.Addr != 0x2800 {
		t.Errorf("b = %+v, %v", b, err)
	}
	if n := len(s.Names()); n != 3 {
		t.Errorf("%d names", n)
	}
}

func TestKernelLists(t *testing.T) {
	k := NewKernel()
	head := k.Alloc(16)
	k.ListInit(head)
	a, b := k.Alloc(16), k.Alloc(16)
	k.ListAddTail(head, a)
	k.ListAddTail(head, b)
	p := k.Program()
	for _, link := range [][2]uint64{{head, a}, {a, b}, {b, head}} {
		if next, err := p.ReadU64(link[0]); err != nil || next != link[1] {
			t.Errorf("%#x.next = %#x, %v; want %#x", link[0], next, err, link[1])
		}
		if prev, err := p.ReadU64(link[1] + 8); err != nil || prev != link[0] {
			t.Errorf("%#x.prev = %#x, %v; want %#x", link[1], prev, err, link[0])
		}
	}
	k.Mem.Unmap(b)
	var buf [8]byte
	if err := k.Mem.ReadVirt(buf[:], b); !errors.Is(err, kcore.ErrNotMapped) {
		t.Errorf("read of an unmapped page: %v", err)
	}
}
