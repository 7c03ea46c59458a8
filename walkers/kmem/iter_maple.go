package kmem

import (
	"encoding/binary"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// MapleEntry is one present range of a maple tree: Entry is stored for
// every index in [First, Last].
type MapleEntry struct {
	First, Last uint64
	Entry       uint64 // the stored pointer or value entry, as stored
}

// maxMapleHeight bounds a descent (include/linux/maple_tree.h
// MAPLE_HEIGHT_MAX).
const maxMapleHeight = 31

// Node encoding (lib/maple_tree.c, include/linux/maple_tree.h): an
// encoded node ("enode") is the 256-byte aligned struct maple_node with
// its enum maple_type in bits 3-6 (MAPLE_ENODE_TYPE_SHIFT) and bit 2 set
// (MAPLE_ENODE_NULL); ma_root adds the xarray internal tag 2
// (mte_mk_root), so a root that is a node is xa_is_node. MAPLE_NODE_MASK
// clears the flag byte.
const (
	mapleNodeMask  = 0xff
	mapleTypeShift = 3
	mapleTypeMask  = 0x0f
)

// MapleEntries returns the present ranges of the struct maple_tree at root
// (6.1+: mm_struct.mm_mt, irq_desc's sparse_irqs, ...), in index order,
// stopping with an error after limit entries (limit <= 0: DefaultListLimit).
// name describes the tree in errors ("" gives "maple_tree ADDR").
//
// Leaves are maple_leaf_64 (and maple_dense) nodes, internal nodes
// maple_range_64 or maple_arange_64 (allocation trees); the node types,
// member offsets and the enum values come from the dump's types. Internal
// entries stored in leaves (XA_ZERO_ENTRY, retry entries) are not values
// and are skipped. A root that is not a node stores one entry at index 0.
// The walk is bounded (depth, nodes, entries) and detects nodes met twice
// (symbols.ErrCycle) and pivots out of order (ErrListCorrupt); on error
// the entries read so far are returned with it.
func MapleEntries(p *symbols.Program, root uint64, name string, limit int) ([]MapleEntry, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	if name == "" {
		name = fmt.Sprintf("maple_tree %#x", root)
	}
	rootOff, err := p.OffsetOf("struct maple_tree", "ma_root")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	top, err := p.ReadU64(root + rootOff)
	if err != nil {
		return nil, fmt.Errorf("%s: read ma_root: %w", name, err)
	}
	if !xaIsNode(top) {
		if top == 0 || xaIsInternal(top) {
			return nil, nil
		}
		return []MapleEntry{{First: 0, Last: 0, Entry: top}}, nil
	}
	lay, err := mapleLayoutOf(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	w := mapleWalker{p: p, lay: lay, name: name, limit: limit, seen: make(map[uint64]struct{})}
	err = w.node(top, 0, ^uint64(0), 0)
	return w.out, err
}

// mapleKind is the layout of one node type's pivots, slots and metadata.
type mapleKind struct {
	pivotOff, slotOff, metaOff uint64
	pivots, slots              int
	hasMeta                    bool
}

type mapleLayout struct {
	dense, leaf, rng, arange uint64 // enum maple_type values
	nodeSize                 uint64
	denseSlots               int    // maple_node.slot[] length
	denseSlotOff             uint64 // maple_node.slot offset
	r64, a64                 mapleKind
	metaEndOff               uint64 // maple_metadata.end
}

func mapleLayoutOf(p *symbols.Program) (mapleLayout, error) {
	l := mapleLayout{dense: 0, leaf: 1, rng: 2, arange: 3}
	node, err := p.Type("struct maple_node")
	if err != nil {
		return l, err
	}
	l.nodeSize = node.Resolve().Size
	if l.nodeSize == 0 || l.nodeSize > 1024 {
		return l, fmt.Errorf("struct maple_node has size %d", l.nodeSize)
	}
	if m, ok := node.FindMember("type"); ok {
		if t := m.Type.Resolve(); t != nil {
			for name, dst := range map[string]*uint64{"maple_dense": &l.dense, "maple_leaf_64": &l.leaf,
				"maple_range_64": &l.rng, "maple_arange_64": &l.arange} {
				if v, ok := t.EnumValue(name); ok {
					*dst = uint64(v)
				}
			}
		}
	}
	if l.denseSlotOff, l.denseSlots, err = arrayMember(p, node, "slot"); err != nil {
		return l, err
	}
	if l.r64, err = mapleKindOf(p, "struct maple_range_64"); err != nil {
		return l, err
	}
	if l.a64, err = mapleKindOf(p, "struct maple_arange_64"); err != nil {
		return l, err
	}
	if l.r64.hasMeta || l.a64.hasMeta {
		if l.metaEndOff, err = p.OffsetOf("struct maple_metadata", "end"); err != nil {
			return l, err
		}
	}
	for _, k := range []mapleKind{l.r64, l.a64} {
		if k.pivots+1 != k.slots || k.slotOff+8*uint64(k.slots) > l.nodeSize {
			return l, fmt.Errorf("maple node with %d pivots and %d slots: not a layout this walker knows", k.pivots, k.slots)
		}
	}
	return l, nil
}

// mapleKindOf reads the layout of struct maple_range_64 or maple_arange_64.
func mapleKindOf(p *symbols.Program, typ string) (mapleKind, error) {
	var k mapleKind
	t, err := p.Type(typ)
	if err != nil {
		return k, err
	}
	if k.pivotOff, k.pivots, err = arrayMember(p, t, "pivot"); err != nil {
		return k, err
	}
	if k.slotOff, k.slots, err = arrayMember(p, t, "slot"); err != nil {
		return k, err
	}
	if off, err := p.OffsetOfType(t, "meta"); err == nil {
		k.metaOff, k.hasMeta = off, true
	}
	return k, nil
}

// arrayMember returns the offset and length of t's array member name.
func arrayMember(p *symbols.Program, t *symbols.Type, name string) (uint64, int, error) {
	off, err := p.OffsetOfType(t, name)
	if err != nil {
		return 0, 0, err
	}
	m, ok := t.FindMember(name)
	if !ok {
		return 0, 0, fmt.Errorf("%w: %s has no %s", symbols.ErrNoMember, t, name)
	}
	at := m.Type.Resolve()
	if at == nil || at.Kind != symbols.KindArray || at.Len == 0 || at.Len > 64 {
		return 0, 0, fmt.Errorf("%s.%s is %s, expected an array", t, name, m.Type)
	}
	return off, int(at.Len), nil
}

type mapleWalker struct {
	p     *symbols.Program
	lay   mapleLayout
	name  string
	limit int
	seen  map[uint64]struct{}
	out   []MapleEntry
}

func (w *mapleWalker) emit(first, last, e uint64) error {
	if len(w.out) >= w.limit {
		return fmt.Errorf("%s: %w: more than %d entries", w.name, ErrListCorrupt, w.limit)
	}
	w.out = append(w.out, MapleEntry{First: first, Last: last, Entry: e})
	return nil
}

// node walks the encoded node enode covering indices [min, max].
func (w *mapleWalker) node(enode, min, max uint64, depth int) error {
	addr := enode &^ mapleNodeMask
	typ := (enode >> mapleTypeShift) & mapleTypeMask
	if depth > maxMapleHeight {
		return fmt.Errorf("%s: %w: node %#x deeper than any maple tree", w.name, ErrListCorrupt, addr)
	}
	if _, dup := w.seen[addr]; dup {
		return fmt.Errorf("%s: %w: maple_node %#x met twice", w.name, symbols.ErrCycle, addr)
	}
	// A node holds at least one entry or gap and a gap is between two
	// entries: a tree of limit entries has fewer than 4*limit+64 nodes.
	if len(w.seen) >= 4*w.limit+64 {
		return fmt.Errorf("%s: %w: more than %d nodes", w.name, ErrListCorrupt, len(w.seen))
	}
	w.seen[addr] = struct{}{}
	buf := make([]byte, w.lay.nodeSize)
	if err := w.p.Mem.ReadVirt(buf, addr); err != nil {
		return fmt.Errorf("%s: maple_node %#x: %w", w.name, addr, err)
	}
	word := func(off uint64) uint64 { return binary.LittleEndian.Uint64(buf[off:]) }
	var k mapleKind
	switch typ {
	case w.lay.dense:
		// One index a slot (lib/maple_tree.c: dense nodes have no pivots).
		for i := 0; i < w.lay.denseSlots; i++ {
			idx := min + uint64(i)
			if idx < min || idx > max {
				break
			}
			if e := word(w.lay.denseSlotOff + 8*uint64(i)); e != 0 && !xaIsInternal(e) {
				if err := w.emit(idx, idx, e); err != nil {
					return err
				}
			}
		}
		return nil
	case w.lay.leaf, w.lay.rng:
		k = w.lay.r64
	case w.lay.arange:
		k = w.lay.a64
	default:
		return fmt.Errorf("%s: %w: maple_node %#x has type %d", w.name, ErrListCorrupt, addr, typ)
	}
	leaf := typ == w.lay.leaf
	pivot := func(i int) uint64 { return word(k.pivotOff + 8*uint64(i)) }
	end := w.dataEnd(typ, k, pivot, word, max)
	lo := min
	for i := 0; i <= end; i++ {
		// Before the end a pivot is the slot's last index, 0 included
		// (index 0 alone); the end slot reaches max unless its pivot says
		// less (lib/maple_tree.c mas_safe_pivot, mas_logical_pivot).
		hi := max
		if i < k.pivots {
			if pv := pivot(i); pv != 0 || i < end {
				hi = pv
			}
		}
		if hi < lo || hi > max {
			return fmt.Errorf("%s: %w: maple_node %#x slot %d covers %#x-%#x outside %#x-%#x",
				w.name, ErrListCorrupt, addr, i, lo, hi, min, max)
		}
		e := word(k.slotOff + 8*uint64(i))
		switch {
		case e == 0:
		case leaf:
			if !xaIsInternal(e) {
				if err := w.emit(lo, hi, e); err != nil {
					return err
				}
			}
		case e&^mapleNodeMask == 0:
			return fmt.Errorf("%s: %w: maple_node %#x slot %d holds %#x, not a node", w.name, ErrListCorrupt, addr, i, e)
		default:
			// A child is an encoded node without the internal tag
			// (lib/maple_tree.c mt_mk_node: node | type<<3 | 4).
			if err := w.node(e, lo, hi, depth+1); err != nil {
				return err
			}
		}
		if hi == max {
			break
		}
		lo = hi + 1
	}
	return nil
}

// dataEnd is the last used slot of a node (lib/maple_tree.c ma_data_end):
// an allocation node keeps it in its metadata; a range node is full when
// its last pivot is set, and otherwise keeps it in the metadata in its
// last slot.
func (w *mapleWalker) dataEnd(typ uint64, k mapleKind, pivot func(int) uint64, word func(uint64) uint64, max uint64) int {
	meta := func() int {
		if !k.hasMeta {
			return k.slots - 1
		}
		e := int(word(k.metaOff+w.lay.metaEndOff) & 0xff)
		return min(e, k.slots-1)
	}
	if typ == w.lay.arange {
		return meta()
	}
	last := k.pivots - 1
	switch pv := pivot(last); {
	case pv == 0:
		return meta()
	case pv == max:
		return last
	}
	return k.pivots
}
