package kmem

import (
	"encoding/binary"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// XEntry is one present entry of an XArray (or radix tree, or IDR).
type XEntry struct {
	Index uint64 // index in the array (for an IDR: the id minus idr_base)
	Value uint64 // the stored pointer or value entry, as stored
}

// maxXArrayEntries bounds an XArray walk.
const maxXArrayEntries = 1 << 22

// XArrayEntries returns the present entries of the struct xarray (alias
// struct radix_tree_root since 4.20) at addr, in index order. Internal
// entries other than nodes (retry, zero, sibling entries; see
// include/linux/xarray.h) are skipped. name describes the array in errors.
//
// Entry encoding (include/linux/xarray.h): an entry with low bits 10 is
// internal; an internal entry above 4096 is a pointer to a struct xa_node
// (entry - 2) whose slots[] cover 1<<shift indices each.
func XArrayEntries(p *symbols.Program, addr uint64, name string) ([]XEntry, error) {
	if name == "" {
		name = fmt.Sprintf("xarray %#x", addr)
	}
	headOff, err := p.OffsetOf("struct xarray", "xa_head")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	lay, err := xaNodeLayoutOf(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	head, err := p.ReadU64(addr + headOff)
	if err != nil {
		return nil, fmt.Errorf("%s: read xa_head: %w", name, err)
	}
	w := xaWalker{p: p, lay: lay, name: name, seen: make(map[uint64]struct{})}
	if !xaIsNode(head) {
		// A single entry at index 0, or empty.
		if head != 0 && !xaIsInternal(head) {
			w.out = append(w.out, XEntry{Index: 0, Value: head})
		}
		return w.out, nil
	}
	err = w.node(xaToNode(head), 0, 0, -1)
	return w.out, err
}

type xaNodeLayout struct {
	shiftOff, slotsOff uint64
	chunk              uint64 // XA_CHUNK_SIZE, from the type of slots
	chunkShift         uint64 // XA_CHUNK_SHIFT: log2(chunk)
}

func xaNodeLayoutOf(p *symbols.Program) (xaNodeLayout, error) {
	t, err := p.Type("struct xa_node")
	if err != nil {
		return xaNodeLayout{}, err
	}
	var l xaNodeLayout
	if l.shiftOff, err = p.OffsetOfType(t, "shift"); err != nil {
		return l, err
	}
	m, ok := t.FindMember("slots")
	if !ok {
		return l, fmt.Errorf("%w: struct xa_node has no slots", symbols.ErrNoMember)
	}
	l.slotsOff = m.Offset
	at := m.Type.Resolve()
	if at == nil || at.Kind != symbols.KindArray || at.Len == 0 || at.Len > 256 {
		return l, fmt.Errorf("struct xa_node.slots is %s, expected an array of pointers", m.Type)
	}
	l.chunk = at.Len
	if l.chunk&(l.chunk-1) != 0 {
		return l, fmt.Errorf("struct xa_node.slots has %d entries, not a power of 2", l.chunk)
	}
	for 1<<l.chunkShift < l.chunk {
		l.chunkShift++
	}
	return l, nil
}

type xaWalker struct {
	p    *symbols.Program
	lay  xaNodeLayout
	name string
	seen map[uint64]struct{}
	out  []XEntry
}

func xaIsInternal(e uint64) bool { return e&3 == 2 }
func xaIsNode(e uint64) bool     { return xaIsInternal(e) && e > 4096 }
func xaToNode(e uint64) uint64   { return e - 2 }

// node walks the xa_node at addr, whose first index is base; want is
// the shift its parent implies (its own minus XA_CHUNK_SHIFT), -1 for the
// top node.
func (w *xaWalker) node(addr, base uint64, depth int, want int) error {
	if depth > 16 {
		return fmt.Errorf("%s: %w: node %#x nested deeper than any xarray", w.name, ErrListCorrupt, addr)
	}
	if _, dup := w.seen[addr]; dup {
		return fmt.Errorf("%s: %w: xa_node %#x met twice", w.name, symbols.ErrCycle, addr)
	}
	w.seen[addr] = struct{}{}
	var sb [1]byte
	if err := w.p.Mem.ReadVirt(sb[:], addr+w.lay.shiftOff); err != nil {
		return fmt.Errorf("%s: xa_node %#x: %w", w.name, addr, err)
	}
	shift := uint64(sb[0])
	if shift >= 64 || (want >= 0 && shift != uint64(want)) {
		return fmt.Errorf("%s: %w: xa_node %#x has shift %d (expected %d)", w.name, ErrListCorrupt, addr, shift, want)
	}
	slots := make([]byte, 8*w.lay.chunk)
	if err := w.p.Mem.ReadVirt(slots, addr+w.lay.slotsOff); err != nil {
		return fmt.Errorf("%s: xa_node %#x slots: %w", w.name, addr, err)
	}
	for i := uint64(0); i < w.lay.chunk; i++ {
		e := binary.LittleEndian.Uint64(slots[8*i:])
		if e == 0 {
			continue
		}
		if (i<<shift)>>shift != i || base+i<<shift < base {
			return fmt.Errorf("%s: %w: xa_node %#x slot %d is beyond any index", w.name, ErrListCorrupt, addr, i)
		}
		idx := base + i<<shift
		switch {
		case xaIsNode(e):
			if shift < w.lay.chunkShift {
				return fmt.Errorf("%s: %w: leaf xa_node %#x points at node %#x", w.name, ErrListCorrupt, addr, e)
			}
			if err := w.node(xaToNode(e), idx, depth+1, int(shift-w.lay.chunkShift)); err != nil {
				return err
			}
		case xaIsInternal(e):
			// sibling, retry or zero entry: nothing stored here
		default:
			if len(w.out) >= maxXArrayEntries {
				return fmt.Errorf("%s: %w: more than %d entries", w.name, ErrListCorrupt, maxXArrayEntries)
			}
			w.out = append(w.out, XEntry{Index: idx, Value: e})
		}
	}
	return nil
}

// XArrayLoad returns the entry stored at index in the struct xarray at addr
// (xa_load, lib/xarray.c): a descent through the nodes, following sibling
// entries of multi-index entries. ok is false when nothing is stored there.
func XArrayLoad(p *symbols.Program, addr, index uint64, name string) (value uint64, ok bool, err error) {
	if name == "" {
		name = fmt.Sprintf("xarray %#x", addr)
	}
	headOff, err := p.OffsetOf("struct xarray", "xa_head")
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", name, err)
	}
	entry, err := p.ReadU64(addr + headOff)
	if err != nil {
		return 0, false, fmt.Errorf("%s: read xa_head: %w", name, err)
	}
	if !xaIsNode(entry) {
		if index == 0 && entry != 0 && !xaIsInternal(entry) {
			return entry, true, nil
		}
		return 0, false, nil
	}
	lay, err := xaNodeLayoutOf(p)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", name, err)
	}
	want := -1 // the shift the parent implies
	for depth := 0; xaIsNode(entry); depth++ {
		if depth > 16 {
			return 0, false, fmt.Errorf("%s: %w: nodes nested deeper than any xarray", name, ErrListCorrupt)
		}
		node := xaToNode(entry)
		var sb [1]byte
		if err := p.Mem.ReadVirt(sb[:], node+lay.shiftOff); err != nil {
			return 0, false, fmt.Errorf("%s: xa_node %#x: %w", name, node, err)
		}
		shift := uint64(sb[0])
		if shift >= 64 || (want >= 0 && shift != uint64(want)) {
			return 0, false, fmt.Errorf("%s: %w: xa_node %#x has shift %d (expected %d)", name, ErrListCorrupt, node, shift, want)
		}
		want = int(shift) - int(lay.chunkShift)
		if depth == 0 && shift+6 < 64 && index>>shift >= lay.chunk {
			return 0, false, nil // beyond the top node's reach
		}
		off := (index >> shift) & (lay.chunk - 1)
		if entry, err = p.ReadU64(node + lay.slotsOff + 8*off); err != nil {
			return 0, false, fmt.Errorf("%s: xa_node %#x slot %d: %w", name, node, off, err)
		}
		// A sibling entry names the slot holding a multi-index entry
		// (xa_mk_sibling: internal entries below the chunk size).
		if xaIsInternal(entry) && !xaIsNode(entry) && entry>>2 < lay.chunk {
			if entry, err = p.ReadU64(node + lay.slotsOff + 8*(entry>>2)); err != nil {
				return 0, false, fmt.Errorf("%s: xa_node %#x sibling slot: %w", name, node, err)
			}
		}
		if shift == 0 {
			break
		}
		if want < 0 && xaIsNode(entry) {
			return 0, false, fmt.Errorf("%s: %w: xa_node %#x (shift %d) points at node %#x", name, ErrListCorrupt, node, shift, entry)
		}
	}
	if entry == 0 || xaIsInternal(entry) {
		return 0, false, nil
	}
	return entry, true, nil
}
