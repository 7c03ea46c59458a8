package mm

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// Counter is one VM counter: its enumerator name in the kernel
// ("NR_FREE_PAGES"), the /proc/vmstat name ("nr_free_pages") and value.
type Counter struct {
	Enum  string `json:"enum"`
	Name  string `json:"name"`
	Value int64  `json:"value"`
}

// enumItems returns the enumerators of enumName below its count
// enumerator (NR_VM_*_ITEMS), in value order.
func enumItems(p *symbols.Program, enumName string) ([]symbols.Enumerator, error) {
	t, err := p.Type(enumName)
	if err != nil {
		return nil, err
	}
	es := append([]symbols.Enumerator(nil), t.Resolve().Enumerators...)
	sort.SliceStable(es, func(i, j int) bool { return es[i].Value < es[j].Value })
	var out []symbols.Enumerator
	for _, e := range es {
		if strings.HasPrefix(e.Name, "NR_VM_") && strings.HasSuffix(e.Name, "_ITEMS") {
			break
		}
		if int(e.Value) == len(out)-1 && strings.HasSuffix(out[len(out)-1].Name, "_BASE") {
			out[len(out)-1] = e // WORKINGSET_REFAULT_BASE = WORKINGSET_REFAULT_ANON
			continue
		}
		if int(e.Value) != len(out) { // other aliases
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// vmstatName is the /proc/vmstat spelling of a counter enumerator
// (mm/vmstat.c vmstat_text): lower case, with the unit suffixes of the
// byte and KiB counters dropped.
func vmstatName(enum string) string {
	n := strings.ToLower(enum)
	for _, suf := range []string{"_b", "_kb"} {
		if strings.HasSuffix(n, suf) && (strings.Contains(n, "slab") || strings.Contains(n, "stack") || strings.Contains(n, "kernel")) {
			n = strings.TrimSuffix(n, suf)
		}
	}
	return n
}

// counterArray reads the atomic_long_t array member of o, naming its
// elements by enumName.
func counterArray(o symbols.Object, member, enumName string) ([]Counter, error) {
	items, err := enumItems(o.Prog(), enumName)
	if err != nil {
		return nil, err
	}
	arr, err := o.Member(member)
	if err != nil {
		return nil, err
	}
	return readCounters(o.Prog(), arr.Addr(), int(arr.Type().Resolve().Len), items, fmt.Sprintf("%s.%s", o.Path(), member))
}

func readCounters(p *symbols.Program, addr uint64, n int, items []symbols.Enumerator, what string) ([]Counter, error) {
	if n == 0 || n > len(items) {
		n = len(items)
	}
	buf := make([]byte, 8*n)
	if err := p.Mem.ReadVirt(buf, addr); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out := make([]Counter, n)
	for i := 0; i < n; i++ {
		out[i] = Counter{Enum: items[i].Name, Name: vmstatName(items[i].Name), Value: int64(le64(buf[8*i:]))}
	}
	return out, nil
}

// VMStat is the kernel's global VM counters (mm/vmstat.c): vm_zone_stat,
// vm_node_stat and the NUMA events (vm_numa_event in 5.14+, vm_numa_stat
// before). Values are the global atomics, as /proc/vmstat shows them:
// per-CPU deltas not yet folded are not included. NR_KERNEL_STACK_KB is
// in KiB, every other counter in pages or events.
type VMStat struct {
	Zone []Counter `json:"zone"`
	Node []Counter `json:"node"`
	NUMA []Counter `json:"numa,omitempty"`
}

// ReadVMStat reads the global counters.
func ReadVMStat(p *symbols.Program) (VMStat, error) {
	var s VMStat
	var err error
	read := func(sym, enum string) ([]Counter, error) {
		a, err := p.Symbol(sym)
		if err != nil {
			return nil, err
		}
		items, err := enumItems(p, enum)
		if err != nil {
			return nil, err
		}
		return readCounters(p, a, len(items), items, sym)
	}
	if s.Zone, err = read("vm_zone_stat", "enum zone_stat_item"); err != nil {
		return s, err
	}
	if s.Node, err = read("vm_node_stat", "enum node_stat_item"); err != nil {
		return s, err
	}
	// include/linux/mmzone.h: enum numa_stat_item; vm_numa_event (5.14+)
	// or vm_numa_stat (5.10)
	if s.NUMA, err = read("vm_numa_event", "enum numa_stat_item"); err != nil {
		s.NUMA, _ = read("vm_numa_stat", "enum numa_stat_item")
	}
	nameFromText(p, &s)
	return s, nil
}

// nameFromText takes the /proc/vmstat names from the kernel's own
// vmstat_text (mm/vmstat.c: const char * const vmstat_text[], the zone
// items, then the NUMA items, then the node items), when every name there
// reads as one.
func nameFromText(p *symbols.Program, s *VMStat) {
	a, err := p.Symbol("vmstat_text")
	if err != nil {
		return
	}
	sets := []*[]Counter{&s.Zone, &s.NUMA, &s.Node}
	n := len(s.Zone) + len(s.NUMA) + len(s.Node)
	ptrs := make([]byte, 8*n)
	if err := p.Mem.ReadVirt(ptrs, a); err != nil {
		return
	}
	names := make([]string, n)
	for i := range names {
		name, err := p.ReadString(le64(ptrs[8*i:]), 64)
		if err != nil || name == "" || strings.ToLower(name) != name || strings.ContainsAny(name, " \t\n") {
			return
		}
		names[i] = name
	}
	i := 0
	for _, set := range sets {
		for j := range *set {
			(*set)[j].Name = names[i]
			i++
		}
	}
}

// Get returns the counter named enum from any of the sets.
func (s VMStat) Get(enum string) (int64, bool) {
	for _, set := range [][]Counter{s.Zone, s.Node, s.NUMA} {
		for _, c := range set {
			if c.Enum == enum {
				return c.Value, true
			}
		}
	}
	return 0, false
}

// PagesOf returns a counter in pages. The _B counters are kept in pages
// though counted in bytes (mm/vmstat.c __mod_node_page_state shifts the
// delta of a vmstat_item_in_bytes item); NR_KERNEL_STACK_KB is in KiB.
func (s VMStat) PagesOf(enum string, pageSize uint64) (int64, bool) {
	v, ok := s.Get(enum)
	if !ok {
		return 0, false
	}
	if v < 0 {
		v = 0
	}
	if strings.HasSuffix(enum, "_KB") {
		return v * 1024 / int64(pageSize), true
	}
	return v, true
}
