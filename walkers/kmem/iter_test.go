package kmem

import (
	"errors"
	"reflect"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

func TestListHeadNodes(t *testing.T) {
	b := symtest.NewKernel()
	head := b.Alloc(16)
	b.ListInit(head)
	var nodes []uint64
	for i := 0; i < 5; i++ {
		n := b.Alloc(16)
		b.ListAddTail(head, n)
		nodes = append(nodes, n)
	}
	p := b.Program()
	got, err := ListHeadNodes(p, head, "test", 0)
	if err != nil || !reflect.DeepEqual(got, nodes) {
		t.Fatalf("ListHeadNodes = %x, %v; want %x", got, err, nodes)
	}
	if got, err := ListHeadNodes(p, head, "test", 3); err == nil || !errors.Is(err, ErrListCorrupt) || len(got) != 3 {
		t.Errorf("limit 3: %d nodes, %v", len(got), err)
	}
	// A self-consistent loop that never returns to the head.
	b.Mem.WriteU64(nodes[4], nodes[2])
	b.Mem.WriteU64(nodes[2]+8, nodes[4])
	if got, err := ListHeadNodes(p, head, "test", 0); err == nil || len(got) != 2 {
		t.Errorf("loop: %d nodes, %v", len(got), err)
	}
	// Unreadable head.
	if _, err := ListHeadNodes(p, 0xffff888099990000, "nowhere", 0); err == nil {
		t.Errorf("unmapped head: no error")
	}
}

func TestHlistNodes(t *testing.T) {
	b := symtest.NewKernel()
	head := b.Alloc(8)
	var nodes []uint64
	for i := 0; i < 4; i++ {
		n := b.Alloc(16)
		b.HlistAddHead(head, n)
		nodes = append([]uint64{n}, nodes...)
	}
	p := b.Program()
	got, err := HlistNodes(p, head, "h", 0)
	if err != nil || !reflect.DeepEqual(got, nodes) {
		t.Fatalf("HlistNodes = %x, %v; want %x", got, err, nodes)
	}
	b.Mem.WriteU64(nodes[3], nodes[1]) // last → second: a cycle (pprev check fires first)
	if _, err := HlistNodes(p, head, "h", 0); err == nil {
		t.Errorf("cycle: no error")
	}
}

func TestXArray(t *testing.T) {
	b := symtest.NewKernel()
	entries := map[uint64]uint64{0: 0xffff888000aa0000, 5: 0xffff888000aa0040, 63: 0xffff888000aa0080,
		64: 0xffff888000aa00c0, 4095: 0xffff888000aa0100, 4096: 0xffff888000aa0140}
	xa := b.NewObj("struct xarray")
	b.Mem.WriteU64(xa+b.Off("struct xarray", "xa_head"), b.BuildXArray(entries))
	p := b.Program()
	got, err := XArrayEntries(p, xa, "xa")
	if err != nil || len(got) != len(entries) {
		t.Fatalf("XArrayEntries = %v, %v", got, err)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Index <= got[i-1].Index {
			t.Errorf("not in index order: %v", got)
		}
	}
	for idx, v := range entries {
		if x, ok, err := XArrayLoad(p, xa, idx, "xa"); err != nil || !ok || x != v {
			t.Errorf("XArrayLoad(%d) = %#x %v %v; want %#x", idx, x, ok, err, v)
		}
	}
	for _, idx := range []uint64{1, 65, 100000, 1 << 40} {
		if _, ok, err := XArrayLoad(p, xa, idx, "xa"); ok || err != nil {
			t.Errorf("XArrayLoad(%d) found something (%v)", idx, err)
		}
	}
	// A single entry at index 0 lives in xa_head itself.
	xa1 := b.NewObj("struct xarray")
	b.Mem.WriteU64(xa1+b.Off("struct xarray", "xa_head"), 0xffff888000bb0000)
	if got, err := XArrayEntries(p, xa1, "xa1"); err != nil || len(got) != 1 || got[0].Index != 0 {
		t.Errorf("single entry: %v, %v", got, err)
	}
	// Sibling, retry and zero entries (include/linux/xarray.h) are not values.
	head, _ := p.ReadU64(xa + b.Off("struct xarray", "xa_head"))
	node := xaToNode(head)
	slot := node + b.Off("struct xa_node", "slots")
	for i, internal := range []uint64{1<<2 | 2, 256<<2 | 2, 257<<2 | 2} {
		b.Mem.WriteU64(slot+8*uint64(40+i), internal)
	}
	if got, err := XArrayEntries(p, xa, "xa"); err != nil || len(got) != len(entries) {
		t.Errorf("with internal entries: %d entries, %v", len(got), err)
	}
	// A child whose shift is not its parent's less 6 would put its
	// entries at wrong indices: the walk says the array is corrupt.
	child := xaToNode(mustRead(t, p, slot+8*1)) // the node of indices 4096-8191
	shiftAt := child + b.Off("struct xa_node", "shift")
	orig := byte(mustRead(t, p, shiftAt))
	b.Mem.WriteU8(shiftAt, 3)
	if _, err := XArrayEntries(p, xa, "xa"); !errors.Is(err, ErrListCorrupt) {
		t.Errorf("child with a wrong shift: %v", err)
	}
	if _, _, err := XArrayLoad(p, xa, 4096, "xa"); !errors.Is(err, ErrListCorrupt) {
		t.Errorf("XArrayLoad through a child with a wrong shift: %v", err)
	}
	b.Mem.WriteU8(shiftAt, orig)
	if got, err := XArrayEntries(p, xa, "xa"); err != nil || len(got) != len(entries) {
		t.Errorf("shift restored: %d entries, %v", len(got), err)
	}
	// A node that points at itself is a cycle, not an endless walk.
	b.Mem.WriteU64(slot+8*1, head)
	if _, err := XArrayEntries(p, xa, "xa"); err == nil || !errors.Is(err, symbols.ErrCycle) {
		t.Errorf("self-referencing node: %v", err)
	}
}

func TestRBTreeNodes(t *testing.T) {
	b := symtest.NewKernel()
	root := b.NewObj("struct rb_root")
	// A small tree: 4 at the top, 2 and 6 below, 1 3 5 7 as leaves.
	nodes := make(map[int]uint64)
	for i := 1; i <= 7; i++ {
		nodes[i] = b.NewObj("struct rb_node")
	}
	link := func(parent, left, right int) {
		if left != 0 {
			b.Mem.WriteU64(nodes[parent]+b.Off("struct rb_node", "rb_left"), nodes[left])
		}
		if right != 0 {
			b.Mem.WriteU64(nodes[parent]+b.Off("struct rb_node", "rb_right"), nodes[right])
		}
	}
	link(4, 2, 6)
	link(2, 1, 3)
	link(6, 5, 7)
	b.Mem.WriteU64(root, nodes[4])
	p := b.Program()
	got, err := RBTreeNodes(p, root, "rb", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range got {
		if n != nodes[i+1] {
			t.Fatalf("in-order walk: position %d is %#x, want node %d", i, n, i+1)
		}
	}
	link(7, 4, 0) // a cycle back to the top
	if _, err := RBTreeNodes(p, root, "rb", 0); err == nil || !errors.Is(err, symbols.ErrCycle) {
		t.Errorf("cycle: %v", err)
	}
}

func mustRead(t *testing.T, p *symbols.Program, addr uint64) uint64 {
	t.Helper()
	v, err := p.ReadU64(addr)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
