package repl

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/walkers/mm"
)

// kmemMaxRows bounds the rows of "kmem -p" and the objects of "kmem -S".
const kmemMaxRows = 1 << 22

func registerKmem(r *Registry) {
	r.Add(&Command{
		Name:    "kmem",
		Summary: "memory: summary, zones, counters, slab caches, pages, what an address is",
		Usage:   "kmem -i | -z | -V | -s [CACHE] | -S CACHE | -p [ADDR] | -g [FLAGS] | ADDR",
		Help: `Reads the kernel's memory management from the dump, like crash's kmem.

  -i        the memory summary of /proc/meminfo: total, free, used, shared
            (shmem), buffers, cached, slab, huge pages, swap, commit limit
            and committed, in pages, bytes and percent.
  -z        each zone of each node: free pages (vm_stat NR_FREE_PAGES, the
            global value without per-CPU deltas, as /proc/zoneinfo),
            watermarks min/low/high, spanned, present and managed pages,
            free blocks per order.
  -V        the global vm counters (vm_zone_stat, vm_node_stat, NUMA
            events) with their /proc/vmstat names.
  -s        the SLUB caches: object size, allocated and total objects,
            slabs, slab size. TOTAL and SLABS are the nodes' exact
            counters; ALLOCATED is TOTAL minus the free objects of the
            nodes' partial slabs, like /proc/slabinfo's active_objs, so
            objects free on a slab a CPU holds (or, on 7.x, in a sheaf)
            count as allocated: an upper bound, marked "~" when a partial
            list was too long to scan whole. The JSON also has the
            nodes' partial slabs, the CPUs' slabs and partial slabs (to
            6.x) and the objects in sheaves (7.x).
  -S CACHE  every slab of CACHE, found in the memory map (full slabs too),
            and each object: [ADDR] allocated, ADDR free (from the slab's
            freelist, the holding CPU's freelist and, on 7.x, the CPUs'
            sheaves).
  -p [ADDR] struct pages: one (ADDR is a struct page or a direct-map
            address), or every page of the memory map: PAGE, PHYSICAL,
            MAPPING (the slab cache of a slab page), INDEX, CNT, FLAGS.
  -g [FLAGS] the page flags the kernel names (its pageflag_names table,
            else enum pageflags) with their bits, or the names of FLAGS.
  ADDR      what ADDR is: a slab object (cache, object, offset, allocated
            or free), a page (flags, mapping), a struct page, a vmalloc
            area (and its caller), a task's kernel stack, kernel text or
            data (symbol), a module's memory.

A value the dump lacks (a page filtered out) is reported as unreadable in
the warnings, never invented.

JSON: see repl/schema.md ("kmem").`,
		Flags: []Flag{
			{Name: "i", Help: "memory summary"},
			{Name: "z", Help: "zones"},
			{Name: "V", Help: "vm counters"},
			{Name: "s", Help: "slab caches (optionally one)"},
			{Name: "S", Help: "the slabs and objects of one cache"},
			{Name: "p", Help: "struct pages"},
			{Name: "g", Help: "page flag names"},
		},
		Examples: []string{"kmem -i", "kmem -z", "kmem -V", "kmem -s", "kmem -s kmalloc-64", "kmem -S dentry",
			"kmem ffff888003a4c0c0", "kmem -p ffffea00000e9300", "kmem -g 0x10000000000004", "kmem -i --json"},
		Run: runKmem,
	})
}

func runKmem(c *Call) (Result, error) {
	modes := 0
	for _, f := range []string{"i", "z", "V", "s", "S", "p", "g"} {
		if c.Bool(f) {
			modes++
		}
	}
	if modes > 1 {
		return nil, UsageErrorf("kmem: give one of -i -z -V -s -S -p -g")
	}
	switch {
	case c.Bool("i"):
		if err := c.NeedArgs(0, 0); err != nil {
			return nil, err
		}
		mi, err := mm.ReadMemInfo(c.Prog)
		if err != nil {
			return nil, err
		}
		return &KmemInfoResult{Info: mi}, nil
	case c.Bool("z"):
		return kmemZones(c)
	case c.Bool("V"):
		return kmemVMStat(c)
	case c.Bool("s"):
		return kmemCaches(c)
	case c.Bool("S"):
		return kmemSlabs(c)
	case c.Bool("p"):
		return kmemPages(c)
	case c.Bool("g"):
		return kmemFlags(c)
	}
	if err := c.NeedArgs(1, 1); err != nil {
		return nil, err
	}
	addr, err := evalAddr(c.Prog, c.Args[0])
	if err != nil {
		return nil, err
	}
	id, err := mm.Identify(c.Ctx, c.Prog, addr)
	if err != nil {
		return nil, err
	}
	return newKmemAddrResult(id), nil
}

// ---- kmem -i

// KmemInfoResult is "kmem -i".
type KmemInfoResult struct {
	Info *mm.MemInfo `json:"meminfo"`
}

// ResultWarnings implements Warner.
func (r *KmemInfoResult) ResultWarnings() []string { return r.Info.Notes }

func kmemBytes(b uint64) string {
	const k = 1024
	switch {
	case b >= k*k*k*k:
		return fmt.Sprintf("%.1f TB", float64(b)/float64(k*k*k*k))
	case b >= k*k*k:
		return fmt.Sprintf("%.1f GB", float64(b)/float64(k*k*k))
	case b >= k*k:
		return fmt.Sprintf("%.1f MB", float64(b)/float64(k*k))
	case b >= k:
		return fmt.Sprintf("%.1f KB", float64(b)/float64(k))
	}
	return fmt.Sprintf("%d", b)
}

// WriteText implements Result, in crash's shape.
func (r *KmemInfoResult) WriteText(w io.Writer) error {
	m := r.Info
	var b strings.Builder
	row := func(name string, pages, of uint64, ofName string) {
		pct := "----"
		if ofName != "" {
			p := 0
			if of != 0 {
				p = int(pages * 100 / of)
			}
			pct = fmt.Sprintf("%d%% of %s", p, ofName)
		}
		fmt.Fprintf(&b, "%13s  %10d  %11s  %s\n", name, pages, kmemBytes(pages*m.PageSize), pct)
	}
	fmt.Fprintf(&b, "%13s  %10s  %11s  %s\n", "", "PAGES", "TOTAL", "PERCENTAGE")
	row("TOTAL MEM", m.Total, 0, "")
	row("FREE", m.Free, m.Total, "TOTAL MEM")
	row("USED", m.Used(), m.Total, "TOTAL MEM")
	row("SHARED", m.Shared, m.Total, "TOTAL MEM")
	row("BUFFERS", m.Buffers, m.Total, "TOTAL MEM")
	row("CACHED", m.Cached, m.Total, "TOTAL MEM")
	row("SLAB", m.Slab, m.Total, "TOTAL MEM")
	b.WriteString("\n")
	row("TOTAL HUGE", m.HugeTotal, 0, "")
	row("HUGE FREE", m.HugeFree, m.HugeTotal, "TOTAL HUGE")
	b.WriteString("\n")
	row("TOTAL SWAP", m.SwapTotal, 0, "")
	used := uint64(0)
	if m.SwapTotal > m.SwapFree {
		used = m.SwapTotal - m.SwapFree
	}
	row("SWAP USED", used, m.SwapTotal, "TOTAL SWAP")
	row("SWAP FREE", m.SwapFree, m.SwapTotal, "TOTAL SWAP")
	b.WriteString("\n")
	row("COMMIT LIMIT", m.CommitLimit, 0, "")
	row("COMMITTED", m.Committed, m.CommitLimit, "TOTAL LIMIT")
	_, err := io.WriteString(w, b.String())
	return err
}

// ---- kmem -z

// KmemZonesResult is "kmem -z".
type KmemZonesResult struct {
	Nodes    []KmemNode `json:"nodes"`
	Warnings []string   `json:"warnings,omitempty"`
}

// KmemNode is one node of "kmem -z".
type KmemNode struct {
	ID       int          `json:"id"`
	PgDat    Hex          `json:"pgdat"`
	StartPFN uint64       `json:"start_pfn"`
	Present  uint64       `json:"present_pages"`
	Spanned  uint64       `json:"spanned_pages"`
	Zones    []KmemZone   `json:"zones"`
	Stats    []mm.Counter `json:"stats,omitempty"`
}

// KmemZone is one zone of "kmem -z".
type KmemZone struct {
	Index    int          `json:"index"`
	Name     string       `json:"name"`
	Zone     Hex          `json:"zone"`
	StartPFN uint64       `json:"start_pfn"`
	Spanned  uint64       `json:"spanned_pages"`
	Present  uint64       `json:"present_pages"`
	Managed  uint64       `json:"managed_pages"`
	Free     uint64       `json:"free_pages"`
	Min      uint64       `json:"min"`
	Low      uint64       `json:"low"`
	High     uint64       `json:"high"`
	FreeArea []uint64     `json:"free_area"`
	Stats    []mm.Counter `json:"stats,omitempty"`
	Errors   []string     `json:"errors,omitempty"`
}

// ResultWarnings implements Warner.
func (r *KmemZonesResult) ResultWarnings() []string {
	out := append([]string(nil), r.Warnings...)
	for _, n := range r.Nodes {
		for _, z := range n.Zones {
			for _, e := range z.Errors {
				out = append(out, fmt.Sprintf("node %d zone %s: %s", n.ID, z.Name, e))
			}
		}
	}
	return out
}

func kmemZones(c *Call) (Result, error) {
	if err := c.NeedArgs(0, 0); err != nil {
		return nil, err
	}
	nodes, err := mm.Nodes(c.Prog, true)
	if len(nodes) == 0 && err != nil {
		return nil, err
	}
	r := &KmemZonesResult{Nodes: []KmemNode{}}
	for _, n := range nodes {
		kn := KmemNode{ID: n.ID, PgDat: Hex(n.Addr), StartPFN: n.StartPFN, Present: n.Present, Spanned: n.Spanned,
			Zones: []KmemZone{}, Stats: n.Stats}
		for _, z := range n.Zones {
			kn.Zones = append(kn.Zones, KmemZone{Index: z.Index, Name: z.Name, Zone: Hex(z.Addr), StartPFN: z.StartPFN,
				Spanned: z.Spanned, Present: z.Present, Managed: z.Managed, Free: z.Free, Min: z.Min, Low: z.Low,
				High: z.High, FreeArea: z.FreeArea, Stats: z.Stats, Errors: z.Errors})
		}
		r.Nodes = append(r.Nodes, kn)
	}
	if err != nil {
		r.Warnings = append(r.Warnings, err.Error())
	}
	return r, nil
}

// WriteText implements Result.
func (r *KmemZonesResult) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, n := range r.Nodes {
		for _, z := range n.Zones {
			fmt.Fprintf(&b, "NODE: %d  ZONE: %d  ADDR: %016x  NAME: %q\n", n.ID, z.Index, uint64(z.Zone), z.Name)
			if z.Spanned == 0 {
				b.WriteString("  (unpopulated)\n\n")
				continue
			}
			fmt.Fprintf(&b, "  SIZE: %d  PRESENT: %d  MANAGED: %d  MIN/LOW/HIGH: %d/%d/%d\n",
				z.Spanned, z.Present, z.Managed, z.Min, z.Low, z.High)
			fmt.Fprintf(&b, "  START_PFN: %#x  FREE: %d\n", z.StartPFN, z.Free)
			if len(z.FreeArea) > 0 {
				b.WriteString("  FREE BLOCKS BY ORDER:")
				for _, v := range z.FreeArea {
					fmt.Fprintf(&b, " %d", v)
				}
				b.WriteString("\n")
			}
			for _, s := range z.Stats {
				fmt.Fprintf(&b, "  %32s: %d\n", s.Enum, s.Value)
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ---- kmem -V

// KmemVMStatResult is "kmem -V".
type KmemVMStatResult struct {
	Stat mm.VMStat `json:"vm_stat"`
}

func kmemVMStat(c *Call) (Result, error) {
	if err := c.NeedArgs(0, 0); err != nil {
		return nil, err
	}
	s, err := mm.ReadVMStat(c.Prog)
	if err != nil {
		return nil, err
	}
	return &KmemVMStatResult{Stat: s}, nil
}

// WriteText implements Result.
func (r *KmemVMStatResult) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, set := range []struct {
		name string
		cs   []mm.Counter
	}{{"VM_ZONE_STAT", r.Stat.Zone}, {"VM_NODE_STAT", r.Stat.Node}, {"VM_NUMA_EVENT", r.Stat.NUMA}} {
		if len(set.cs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  %s:\n", set.name)
		for _, c := range set.cs {
			fmt.Fprintf(&b, "%32s: %d\n", c.Enum, c.Value)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ---- kmem -s

// KmemCacheRow is one cache of "kmem -s".
type KmemCacheRow struct {
	Cache        Hex      `json:"cache"`
	Name         string   `json:"name"`
	ObjectSize   uint64   `json:"object_size"`
	Size         uint64   `json:"size"`
	Allocated    uint64   `json:"allocated"`
	Total        uint64   `json:"total"`
	Slabs        uint64   `json:"slabs"`
	PartialSlabs uint64   `json:"partial_slabs"`
	CPUSlabs     int      `json:"cpu_slabs"`
	CPUPartial   int      `json:"cpu_partial_slabs"`
	SheafObjects int      `json:"sheaf_objects,omitempty"`
	SlabSize     uint64   `json:"slab_size"`
	PerSlab      uint64   `json:"objects_per_slab"`
	Estimate     bool     `json:"allocated_estimate,omitempty"`
	Errors       []string `json:"errors,omitempty"`
	header       bool
}

// ResultWarnings implements Warner.
func (r KmemCacheRow) ResultWarnings() []string {
	var out []string
	for _, e := range r.Errors {
		out = append(out, fmt.Sprintf("cache %s: %s", r.Name, e))
	}
	return out
}

// WriteText implements Result.
func (r KmemCacheRow) WriteText(w io.Writer) error {
	est := ""
	if r.Estimate {
		est = "~"
	}
	s := ""
	if r.header {
		s = "CACHE             OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME\n"
	}
	s += fmt.Sprintf("%016x %8d %s%9d %9d %6d %5dk  %s\n", uint64(r.Cache), r.ObjectSize, est, r.Allocated, r.Total, r.Slabs, r.SlabSize/1024, r.Name)
	_, err := io.WriteString(w, s)
	return err
}

func kmemCaches(c *Call) (Result, error) {
	if err := c.NeedArgs(0, 1); err != nil {
		return nil, err
	}
	want := ""
	if len(c.Args) == 1 {
		want = c.Args[0]
	}
	ps := mm.PageSize(c.Prog)
	return &Stream{Field: "caches", Rows: func(emit func(Result) error) (any, error) {
		first, found := true, false
		err := mm.Caches(c.Ctx, c.Prog, true, func(k *mm.Cache) error {
			if want != "" && k.Name != want && fmt.Sprintf("%x", k.Addr) != strings.TrimPrefix(want, "0x") {
				return nil
			}
			found = true
			row := KmemCacheRow{Cache: Hex(k.Addr), Name: k.Name, ObjectSize: k.ObjectSize, Size: k.Size,
				Allocated: k.Active, Total: k.Objects, Slabs: k.Slabs, PartialSlabs: k.Partial,
				SlabSize: ps << k.Order, PerSlab: k.PerSlab,
				CPUSlabs: k.CPUSlabs, CPUPartial: k.CPUPartial, SheafObjects: k.SheafObjects, Estimate: k.FreeEstimate, Errors: k.Errors, header: first}
			first = false
			return emit(row)
		})
		if err == nil && want != "" && !found {
			err = fmt.Errorf("kmem: no cache %q", want)
		}
		return nil, err
	}}, nil
}

// ---- kmem -S

// KmemSlabRow is one slab of "kmem -S" with its objects.
type KmemSlabRow struct {
	Slab    Hex      `json:"slab"`
	Base    Hex      `json:"base"`
	Where   string   `json:"where"`
	Objects uint64   `json:"objects"`
	InUse   uint64   `json:"inuse"`
	Free    []Hex    `json:"free_objects"`
	Alloc   []Hex    `json:"allocated_objects"`
	Known   bool     `json:"states_known"`
	Errors  []string `json:"errors,omitempty"`
}

// ResultWarnings implements Warner.
func (r KmemSlabRow) ResultWarnings() []string {
	var out []string
	for _, e := range r.Errors {
		out = append(out, fmt.Sprintf("slab %#x: %s", uint64(r.Slab), e))
	}
	return out
}

// WriteText implements Result, in crash's shape: [ADDR] allocated.
func (r KmemSlabRow) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "SLAB              MEMORY            TOTAL  ALLOCATED  FREE  (%s)\n", r.Where)
	fmt.Fprintf(&b, "%016x  %016x  %5d  %9d  %4d\n", uint64(r.Slab), uint64(r.Base), r.Objects, len(r.Alloc), len(r.Free))
	if !r.Known {
		fmt.Fprintf(&b, "  (freelist unreadable: %d in use by the slab's count)\n", r.InUse)
	}
	ai, fi := 0, 0
	for ai < len(r.Alloc) || fi < len(r.Free) {
		if fi >= len(r.Free) || (ai < len(r.Alloc) && r.Alloc[ai] < r.Free[fi]) {
			fmt.Fprintf(&b, "  [%016x]\n", uint64(r.Alloc[ai]))
			ai++
		} else {
			fmt.Fprintf(&b, "   %016x\n", uint64(r.Free[fi]))
			fi++
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// KmemSlabsHead begins "kmem -S": the cache.
type KmemSlabsHead struct {
	Cache      Hex    `json:"cache"`
	Name       string `json:"name"`
	Size       uint64 `json:"size"`
	ObjectSize uint64 `json:"object_size"`
}

// KmemSlabsTail ends "kmem -S".
type KmemSlabsTail struct {
	Name       string `json:"-"`
	Slabs      int    `json:"slab_count"`
	Objects    uint64 `json:"objects"`
	Allocated  uint64 `json:"allocated"`
	Free       uint64 `json:"free"`
	Unreadable uint64 `json:"unreadable_pages"`
	Truncated  bool   `json:"truncated,omitempty"`
}

// WriteText implements Result.
func (t *KmemSlabsTail) WriteText(w io.Writer) error {
	s := fmt.Sprintf("%s: %d slabs, %d objects, %d allocated, %d free\n", t.Name, t.Slabs, t.Objects, t.Allocated, t.Free)
	if t.Unreadable > 0 {
		s += fmt.Sprintf("(%d struct pages of the memory map are not in the dump: slabs there are not listed)\n", t.Unreadable)
	}
	if t.Truncated {
		s += "(truncated)\n"
	}
	_, err := io.WriteString(w, s)
	return err
}

func kmemSlabs(c *Call) (Result, error) {
	if err := c.NeedArgs(1, 1); err != nil {
		return nil, err
	}
	k, err := mm.FindCache(c.Prog, strings.TrimPrefix(c.Args[0], "0x"))
	if err != nil {
		k, err = mm.FindCache(c.Prog, c.Args[0])
	}
	if err != nil {
		return nil, err
	}
	return &Stream{Head: &KmemSlabsHead{Cache: Hex(k.Addr), Name: k.Name, Size: k.Size, ObjectSize: k.ObjectSize},
		Field: "slabs", Rows: func(emit func(Result) error) (any, error) {
			tail := &KmemSlabsTail{Name: k.Name}
			var rows uint64
			unread, err := mm.CacheSlabs(c.Ctx, c.Prog, k, func(s mm.Slab) error {
				row := KmemSlabRow{Slab: Hex(s.Page), Base: Hex(s.Base), Where: s.Where, Objects: s.Objects, InUse: s.InUse,
					Known: s.Free != nil, Errors: s.Errors, Free: []Hex{}, Alloc: []Hex{}}
				for i := uint64(0); i < uint64(len(s.Free)); i++ {
					o := Hex(s.Base + i*k.Size)
					if s.Free[i] {
						row.Free = append(row.Free, o)
					} else {
						row.Alloc = append(row.Alloc, o)
					}
				}
				tail.Slabs++
				tail.Objects += s.Objects
				if row.Known {
					tail.Allocated += uint64(len(row.Alloc))
					tail.Free += uint64(len(row.Free))
				} else {
					tail.Allocated += s.InUse
				}
				if rows += s.Objects; rows > kmemMaxRows {
					tail.Truncated = true
					return errStop
				}
				return emit(row)
			})
			tail.Unreadable = unread
			if err == errStop {
				err = nil
			}
			return tail, err
		}}, nil
}

var errStop = fmt.Errorf("stop")

// ---- kmem -p

// KmemPageRow is one struct page of "kmem -p".
type KmemPageRow struct {
	Page     Hex      `json:"page"`
	Phys     Hex      `json:"phys"`
	PFN      uint64   `json:"pfn"`
	Mapping  Hex      `json:"mapping"`
	Index    uint64   `json:"index"`
	Count    int32    `json:"count"`
	Mapcount int32    `json:"mapcount"`
	Flags    Hex      `json:"flags"`
	Names    []string `json:"flag_names,omitempty"`
	Zone     string   `json:"zone,omitempty"`
	Node     int      `json:"node"`
	Type     string   `json:"page_type,omitempty"`
	Head     Hex      `json:"head,omitempty"`
	Order    int      `json:"order,omitempty"` // of a compound head (folio): 1 << order pages; -1 unreadable
	Cache    Hex      `json:"slab_cache,omitempty"`
	header   bool
}

// WriteText implements Result.
func (r KmemPageRow) WriteText(w io.Writer) error {
	s := ""
	if r.header {
		s = "      PAGE          PHYSICAL      MAPPING       INDEX CNT FLAGS\n"
	}
	names := append([]string(nil), r.Names...)
	if r.Type != "" {
		names = append(names, "type:"+r.Type)
	}
	if r.Head != 0 {
		names = append(names, fmt.Sprintf("tail(head %x)", uint64(r.Head)))
	}
	if r.Order != 0 {
		names = append(names, fmt.Sprintf("order:%d", r.Order))
	}
	m := uint64(r.Mapping)
	if r.Cache != 0 {
		m = uint64(r.Cache)
	}
	s += fmt.Sprintf("%016x %10x %16x %8x %2d %x %s\n", uint64(r.Page), uint64(r.Phys), m, r.Index, r.Count, uint64(r.Flags), strings.Join(names, ","))
	_, err := io.WriteString(w, s)
	return err
}

func pageRow(pg mm.Page) KmemPageRow {
	return KmemPageRow{Page: Hex(pg.Addr), Phys: Hex(pg.Phys), PFN: pg.PFN, Mapping: Hex(pg.Mapping), Index: pg.Index,
		Count: pg.Refcount, Mapcount: pg.Mapcount, Flags: Hex(pg.Flags), Names: pg.FlagNames, Zone: pg.ZoneName,
		Node: pg.Node, Type: pg.PageType, Head: Hex(pg.Head), Order: pg.Order, Cache: Hex(pg.SlabCache)}
}

// KmemPagesTail ends "kmem -p".
type KmemPagesTail struct {
	Pages      uint64 `json:"page_count"`
	Unreadable uint64 `json:"unreadable_pages"`
	Truncated  bool   `json:"truncated,omitempty"`
}

// ResultWarnings implements Warner.
func (t *KmemPagesTail) ResultWarnings() []string {
	if t.Unreadable > 0 {
		return []string{fmt.Sprintf("%d struct pages are not in the dump and are not listed", t.Unreadable)}
	}
	return nil
}

func kmemPages(c *Call) (Result, error) {
	if err := c.NeedArgs(0, 1); err != nil {
		return nil, err
	}
	if len(c.Args) == 1 {
		addr, err := evalAddr(c.Prog, c.Args[0])
		if err != nil {
			return nil, err
		}
		pfn, ok := mm.PageToPFN(c.Prog, addr)
		if !ok {
			id, err := mm.Identify(c.Ctx, c.Prog, addr)
			if err != nil {
				return nil, err
			}
			if id.Page == nil {
				return nil, fmt.Errorf("kmem -p: %#x is not a struct page or a direct-map address", addr)
			}
			pfn = id.Page.PFN
		}
		pg, err := mm.ReadPage(c.Prog, pfn)
		if err != nil {
			return nil, err
		}
		r := pageRow(pg)
		r.header = true
		return r, nil
	}
	return &Stream{Field: "pages", Rows: func(emit func(Result) error) (any, error) {
		tail := &KmemPagesTail{}
		var emitErr error
		unread, err := mm.ScanPages(c.Ctx, c.Prog, func(pg mm.Page) bool {
			r := pageRow(pg)
			r.header = tail.Pages == 0
			if emitErr = emit(r); emitErr != nil {
				return false
			}
			if tail.Pages++; tail.Pages >= kmemMaxRows {
				tail.Truncated = true
				return false
			}
			return true
		})
		tail.Unreadable = unread
		if emitErr != nil {
			return tail, emitErr
		}
		return tail, err
	}}, nil
}

// ---- kmem -g

// KmemFlagsResult is "kmem -g".
type KmemFlagsResult struct {
	Value  *Hex          `json:"value,omitempty"`
	Source string        `json:"source"` // "pageflag_names" or "enum pageflags"
	Flags  []KmemFlagBit `json:"flags"`
}

// KmemFlagBit is one page flag.
type KmemFlagBit struct {
	Bit  uint   `json:"bit"`
	Mask Hex    `json:"mask"`
	Name string `json:"name"`
}

func kmemFlags(c *Call) (Result, error) {
	if err := c.NeedArgs(0, 1); err != nil {
		return nil, err
	}
	all, src, err := mm.PageFlagNames(c.Prog)
	if err != nil {
		return nil, err
	}
	r := &KmemFlagsResult{Source: src, Flags: []KmemFlagBit{}}
	list := all
	if len(c.Args) == 1 {
		v, err := strconv.ParseUint(strings.TrimPrefix(c.Args[0], "0x"), 16, 64)
		if err != nil {
			return nil, UsageErrorf("kmem -g: %q is not a hex number", c.Args[0])
		}
		h := Hex(v)
		r.Value = &h
		if list, err = mm.DecodeFlags(c.Prog, v); err != nil {
			return nil, err
		}
	}
	for _, f := range list {
		r.Flags = append(r.Flags, KmemFlagBit{Bit: f.Bit, Mask: Hex(uint64(1) << f.Bit), Name: f.Name})
	}
	return r, nil
}

// WriteText implements Result.
func (r *KmemFlagsResult) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.Value != nil {
		fmt.Fprintf(&b, "FLAGS: %x\n", uint64(*r.Value))
	}
	fmt.Fprintf(&b, "  BIT  %-18s NAME  (from %s)\n", "VALUE", r.Source)
	for _, f := range r.Flags {
		fmt.Fprintf(&b, "  %3d  %-18x %s\n", f.Bit, uint64(f.Mask), f.Name)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ---- kmem ADDR

// KmemAddrResult is "kmem ADDR".
type KmemAddrResult struct {
	Addr Hex    `json:"address"`
	Kind string `json:"kind"` // slab, page, memmap, vmalloc, stack, symbol, module, unknown
	// Page is the page holding the address (page, slab) or the struct
	// page it points into (memmap).
	Page *KmemPageRow `json:"page,omitempty"`
	// slab objects
	Cache     string `json:"cache,omitempty"`
	CacheAddr Hex    `json:"cache_addr,omitempty"`
	ObjSize   uint64 `json:"object_size,omitempty"`
	Slab      Hex    `json:"slab,omitempty"`
	Object    Hex    `json:"object,omitempty"`
	Offset    uint64 `json:"offset"`
	State     string `json:"state,omitempty"` // allocated, free; absent when unknown
	// vmalloc areas (and vmalloc'ed stacks)
	Vmap *KmemVmap `json:"vmap_area,omitempty"`
	// stacks
	Task Hex    `json:"task,omitempty"`
	PID  int    `json:"pid,omitempty"`
	Comm string `json:"comm,omitempty"`
	// kernel and module memory
	Symbol   string   `json:"symbol,omitempty"`
	Module   string   `json:"module,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	id       *mm.Identity
}

// KmemVmap is a vmalloc area.
type KmemVmap struct {
	Area      Hex    `json:"vmap_area"`
	VM        Hex    `json:"vm_struct,omitempty"`
	Start     Hex    `json:"start"`
	End       Hex    `json:"end"`
	Size      uint64 `json:"size"`
	NrPages   uint64 `json:"nr_pages"`
	Flags     Hex    `json:"flags"`
	Caller    Hex    `json:"caller,omitempty"`
	CallerSym string `json:"caller_sym,omitempty"`
}

func newKmemAddrResult(id *mm.Identity) *KmemAddrResult {
	r := &KmemAddrResult{Addr: Hex(id.Addr), Kind: id.Kind, Cache: id.Cache, CacheAddr: Hex(id.CacheAddr),
		ObjSize: id.ObjectSize, Slab: Hex(id.Slab), Object: Hex(id.Object), Offset: id.Offset, State: id.State, Task: Hex(id.TaskAddr),
		PID: id.PID, Comm: id.Comm, Symbol: id.Symbol, Module: id.Module, Warnings: id.Notes, id: id}
	if id.Page != nil {
		row := pageRow(*id.Page)
		r.Page = &row
	}
	if v := id.Vmap; v != nil {
		r.Vmap = &KmemVmap{Area: Hex(v.Area), VM: Hex(v.VM), Start: Hex(v.Start), End: Hex(v.End), Size: v.Size,
			NrPages: v.NrPages, Flags: Hex(v.Flags), Caller: Hex(v.Caller), CallerSym: v.CallerSym}
	}
	return r
}

// ResultWarnings implements Warner.
func (r *KmemAddrResult) ResultWarnings() []string { return r.Warnings }

// WriteText implements Result.
func (r *KmemAddrResult) WriteText(w io.Writer) error {
	id := r.id
	var b strings.Builder
	switch id.Kind {
	case mm.KindSlab:
		b.WriteString("CACHE             OBJSIZE  NAME\n")
		fmt.Fprintf(&b, "%016x %8d  %s\n", id.CacheAddr, id.ObjectSize, id.Cache)
		fmt.Fprintf(&b, "  SLAB              OBJECT            OFFSET  STATE\n")
		st := id.State
		if st == "" {
			st = "unknown"
		}
		mark := fmt.Sprintf(" %016x", id.Object)
		if st == "allocated" {
			mark = fmt.Sprintf("[%016x]", id.Object)
		}
		fmt.Fprintf(&b, "  %016x %s  %6d  %s\n", id.Slab, mark, id.Offset, st)
	case mm.KindStack:
		fmt.Fprintf(&b, "%x: kernel stack of PID %d (%s), task %016x, offset %#x\n", id.Addr, id.PID, id.Comm, id.TaskAddr, id.Offset)
		if id.Vmap != nil {
			fmt.Fprintf(&b, "  vmalloc area %016x-%016x caller %s\n", id.Vmap.Start, id.Vmap.End, id.Vmap.CallerSym)
		}
	case mm.KindVmalloc:
		v := id.Vmap
		b.WriteString("VMAP_AREA         VM_STRUCT                 ADDRESS RANGE                SIZE  CALLER\n")
		fmt.Fprintf(&b, "%016x  %016x  %016x - %016x  %7d  %s\n", v.Area, v.VM, v.Start, v.End, v.Size, v.CallerSym)
	case mm.KindSymbol, mm.KindModule:
		mod := ""
		if id.Module != "" {
			mod = " [" + id.Module + "]"
		}
		fmt.Fprintf(&b, "%016x (%s) %s%s\n", id.Addr, id.Kind, id.Symbol, mod)
		if v := id.Vmap; v != nil {
			fmt.Fprintf(&b, "  vmalloc area %016x-%016x caller %s\n", v.Start, v.End, v.CallerSym)
		}
	case mm.KindUnknown:
		fmt.Fprintf(&b, "%x: address not found in the memory map, slab caches, vmalloc areas, stacks or symbols\n", id.Addr)
	}
	if id.Page != nil {
		if id.Kind == mm.KindMemmap {
			fmt.Fprintf(&b, "%x: inside struct page %x (pfn %#x), offset %d\n", id.Addr, id.Page.Addr, id.Page.PFN, id.Offset)
		}
		if id.Kind == mm.KindPage && id.Page.Mapping != 0 {
			what := "address_space"
			if id.Page.Anon {
				what = "anon_vma"
			}
			fmt.Fprintf(&b, "%x: page mapped by %s %x index %#x\n", id.Addr, what, id.Page.Mapping&^3, id.Page.Index)
		}
		r := pageRow(*id.Page)
		r.header = true
		if err := r.WriteText(&b); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
