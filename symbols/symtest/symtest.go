// Package symtest builds small synthetic kernels for unit tests: sparse
// memory, a table of types built by hand and a symbol table, tied together
// in a *symbols.Program. Walkers test their edge cases (a cyclic list, a
// NULL owner, a garbage pointer) as a few lines of setup each.
//
//	mem := symtest.NewMemory()
//	types := symtest.NewTypes()
//	listHead := types.Struct("list_head", 16, symtest.F("next", types.Ptr(nil), 0), ...)
//	prog := symtest.Program(mem, types, symtest.NewSymbols(symbols.Symbol{Name: "init_task", Addr: 0xffff...}))
package symtest

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
)

// Memory is a sparse, page-granular kernel memory. Virtual and physical
// addresses share one space (tests rarely need both), unless SetDirectMap
// makes physical memory the direct map's image.
type Memory struct {
	pages map[uint64][]byte
	// directMap, when set, is the virtual address of physical 0:
	// ReadPhys(pa) reads virtual pa+directMap.
	directMap uint64
}

// SetDirectMap makes physical address pa the page at virtual
// pageOffset+pa, like the kernel's direct map (page_offset_base).
func (m *Memory) SetDirectMap(pageOffset uint64) { m.directMap = pageOffset }

const pageSize = 4096

// NewMemory returns an empty memory; reads of unwritten pages fail with
// kcore.ErrNotMapped.
func NewMemory() *Memory { return &Memory{pages: make(map[uint64][]byte)} }

// Write stores b at addr, creating pages as needed.
func (m *Memory) Write(addr uint64, b []byte) {
	for len(b) > 0 {
		pg := addr &^ (pageSize - 1)
		p := m.pages[pg]
		if p == nil {
			p = make([]byte, pageSize)
			m.pages[pg] = p
		}
		n := copy(p[addr-pg:], b)
		b = b[n:]
		addr += uint64(n)
	}
}

// WriteU64 stores a little-endian u64.
func (m *Memory) WriteU64(addr, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	m.Write(addr, b[:])
}

// WriteU32 stores a little-endian u32.
func (m *Memory) WriteU32(addr uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	m.Write(addr, b[:])
}

// WriteU8 stores a byte.
func (m *Memory) WriteU8(addr uint64, v byte) { m.Write(addr, []byte{v}) }

// Unmap removes the page holding addr: reads of it fail again.
func (m *Memory) Unmap(addr uint64) { delete(m.pages, addr&^(pageSize-1)) }

// Pages lists the addresses of the written pages, sorted.
func (m *Memory) Pages() []uint64 {
	out := make([]uint64, 0, len(m.pages))
	for a := range m.pages {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// PageSize is the granularity of Memory's pages.
const PageSize = pageSize

// WriteString stores s NUL-terminated.
func (m *Memory) WriteString(addr uint64, s string) { m.Write(addr, append([]byte(s), 0)) }

// ReadVirt implements kcore.Memory.
func (m *Memory) ReadVirt(p []byte, addr uint64) error { return m.read(p, addr, false) }

// ReadPhys implements kcore.Memory.
func (m *Memory) ReadPhys(p []byte, addr uint64) error {
	if m.directMap != 0 {
		if err := m.read(p, addr+m.directMap, false); err != nil {
			return &kcore.ReadError{Addr: addr, Phys: true, Err: kcore.ErrNotInDump}
		}
		return nil
	}
	return m.read(p, addr, true)
}

func (m *Memory) read(p []byte, addr uint64, phys bool) error {
	for off := 0; off < len(p); {
		a := addr + uint64(off)
		pg := a &^ (pageSize - 1)
		src := m.pages[pg]
		if src == nil {
			sentinel := kcore.ErrNotMapped
			if phys {
				sentinel = kcore.ErrNotInDump
			}
			return &kcore.ReadError{Addr: a, Phys: phys, Err: sentinel}
		}
		off += copy(p[off:], src[a-pg:])
	}
	return nil
}

// Types is a TypeSource of hand-built types.
type Types struct {
	byName map[string]*symbols.Type
	vars   map[string]*symbols.Type
}

// Alias registers ty under another name ("long unsigned int" for
// "unsigned long"), replacing what the name meant.
func (t *Types) Alias(name string, ty *symbols.Type) { t.byName[name] = ty }

// AddVariable records the type of a global variable, as DWARF would.
func (t *Types) AddVariable(name string, ty *symbols.Type) {
	if t.vars == nil {
		t.vars = make(map[string]*symbols.Type)
	}
	t.vars[name] = ty
}

// VariableType implements symbols.VariableTyper for variables added with
// AddVariable; others fall back to kwalk's table of globals.
func (t *Types) VariableType(name string) (*symbols.Type, error) {
	if ty, ok := t.vars[name]; ok {
		return ty, nil
	}
	return nil, fmt.Errorf("%w: variable %s", symbols.ErrNoType, name)
}

// NewTypes returns a source holding the usual base types (char, int, long,
// unsigned variants, u8..u64, s32, s64, bool, void *).
func NewTypes() *Types {
	t := &Types{byName: make(map[string]*symbols.Type)}
	for _, b := range []struct {
		name   string
		size   uint64
		signed bool
		enc    symbols.IntEncoding
	}{
		{"char", 1, true, symbols.IntChar},
		{"unsigned char", 1, false, symbols.IntChar},
		{"_Bool", 1, false, symbols.IntBool},
		{"short", 2, true, symbols.IntSigned},
		{"unsigned short", 2, false, symbols.IntUnsigned},
		{"int", 4, true, symbols.IntSigned},
		{"unsigned int", 4, false, symbols.IntUnsigned},
		{"long", 8, true, symbols.IntSigned},
		{"unsigned long", 8, false, symbols.IntUnsigned},
		{"long long", 8, true, symbols.IntSigned},
		{"unsigned long long", 8, false, symbols.IntUnsigned},
	} {
		t.Add(&symbols.Type{Kind: symbols.KindInt, Name: b.name, Size: b.size, Signed: b.signed, Encoding: b.enc})
	}
	for _, td := range []struct{ name, base string }{
		{"u8", "unsigned char"}, {"u16", "unsigned short"}, {"u32", "unsigned int"}, {"u64", "unsigned long long"},
		{"s8", "char"}, {"s16", "short"}, {"s32", "int"}, {"s64", "long long"}, {"bool", "_Bool"},
	} {
		t.Add(&symbols.Type{Kind: symbols.KindTypedef, Name: td.name, Size: t.byName[td.base].Size, Elem: t.byName[td.base]})
	}
	return t
}

// Add registers a type under its name (with "struct "/"union "/"enum "
// prefix for tagged types, and also bare).
func (t *Types) Add(ty *symbols.Type) *symbols.Type {
	switch ty.Kind {
	case symbols.KindStruct:
		t.byName["struct "+ty.Name] = ty
	case symbols.KindUnion:
		t.byName["union "+ty.Name] = ty
	case symbols.KindEnum:
		t.byName["enum "+ty.Name] = ty
	}
	if _, taken := t.byName[ty.Name]; !taken || ty.Kind == symbols.KindStruct {
		t.byName[ty.Name] = ty
	}
	return ty
}

// Get returns a registered type or panics: for test setup only.
func (t *Types) Get(name string) *symbols.Type {
	ty, err := t.LookupType(name)
	if err != nil {
		panic(err)
	}
	return ty
}

// Ptr returns a pointer to elem (nil elem: void *); it is the package's Ptr.
func (t *Types) Ptr(elem *symbols.Type) *symbols.Type { return Ptr(elem) }

// Array returns elem[n]; it is the package's Array.
func (t *Types) Array(elem *symbols.Type, n uint64) *symbols.Type { return Array(elem, n) }

// F makes a member at a byte offset.
func F(name string, ty *symbols.Type, off uint64) symbols.Member {
	return symbols.Member{Name: name, Type: ty, Offset: off, BitOffset: off * 8}
}

// Bits makes a bitfield member at a bit offset.
func Bits(name string, ty *symbols.Type, bitOff, bitSize uint64) symbols.Member {
	return symbols.Member{Name: name, Type: ty, Offset: bitOff / 8, BitOffset: bitOff, BitSize: bitSize}
}

// Struct registers "struct name" of the given size and members. A struct
// registered earlier as a forward placeholder (see Declare) is filled in
// place, so self-referencing types work.
func (t *Types) Struct(name string, size uint64, members ...symbols.Member) *symbols.Type {
	if ty, ok := t.byName["struct "+name]; ok && ty.Kind == symbols.KindStruct && ty.Size == 0 {
		ty.Size, ty.Members = size, members
		return ty
	}
	return t.Add(&symbols.Type{Kind: symbols.KindStruct, Name: name, Size: size, Members: members})
}

// Declare registers an empty "struct name" to be completed by Struct, for
// self-referential or mutually referential types.
func (t *Types) Declare(name string) *symbols.Type {
	if ty, ok := t.byName["struct "+name]; ok {
		return ty
	}
	return t.Add(&symbols.Type{Kind: symbols.KindStruct, Name: name})
}

// LookupType implements symbols.TypeSource, including "T *" and "T[n]".
func (t *Types) LookupType(name string) (*symbols.Type, error) {
	name = strings.TrimSpace(name)
	if strings.HasSuffix(name, "*") {
		elem, err := t.LookupType(strings.TrimSuffix(name, "*"))
		if err != nil {
			return nil, err
		}
		return t.Ptr(elem), nil
	}
	if i := strings.LastIndexByte(name, '['); i > 0 && strings.HasSuffix(name, "]") {
		var n uint64
		if _, err := fmt.Sscanf(name[i:], "[%d]", &n); err != nil {
			return nil, fmt.Errorf("%w: %s", symbols.ErrNoType, name)
		}
		elem, err := t.LookupType(name[:i])
		if err != nil {
			return nil, err
		}
		return t.Array(elem, n), nil
	}
	if name == "void" {
		return &symbols.Type{Kind: symbols.KindVoid}, nil
	}
	if ty, ok := t.byName[name]; ok {
		return ty, nil
	}
	return nil, fmt.Errorf("%w: %s", symbols.ErrNoType, name)
}

// TypeNames implements symbols.TypeSource.
func (t *Types) TypeNames() []string {
	var names []string
	for n := range t.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Describe implements symbols.TypeSource.
func (t *Types) Describe() string { return "synthetic test types" }

// Symbols is a SymbolTable over a list that Add may extend.
type Symbols struct {
	byAddr []symbols.Symbol
	byName map[string]symbols.Symbol
}

// NewSymbols builds a table; sizes of zero are taken as "up to the next symbol".
func NewSymbols(syms ...symbols.Symbol) *Symbols {
	s := &Symbols{byName: make(map[string]symbols.Symbol)}
	s.byAddr = append(s.byAddr, syms...)
	sort.Slice(s.byAddr, func(i, j int) bool { return s.byAddr[i].Addr < s.byAddr[j].Addr })
	for _, sym := range s.byAddr {
		if _, dup := s.byName[sym.Name]; !dup {
			s.byName[sym.Name] = sym
		}
	}
	return s
}

// Add adds (or, by name, replaces) a symbol of the given size and nm type
// letter ('T', 'D', 'd', ...).
func (s *Symbols) Add(name string, addr, size uint64, typ byte) {
	s.AddSymbol(symbols.Symbol{Name: name, Addr: addr, Size: size, Type: typ})
}

// AddSymbol adds (or, by name, replaces) sym.
func (s *Symbols) AddSymbol(sym symbols.Symbol) {
	if old, ok := s.byName[sym.Name]; ok {
		for i, sym := range s.byAddr {
			if sym == old {
				s.byAddr = append(s.byAddr[:i], s.byAddr[i+1:]...)
				break
			}
		}
	}
	i := sort.Search(len(s.byAddr), func(i int) bool { return s.byAddr[i].Addr > sym.Addr })
	s.byAddr = append(s.byAddr, symbols.Symbol{})
	copy(s.byAddr[i+1:], s.byAddr[i:])
	s.byAddr[i] = sym
	s.byName[sym.Name] = sym
}

// Lookup implements symbols.SymbolTable.
func (s *Symbols) Lookup(name string) (symbols.Symbol, error) {
	sym, ok := s.byName[name]
	if !ok {
		return symbols.Symbol{}, fmt.Errorf("%w: %s", symbols.ErrNoSymbol, name)
	}
	return sym, nil
}

// LookupAddr implements symbols.SymbolTable.
func (s *Symbols) LookupAddr(addr uint64) (symbols.Symbol, uint64, bool) {
	i := sort.Search(len(s.byAddr), func(i int) bool { return s.byAddr[i].Addr > addr }) - 1
	if i < 0 {
		return symbols.Symbol{}, 0, false
	}
	sym := s.byAddr[i]
	if sym.Size != 0 && addr >= sym.Addr+sym.Size {
		return symbols.Symbol{}, 0, false
	}
	return sym, addr - sym.Addr, true
}

// Names implements symbols.SymbolTable.
func (s *Symbols) Names() []string {
	var n []string
	for name := range s.byName {
		n = append(n, name)
	}
	sort.Strings(n)
	return n
}

// Describe implements symbols.SymbolTable.
func (s *Symbols) Describe() string { return fmt.Sprintf("synthetic symbols (%d)", len(s.byAddr)) }

// Program ties the pieces together.
func Program(mem *Memory, types *Types, syms *Symbols) *symbols.Program {
	if syms == nil {
		syms = NewSymbols()
	}
	return symbols.NewProgram(mem, syms, types)
}
