package mm

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
)

// ErrNoMemmap is returned when the memory map (vmemmap) cannot be found.
var ErrNoMemmap = errors.New("memory map (vmemmap) not found")

// FlagName is one page flag: its bit in page->flags and its name.
type FlagName struct {
	Bit  uint
	Name string
}

// layout is what page decoding needs, read once per program.
type layout struct {
	vmemmap   uint64
	pageSize  uint64
	pageShift uint
	pageSz    uint64 // sizeof(struct page)
	pageType  *symbols.Type

	// member offsets in struct page
	flags, mapping, index, private, refcount, mapcount, compound, slabCache kmem.Field
	pageTypeOff                                                             kmem.Field // 6.9+: page_type shares _mapcount's word

	flagNames     []FlagName // by bit
	flagSource    string     // "pageflag_names" or "enum pageflags"
	nrPageflags   uint       // __NR_PAGEFLAGS
	bits          map[string]uint
	pgtySlab      int64 // enum pagetype PGTY_slab, -1 when absent
	pgtyBuddy     int64
	zoneNames     []string // enum zone_type names in order (ZONE_DMA...)
	zonesWidth    uint
	maxPFN        uint64
	memmapPresent bool
}

type layoutKey struct{}

func getLayout(p *symbols.Program) (*layout, error) {
	v, err := p.Memo(layoutKey{}, func() (any, error) { return buildLayout(p) })
	if err != nil {
		return nil, err
	}
	return v.(*layout), nil
}

func buildLayout(p *symbols.Program) (*layout, error) {
	l := &layout{pageSize: 4096, pageShift: 12, pgtySlab: -1, pgtyBuddy: -1}
	if p.Dump != nil && p.Dump.VMCoreInfo() != nil {
		vi := p.Dump.VMCoreInfo()
		if ps, ok := vi.PageSize(); ok && ps != 0 && ps&(ps-1) == 0 {
			l.pageSize = ps
			l.pageShift = 0
			for s := ps; s > 1; s >>= 1 {
				l.pageShift++
			}
		}
		// kernel/vmcore_info.c: VMCOREINFO_SYMBOL_ARRAY(vmemmap) on x86_64
		if a, ok := vi.Symbol("vmemmap"); ok {
			l.vmemmap = a
		}
	}
	t, err := p.Type("struct page")
	if err != nil {
		return nil, err
	}
	l.pageType = t
	l.pageSz = t.Resolve().Size
	if l.pageSz == 0 {
		return nil, fmt.Errorf("struct page has no size")
	}
	if l.vmemmap == 0 {
		// arch/x86/kernel/head64.c: unsigned long vmemmap_base
		a, err := p.Symbol("vmemmap_base")
		if err == nil {
			if l.vmemmap, err = p.ReadU64(a); err != nil {
				return nil, fmt.Errorf("%w: read vmemmap_base: %v", ErrNoMemmap, err)
			}
		} else if p.Dump != nil && p.Dump.Arch() == kcore.ArchARM64 {
			// arm64's vmemmap is a macro of VA_BITS, the struct page
			// size and memstart_addr (arch/arm64/include/asm/memory.h),
			// whose formula changed across versions: found instead from
			// pages whose frame is known.
			if l.vmemmap, err = vmemmapFromStacks(p, l.pageSz, l.pageShift); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrNoMemmap, err)
			}
		} else {
			return nil, fmt.Errorf("%w: no VMCOREINFO vmemmap and %v", ErrNoMemmap, err)
		}
	}
	// 7.x: memdesc_flags_t flags { unsigned long f; }
	l.flags, _ = kmem.FirstField(t, "flags.f", "flags")
	l.mapping = kmem.FieldOf(t, "mapping")
	l.index, _ = kmem.FirstField(t, "index", "__folio_index")
	l.private = kmem.FieldOf(t, "private")
	l.refcount, _ = kmem.FirstField(t, "_refcount.counter", "_refcount")
	l.mapcount, _ = kmem.FirstField(t, "_mapcount.counter", "_mapcount")
	l.pageTypeOff = kmem.FieldOf(t, "page_type")
	// 7.x renamed compound_head to compound_info
	l.compound, _ = kmem.FirstField(t, "compound_head", "compound_info")
	l.slabCache = kmem.FieldOf(t, "slab_cache") // 5.10: SLUB fields in struct page
	if !l.flags.OK {
		return nil, fmt.Errorf("struct page: no flags member")
	}
	l.bits = map[string]uint{}
	if et, err := p.Type("enum pageflags"); err == nil {
		for _, e := range et.Resolve().Enumerators {
			if e.Name == "__NR_PAGEFLAGS" {
				l.nrPageflags = uint(e.Value)
			}
			if _, seen := l.bits[e.Name]; !seen && e.Value >= 0 && e.Value < 64 {
				l.bits[e.Name] = uint(e.Value)
			}
		}
	}
	if et, err := p.Type("enum pagetype"); err == nil {
		if v, ok := et.EnumValue("PGTY_slab"); ok {
			l.pgtySlab = v
		}
		if v, ok := et.EnumValue("PGTY_buddy"); ok {
			l.pgtyBuddy = v
		}
	}
	if et, err := p.Type("enum zone_type"); err == nil {
		es := append([]symbols.Enumerator(nil), et.Resolve().Enumerators...)
		sort.SliceStable(es, func(i, j int) bool { return es[i].Value < es[j].Value })
		for _, e := range es {
			if strings.HasPrefix(e.Name, "ZONE_") && int(e.Value) == len(l.zoneNames) {
				l.zoneNames = append(l.zoneNames, strings.TrimPrefix(e.Name, "ZONE_"))
			}
		}
	}
	// include/linux/page-flags-layout.h: ZONES_SHIFT from MAX_NR_ZONES
	switch n := len(l.zoneNames); {
	case n <= 1:
		l.zonesWidth = 0
	case n <= 2:
		l.zonesWidth = 1
	case n <= 4:
		l.zonesWidth = 2
	default:
		l.zonesWidth = 3
	}
	l.flagNames, l.flagSource = readFlagNames(p, l)
	return l, nil
}

// readFlagNames reads mm/debug.c's pageflag_names (struct
// trace_print_flags { unsigned long mask; const char *name; }, ended by
// {0, NULL}), else names the bits of enum pageflags below __NR_PAGEFLAGS.
func readFlagNames(p *symbols.Program, l *layout) ([]FlagName, string) {
	if a, err := p.Symbol("pageflag_names"); err == nil {
		var out []FlagName
		for i := uint64(0); i < 64; i++ {
			mask, err1 := p.ReadU64(a + 16*i)
			np, err2 := p.ReadU64(a + 16*i + 8)
			if err1 != nil || err2 != nil || (mask == 0 && np == 0) {
				break
			}
			if mask&(mask-1) != 0 || mask == 0 {
				continue
			}
			name, err := p.ReadString(np, 32)
			if err != nil || name == "" {
				continue
			}
			bit := uint(0)
			for m := mask; m > 1; m >>= 1 {
				bit++
			}
			out = append(out, FlagName{Bit: bit, Name: name})
		}
		if len(out) > 0 {
			sort.SliceStable(out, func(i, j int) bool { return out[i].Bit < out[j].Bit })
			return dedupFlags(out), "pageflag_names"
		}
	}
	var out []FlagName
	for name, bit := range l.bits {
		if l.nrPageflags != 0 && bit >= l.nrPageflags {
			continue
		}
		if !strings.HasPrefix(name, "PG_") {
			continue
		}
		out = append(out, FlagName{Bit: bit, Name: strings.TrimPrefix(name, "PG_")})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bit != out[j].Bit {
			return out[i].Bit < out[j].Bit
		}
		return out[i].Name < out[j].Name
	})
	return dedupFlags(out), "enum pageflags"
}

// dedupFlags keeps the first name of each bit (aliases such as
// PG_swapcache = PG_owner_priv_1 come later in the enum).
func dedupFlags(in []FlagName) []FlagName {
	var out []FlagName
	for _, f := range in {
		if len(out) > 0 && out[len(out)-1].Bit == f.Bit {
			continue
		}
		out = append(out, f)
	}
	return out
}

// PageFlagNames returns the page flags this kernel names, by bit, and
// where the names come from ("pageflag_names" or "enum pageflags").
func PageFlagNames(p *symbols.Program) ([]FlagName, string, error) {
	l, err := getLayout(p)
	if err != nil {
		return nil, "", err
	}
	return l.flagNames, l.flagSource, nil
}

// PageSize returns the kernel's page size.
func PageSize(p *symbols.Program) uint64 {
	if l, err := getLayout(p); err == nil {
		return l.pageSize
	}
	return 4096
}

// maxVmemmapTasks bounds the tasks vmemmapFromStacks looks at.
const maxVmemmapTasks = 16

// vmemmapFromStacks finds the memory map's base from tasks' vmalloc'ed
// kernel stacks (CONFIG_VMAP_STACK, kernel/fork.c alloc_thread_stack_node):
// task->stack_vm_area->pages[0] is the struct page of the stack's first
// page, whose frame the page tables give, so vmemmap = page - pfn *
// sizeof(struct page). Three tasks must agree.
func vmemmapFromStacks(p *symbols.Program, pageSz uint64, pageShift uint) (uint64, error) {
	tasks, err := sched.Tasks(p)
	if err != nil && len(tasks) == 0 {
		return 0, fmt.Errorf("tasks for the memory map: %w", err)
	}
	votes := map[uint64]int{}
	seen := 0
	for _, t := range tasks {
		if seen >= maxVmemmapTasks {
			break
		}
		vm, err1 := t.Obj.MemberUint("stack_vm_area")
		stack, err2 := t.Obj.MemberUint("stack")
		if err1 != nil || err2 != nil || vm == 0 || stack == 0 {
			continue
		}
		o, err := p.Object("struct vm_struct", vm)
		if err != nil {
			continue
		}
		pages, err := o.MemberUint("pages")
		if err != nil || pages == 0 {
			continue
		}
		page, err := p.ReadU64(pages)
		if err != nil || page == 0 {
			continue
		}
		pa, err := p.Dump.VirtToPhys(stack)
		if err != nil {
			continue
		}
		seen++
		votes[page-(pa>>pageShift)*pageSz]++
	}
	for base, n := range votes {
		if n >= 3 && n*2 > seen {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no VMCOREINFO vmemmap, and the stacks of %d tasks do not agree on it (%d answers)", seen, len(votes))
}
