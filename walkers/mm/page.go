package mm

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// Page is one struct page, decoded.
type Page struct {
	Addr  uint64 // the struct page
	PFN   uint64
	Phys  uint64
	Flags uint64
	// FlagNames are the names of the set flag bits below the zone and node
	// fields (the kernel's own names, see PageFlagNames).
	FlagNames []string
	// Zone and Node come from the top bits of flags; -1 when the layout
	// of those bits could not be found.
	Zone     int
	ZoneName string
	Node     int
	Refcount int32
	Mapcount int32 // _mapcount + 1 (0 for an unmapped page); not for typed pages
	// PageType names a typed page of 6.9+ (page_type's top byte: "slab",
	// "buddy", ...) or "" for other pages.
	PageType string
	Mapping  uint64
	// Anon tells an anonymous page (PAGE_MAPPING_ANON in mapping's low
	// bit: mapping then points at an anon_vma).
	Anon    bool
	Index   uint64
	Private uint64
	// Head is the head page of a compound page this page is a tail of
	// (0 for a head or a single page).
	Head uint64
	// Order is the order of the compound page (folio) this head page
	// begins: 1 << Order pages; 0 for a single page and tails, -1 when it
	// could not be read.
	Order int
	// Slab marks a slab page; SlabCache is its kmem_cache.
	Slab      bool
	SlabCache uint64
}

// PFNToPage returns the address of the struct page of pfn
// (include/asm-generic/memory_model.h: __pfn_to_page with
// SPARSEMEM_VMEMMAP: vmemmap + pfn).
func PFNToPage(p *symbols.Program, pfn uint64) (uint64, error) {
	l, err := getLayout(p)
	if err != nil {
		return 0, err
	}
	return l.vmemmap + pfn*l.pageSz, nil
}

// PageToPFN returns the pfn of the struct page at page, ok false when page
// is not inside the memory map or not aligned on a struct page.
func PageToPFN(p *symbols.Program, page uint64) (uint64, bool) {
	l, err := getLayout(p)
	if err != nil || page < l.vmemmap {
		return 0, false
	}
	off := page - l.vmemmap
	if off%l.pageSz != 0 || off/l.pageSz >= MaxPFN(p) {
		return 0, false
	}
	return off / l.pageSz, true
}

// IsPageAddr reports whether addr lies in the memory map (vmemmap .. the
// struct page of the last pfn of the nodes): it points into some struct
// page.
func IsPageAddr(p *symbols.Program, addr uint64) bool {
	l, err := getLayout(p)
	return err == nil && addr >= l.vmemmap && (addr-l.vmemmap)/l.pageSz < MaxPFN(p)
}

type maxPFNKey struct{}

// MaxPFN returns one past the last pfn the nodes span (the end of the
// highest node_start_pfn + node_spanned_pages), or 2^40 when the nodes
// cannot be read.
func MaxPFN(p *symbols.Program) uint64 {
	v, _ := p.Memo(maxPFNKey{}, func() (any, error) {
		nodes, _ := Nodes(p, false)
		var end uint64
		for _, n := range nodes {
			end = max(end, n.StartPFN+n.Spanned)
			for _, z := range n.Zones {
				end = max(end, z.StartPFN+z.Spanned)
			}
		}
		if end == 0 {
			end = 1 << 40
		}
		return end, nil
	})
	return v.(uint64)
}

// ReadPage decodes the struct page of pfn.
func ReadPage(p *symbols.Program, pfn uint64) (Page, error) {
	l, err := getLayout(p)
	if err != nil {
		return Page{}, err
	}
	addr := l.vmemmap + pfn*l.pageSz
	buf := make([]byte, l.pageSz)
	if err := p.Mem.ReadVirt(buf, addr); err != nil {
		return Page{Addr: addr, PFN: pfn, Phys: pfn << l.pageShift, Zone: -1, Node: -1},
			fmt.Errorf("struct page %#x (pfn %#x): %w", addr, pfn, err)
	}
	pg := decodePage(p, l, addr, pfn, buf)
	if pg.IsHead(p) {
		pg.Order = folioOrder(p, l, addr)
	}
	return pg, nil
}

// IsHead reports whether PG_head is set: the first page of a compound
// page (a large folio).
func (pg *Page) IsHead(p *symbols.Program) bool {
	l, err := getLayout(p)
	if err != nil {
		return false
	}
	bit, ok := l.bits["PG_head"]
	return ok && pg.Flags&(1<<bit) != 0
}

// folioOrder reads the order of the compound page whose head is at head,
// from its first tail: struct folio _folio_order (6.1–6.5), the low byte
// of _flags_1 (6.6+, folio_order()), or struct page compound_order (5.x).
func folioOrder(p *symbols.Program, l *layout, head uint64) int {
	var off uint64
	if o, err := p.OffsetOf("struct folio", "_folio_order"); err == nil {
		off = o
	} else if o, err := p.OffsetOf("struct folio", "_flags_1"); err == nil {
		off = o
	} else if o, err := p.OffsetOf("struct page", "compound_order"); err == nil {
		off = l.pageSz + o
	} else {
		return -1
	}
	var b [1]byte
	if err := p.Mem.ReadVirt(b[:], head+off); err != nil || b[0] > 30 {
		return -1
	}
	return int(b[0])
}

func decodePage(p *symbols.Program, l *layout, addr, pfn uint64, b []byte) Page {
	pg := Page{Addr: addr, PFN: pfn, Phys: pfn << l.pageShift, Zone: -1, Node: -1}
	pg.Flags, _ = l.flags.UintAt(b)
	pg.Mapping, _ = l.mapping.UintAt(b)
	pg.Index, _ = l.index.UintAt(b)
	pg.Private, _ = l.private.UintAt(b)
	if v, ok := l.refcount.UintAt(b); ok {
		pg.Refcount = int32(uint32(v))
	}
	mc, _ := l.mapcount.UintAt(b)
	if ch, ok := l.compound.UintAt(b); ok && ch&1 == 1 {
		// include/linux/page-flags.h: a tail's compound_head is the head's
		// address + 1; 7.x's compound_info may instead hold a mask + 1 that
		// clears the tail's struct page address down to its head's.
		h := ch - 1
		if inv := ^h; inv != 0 && inv&(inv+1) == 0 && h>>63 == 1 {
			h = addr & h
		}
		if h >= l.vmemmap && (h-l.vmemmap)%l.pageSz == 0 && h <= addr {
			pg.Head = h
		}
	}
	fl := flagsLayoutOf(p)
	low := pg.Flags
	if fl.ok {
		pg.Zone = int((pg.Flags >> fl.zoneShift) & (1<<l.zonesWidth - 1))
		if pg.Zone < len(l.zoneNames) {
			pg.ZoneName = l.zoneNames[pg.Zone]
		}
		if fl.nodeWidth > 0 {
			pg.Node = int((pg.Flags >> fl.nodeShift) & (1<<fl.nodeWidth - 1))
		} else {
			pg.Node = 0
		}
		low &= 1<<fl.zoneShift - 1
	}
	// include/linux/page-flags.h (6.9+): a typed page has its type in the
	// top byte of page_type, which shares a word with _mapcount.
	pt := uint32(mc)
	if l.pageTypeOff.OK {
		v, _ := l.pageTypeOff.UintAt(b)
		pt = uint32(v)
	}
	if l.pgtySlab >= 0 && pt>>24 >= 0xf0 && pt>>24 != 0xff {
		pg.PageType = pageTypeName(p, int64(pt>>24))
		pg.Slab = int64(pt>>24) == l.pgtySlab
	} else {
		pg.Mapcount = int32(uint32(mc)) + 1
	}
	for _, f := range l.flagNames {
		if f.Bit < 64 && low&(1<<f.Bit) != 0 {
			pg.FlagNames = append(pg.FlagNames, f.Name)
		}
	}
	if bit, ok := l.bits["PG_slab"]; ok && l.pgtySlab < 0 && pg.Flags&(1<<bit) != 0 {
		pg.Slab = true
	}
	if pg.Slab {
		if l.slabCache.OK {
			pg.SlabCache, _ = l.slabCache.UintAt(b)
		} else if off, err := p.OffsetOf("struct slab", "slab_cache"); err == nil && off+8 <= uint64(len(b)) {
			// mm/slab.h: struct slab overlays struct page
			pg.SlabCache = le64(b[off:])
		}
		pg.Mapping = 0
	}
	// include/linux/page-flags.h: PAGE_MAPPING_ANON
	if pg.Mapping&1 == 1 && !pg.Slab {
		pg.Anon = true
	}
	return pg
}

func pageTypeName(p *symbols.Program, v int64) string {
	if et, err := p.Type("enum pagetype"); err == nil {
		for _, e := range et.Resolve().Enumerators {
			if e.Value == v {
				return strings.TrimPrefix(e.Name, "PGTY_")
			}
		}
	}
	return fmt.Sprintf("type %#x", v)
}

// DecodeFlags names the flag bits of a page->flags value (zone and node
// fields excluded when their place is known), like crash's "kmem -g".
func DecodeFlags(p *symbols.Program, flags uint64) ([]FlagName, error) {
	l, err := getLayout(p)
	if err != nil {
		return nil, err
	}
	fl := flagsLayoutOf(p)
	if fl.ok {
		flags &= 1<<fl.zoneShift - 1
	}
	var out []FlagName
	for _, f := range l.flagNames {
		if flags&(1<<f.Bit) != 0 {
			out = append(out, f)
		}
	}
	return out, nil
}

func le64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}
