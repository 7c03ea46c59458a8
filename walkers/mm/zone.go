package mm

import (
	"fmt"
	"math/bits"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// Node is one NUMA node (struct pglist_data, include/linux/mmzone.h).
type Node struct {
	ID       int
	Addr     uint64
	StartPFN uint64
	Present  uint64
	Spanned  uint64
	Zones    []Zone
	// Stats are the node's vm_stat counters (enum node_stat_item).
	Stats []Counter
}

// Zone is one struct zone.
type Zone struct {
	Node     int
	Index    int
	Name     string
	Addr     uint64
	StartPFN uint64
	Spanned  uint64
	Present  uint64
	Managed  uint64
	// Free is vm_stat[NR_FREE_PAGES], the kernel's global view (per-CPU
	// deltas not folded in, as /proc/zoneinfo shows it).
	Free uint64
	// Min, Low and High are the watermarks (_watermark[WMARK_*] plus
	// watermark_boost, as the kernel's min_wmark_pages() and friends).
	Min, Low, High uint64
	// FreeArea is the number of free blocks of each order (free_area[].nr_free).
	FreeArea []uint64
	Stats    []Counter
	Errors   []string
	Obj      symbols.Object
}

// Populated reports whether the zone has pages (managed_pages != 0 is
// the kernel's populated_zone(); present here, as /proc/zoneinfo lists).
func (z *Zone) Populated() bool { return z.Present != 0 }

// nodeAddrs returns the pglist_data of each online node: node_data[nid]
// (arch/x86/mm/numa.c) for the nodes set in node_states[N_ONLINE]
// (node_online_map), else contig_page_data (mm/memblock.c, !NUMA).
func nodeAddrs(p *symbols.Program) ([]int, []uint64, error) {
	nd, err := p.Symbol("node_data")
	if err != nil {
		a, err2 := p.Symbol("contig_page_data")
		if err2 != nil {
			return nil, nil, fmt.Errorf("no node_data or contig_page_data: %w", err)
		}
		return []int{0}, []uint64{a}, nil
	}
	var online []int
	// mm/page_alloc.c: unsigned int nr_node_ids bounds the node numbers
	words := uint64(16) // nodemask_t { unsigned long bits[]; }, MAX_NUMNODES <= 1024
	if n, err := readSymU32(p, "nr_node_ids"); err == nil && n > 0 && n <= 1024 {
		words = (uint64(n) + 63) / 64
	}
	if a, err := p.Symbol("node_online_map"); err == nil {
		for w := uint64(0); w < words; w++ {
			v, err := p.ReadU64(a + 8*w)
			if err != nil {
				break
			}
			for v != 0 {
				b := bits.TrailingZeros64(v)
				online = append(online, int(w)*64+b)
				v &^= 1 << b
			}
		}
	}
	if len(online) == 0 {
		online = []int{0}
	}
	var ids []int
	var addrs []uint64
	for _, nid := range online {
		a, err := p.ReadU64(nd + 8*uint64(nid))
		if err != nil {
			return ids, addrs, fmt.Errorf("node_data[%d]: %w", nid, err)
		}
		if a == 0 {
			continue
		}
		ids = append(ids, nid)
		addrs = append(addrs, a)
	}
	return ids, addrs, nil
}

// Nodes returns the online nodes and their zones, with the counters of
// each when withStats.
func Nodes(p *symbols.Program, withStats bool) ([]Node, error) {
	ids, addrs, err := nodeAddrs(p)
	var out []Node
	for i, a := range addrs {
		n, nerr := readNode(p, ids[i], a, withStats)
		out = append(out, n)
		if nerr != nil && err == nil {
			err = nerr
		}
	}
	return out, err
}

func readNode(p *symbols.Program, nid int, addr uint64, withStats bool) (Node, error) {
	n := Node{ID: nid, Addr: addr}
	o, err := p.Object("struct pglist_data", addr)
	if err != nil {
		return n, err
	}
	if n.StartPFN, err = o.MemberUint("node_start_pfn"); err != nil {
		return n, err
	}
	n.Present, _ = o.MemberUint("node_present_pages")
	n.Spanned, _ = o.MemberUint("node_spanned_pages")
	zs, err := o.Member("node_zones")
	if err != nil {
		return n, err
	}
	nz := int(zs.Type().Resolve().Len)
	var firstErr error
	for i := 0; i < nz && i < 8; i++ {
		zo, err := zs.Index(int64(i))
		if err != nil {
			return n, err
		}
		z, err := readZone(p, zo, nid, i, withStats)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		n.Zones = append(n.Zones, z)
	}
	if withStats {
		n.Stats, err = counterArray(o, "vm_stat", "enum node_stat_item")
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return n, firstErr
}

func readZone(p *symbols.Program, zo symbols.Object, nid, idx int, withStats bool) (Zone, error) {
	z := Zone{Node: nid, Index: idx, Addr: zo.Addr(), Obj: zo}
	var err error
	if np, e := zo.MemberUint("name"); e == nil && np != 0 {
		z.Name, _ = p.ReadString(np, 32)
	}
	if z.StartPFN, err = zo.MemberUint("zone_start_pfn"); err != nil {
		return z, err
	}
	z.Spanned, _ = zo.MemberUint("spanned_pages")
	z.Present, _ = zo.MemberUint("present_pages")
	if z.Managed, err = kmem.ScalarMember(zo, "managed_pages"); err != nil {
		return z, err
	}
	// include/linux/mmzone.h: wmark_pages(z, i) = _watermark[i] + watermark_boost
	// (5.x–6.x; enum zone_watermarks WMARK_MIN, WMARK_LOW, WMARK_HIGH)
	boost, _ := zo.MemberUint("watermark_boost")
	for i, dst := range []*uint64{&z.Min, &z.Low, &z.High} {
		if v, e := zo.MemberUint(fmt.Sprintf("_watermark[%d]", i)); e == nil {
			*dst = v + boost
		}
	}
	if fa, e := zo.Member("free_area"); e == nil {
		n := int(fa.Type().Resolve().Len)
		for i := 0; i < n && i < 16; i++ {
			v, e := zo.MemberUint(fmt.Sprintf("free_area[%d].nr_free", i))
			if e != nil {
				z.Errors = append(z.Errors, e.Error())
				break
			}
			z.FreeArea = append(z.FreeArea, v)
		}
	}
	free, e := zo.MemberUint("vm_stat[0].counter") // NR_FREE_PAGES is 0 (enum zone_stat_item)
	if e != nil {
		return z, e
	}
	z.Free = clampCounter(free)
	if withStats {
		z.Stats, err = counterArray(zo, "vm_stat", "enum zone_stat_item")
		if err != nil {
			return z, err
		}
		if ev, e := counterArray(zo, "vm_numa_event", "enum numa_stat_item"); e == nil {
			z.Stats = append(z.Stats, ev...)
		}
	}
	return z, nil
}

// clampCounter reads a signed counter as the kernel's readers do: a
// negative global value (per-CPU deltas pending) shows as 0.
func clampCounter(v uint64) uint64 {
	if int64(v) < 0 {
		return 0
	}
	return v
}

// flagsLayout is where the zone and node numbers sit in page->flags.
type flagsLayout struct {
	ok        bool
	zoneShift uint
	nodeShift uint
	nodeWidth uint
	err       string
}

type flagsLayoutKey struct{}

// flagsLayoutOf finds ZONES_PGSHIFT and NODES_PGSHIFT
// (include/linux/mm.h). With SPARSEMEM_VMEMMAP page->flags holds, from
// the top: the node number, the zone number, then the last-cpupid and
// flag bits (include/linux/page-flags-layout.h). ZONES_WIDTH follows
// from MAX_NR_ZONES; NODES_SHIFT is a config value no type carries, so
// the place of the zone field is found from the first page of each
// populated zone (memmap_init_range sets every page's zone and node):
// the one shift where every such page holds its zone's index and only
// its node's number above it.
func flagsLayoutOf(p *symbols.Program) flagsLayout {
	v, _ := p.Memo(flagsLayoutKey{}, func() (any, error) { return findFlagsLayout(p), nil })
	return v.(flagsLayout)
}

func findFlagsLayout(p *symbols.Program) flagsLayout {
	l, err := getLayout(p)
	if err != nil {
		return flagsLayout{err: err.Error()}
	}
	if l.zonesWidth == 0 {
		return flagsLayout{err: "one zone type"}
	}
	ids, addrs, err := nodeAddrs(p)
	if err != nil && len(addrs) == 0 {
		return flagsLayout{err: err.Error()}
	}
	type sample struct {
		flags      uint64
		zone, node uint64
	}
	var samples []sample
	for i, a := range addrs {
		o, err := p.Object("struct pglist_data", a)
		if err != nil {
			continue
		}
		for zi := 0; zi < len(l.zoneNames); zi++ {
			start, e1 := o.MemberUint(fmt.Sprintf("node_zones[%d].zone_start_pfn", zi))
			present, e2 := o.MemberUint(fmt.Sprintf("node_zones[%d].present_pages", zi))
			spanned, _ := o.MemberUint(fmt.Sprintf("node_zones[%d].spanned_pages", zi))
			if e1 != nil || e2 != nil || present == 0 {
				continue
			}
			// a few pages of the zone: its first, middle and last
			for _, pfn := range []uint64{start, start + spanned/2, start + spanned - 1} {
				var b [8]byte
				if err := p.Mem.ReadVirt(b[:], l.vmemmap+pfn*l.pageSz+l.flags.Off); err != nil {
					continue
				}
				samples = append(samples, sample{le64(b[:]), uint64(zi), uint64(ids[i])})
			}
		}
	}
	if len(samples) == 0 {
		return flagsLayout{err: "no page of a populated zone could be read"}
	}
	zmask := uint64(1)<<l.zonesWidth - 1
	var found []uint
	for s := uint(63 - l.zonesWidth + 1); s >= 8; s-- {
		good := true
		for _, sm := range samples {
			if (sm.flags>>s)&zmask != sm.zone || sm.flags>>(s+l.zonesWidth) != sm.node {
				good = false
				break
			}
		}
		if good {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		return flagsLayout{err: fmt.Sprintf("zone field of page->flags not found (%d candidate places)", len(found))}
	}
	s := found[0]
	return flagsLayout{ok: true, zoneShift: s, nodeShift: s + l.zonesWidth, nodeWidth: 64 - s - l.zonesWidth}
}
