package resource

import (
	"errors"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// resKernel builds struct resource (include/linux/ioport.h, 6.1's member
// order) and returns the kernel and an allocator of resources.
func resKernel() (*symtest.Kernel, func(name string, start, end uint64) uint64) {
	b := symtest.NewKernel()
	M, P := symtest.M, symtest.Ptr
	res := b.Types.Declare("resource")
	symtest.LayoutInto(res, []symtest.Field{M("start", b.U64), M("end", b.U64), M("name", P(b.Char)),
		M("flags", b.U64), M("desc", b.U64), M("parent", P(res)), M("sibling", P(res)), M("child", P(res))})
	mk := func(name string, start, end uint64) uint64 {
		r := b.NewObj("struct resource")
		b.Mem.WriteU64(r+b.Off("struct resource", "start"), start)
		b.Mem.WriteU64(r+b.Off("struct resource", "end"), end)
		if name != "" {
			s := b.Alloc(uint64(len(name)) + 1)
			b.Mem.WriteString(s, name)
			b.Mem.WriteU64(r+b.Off("struct resource", "name"), s)
		}
		return r
	}
	return b, mk
}

func TestTree(t *testing.T) {
	b, mk := resKernel()
	off := func(m string) uint64 { return b.Off("struct resource", m) }
	link := func(parent uint64, kids ...uint64) {
		b.Mem.WriteU64(parent+off("child"), kids[0])
		for i, k := range kids {
			b.Mem.WriteU64(k+off("parent"), parent)
			if i+1 < len(kids) {
				b.Mem.WriteU64(k+off("sibling"), kids[i+1])
			}
		}
	}
	root := mk("PCI IO", 0, 0xffff)
	b.Syms.Add("ioport_resource", root, 64, 'D')
	dma, pic, ide := mk("dma1", 0, 0x1f), mk("pic1", 0x20, 0x21), mk("0000:00:01.1", 0x170, 0x177)
	ata := mk("ata_piix", 0x170, 0x177)
	link(root, dma, pic, ide)
	link(ide, ata)
	// A sibling of the root is not part of its tree.
	b.Mem.WriteU64(root+off("sibling"), mk("stray", 0, 1))
	got, err := Tree(b.Program(), "ioport_resource")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name       string
		start, end uint64
		depth      int
	}{{"PCI IO", 0, 0xffff, 0}, {"dma1", 0, 0x1f, 1}, {"pic1", 0x20, 0x21, 1}, {"0000:00:01.1", 0x170, 0x177, 1}, {"ata_piix", 0x170, 0x177, 2}}
	if len(got) != len(want) {
		t.Fatalf("got %d resources: %+v", len(got), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Start != w.start || g.End != w.end || g.Depth != w.depth {
			t.Errorf("resource %d: %+v, want %+v", i, g, w)
		}
	}

	// A child pointing back at an ancestor is a cycle, reported with
	// what was read.
	b.Mem.WriteU64(ata+off("child"), pic)
	got, err = Tree(b.Program(), "ioport_resource")
	if !errors.Is(err, symbols.ErrCycle) || len(got) != 5 {
		t.Errorf("cycle: %d resources, %v", len(got), err)
	}
	// An unreadable sibling stops the walk with an error.
	b.Mem.WriteU64(ata+off("child"), 0)
	b.Mem.WriteU64(pic+off("sibling"), 0xffff888077770000)
	if _, err := Tree(b.Program(), "ioport_resource"); err == nil {
		t.Errorf("unreadable sibling: no error")
	}
}

func TestTreeTooDeep(t *testing.T) {
	b, mk := resKernel()
	off := func(m string) uint64 { return b.Off("struct resource", m) }
	root := mk("root", 0, 1<<40)
	b.Syms.Add("iomem_resource", root, 64, 'D')
	cur := root
	for i := 0; i < MaxDepth+5; i++ {
		c := mk("", 0, 1)
		b.Mem.WriteU64(cur+off("child"), c)
		cur = c
	}
	got, err := Tree(b.Program(), "iomem_resource")
	if err == nil || len(got) > MaxDepth+1 {
		t.Errorf("a chain %d deep: %d resources, %v", MaxDepth+5, len(got), err)
	}
}
