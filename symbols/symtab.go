package symbols

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// SymRange is an address range [Lo, Hi) a symbol table covers: a kernel image
// section, the per-CPU area, or one module's memory region. LookupAddr answers
// only inside an extent, so an address far past the last symbol is not
// claimed by it.
type SymRange struct {
	Lo, Hi uint64
	Name   string // "kernel image", "percpu", "fuse text", ... for messages
}

func (e SymRange) contains(addr uint64) bool { return addr >= e.Lo && addr < e.Hi }

// SymTable is an immutable SymbolTable over a fixed set of symbols: sorted by
// address for LookupAddr (a binary search), with a name index (a hash map)
// for Lookup. The name index is built on the first name lookup (indexing
// ~10^5 kernel names is a large part of the cost of a table); a kallsyms
// table first answers a few lookups by scanning (deferIndex), and its index
// is built in the background once IndexNamesInBackground is called.
type SymTable struct {
	desc    string
	syms    []Symbol   // by Addr; aliases keep their source order
	addrs   []uint64   // syms[i].Addr, dense for the binary search
	spans   []uint64   // how far past syms[i].Addr LookupAddr attributes to it
	extents []SymRange // sorted by Lo, non-overlapping

	indexOnce sync.Once
	byName    atomic.Pointer[nameIndex] // nil until built
	building  atomic.Bool               // a background build is under way
	lazyScans atomic.Int32              // lookups left that may scan instead of building the index

	namesOnce sync.Once
	names     []string
}

// NewSymTable builds a table from syms (which it takes ownership of). Symbols
// with Size 0 get the distance to the next higher symbol as their size,
// clipped to the extent that holds them — what the kernel's
// kallsyms_lookup_size_offset reports (kernel/kallsyms.c get_symbol_pos).
// LookupAddr attributes an address to the symbol below it up to the next
// symbol (or the end of its extent) even when a known size (ELF st_size) is
// smaller, as the kernel's own traces do: the return address of a call to a
// noreturn function at the very end of a function lies just past its size.
// With no extents, one is derived: from the lowest symbol to the end of the
// highest one that has a size (or to its address + 1).
func NewSymTable(desc string, syms []Symbol, extents []SymRange) *SymTable {
	byAddr := func(a, b Symbol) int { return cmp.Compare(a.Addr, b.Addr) }
	if !slices.IsSortedFunc(syms, byAddr) { // kallsyms and System.map come sorted
		slices.SortStableFunc(syms, byAddr)
	}
	t := &SymTable{desc: desc, syms: syms}
	t.extents = normalizeExtents(extents)
	if len(t.extents) == 0 && len(syms) > 0 {
		hi := syms[len(syms)-1].Addr + 1
		for _, s := range syms {
			if s.Size > 0 && s.Addr+s.Size > hi {
				hi = s.Addr + s.Size
			}
		}
		t.extents = []SymRange{{Lo: syms[0].Addr, Hi: hi, Name: desc}}
	}
	t.fillSizes()
	t.addrs = make([]uint64, len(syms))
	for i := range syms {
		t.addrs[i] = syms[i].Addr
	}
	return t
}

// nameIndex returns the name index, building it on first use.
func (t *SymTable) nameIndex() *nameIndex {
	t.indexOnce.Do(func() { t.byName.Store(buildNameIndex(t.syms)) })
	return t.byName.Load()
}

// deferIndex lets the next n lookups scan the symbols (a few hundred
// microseconds each for a kernel) instead of building the index first: a
// session that asks for a handful of symbols never indexes them.
func (t *SymTable) deferIndex(n int32) { t.lazyScans.Store(n) }

// IndexNamesInBackground starts building the name index in another
// goroutine, when it is not built yet; until it is, lookups scan the
// symbols instead of waiting. Loaders call it when a core is likely idle
// (while BTF is parsed, single-threaded).
func (t *SymTable) IndexNamesInBackground() {
	if t.byName.Load() != nil || !t.building.CompareAndSwap(false, true) {
		return
	}
	go t.nameIndex()
}

// scanName finds what the index would answer for name without it: the first
// global in address order, else the first local; -1 when there is none.
func (t *SymTable) scanName(name string) int {
	local := -1
	for i := range t.syms {
		if t.syms[i].Name != name {
			continue
		}
		if t.syms[i].isGlobal() {
			return i
		}
		if local < 0 {
			local = i
		}
	}
	return local
}

// isGlobal: nm upper-case types are global (weak 'W'/'V' count as global).
func (s *Symbol) isGlobal() bool { return s.Type >= 'A' && s.Type <= 'Z' }

func normalizeExtents(in []SymRange) []SymRange {
	var out []SymRange
	for _, e := range in {
		if e.Hi > e.Lo {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b SymRange) int { return cmp.Compare(a.Lo, b.Lo) })
	// Merge overlaps so that a binary search finds the one extent holding an address.
	merged := out[:0]
	for _, e := range out {
		if n := len(merged); n > 0 && e.Lo < merged[n-1].Hi {
			if e.Hi > merged[n-1].Hi {
				merged[n-1].Hi = e.Hi
			}
			continue
		}
		merged = append(merged, e)
	}
	return merged
}

// extentOf returns the index of the extent holding addr, or -1.
func (t *SymTable) extentOf(addr uint64) int {
	i := sort.Search(len(t.extents), func(i int) bool { return t.extents[i].Hi > addr })
	if i < len(t.extents) && t.extents[i].contains(addr) {
		return i
	}
	return -1
}

func (t *SymTable) fillSizes() {
	n := len(t.syms)
	t.spans = make([]uint64, n)
	next := n // index of the first symbol with a higher address than i
	for i := n - 1; i >= 0; i-- {
		if i+1 < n && t.syms[i+1].Addr > t.syms[i].Addr {
			next = i + 1
		}
		s := &t.syms[i]
		e := t.extentOf(s.Addr)
		if e < 0 {
			t.spans[i] = s.Size
			continue
		}
		end := t.extents[e].Hi
		if next < n && t.syms[next].Addr < end {
			end = t.syms[next].Addr
		}
		if s.Size == 0 {
			s.Size = end - s.Addr
		}
		t.spans[i] = max(s.Size, end-s.Addr)
	}
}

// Lookup implements SymbolTable.
func (t *SymTable) Lookup(name string) (Symbol, error) {
	if t.byName.Load() == nil && (t.building.Load() || t.lazyScans.Add(-1) >= 0) {
		if i := t.scanName(name); i >= 0 {
			return t.syms[i], nil
		}
		return Symbol{}, fmt.Errorf("%w: %s (in %s)", ErrNoSymbol, name, t.desc)
	}
	i, ok := t.nameIndex().lookup(name)
	if !ok {
		return Symbol{}, fmt.Errorf("%w: %s (in %s)", ErrNoSymbol, name, t.desc)
	}
	return t.syms[i], nil
}

// LookupAll returns every symbol called name (static functions can repeat),
// globals first.
func (t *SymTable) LookupAll(name string) []Symbol {
	var out []Symbol
	for _, i := range t.nameIndex().all(t.syms, name) {
		out = append(out, t.syms[i])
	}
	return out
}

// LookupAddr implements SymbolTable.
func (t *SymTable) LookupAddr(addr uint64) (Symbol, uint64, bool) {
	if t.extentOf(addr) < 0 {
		return Symbol{}, 0, false
	}
	i, found := slices.BinarySearch(t.addrs, addr)
	if found {
		// The last of the aliases at addr; the loop below backs up.
		for i+1 < len(t.addrs) && t.addrs[i+1] == addr {
			i++
		}
	} else {
		i--
	}
	if i < 0 {
		return Symbol{}, 0, false
	}
	// Aliases at one address: the first in source order that covers addr
	// (the kernel's get_symbol_pos also backs up to the first alias).
	first := i
	for first > 0 && t.syms[first-1].Addr == t.syms[i].Addr {
		first--
	}
	for j := first; j <= i; j++ {
		off := addr - t.syms[j].Addr
		if t.spans[j] == 0 || off < t.spans[j] {
			return t.syms[j], off, true
		}
	}
	return Symbol{}, 0, false
}

// Names implements SymbolTable: unique names, sorted. The slice is a copy.
func (t *SymTable) Names() []string {
	t.namesOnce.Do(func() {
		slots := t.nameIndex().slots
		t.names = make([]string, 0, len(slots))
		for n := range slots {
			t.names = append(t.names, n)
		}
		slices.Sort(t.names)
	})
	return slices.Clone(t.names)
}

// Describe implements SymbolTable.
func (t *SymTable) Describe() string { return t.desc }

// Len is the number of symbols.
func (t *SymTable) Len() int { return len(t.syms) }

// Symbols returns the symbols in address order (a copy).
func (t *SymTable) Symbols() []Symbol { return slices.Clone(t.syms) }

// Extents returns the address ranges the table answers LookupAddr for.
func (t *SymTable) Extents() []SymRange { return slices.Clone(t.extents) }

// CombinedTable puts several tables behind one SymbolTable (vmlinux first, then
// modules). Lookup prefers a vmlinux global, then the first match in table
// order; LookupAddr asks each table in order (their extents do not
// overlap in practice).
type CombinedTable struct {
	parts     []SymbolTable
	namesOnce sync.Once
	names     []string
}

// CombineTables joins tables; nil entries are skipped.
func CombineTables(tables ...SymbolTable) *CombinedTable {
	c := &CombinedTable{}
	for _, t := range tables {
		if t != nil {
			c.parts = append(c.parts, t)
		}
	}
	return c
}

// Parts returns the tables in order.
func (c *CombinedTable) Parts() []SymbolTable { return slices.Clone(c.parts) }

// Lookup implements SymbolTable: a global of the first table (vmlinux)
// wins, then the first match in table order (the SymbolTable contract;
// kernel/kallsyms.c kallsyms_lookup_name also asks vmlinux before modules).
func (c *CombinedTable) Lookup(name string) (Symbol, error) {
	var first *Symbol
	var missing *MissingDataSymbolError
	for i, p := range c.parts {
		s, err := p.Lookup(name)
		if err != nil {
			if i == 0 {
				errors.As(err, &missing)
			}
			continue
		}
		if i == 0 && s.isGlobal() {
			return s, nil
		}
		if first == nil {
			first = &s
		}
	}
	if first != nil {
		return *first, nil
	}
	if missing != nil {
		return Symbol{}, missing // says why and what to supply
	}
	return Symbol{}, fmt.Errorf("%w: %s (in %s)", ErrNoSymbol, name, c.Describe())
}

// LookupAll returns every symbol called name in table order (of the tables
// that can list repeats; the others give their Lookup).
func (c *CombinedTable) LookupAll(name string) []Symbol {
	var out []Symbol
	for _, p := range c.parts {
		if all, ok := p.(interface{ LookupAll(string) []Symbol }); ok {
			out = append(out, all.LookupAll(name)...)
		} else if s, err := p.Lookup(name); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// LookupAddr implements SymbolTable.
func (c *CombinedTable) LookupAddr(addr uint64) (Symbol, uint64, bool) {
	for _, p := range c.parts {
		if s, off, ok := p.LookupAddr(addr); ok {
			return s, off, true
		}
	}
	return Symbol{}, 0, false
}

// Names implements SymbolTable: the union, sorted, unique.
func (c *CombinedTable) Names() []string {
	c.namesOnce.Do(func() {
		var all []string
		for _, p := range c.parts {
			all = append(all, p.Names()...)
		}
		slices.Sort(all)
		c.names = slices.Compact(all)
	})
	return slices.Clone(c.names)
}

// Describe implements SymbolTable.
func (c *CombinedTable) Describe() string {
	var ds []string
	for _, p := range c.parts {
		ds = append(ds, p.Describe())
	}
	if len(ds) == 0 {
		return "no symbol tables"
	}
	return strings.Join(ds, "; ")
}
