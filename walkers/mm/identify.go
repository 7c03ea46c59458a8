package mm

import (
	"context"
	"fmt"
	"sort"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
)

// Kinds of address Identify tells apart.
const (
	KindSlab    = "slab"    // an object of a slab cache
	KindPage    = "page"    // a page of the direct map (not a slab)
	KindMemmap  = "memmap"  // inside a struct page of the memory map
	KindVmalloc = "vmalloc" // a vmalloc area
	KindStack   = "stack"   // a task's kernel stack
	KindSymbol  = "symbol"  // kernel text or data
	KindModule  = "module"  // a module's memory
	KindUnknown = "unknown"
)

// Identity is what an address is (crash's "kmem ADDR").
type Identity struct {
	Addr uint64
	Kind string
	// Page is the page holding the address (direct map, slab), or the
	// struct page the address points into (memmap).
	Page *Page
	// Slab objects.
	Cache      string
	CacheAddr  uint64
	ObjectSize uint64
	Slab       uint64
	Object     uint64
	Offset     uint64
	// State is "allocated", "free" or "" when the freelists could not be
	// read; FreeWhere says which freelist or sheaf holds a free object.
	State string
	// Vmalloc areas and stacks.
	Vmap *VmapArea
	// Stacks: the task whose kernel stack holds the address.
	TaskAddr uint64
	PID      int
	Comm     string
	// Symbols: "name+0xoff", its type letter and the module ("" for vmlinux).
	Symbol string
	Module string
	Notes  []string
}

// threadSize is THREAD_SIZE on x86_64 (arch/x86/include/asm/page_64_types.h,
// 16 KiB without KASAN).
const threadSize = 16 << 10

// Identify tells what addr is. The answer is partial (Notes) where the
// memory that would tell is missing from the dump.
func Identify(ctx context.Context, p *symbols.Program, addr uint64) (*Identity, error) {
	id := &Identity{Addr: addr, Kind: KindUnknown}
	l, err := getLayout(p)
	if err != nil {
		return nil, err
	}
	if IsPageAddr(p, addr) {
		pfn := (addr - l.vmemmap) / l.pageSz
		id.Kind = KindMemmap
		id.Offset = (addr - l.vmemmap) % l.pageSz
		pg, err := ReadPage(p, pfn)
		if err != nil {
			id.Notes = append(id.Notes, err.Error())
		}
		id.Page = &pg
		return id, nil
	}
	if base, err := directMapBase(p); err == nil && addr >= base && (addr-base)>>l.pageShift < MaxPFN(p) {
		pfn := (addr - base) >> l.pageShift
		if ok, err := identifyDirect(ctx, p, id, pfn); ok {
			return id, err
		}
	}
	if va, ok, err := FindVmapArea(p, addr); ok {
		id.Kind = KindVmalloc
		id.Vmap = &va
		id.Offset = addr - va.Start
		if err != nil {
			id.Notes = append(id.Notes, "vmalloc areas: "+err.Error())
		}
		identifyStack(ctx, p, id)
		if id.Kind == KindVmalloc && p.Syms != nil {
			// module memory is vmalloc'ed (module_alloc, execmem)
			if s, off, ok := p.Syms.LookupAddr(addr); ok && s.Module != "" {
				id.Kind, id.Module, id.Symbol, id.Offset = KindModule, s.Module, s.Name, off
				if off != 0 {
					id.Symbol += fmt.Sprintf("+%#x", off)
				}
			}
		}
		return id, nil
	} else if err != nil {
		id.Notes = append(id.Notes, "vmalloc areas: "+err.Error())
	}
	if p.Syms != nil {
		if s, off, ok := p.Syms.LookupAddr(addr); ok {
			id.Kind = KindSymbol
			if s.Module != "" {
				id.Kind = KindModule
				id.Module = s.Module
			}
			id.Symbol = s.Name
			if off != 0 {
				id.Symbol += fmt.Sprintf("+%#x", off)
			}
			id.Offset = off
			return id, nil
		}
	}
	return id, nil
}

// SlabObject identifies addr only when it lies in a slab object of the
// direct map (its cache, object and offset): the cheap part of Identify,
// with no search of vmalloc areas, stacks or symbols.
func SlabObject(ctx context.Context, p *symbols.Program, addr uint64) (*Identity, bool) {
	l, err := getLayout(p)
	if err != nil {
		return nil, false
	}
	base, err := directMapBase(p)
	if err != nil || addr < base || (addr-base)>>l.pageShift >= MaxPFN(p) {
		return nil, false
	}
	id := &Identity{Addr: addr, Kind: KindUnknown}
	if ok, _ := identifyDirect(ctx, p, id, (addr-base)>>l.pageShift); !ok || id.Kind != KindSlab || id.Cache == "" {
		return nil, false
	}
	return id, true
}

// identifyDirect identifies a direct-map address by its page; ok false
// when the pfn has no readable struct page.
func identifyDirect(ctx context.Context, p *symbols.Program, id *Identity, pfn uint64) (bool, error) {
	pg, err := ReadPage(p, pfn)
	if err != nil {
		id.Notes = append(id.Notes, err.Error())
		return false, nil
	}
	id.Kind = KindPage
	id.Page = &pg
	head := pg
	if pg.Head != 0 {
		if hpfn, ok := PageToPFN(p, pg.Head); ok {
			if h, err := ReadPage(p, hpfn); err == nil {
				head = h
			}
		}
	}
	if !head.Slab || head.SlabCache == 0 {
		identifyStack(ctx, p, id)
		return true, nil
	}
	c, err := ReadCache(p, head.SlabCache, false)
	if err != nil {
		id.Notes = append(id.Notes, fmt.Sprintf("slab cache %#x: %v", head.SlabCache, err))
		return true, nil
	}
	id.Kind = KindSlab
	id.Cache, id.CacheAddr, id.ObjectSize, id.Slab = c.Name, c.Addr, c.ObjectSize, head.Addr
	s := c.readSlab(p, head.Addr, "")
	if s.Base == 0 || c.Size == 0 {
		id.Notes = append(id.Notes, s.Errors...)
		return true, nil
	}
	off := id.Addr - s.Base
	idx := off / c.Size
	if idx >= s.Objects {
		id.Notes = append(id.Notes, fmt.Sprintf("past the last of the slab's %d objects", s.Objects))
		return true, nil
	}
	id.Object = s.Base + idx*c.Size + c.redLeft
	if id.Addr >= id.Object {
		id.Offset = id.Addr - id.Object
	}
	if s.Free == nil {
		id.Notes = append(id.Notes, s.Errors...)
		return true, nil
	}
	cpuSlabs, cpuFree := c.cpuSlabs(p)
	if _, ok := cpuSlabs[head.Addr]; ok {
		if fl := cpuFree[head.Addr]; fl != 0 {
			if err := c.markFree(p, &s, fl); err != nil {
				id.Notes = append(id.Notes, "cpu freelist: "+err.Error())
			}
		}
	}
	switch {
	case s.Free[idx]:
		id.State = "free"
	case c.sheafObjects(p)[id.Object]:
		id.State = "free"
		id.Notes = append(id.Notes, "held in a CPU's sheaf")
	default:
		id.State = "allocated"
	}
	return true, nil
}

// stackRange is a task's kernel stack.
type stackRange struct {
	base, task uint64
	pid        int
	comm       string
}

type stacksKey struct{}

// stacks returns every task's kernel stack (task->stack, THREAD_SIZE
// bytes), sorted by base; kept for the program when it is a dump (a live
// kernel's tasks change).
func stacks(ctx context.Context, p *symbols.Program) ([]stackRange, error) {
	build := func() (any, error) {
		tasks, err := sched.TasksContext(ctx, p)
		if err != nil && len(tasks) == 0 {
			return nil, err
		}
		out := make([]stackRange, 0, len(tasks))
		for _, t := range tasks {
			st, serr := t.Obj.MemberUint("stack")
			if serr != nil || st == 0 {
				continue
			}
			out = append(out, stackRange{st, t.Addr, t.PID, t.Comm})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].base < out[j].base })
		return out, err
	}
	if p.Dump == nil || p.Dump.Live() {
		v, err := build()
		if v == nil {
			return nil, err
		}
		return v.([]stackRange), err
	}
	v, err := p.Memo(stacksKey{}, build)
	if v == nil {
		return nil, err
	}
	return v.([]stackRange), err
}

// identifyStack looks for the task whose kernel stack holds id.Addr.
func identifyStack(ctx context.Context, p *symbols.Program, id *Identity) {
	ss, err := stacks(ctx, p)
	if err != nil {
		id.Notes = append(id.Notes, "tasks: "+err.Error())
	}
	i := sort.Search(len(ss), func(i int) bool { return ss[i].base > id.Addr }) - 1
	if i >= 0 && id.Addr < ss[i].base+threadSize {
		s := ss[i]
		id.Kind = KindStack
		id.TaskAddr, id.PID, id.Comm = s.task, s.pid, s.comm
		id.Offset = id.Addr - s.base
	}
}
