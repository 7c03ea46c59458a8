package walkers

// A synthetic kernel for unit tests: a sparse memory, a type source built
// from Go values and a symbol table, so a walker's edge cases are each a few
// lines (a cyclic list, a garbage pointer, an unhashed dentry).

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
)

const synthPage = 4096

// synthMem is a sparse, map-backed kcore.Memory.
type synthMem struct{ pages map[uint64][]byte }

func newSynthMem() *synthMem { return &synthMem{pages: make(map[uint64][]byte)} }

func (m *synthMem) ReadVirt(b []byte, addr uint64) error {
	for done := 0; done < len(b); {
		a := addr + uint64(done)
		pg, ok := m.pages[a&^(synthPage-1)]
		if !ok {
			return &kcore.ReadError{Addr: a, Err: kcore.ErrNotMapped}
		}
		done += copy(b[done:], pg[a%synthPage:])
	}
	return nil
}

func (m *synthMem) ReadPhys(b []byte, addr uint64) error {
	return &kcore.ReadError{Addr: addr, Phys: true, Err: kcore.ErrNotInDump}
}

func (m *synthMem) write(addr uint64, b []byte) {
	for done := 0; done < len(b); {
		a := addr + uint64(done)
		base := a &^ (synthPage - 1)
		pg, ok := m.pages[base]
		if !ok {
			pg = make([]byte, synthPage)
			m.pages[base] = pg
		}
		done += copy(pg[a%synthPage:], b[done:])
	}
}

func (m *synthMem) w64(addr, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	m.write(addr, b[:])
}

func (m *synthMem) w32(addr uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	m.write(addr, b[:])
}

func (m *synthMem) w8(addr uint64, v byte) { m.write(addr, []byte{v}) }

func (m *synthMem) wstr(addr uint64, s string) { m.write(addr, append([]byte(s), 0)) }

// unmap removes the page holding addr.
func (m *synthMem) unmap(addr uint64) { delete(m.pages, addr&^(synthPage-1)) }

// synthTypes is a TypeSource over a map keyed by C spelling ("struct pid", "u64").
type synthTypes map[string]*symbols.Type

func (s synthTypes) LookupType(name string) (*symbols.Type, error) {
	name = strings.TrimSpace(name)
	if t, ok := s[name]; ok {
		return t, nil
	}
	for _, kw := range []string{"struct ", "union ", "enum "} {
		if t, ok := s[kw+name]; ok {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", symbols.ErrNoType, name)
}

func (s synthTypes) TypeNames() []string {
	var out []string
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s synthTypes) Describe() string { return "synthetic types" }

// add registers t under its C spelling.
func (s synthTypes) add(t *symbols.Type) *symbols.Type {
	switch t.Kind {
	case symbols.KindStruct:
		s["struct "+t.Name] = t
	case symbols.KindUnion:
		s["union "+t.Name] = t
	case symbols.KindEnum:
		s["enum "+t.Name] = t
	default:
		s[t.Name] = t
	}
	return t
}

// synthSyms is a SymbolTable over a map.
type synthSyms map[string]symbols.Symbol

func (s synthSyms) Lookup(name string) (symbols.Symbol, error) {
	if sym, ok := s[name]; ok {
		return sym, nil
	}
	return symbols.Symbol{}, fmt.Errorf("%w: %s", symbols.ErrNoSymbol, name)
}

func (s synthSyms) LookupAddr(addr uint64) (symbols.Symbol, uint64, bool) {
	var best symbols.Symbol
	found := false
	for _, sym := range s {
		if sym.Addr <= addr && (!found || sym.Addr > best.Addr) {
			best, found = sym, true
		}
	}
	if !found || (best.Size != 0 && addr >= best.Addr+best.Size) {
		return symbols.Symbol{}, 0, false
	}
	return best, addr - best.Addr, true
}

func (s synthSyms) Names() []string {
	var out []string
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s synthSyms) Describe() string { return "synthetic symbols" }

func (s synthSyms) add(name string, addr, size uint64, typ byte) {
	s[name] = symbols.Symbol{Name: name, Addr: addr, Size: size, Type: typ}
}

// Type builders.

func tInt(name string, size uint64, signed bool) *symbols.Type {
	return &symbols.Type{Kind: symbols.KindInt, Name: name, Size: size, Signed: signed}
}

func tPtr(elem *symbols.Type) *symbols.Type {
	return &symbols.Type{Kind: symbols.KindPointer, Size: 8, Elem: elem}
}

func tArr(elem *symbols.Type, n uint64) *symbols.Type {
	return &symbols.Type{Kind: symbols.KindArray, Elem: elem, Len: n, Size: n * elem.Resolve().Size}
}

type fdef struct {
	name string
	t    *symbols.Type
}

func fd(name string, t *symbols.Type) fdef { return fdef{name, t} }

func typeAlign(t *symbols.Type) uint64 {
	r := t.Resolve()
	switch r.Kind {
	case symbols.KindArray:
		return typeAlign(r.Elem)
	case symbols.KindStruct, symbols.KindUnion:
		a := uint64(1)
		for _, m := range r.Members {
			if ma := typeAlign(m.Type); ma > a {
				a = ma
			}
		}
		return a
	}
	if r.Size == 0 {
		return 1
	}
	if r.Size > 8 {
		return 8
	}
	return r.Size
}

// tStruct lays fields out with natural alignment. A field with an empty
// name is an anonymous member.
func tStruct(name string, fields ...fdef) *symbols.Type {
	t := &symbols.Type{Kind: symbols.KindStruct, Name: name}
	return layoutInto(t, fields)
}

// layoutInto fills an already allocated struct (for self-referencing types).
func layoutInto(t *symbols.Type, fields []fdef) *symbols.Type {
	var off, maxA uint64 = 0, 1
	for _, f := range fields {
		a := typeAlign(f.t)
		if a > maxA {
			maxA = a
		}
		off = (off + a - 1) / a * a
		t.Members = append(t.Members, symbols.Member{Name: f.name, Type: f.t, Offset: off, BitOffset: off * 8})
		off += f.t.Resolve().Size
	}
	t.Size = (off + maxA - 1) / maxA * maxA
	return t
}

func tUnion(name string, fields ...fdef) *symbols.Type {
	t := &symbols.Type{Kind: symbols.KindUnion, Name: name}
	var size uint64
	for _, f := range fields {
		t.Members = append(t.Members, symbols.Member{Name: f.name, Type: f.t})
		if s := f.t.Resolve().Size; s > size {
			size = s
		}
	}
	t.Size = size
	return t
}

func mustOff(t testing.TB, p *symbols.Program, typ, member string) uint64 {
	t.Helper()
	off, err := p.OffsetOf(typ, member)
	if err != nil {
		t.Fatalf("offsetof(%s, %s): %v", typ, member, err)
	}
	return off
}

// synthHeap hands out addresses in a fake direct map.
type synthHeap struct{ next uint64 }

func (h *synthHeap) alloc(size uint64) uint64 {
	a := h.next
	h.next += (size + 63) &^ 63
	return a
}

// Basic kernel types shared by the synthetic kernels.
type synthBase struct {
	mem   *synthMem
	types synthTypes
	syms  synthSyms
	heap  *synthHeap
	prog  *symbols.Program

	u8, u16, u32, s32, u64, s64, char, void *symbols.Type
	listHead, hlistHead, hlistNode          *symbols.Type
}

func newSynthBase() *synthBase {
	b := &synthBase{mem: newSynthMem(), types: synthTypes{}, syms: synthSyms{}, heap: &synthHeap{next: 0xffff888000100000}}
	b.u8 = b.types.add(tInt("u8", 1, false))
	b.u16 = b.types.add(tInt("u16", 2, false))
	b.u32 = b.types.add(tInt("unsigned int", 4, false))
	b.s32 = b.types.add(tInt("int", 4, true))
	b.u64 = b.types.add(tInt("unsigned long", 8, false))
	b.s64 = b.types.add(tInt("long", 8, true))
	b.char = b.types.add(&symbols.Type{Kind: symbols.KindInt, Name: "char", Size: 1, Encoding: symbols.IntChar, Signed: true})
	b.void = &symbols.Type{Kind: symbols.KindVoid, Name: "void"}
	lh := &symbols.Type{Kind: symbols.KindStruct, Name: "list_head"}
	layoutInto(lh, []fdef{fd("next", tPtr(lh)), fd("prev", tPtr(lh))})
	b.listHead = b.types.add(lh)
	hn := &symbols.Type{Kind: symbols.KindStruct, Name: "hlist_node"}
	layoutInto(hn, []fdef{fd("next", tPtr(hn)), fd("pprev", tPtr(tPtr(hn)))})
	b.hlistNode = b.types.add(hn)
	b.hlistHead = b.types.add(tStruct("hlist_head", fd("first", tPtr(hn))))
	rb := &symbols.Type{Kind: symbols.KindStruct, Name: "rb_node"}
	layoutInto(rb, []fdef{fd("__rb_parent_color", b.u64), fd("rb_right", tPtr(rb)), fd("rb_left", tPtr(rb))})
	b.types.add(rb)
	b.types.add(tStruct("rb_root", fd("rb_node", tPtr(rb))))
	xa := b.types.add(tStruct("xarray", fd("xa_lock", b.u32), fd("xa_flags", b.u32), fd("xa_head", tPtr(b.void))))
	b.types.add(tStruct("xa_node", fd("shift", b.u8), fd("offset", b.u8), fd("count", b.u8), fd("nr_values", b.u8),
		fd("parent", tPtr(b.void)), fd("array", tPtr(xa)), fd("private_list", lh), fd("slots", tArr(tPtr(b.void), 64)),
		fd("marks", tArr(tArr(b.u64, 1), 3))))
	b.types.add(tStruct("idr", fd("idr_rt", xa), fd("idr_base", b.u32), fd("idr_next", b.u32)))
	return b
}

func (b *synthBase) program() *symbols.Program {
	if b.prog == nil {
		b.prog = symbols.NewProgram(b.mem, b.syms, b.types)
	}
	return b.prog
}

// off returns a member offset or panics (test setup only).
func (b *synthBase) off(typ, member string) uint64 {
	t, err := b.types.LookupType(typ)
	if err != nil {
		panic(err)
	}
	f := fieldOf(t, member)
	if !f.ok {
		panic(fmt.Sprintf("synthetic type %s has no %s", typ, member))
	}
	return f.off
}

func (b *synthBase) size(typ string) uint64 {
	t, err := b.types.LookupType(typ)
	if err != nil {
		panic(err)
	}
	return t.Resolve().Size
}

func (b *synthBase) newObj(typ string) uint64 { return b.alloc(b.size(typ)) }

// alloc returns zeroed, mapped memory.
func (b *synthBase) alloc(size uint64) uint64 {
	a := b.heap.alloc(size)
	b.mem.write(a, make([]byte, size))
	return a
}

func (b *synthBase) listInit(head uint64) { b.mem.w64(head, head); b.mem.w64(head+8, head) }

func (b *synthBase) listAddTail(head, node uint64) {
	prev, _ := b.program().ReadU64(head + 8)
	b.mem.w64(node, head)
	b.mem.w64(node+8, prev)
	b.mem.w64(prev, node)
	b.mem.w64(head+8, node)
}

// hlistAddHead links node first on the hlist_head at head.
func (b *synthBase) hlistAddHead(head, node uint64) {
	first, _ := b.program().ReadU64(head)
	b.mem.w64(node, first)
	b.mem.w64(node+8, head)
	if first != 0 {
		b.mem.w64(first+8, node)
	}
	b.mem.w64(head, node)
}

// buildXArray stores entries (index → pointer) as xa_nodes and returns the
// xa_head value (include/linux/xarray.h encoding).
func (b *synthBase) buildXArray(entries map[uint64]uint64) uint64 {
	if len(entries) == 0 {
		return 0
	}
	var max uint64
	for i := range entries {
		if i > max {
			max = i
		}
	}
	shift := uint64(0)
	for max>>shift >= 64 {
		shift += 6
	}
	return b.xaNode(entries, 0, shift) | 2
}

func (b *synthBase) xaNode(entries map[uint64]uint64, base, shift uint64) uint64 {
	n := b.newObj("struct xa_node")
	b.mem.w8(n+b.off("struct xa_node", "shift"), byte(shift))
	slots := n + b.off("struct xa_node", "slots")
	for i := uint64(0); i < 64; i++ {
		lo, hi := base+i<<shift, base+(i+1)<<shift
		if shift == 0 {
			if v, ok := entries[lo]; ok {
				b.mem.w64(slots+8*i, v)
			}
			continue
		}
		any := false
		for k := range entries {
			if k >= lo && k < hi {
				any = true
				break
			}
		}
		if any {
			b.mem.w64(slots+8*i, b.xaNode(entries, lo, shift-6)|2)
		}
	}
	return n
}
