package kmem

import (
	"errors"
	"reflect"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// mapleKernel adds the maple tree types of include/linux/maple_tree.h
// (64-bit: 16 range slots, 10 allocation-range slots) to a kernel.
func mapleKernel() *symtest.Kernel {
	b := symtest.NewKernel()
	ty := b.Types
	vp := symtest.Ptr(nil)
	meta := ty.Add(symtest.Layout("maple_metadata", symtest.M("end", b.U8), symtest.M("gap", b.U8)))
	r64 := ty.Add(symtest.Layout("maple_range_64", symtest.M("parent", vp), symtest.M("pivot", symtest.Array(b.U64, 15)),
		symtest.M("", symtest.Union("", symtest.M("slot", symtest.Array(vp, 16)),
			symtest.M("", symtest.Layout("", symtest.M("pad", symtest.Array(vp, 15)), symtest.M("meta", meta)))))))
	a64 := ty.Add(symtest.Layout("maple_arange_64", symtest.M("parent", vp), symtest.M("pivot", symtest.Array(b.U64, 9)),
		symtest.M("slot", symtest.Array(vp, 10)), symtest.M("gap", symtest.Array(b.U64, 10)), symtest.M("meta", meta)))
	mt := &symbols.Type{Kind: symbols.KindEnum, Name: "maple_type", Size: 4, Enumerators: []symbols.Enumerator{
		{Name: "maple_dense", Value: 0}, {Name: "maple_leaf_64", Value: 1}, {Name: "maple_range_64", Value: 2}, {Name: "maple_arange_64", Value: 3}}}
	ty.Add(symtest.Layout("maple_node", symtest.M("", symtest.Union("",
		symtest.M("", symtest.Layout("", symtest.M("parent", vp), symtest.M("slot", symtest.Array(vp, 31)))),
		symtest.M("", symtest.Layout("", symtest.M("pad", vp), symtest.M("rcu", symtest.Array(vp, 2)), symtest.M("piv_parent", vp),
			symtest.M("parent_slot", b.U8), symtest.M("type", mt))),
		symtest.M("mr64", r64), symtest.M("ma64", a64)))))
	ty.Add(symtest.Layout("maple_tree", symtest.M("ma_lock", b.U32), symtest.M("ma_root", vp), symtest.M("ma_flags", b.U32)))
	return b
}

// mapleSeg is a range of a node: an entry (leaf) or a child enode.
type mapleSeg struct{ lo, hi, e uint64 }

// buildMaple stores ranges (sorted, disjoint) in a tree the way
// lib/maple_tree.c lays one out: leaves of at most fan slots with NULL
// gaps between ranges, parents of range_64 (or arange_64 when alloc) nodes,
// each node's last used slot in its metadata unless full. It returns the
// ma_root value.
func buildMaple(b *symtest.Kernel, ranges []MapleEntry, fan int, alloc bool) uint64 {
	if len(ranges) == 0 {
		return 0
	}
	if len(ranges) == 1 && ranges[0].First == 0 && ranges[0].Last == 0 {
		return ranges[0].Entry
	}
	var segs []mapleSeg
	next := uint64(0)
	for _, r := range ranges {
		if r.First > next {
			segs = append(segs, mapleSeg{next, r.First - 1, 0})
		}
		segs = append(segs, mapleSeg{r.First, r.Last, r.Entry})
		next = r.Last + 1
	}
	if next != 0 && ranges[len(ranges)-1].Last != ^uint64(0) {
		segs = append(segs, mapleSeg{next, ^uint64(0), 0})
	}
	typ, slots := uint64(1), min(fan, 16)
	for {
		var up []mapleSeg
		for i := 0; i < len(segs); i += slots {
			group := segs[i:min(i+slots, len(segs))]
			up = append(up, mapleSeg{group[0].lo, group[len(group)-1].hi, mapleNode(b, typ, group)})
		}
		if len(up) == 1 {
			return up[0].e | 2 // mte_mk_root
		}
		segs = up
		typ, slots = 2, min(fan, 16)
		if alloc {
			typ, slots = 3, min(fan, 10)
		}
	}
}

// mapleNode writes one node of type typ holding segs; it returns the enode.
func mapleNode(b *symtest.Kernel, typ uint64, segs []mapleSeg) uint64 {
	raw := b.Alloc(512)
	n := (raw + 255) &^ 255
	kind, pivots := "maple_range_64", 15
	if typ == 3 {
		kind, pivots = "maple_arange_64", 9
	}
	for i, s := range segs {
		if i < pivots {
			b.Mem.WriteU64(n+b.Off("struct "+kind, "pivot")+8*uint64(i), s.hi)
		}
		b.Mem.WriteU64(n+b.Off("struct "+kind, "slot")+8*uint64(i), s.e)
	}
	if typ == 3 || len(segs) <= pivots {
		b.Mem.WriteU8(n+b.Off("struct "+kind, "meta.end"), byte(len(segs)-1))
	}
	return n | typ<<3 | 4 // mt_mk_node
}

func TestMapleEntries(t *testing.T) {
	spread := func(n int, step, width uint64) []MapleEntry {
		var out []MapleEntry
		for i := 0; i < n; i++ {
			lo := 0x1000 + uint64(i)*step
			out = append(out, MapleEntry{First: lo, Last: lo + width - 1, Entry: 0xffff888000aa0000 + uint64(i)*64})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		ranges []MapleEntry
		fan    int
		alloc  bool
	}{
		{"empty", nil, 16, false},
		{"root entry", []MapleEntry{{0, 0, 0xffff888000aa0000}}, 16, false},
		{"one leaf", spread(5, 0x3000, 0x1000), 16, false},
		{"index 0 alone", []MapleEntry{{0, 0, 0xffff888000aa0000}, {1, 1, 0xffff888000aa0040}, {2, 8, 0xffff888000aa0080}}, 16, true},
		{"index 0 alone in a lower node", append([]MapleEntry{{0, 0, 0xffff888000aa0000}}, spread(30, 1, 1)...), 16, true},
		{"adjacent ranges fill a leaf", spread(16, 0x1000, 0x1000), 16, false},
		{"full leaf, last pivot max", []MapleEntry{{0, 9, 0xffff888000aa0000}, {10, ^uint64(0), 0xffff888000aa0040}}, 16, false},
		{"two levels of range nodes", spread(60, 0x2000, 0x1000), 16, false},
		{"three levels of allocation nodes", spread(300, 0x10000, 0x3000), 10, true},
		{"narrow nodes", spread(40, 0x10, 1), 4, true},
		{"top of the address space", []MapleEntry{{0x7ffd00000000, 0x7ffd00020fff, 0xffff888000aa0000},
			{0xffffffffff600000, 0xffffffffff600fff, 0xffff888000aa0040}}, 16, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := mapleKernel()
			mt := b.NewObj("struct maple_tree")
			b.Mem.WriteU64(mt+b.Off("struct maple_tree", "ma_root"), buildMaple(b, tc.ranges, tc.fan, tc.alloc))
			got, err := MapleEntries(b.Program(), mt, "mt", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 && len(tc.ranges) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tc.ranges) {
				t.Errorf("MapleEntries =\n%x\nwant\n%x", got, tc.ranges)
			}
			if len(tc.ranges) > 3 {
				if got, err := MapleEntries(b.Program(), mt, "mt", 3); !errors.Is(err, ErrListCorrupt) || len(got) != 3 {
					t.Errorf("limit 3: %d entries, %v", len(got), err)
				}
			}
		})
	}
}

func TestMapleEntriesDamaged(t *testing.T) {
	var ranges []MapleEntry
	for i := uint64(0); i < 100; i++ {
		ranges = append(ranges, MapleEntry{First: i * 0x2000, Last: i*0x2000 + 0xfff, Entry: 0xffff888000aa0000 + i*64})
	}
	setup := func() (*symtest.Kernel, uint64, uint64) {
		b := mapleKernel()
		mt := b.NewObj("struct maple_tree")
		root := buildMaple(b, ranges, 10, true)
		b.Mem.WriteU64(mt+b.Off("struct maple_tree", "ma_root"), root)
		return b, mt, root &^ 0xff
	}
	slot0 := func(b *symtest.Kernel) uint64 { return b.Off("struct maple_arange_64", "slot") }
	for _, tc := range []struct {
		name   string
		damage func(b *symtest.Kernel, top uint64)
		want   error
	}{
		{"child is its parent", func(b *symtest.Kernel, top uint64) {
			b.Mem.WriteU64(top+slot0(b)+8, top|3<<3|4)
		}, symbols.ErrCycle},
		{"pivots out of order", func(b *symtest.Kernel, top uint64) {
			b.Mem.WriteU64(top+b.Off("struct maple_arange_64", "pivot")+8, 1)
		}, ErrListCorrupt},
		{"unknown node type", func(b *symtest.Kernel, top uint64) {
			c, _ := b.Program().ReadU64(top + slot0(b))
			b.Mem.WriteU64(top+slot0(b), c|7<<3)
		}, ErrListCorrupt},
		{"flag bits for a child", func(b *symtest.Kernel, top uint64) {
			b.Mem.WriteU64(top+slot0(b), 0x1c)
		}, ErrListCorrupt},
		{"child unmapped", func(b *symtest.Kernel, top uint64) {
			b.Mem.WriteU64(top+slot0(b), 0xffff888099990000|1<<3|4)
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, mt, top := setup()
			tc.damage(b, top)
			_, err := MapleEntries(b.Program(), mt, "mt", 0)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := MapleEntries(symtest.NewKernel().Program(), 0xffff888000100000, "", 0); err == nil {
		t.Errorf("no maple types: no error")
	}
}
