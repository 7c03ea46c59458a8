package irq

import (
	"errors"
	"fmt"
	"math/bits"
	"sort"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// Action is one struct irqaction on a descriptor's action chain.
type Action struct {
	Addr     uint64 `json:"addr"`
	Name     string `json:"name"`    // irqaction.name: what request_irq was given
	Handler  uint64 `json:"handler"` // irqaction.handler
	HandlerS string `json:"handler_symbol"`
	ThreadFn uint64 `json:"thread_fn"` // irqaction.thread_fn (threaded handlers), 0 if none
	ThreadS  string `json:"thread_fn_symbol,omitempty"`
	Flags    uint64 `json:"flags"` // IRQF_*
	DevID    uint64 `json:"dev_id"`
}

// Desc is one struct irq_desc.
type Desc struct {
	IRQ   int    `json:"irq"`
	Addr  uint64 `json:"addr"`
	HWIRQ uint64 `json:"hwirq"`
	// HasDomain is irq_data.domain != NULL: /proc/interrupts prints the
	// hwirq only then.
	HasDomain bool   `json:"has_domain"`
	Chip      uint64 `json:"chip"`
	ChipName  string `json:"chip_name"` // irq_chip.name; "None" without a chip
	// PrintChip names the chip's irq_print_chip, which prints its name
	// in /proc/interrupts instead of irq_chip.name (the GIC's "GIC-0").
	PrintChip string `json:"print_chip,omitempty"`
	// Trigger is "Level" or "Edge" (IRQD_LEVEL of the irq data's state),
	// which /proc/interrupts shows on kernels with
	// CONFIG_GENERIC_IRQ_SHOW_LEVEL (arm64, not x86): set there only.
	Trigger string `json:"trigger,omitempty"`
	// Hidden: _IRQ_HIDDEN (arm64's IPIs): /proc/interrupts leaves the
	// descriptor out (the architecture lists IPIs itself).
	Hidden bool `json:"hidden,omitempty"`
	// FlowName is irq_desc.name ("edge", "fasteoi"), set by the flow
	// handler's installer; "" when none.
	FlowName   string   `json:"flow_name"`
	HandleIRQ  uint64   `json:"handle_irq"` // the flow handler
	HandleIRQS string   `json:"handle_irq_symbol"`
	Depth      int      `json:"depth"` // disable depth: > 0 disabled
	Actions    []Action `json:"actions"`
	// Counts are the per-CPU counts (kstat_irqs), indexed by CPU id, for
	// the possible CPUs; Total is their sum.
	Counts   []uint64 `json:"counts"`
	Total    uint64   `json:"total"`
	Affinity []int    `json:"affinity"`
	// EffectiveAffinity is irq_common_data.effective_affinity (CONFIG_GENERIC_IRQ_EFFECTIVE_AFF_MASK).
	EffectiveAffinity []int    `json:"effective_affinity,omitempty"`
	Errors            []string `json:"errors,omitempty"`
}

// Shown reports whether /proc/interrupts would show the descriptor: it is
// not hidden and has a non-zero count, or actions other than a chained
// handler's (kernel/irq/proc.c show_interrupts).
func (d Desc) Shown() bool { return !d.Hidden && (d.Total != 0 || len(d.Actions) > 0 && !d.Chained()) }

// Chained reports a chained flow handler's descriptor: its action is
// kernel/irq/chip.c's chained_action, whose handler is bad_chained_irq
// (irq_desc_is_chained).
func (d Desc) Chained() bool {
	return len(d.Actions) == 1 && d.Actions[0].HandlerS == "bad_chained_irq"
}

// Bits no type carries: _IRQ_HIDDEN is IRQ_HIDDEN of include/linux/irq.h's
// anonymous enum (1 << 20, since 5.11; unused before), IRQD_LEVEL of its
// irqd state enum (BIT(13)).
const (
	irqHidden = 1 << 20
	irqdLevel = 1 << 13
)

// ActionNames joins the actions' names with ", " as /proc/interrupts does.
func (d Desc) ActionNames() string {
	s := ""
	for i, a := range d.Actions {
		if i > 0 {
			s += ", "
		}
		s += a.Name
	}
	return s
}

const (
	maxDescs   = 1 << 16 // IRQ_BITMAP_BITS is NR_IRQS + 8196
	maxActions = 64      // a shared line's chain
)

// descAddrs returns irq number → irq_desc address.
func descAddrs(p *symbols.Program) (map[uint64]uint64, error) {
	out := map[uint64]uint64{}
	// kernel/irq/irqdesc.c: "static struct maple_tree sparse_irqs" (6.5+).
	if root, err := p.Symbol("sparse_irqs"); err == nil {
		es, err := kmem.MapleEntries(p, root, "sparse_irqs", maxDescs)
		for _, e := range es {
			if e.Entry != 0 && e.First == e.Last {
				out[e.First] = e.Entry
			}
		}
		return out, err
	}
	// Before: "static RADIX_TREE(irq_desc_tree, GFP_KERNEL)", an xarray.
	root, err := p.Symbol("irq_desc_tree")
	if err != nil {
		return nil, fmt.Errorf("irq descriptors: neither sparse_irqs nor irq_desc_tree (a kernel without CONFIG_SPARSE_IRQ): %w", err)
	}
	es, err := kmem.XArrayEntries(p, root, "irq_desc_tree")
	for _, e := range es {
		if e.Value != 0 && e.Value&3 == 0 {
			out[e.Index] = e.Value
		}
	}
	return out, err
}

// Descs returns every irq descriptor, ordered by irq number, with the
// counts of the possible CPUs. Problems reading one descriptor are in its
// Errors; the error joins problems walking the tree.
func Descs(p *symbols.Program) ([]Desc, error) {
	addrs, walkErr := descAddrs(p)
	if addrs == nil {
		return nil, walkErr
	}
	cpus, err := p.PossibleCPUs()
	if err != nil || len(cpus) == 0 {
		n, nerr := p.NumCPUIDs()
		if nerr != nil {
			return nil, errors.Join(err, nerr)
		}
		cpus = nil
		for i := 0; i < n; i++ {
			cpus = append(cpus, i)
		}
	}
	irqs := make([]uint64, 0, len(addrs))
	for n := range addrs {
		irqs = append(irqs, n)
	}
	sort.Slice(irqs, func(i, j int) bool { return irqs[i] < irqs[j] })
	out := make([]Desc, 0, len(irqs))
	for _, n := range irqs {
		out = append(out, readDesc(p, int(n), addrs[n], cpus))
	}
	return out, walkErr
}

func readDesc(p *symbols.Program, irq int, addr uint64, cpus []int) Desc {
	d := Desc{IRQ: irq, Addr: addr, Actions: []Action{}}
	bad := func(what string, err error) { d.Errors = append(d.Errors, fmt.Sprintf("%s: %v", what, err)) }
	o, err := p.Object("struct irq_desc", addr)
	if err != nil {
		bad("irq_desc", err)
		return d
	}
	if v, err := o.MemberUint("irq_data.irq"); err == nil && int(v) != irq {
		bad("irq_data.irq", fmt.Errorf("%d, not %d", v, irq))
	}
	d.HWIRQ, _ = o.MemberUint("irq_data.hwirq")
	if v, err := o.MemberUint("irq_data.domain"); err == nil {
		d.HasDomain = v != 0
	}
	d.ChipName = "None"
	if d.Chip, err = o.MemberUint("irq_data.chip"); err != nil {
		bad("chip", err)
	} else if d.Chip != 0 {
		d.ChipName = "-"
		c, err := p.Object("struct irq_chip", d.Chip)
		var np uint64
		if err == nil {
			np, err = c.MemberUint("name")
		}
		if err == nil && np != 0 {
			var s string
			if s, err = p.ReadString(np, 64); err == nil {
				d.ChipName = s
			}
		}
		if err != nil {
			bad("chip name", err)
		}
		if pc, err := c.MemberUint("irq_print_chip"); err == nil && pc != 0 {
			d.PrintChip = symbols.BaseName(p.SymbolizeAddr(pc))
		}
	}
	if v, err := o.MemberUint("status_use_accessors"); err == nil {
		d.Hidden = v&irqHidden != 0
	}
	if p.Dump != nil && p.Dump.Arch() == kcore.ArchARM64 { // CONFIG_GENERIC_IRQ_SHOW_LEVEL
		if v, err := o.MemberUint("irq_common_data.state_use_accessors"); err == nil {
			d.Trigger = "Edge"
			if v&irqdLevel != 0 {
				d.Trigger = "Level"
			}
		}
	}
	if np, err := o.MemberUint("name"); err == nil && np != 0 {
		d.FlowName, _ = p.ReadString(np, 64)
	}
	if d.HandleIRQ, err = o.MemberUint("handle_irq"); err == nil && d.HandleIRQ != 0 {
		d.HandleIRQS = symbols.BaseName(p.SymbolizeAddr(d.HandleIRQ))
	}
	if v, err := o.MemberUint("depth"); err == nil {
		d.Depth = int(int32(v))
	}
	if err := d.readActions(p, o); err != nil {
		bad("action", err)
	}
	if err := d.readCounts(p, o, cpus); err != nil {
		bad("kstat_irqs", err)
	}
	if m, err := cpumaskMember(p, o, "irq_common_data.affinity"); err != nil {
		bad("affinity", err)
	} else {
		d.Affinity = m
	}
	if m, err := cpumaskMember(p, o, "irq_common_data.effective_affinity"); err == nil {
		d.EffectiveAffinity = m
	}
	return d
}

func (d *Desc) readActions(p *symbols.Program, o symbols.Object) error {
	a, err := o.MemberUint("action")
	if err != nil {
		return err
	}
	seen := map[uint64]bool{}
	for a != 0 {
		if seen[a] || len(d.Actions) >= maxActions {
			return fmt.Errorf("irqaction chain at %#x: %w", a, kmem.ErrListCorrupt)
		}
		seen[a] = true
		act, err := p.Object("struct irqaction", a)
		if err != nil {
			return err
		}
		r := Action{Addr: a}
		if np, err := act.MemberUint("name"); err == nil && np != 0 {
			r.Name, _ = p.ReadString(np, 128)
		}
		if r.Handler, err = act.MemberUint("handler"); err == nil && r.Handler != 0 {
			r.HandlerS = symbols.BaseName(p.SymbolizeAddr(r.Handler))
		}
		if r.ThreadFn, err = act.MemberUint("thread_fn"); err == nil && r.ThreadFn != 0 {
			r.ThreadS = symbols.BaseName(p.SymbolizeAddr(r.ThreadFn))
		}
		r.Flags, _ = act.MemberUint("flags")
		r.DevID, _ = act.MemberUint("dev_id")
		d.Actions = append(d.Actions, r)
		if a, err = act.MemberUint("next"); err != nil {
			return err
		}
	}
	return nil
}

// readCounts reads the per-CPU counts: desc->kstat_irqs is a per-CPU
// "unsigned int" (before 6.10) or "struct irqstat" whose first member is
// cnt (kernel/irq/irqdesc.c kstat_irqs_cpu).
func (d *Desc) readCounts(p *symbols.Program, o symbols.Object, cpus []int) error {
	base, err := o.MemberUint("kstat_irqs")
	if err != nil || base == 0 {
		return err
	}
	max := 0
	for _, c := range cpus {
		max = c
	}
	d.Counts = make([]uint64, max+1)
	for _, c := range cpus {
		a, err := p.PerCPUAddr(base, c)
		if err != nil {
			return err
		}
		v, err := p.ReadU32(a)
		if err != nil {
			return fmt.Errorf("cpu %d: %w", c, err)
		}
		d.Counts[c] = uint64(v)
		d.Total += uint64(v)
	}
	return nil
}

// cpumaskMember reads a cpumask_var_t member: a pointer to a struct
// cpumask with CONFIG_CPUMASK_OFFSTACK, the struct cpumask itself (an
// array of one) without.
func cpumaskMember(p *symbols.Program, o symbols.Object, path string) ([]int, error) {
	m, err := o.Member(path)
	if err != nil {
		return nil, err
	}
	addr := m.Addr()
	if r := m.Type().Resolve(); r != nil && r.Kind == symbols.KindPointer {
		if addr, err = m.Uint(); err != nil {
			return nil, err
		}
		if addr == 0 {
			return nil, nil
		}
	}
	return ReadCPUMask(p, addr)
}

// ReadCPUMask returns the CPUs set in the struct cpumask at addr, below
// nr_cpu_ids.
func ReadCPUMask(p *symbols.Program, addr uint64) ([]int, error) {
	n, err := p.NumCPUIDs()
	if err != nil {
		return nil, err
	}
	var cpus []int
	for w := 0; w < (n+63)/64; w++ {
		v, err := p.ReadU64(addr + uint64(w)*8)
		if err != nil {
			return nil, fmt.Errorf("cpumask %#x: %w", addr, err)
		}
		for v != 0 {
			b := bits.TrailingZeros64(v)
			v &^= 1 << b
			if c := w*64 + b; c < n {
				cpus = append(cpus, c)
			}
		}
	}
	return cpus, nil
}
