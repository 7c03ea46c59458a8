package mm

import (
	"context"
	"fmt"
	"math/bits"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// maxPartialScan bounds the partial slabs counted per node, like
// mm/slub.c MAX_PARTIAL_TO_SCAN (beyond it the count is an estimate).
const maxPartialScan = 10000

// Cache is one SLUB cache (struct kmem_cache, mm/slab.h).
type Cache struct {
	Addr       uint64
	Name       string
	ObjectSize uint64 // the caller's size
	Size       uint64 // the object with its metadata: the stride
	Offset     uint64 // of the free pointer in a free object
	Flags      uint64
	PerSlab    uint64 // oo: objects of a slab of the preferred order
	Order      uint   // oo: pages of a slab = 1 << Order
	// Slabs and Objects are the nodes' nr_slabs and total_objects
	// (CONFIG_SLUB_DEBUG counters, exact); Partial the slabs on the
	// nodes' partial lists.
	Slabs   uint64
	Objects uint64
	Partial uint64
	// Free is the free objects of the nodes' partial slabs; Active is
	// Objects - Free. Like /proc/slabinfo, objects free on a slab a CPU
	// holds (or in a 7.x per-CPU sheaf) count as active: Active is an
	// upper bound. FreeEstimate tells that a partial list was longer than
	// the scan bound and Free was extrapolated.
	Free   uint64
	Active uint64
	// CPUSlabs counts the CPUs holding a slab of the cache and CPUPartial
	// the slabs on the CPUs' partial lists (kmem_cache_cpu.slab and
	// .partial, to 6.x; 7.x CPUs hold sheaves of objects instead, counted
	// in SheafObjects).
	CPUSlabs     int
	CPUPartial   int
	SheafObjects int
	FreeEstimate bool
	Errors       []string

	random   uint64 // freelist obfuscation (CONFIG_SLAB_FREELIST_HARDENED)
	hardened bool
	redLeft  uint64
	obj      symbols.Object
}

type slabLayout struct {
	slabType  string // "struct slab" (5.17+) or "struct page"
	listMemb  string // slab_list
	nodePaths []string
}

func getSlabLayout(p *symbols.Program) (*slabLayout, error) {
	v, err := p.Memo(slabLayoutKey{}, func() (any, error) {
		l := &slabLayout{slabType: "struct slab", listMemb: "slab_list"}
		if _, err := p.Type("struct slab"); err != nil {
			l.slabType = "struct page"
		}
		if _, err := p.Type("struct kmem_cache"); err != nil {
			return nil, err
		}
		return l, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*slabLayout), nil
}

type slabLayoutKey struct{}

// CacheAddrs returns the kmem_caches on slab_caches (mm/slab_common.c),
// in list order.
func CacheAddrs(p *symbols.Program) ([]uint64, error) {
	a, err := p.Symbol("slab_caches")
	if err != nil {
		return nil, err
	}
	nodes, err := kmem.ListHeadNodes(p, a, "slab_caches", 1<<16)
	off, oerr := p.OffsetOf("struct kmem_cache", "list")
	if oerr != nil {
		return nil, oerr
	}
	out := make([]uint64, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, n-off)
	}
	return out, err
}

// ReadCache reads the cache at addr and, when counts, its per-node
// counters and partial lists.
func ReadCache(p *symbols.Program, addr uint64, counts bool) (*Cache, error) {
	o, err := p.Object("struct kmem_cache", addr)
	if err != nil {
		return nil, err
	}
	c := &Cache{Addr: addr, obj: o}
	np, err := o.MemberUint("name")
	if err != nil {
		return nil, err
	}
	if c.Name, err = p.ReadString(np, 64); err != nil {
		return c, fmt.Errorf("kmem_cache %#x: name: %w", addr, err)
	}
	for _, f := range []struct {
		dst  *uint64
		name string
	}{{&c.ObjectSize, "object_size"}, {&c.Size, "size"}, {&c.Offset, "offset"}, {&c.Flags, "flags"}} {
		if *f.dst, err = o.MemberUint(f.name); err != nil {
			return c, err
		}
	}
	c.redLeft, _ = o.MemberUint("red_left_pad")
	if oo, err := o.MemberUint("oo.x"); err == nil {
		// mm/slub.c: OO_SHIFT 16
		c.Order, c.PerSlab = uint(oo>>16), oo&0xffff
	}
	if r, err := o.MemberUint("random"); err == nil {
		c.random, c.hardened = r, true
	}
	if counts {
		c.count(p)
	}
	return c, nil
}

// nodes returns the cache's struct kmem_cache_node pointers of the
// online nodes: node[nid] (to 6.x) or per_node[nid].node (7.x).
func (c *Cache) nodes(p *symbols.Program) []uint64 {
	ids, _, _ := nodeAddrs(p)
	if len(ids) == 0 {
		ids = []int{0}
	}
	var out []uint64
	for _, nid := range ids {
		v, err := c.obj.MemberUint(fmt.Sprintf("node[%d]", nid))
		if err != nil {
			v, err = c.obj.MemberUint(fmt.Sprintf("per_node[%d].node", nid))
		}
		if err != nil {
			c.Errors = append(c.Errors, fmt.Sprintf("node %d: %v", nid, err))
			continue
		}
		if v != 0 {
			out = append(out, v)
		}
	}
	return out
}

func (c *Cache) count(p *symbols.Program) {
	sl, err := getSlabLayout(p)
	if err != nil {
		c.Errors = append(c.Errors, err.Error())
		return
	}
	for _, na := range c.nodes(p) {
		n, err := p.Object("struct kmem_cache_node", na)
		if err != nil {
			c.Errors = append(c.Errors, err.Error())
			return
		}
		// CONFIG_SLUB_DEBUG: atomic_long_t nr_slabs, total_objects
		if v, err := kmem.ScalarMember(n, "nr_slabs"); err == nil {
			c.Slabs += v
		} else {
			c.Errors = append(c.Errors, err.Error())
		}
		if v, err := kmem.ScalarMember(n, "total_objects"); err == nil {
			c.Objects += v
		}
		nrPartial, _ := n.MemberUint("nr_partial")
		c.Partial += nrPartial
		head, err := n.Member("partial")
		if err != nil {
			c.Errors = append(c.Errors, err.Error())
			continue
		}
		nodes, err := kmem.ListHeadNodes(p, head.Addr(), fmt.Sprintf("kmem_cache_node %#x partial", na), maxPartialScan)
		if err != nil && len(nodes) < maxPartialScan {
			c.Errors = append(c.Errors, err.Error())
		}
		var free uint64
		for _, ln := range nodes {
			s, err := p.ContainerOf(ln, sl.slabType, sl.listMemb)
			if err != nil {
				c.Errors = append(c.Errors, err.Error())
				break
			}
			objs, e1 := s.MemberUint("objects")
			inuse, e2 := s.MemberUint("inuse")
			if e1 != nil || e2 != nil || inuse > objs {
				c.Errors = append(c.Errors, fmt.Sprintf("partial slab %#x of %s unreadable or inconsistent", s.Addr(), c.Name))
				break
			}
			free += objs - inuse
		}
		if uint64(len(nodes)) < nrPartial && len(nodes) > 0 && len(nodes) >= maxPartialScan {
			free = free * nrPartial / uint64(len(nodes))
			c.FreeEstimate = true
		}
		c.Free += free
	}
	if c.Free > c.Objects {
		c.Free = c.Objects
	}
	c.Active = c.Objects - c.Free
	c.countCPU(p, sl)
}

// maxCPUPartial bounds a CPU's partial list (mm/slub.c caps it at a few
// dozen slabs: s->cpu_partial_slabs).
const maxCPUPartial = 1024

// countCPU counts the slabs the CPUs hold: their active slab and their
// partial list, linked by slab->next (page->next before 5.17).
func (c *Cache) countCPU(p *symbols.Program, sl *slabLayout) {
	c.SheafObjects = len(c.sheafObjects(p))
	pc, err := c.obj.MemberUint("cpu_slab")
	if err != nil || pc == 0 {
		return
	}
	nextOff, err := p.OffsetOf(sl.slabType, "next")
	if err != nil {
		return
	}
	cpus, _ := p.PossibleCPUs()
	for _, cpu := range cpus {
		a, err := p.PerCPUAddr(pc, cpu)
		if err != nil {
			continue
		}
		cc, err := p.Object("struct kmem_cache_cpu", a)
		if err != nil {
			return
		}
		sp, err := cc.MemberUint("slab")
		if err != nil {
			sp, _ = cc.MemberUint("page")
		}
		if sp != 0 {
			c.CPUSlabs++
		}
		next, err := cc.MemberUint("partial")
		for n := 0; err == nil && next != 0; n++ {
			if n >= maxCPUPartial {
				c.Errors = append(c.Errors, fmt.Sprintf("cpu %d partial list longer than %d slabs", cpu, maxCPUPartial))
				break
			}
			c.CPUPartial++
			next, err = p.ReadU64(next + nextOff)
		}
		if err != nil {
			c.Errors = append(c.Errors, fmt.Sprintf("cpu %d partial list: %v", cpu, err))
		}
	}
}

// Caches reads every cache with its counts, calling fn for each in list
// order (fn returning an error stops the walk with it).
func Caches(ctx context.Context, p *symbols.Program, counts bool, fn func(*Cache) error) error {
	addrs, err := CacheAddrs(p)
	for _, a := range addrs {
		if ctx != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		c, rerr := ReadCache(p, a, counts)
		if rerr != nil {
			if c == nil {
				c = &Cache{Addr: a}
			}
			c.Errors = append(c.Errors, rerr.Error())
		}
		if ferr := fn(c); ferr != nil {
			return ferr
		}
	}
	return err
}

// FindCache returns the cache named name (or at address name's value).
func FindCache(p *symbols.Program, name string) (*Cache, error) {
	addrs, err := CacheAddrs(p)
	for _, a := range addrs {
		c, rerr := ReadCache(p, a, false)
		if rerr == nil && (c.Name == name || fmt.Sprintf("%#x", a) == name || fmt.Sprintf("%x", a) == name) {
			return c, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("no cache %q found (slab_caches: %w)", name, err)
	}
	return nil, fmt.Errorf("no cache %q", name)
}

// directMapBase returns page_offset_base (__va(0)).
func directMapBase(p *symbols.Program) (uint64, error) {
	if p.Dump != nil {
		return p.Dump.DirectMapBase()
	}
	return readSymU64(p, "page_offset_base")
}

// Slab is one slab of a cache and the state of its objects.
type Slab struct {
	Page    uint64 // its struct slab / struct page
	Base    uint64 // address of its first object
	Objects uint64
	InUse   uint64
	Frozen  bool
	// Where names the list the slab was found on: "partial", "cpu N",
	// "cpu N partial", "full" or "memmap" (found scanning struct pages).
	Where string
	// Free marks the free objects by index, from the slab's freelist and,
	// for a CPU's slab, the CPU's freelist; nil when the freelists could
	// not be read (then only InUse is known).
	Free   []bool
	Errors []string
}

// slabOfPage reads the slab at struct page/slab address sp of cache c.
func (c *Cache) readSlab(p *symbols.Program, sp uint64, where string) Slab {
	s := Slab{Page: sp, Where: where}
	sl, err := getSlabLayout(p)
	if err != nil {
		s.Errors = append(s.Errors, err.Error())
		return s
	}
	o, err := p.Object(sl.slabType, sp)
	if err != nil {
		s.Errors = append(s.Errors, err.Error())
		return s
	}
	s.Objects, _ = o.MemberUint("objects")
	s.InUse, _ = o.MemberUint("inuse")
	if f, err := o.MemberUint("frozen"); err == nil {
		s.Frozen = f != 0
	}
	pfn, ok := PageToPFN(p, sp)
	base, err := directMapBase(p)
	if !ok || err != nil {
		s.Errors = append(s.Errors, fmt.Sprintf("slab %#x: no address for its memory", sp))
		return s
	}
	s.Base = base + pfn*PageSize(p)
	if s.Objects == 0 || s.Objects > 1<<15 {
		s.Errors = append(s.Errors, fmt.Sprintf("slab %#x: %d objects", sp, s.Objects))
		return s
	}
	fl, err := o.MemberUint("freelist")
	if err != nil {
		s.Errors = append(s.Errors, err.Error())
		return s
	}
	s.Free = make([]bool, s.Objects)
	if err := c.markFree(p, &s, fl); err != nil {
		s.Errors = append(s.Errors, err.Error())
		s.Free = nil
	}
	return s
}

// markFree follows a freelist from first, marking the objects of s.
// mm/slub.c freelist_ptr_decode: with CONFIG_SLAB_FREELIST_HARDENED the
// stored pointer is ptr ^ s->random ^ swab(address it is stored at).
func (c *Cache) markFree(p *symbols.Program, s *Slab, first uint64) error {
	cur := first
	for n := uint64(0); cur != 0; n++ {
		if n > s.Objects {
			return fmt.Errorf("freelist of slab %#x longer than its %d objects", s.Page, s.Objects)
		}
		if cur < s.Base || c.Size == 0 || (cur-s.Base)/c.Size >= s.Objects {
			return fmt.Errorf("freelist of slab %#x: %#x is not one of its objects", s.Page, cur)
		}
		idx := (cur - s.Base) / c.Size
		if s.Free[idx] {
			return fmt.Errorf("freelist of slab %#x: object %#x met twice", s.Page, cur)
		}
		s.Free[idx] = true
		at := cur + c.Offset
		v, err := p.ReadU64(at)
		if err != nil {
			return fmt.Errorf("freelist of slab %#x: %w", s.Page, err)
		}
		if c.hardened {
			v ^= c.random ^ bits.ReverseBytes64(at)
		}
		cur = v
	}
	return nil
}

// cpuSlabs returns the slab each CPU holds for c and its lockless
// freelist (mm/slub.c struct kmem_cache_cpu: freelist, slab (page before
// 5.17)); none on 7.x, whose CPUs hold sheaves of objects instead.
func (c *Cache) cpuSlabs(p *symbols.Program) (slabs map[uint64]int, freelists map[uint64]uint64) {
	slabs, freelists = map[uint64]int{}, map[uint64]uint64{}
	pc, err := c.obj.MemberUint("cpu_slab")
	if err != nil {
		return
	}
	cpus, _ := p.PossibleCPUs()
	for _, cpu := range cpus {
		a, err := p.PerCPUAddr(pc, cpu)
		if err != nil {
			continue
		}
		cc, err := p.Object("struct kmem_cache_cpu", a)
		if err != nil {
			return
		}
		sp, err := cc.MemberUint("slab")
		if err != nil {
			sp, err = cc.MemberUint("page")
		}
		if err != nil || sp == 0 {
			continue
		}
		slabs[sp] = cpu
		if fl, err := cc.MemberUint("freelist"); err == nil {
			freelists[sp] = fl
		}
	}
	return
}

// sheafObjects returns the objects held in the 7.x sheaves of c: each
// CPU's (mm/slub.c struct slub_percpu_sheaves: main, spare) and the full
// sheaves of each node's barn (struct node_barn sheaves_full); struct
// slab_sheaf holds objects[size]. They are free to the cache's users though
// their slabs count them in use.
func (c *Cache) sheafObjects(p *symbols.Program) map[uint64]bool {
	out := map[uint64]bool{}
	pc, err := c.obj.MemberUint("cpu_sheaves")
	if err != nil || pc == 0 {
		return out
	}
	objOff, err := p.OffsetOf("struct slab_sheaf", "objects")
	if err != nil {
		return out
	}
	addSheaf := func(sh uint64) {
		so, err := p.Object("struct slab_sheaf", sh)
		if err != nil {
			return
		}
		n, err := so.MemberUint("size")
		if err != nil || n > 4096 {
			return
		}
		for i := uint64(0); i < n; i++ {
			if v, err := p.ReadU64(sh + objOff + 8*i); err == nil {
				out[v] = true
			}
		}
	}
	// the full sheaves of each node's barn (per_node[nid].barn->sheaves_full)
	ids, _, _ := nodeAddrs(p)
	for _, nid := range ids {
		barn, err := c.obj.MemberUint(fmt.Sprintf("per_node[%d].barn", nid))
		if err != nil || barn == 0 {
			continue
		}
		bo, err := p.Object("struct node_barn", barn)
		if err != nil {
			continue
		}
		head, err := bo.Member("sheaves_full")
		if err != nil {
			continue
		}
		if shs, err := kmem.ListEntries(head, "struct slab_sheaf", "barn_list"); err == nil {
			for _, sh := range shs {
				addSheaf(sh.Addr())
			}
		}
	}
	cpus, _ := p.PossibleCPUs()
	for _, cpu := range cpus {
		a, err := p.PerCPUAddr(pc, cpu)
		if err != nil {
			continue
		}
		ps, err := p.Object("struct slub_percpu_sheaves", a)
		if err != nil {
			return out
		}
		for _, m := range []string{"main", "spare"} {
			if sh, err := ps.MemberUint(m); err == nil && sh != 0 {
				addSheaf(sh)
			}
		}
	}
	return out
}
