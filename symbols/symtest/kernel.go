package symtest

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// Kernel is a synthetic kernel to build walker fixtures in: Memory, Types
// and Symbols with a bump allocator in a fake direct map, the common
// kernel types (list_head, hlist_head/node, rb_node/rb_root, xarray,
// xa_node, idr) and helpers that link lists and build xarrays the way the
// kernel does.
//
//	k := symtest.NewKernel()
//	k.Types.Add(symtest.Layout("foo", symtest.M("list", k.ListHead), symtest.M("id", k.U32)))
//	a := k.NewObj("struct foo")
//	k.ListAddTail(head, a+k.Off("struct foo", "list"))
type Kernel struct {
	Mem   *Memory
	Types *Types
	Syms  *Symbols

	// Base types (from NewTypes) and the list types, for building structs.
	U8, U16, U32, S32, U64, S64, Char, Void *symbols.Type
	ListHead, HlistHead, HlistNode          *symbols.Type

	next uint64 // bump allocator
	prog *symbols.Program
}

// KernelHeap is where Kernel.Alloc starts handing out memory: the x86_64
// direct map (Documentation/arch/x86/x86_64/mm.rst: page_offset_base
// without KASLR is 0xffff888000000000).
const KernelHeap = 0xffff888000100000

// NewKernel returns a kernel holding only the common types.
func NewKernel() *Kernel {
	ty := NewTypes()
	k := &Kernel{Mem: NewMemory(), Types: ty, Syms: NewSymbols(), next: KernelHeap}
	k.U8, k.U16, k.U32, k.S32 = ty.Get("u8"), ty.Get("u16"), ty.Get("unsigned int"), ty.Get("int")
	k.U64, k.S64, k.Char = ty.Get("unsigned long"), ty.Get("long"), ty.Get("char")
	k.Void = &symbols.Type{Kind: symbols.KindVoid, Name: "void"}
	// include/linux/types.h: list_head, hlist_head, hlist_node.
	lh := ty.Declare("list_head")
	k.ListHead = LayoutInto(lh, []Field{M("next", Ptr(lh)), M("prev", Ptr(lh))})
	hn := ty.Declare("hlist_node")
	LayoutInto(hn, []Field{M("next", Ptr(hn)), M("pprev", Ptr(Ptr(hn)))})
	k.HlistNode = hn
	k.HlistHead = ty.Add(Layout("hlist_head", M("first", Ptr(hn))))
	// include/linux/rbtree_types.h.
	rb := ty.Declare("rb_node")
	LayoutInto(rb, []Field{M("__rb_parent_color", k.U64), M("rb_right", Ptr(rb)), M("rb_left", Ptr(rb))})
	ty.Add(Layout("rb_root", M("rb_node", Ptr(rb))))
	// include/linux/xarray.h, include/linux/idr.h.
	xa := ty.Add(Layout("xarray", M("xa_lock", k.U32), M("xa_flags", k.U32), M("xa_head", Ptr(k.Void))))
	ty.Add(Layout("xa_node", M("shift", k.U8), M("offset", k.U8), M("count", k.U8), M("nr_values", k.U8),
		M("parent", Ptr(k.Void)), M("array", Ptr(xa)), M("private_list", k.ListHead), M("slots", Array(Ptr(k.Void), 64)),
		M("marks", Array(Array(k.U64, 1), 3))))
	ty.Add(Layout("idr", M("idr_rt", xa), M("idr_base", k.U32), M("idr_next", k.U32)))
	return k
}

// Program returns the program over the kernel (the same one each call).
func (k *Kernel) Program() *symbols.Program {
	if k.prog == nil {
		k.prog = Program(k.Mem, k.Types, k.Syms)
	}
	return k.prog
}

// Off returns the offset of member (a dotted path through members, which
// may cross anonymous structs and unions) in typ, or panics: for test
// setup only.
func (k *Kernel) Off(typ, member string) uint64 {
	cur := k.Types.Get(typ)
	var off uint64
	for _, name := range strings.Split(member, ".") {
		m, ok := cur.FindMember(name)
		if !ok {
			panic(fmt.Sprintf("synthetic type %s has no member %s", typ, member))
		}
		off += m.Offset
		cur = m.Type
	}
	return off
}

// Size returns the size of typ, or panics.
func (k *Kernel) Size(typ string) uint64 { return k.Types.Get(typ).Resolve().Size }

// NewObj allocates a zeroed typ.
func (k *Kernel) NewObj(typ string) uint64 { return k.Alloc(k.Size(typ)) }

// Alloc returns size bytes of zeroed, mapped memory, 64-byte aligned.
func (k *Kernel) Alloc(size uint64) uint64 {
	a := k.next
	k.next += (size + 63) &^ 63
	k.Mem.Write(a, make([]byte, size))
	return a
}

// ListInit makes the list_head at head empty (include/linux/list.h
// INIT_LIST_HEAD).
func (k *Kernel) ListInit(head uint64) { k.Mem.WriteU64(head, head); k.Mem.WriteU64(head+8, head) }

// ListAddTail links node last on the list at head (list_add_tail).
func (k *Kernel) ListAddTail(head, node uint64) {
	prev, _ := k.Program().ReadU64(head + 8)
	k.Mem.WriteU64(node, head)
	k.Mem.WriteU64(node+8, prev)
	k.Mem.WriteU64(prev, node)
	k.Mem.WriteU64(head+8, node)
}

// HlistAddHead links node first on the hlist_head at head (hlist_add_head).
func (k *Kernel) HlistAddHead(head, node uint64) {
	first, _ := k.Program().ReadU64(head)
	k.Mem.WriteU64(node, first)
	k.Mem.WriteU64(node+8, head)
	if first != 0 {
		k.Mem.WriteU64(first+8, node)
	}
	k.Mem.WriteU64(head, node)
}

// BuildXArray stores entries (index → pointer) in xa_nodes and returns the
// xa_head value: a node pointer tagged as internal (include/linux/xarray.h
// xa_mk_node: node | 2), 6 bits of index a level.
func (k *Kernel) BuildXArray(entries map[uint64]uint64) uint64 {
	if len(entries) == 0 {
		return 0
	}
	var top uint64
	for i := range entries {
		top = max(top, i)
	}
	shift := uint64(0)
	for top>>shift >= 64 {
		shift += 6
	}
	return k.xaNode(entries, 0, shift) | 2
}

func (k *Kernel) xaNode(entries map[uint64]uint64, base, shift uint64) uint64 {
	n := k.NewObj("struct xa_node")
	k.Mem.WriteU8(n+k.Off("struct xa_node", "shift"), byte(shift))
	slots := n + k.Off("struct xa_node", "slots")
	for i := uint64(0); i < 64; i++ {
		lo, hi := base+i<<shift, base+(i+1)<<shift
		if shift == 0 {
			if v, ok := entries[lo]; ok {
				k.Mem.WriteU64(slots+8*i, v)
			}
			continue
		}
		for idx := range entries {
			if idx >= lo && idx < hi {
				k.Mem.WriteU64(slots+8*i, k.xaNode(entries, lo, shift-6)|2)
				break
			}
		}
	}
	return n
}
