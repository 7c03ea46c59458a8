package irq

import (
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// irqKernel is a synthetic two-CPU kernel with irq descriptors in an
// irq_desc_tree (the radix tree of kernels before 6.5), shaped like 6.12
// (kstat_irqs a per-CPU struct irqstat, cpumask_var_t a pointer).
type irqKernel struct {
	*symtest.Kernel
	descs map[uint64]uint64
	pcpu  [2]uint64 // __per_cpu_offset
}

const (
	statSym    = 0x30000 // the per-CPU kstat_irqs of every desc, 0x40 apart
	handleEdge = 0xffffffff81010000
	timerIntr  = 0xffffffff81020000
	otherIntr  = 0xffffffff81030000
)

func newIRQKernel(t *testing.T) *irqKernel {
	t.Helper()
	k := symtest.NewKernel()
	ty := k.Types
	mask := ty.Add(symtest.Layout("cpumask", symtest.M("bits", symtest.Array(k.U64, 1))))
	common := ty.Add(symtest.Layout("irq_common_data", symtest.M("state_use_accessors", k.U32),
		symtest.M("affinity", symtest.Ptr(mask)), symtest.M("effective_affinity", symtest.Ptr(mask))))
	chip := ty.Add(symtest.Layout("irq_chip", symtest.M("parent_device", symtest.Ptr(k.Void)), symtest.M("name", symtest.Ptr(k.Char))))
	data := ty.Add(symtest.Layout("irq_data", symtest.M("mask", k.U32), symtest.M("irq", k.U32), symtest.M("hwirq", k.U64),
		symtest.M("chip", symtest.Ptr(chip)), symtest.M("domain", symtest.Ptr(k.Void))))
	stat := ty.Add(symtest.Layout("irqstat", symtest.M("cnt", k.U32)))
	action := &symbols.Type{Kind: symbols.KindStruct, Name: "irqaction"}
	symtest.LayoutInto(action, []symtest.Field{symtest.M("handler", symtest.Ptr(k.Void)), symtest.M("dev_id", symtest.Ptr(k.Void)),
		symtest.M("next", symtest.Ptr(action)), symtest.M("thread_fn", symtest.Ptr(k.Void)), symtest.M("flags", k.U32), symtest.M("name", symtest.Ptr(k.Char))})
	ty.Add(action)
	ty.Add(symtest.Layout("irq_desc", symtest.M("irq_common_data", common), symtest.M("irq_data", data),
		symtest.M("kstat_irqs", symtest.Ptr(stat)), symtest.M("handle_irq", symtest.Ptr(k.Void)), symtest.M("action", symtest.Ptr(action)),
		symtest.M("depth", k.U32), symtest.M("name", symtest.Ptr(k.Char))))

	n := k.Alloc(4)
	k.Mem.WriteU32(n, 2)
	k.Syms.Add("nr_cpu_ids", n, 4, 'D')
	possible := k.Alloc(8)
	k.Mem.WriteU64(possible, 3)
	k.Syms.Add("__cpu_possible_mask", possible, 8, 'D')
	ik := &irqKernel{Kernel: k, descs: map[uint64]uint64{}}
	offs := k.Alloc(16)
	for cpu := 0; cpu < 2; cpu++ {
		area := k.Alloc(0x1000)
		ik.pcpu[cpu] = area - statSym
		k.Mem.WriteU64(offs+8*uint64(cpu), ik.pcpu[cpu])
	}
	k.Syms.Add("__per_cpu_offset", offs, 16, 'D')
	k.Syms.Add("handle_edge_irq", handleEdge, 0x100, 'T')
	k.Syms.Add("timer_interrupt", timerIntr, 0x100, 'T')
	k.Syms.Add("i8042_interrupt", otherIntr, 0x100, 'T')
	return ik
}

func (k *irqKernel) str(s string) uint64 {
	a := k.Alloc(uint64(len(s) + 1))
	k.Mem.Write(a, append([]byte(s), 0))
	return a
}

// desc adds irq's descriptor with the given actions (name, handler) and
// per-CPU counts.
func (k *irqKernel) desc(irq uint64, chipName string, counts [2]uint32, actions ...string) uint64 {
	d := k.NewObj("struct irq_desc")
	off := func(m string) uint64 { return k.Off("struct irq_desc", m) }
	k.Mem.WriteU32(d+off("irq_data")+k.Off("struct irq_data", "irq"), uint32(irq))
	k.Mem.WriteU64(d+off("irq_data")+k.Off("struct irq_data", "hwirq"), irq+100)
	k.Mem.WriteU64(d+off("irq_data")+k.Off("struct irq_data", "domain"), 0xffff888000001000)
	chip := k.NewObj("struct irq_chip")
	k.Mem.WriteU64(chip+k.Off("struct irq_chip", "name"), k.str(chipName))
	k.Mem.WriteU64(d+off("irq_data")+k.Off("struct irq_data", "chip"), chip)
	k.Mem.WriteU64(d+off("handle_irq"), handleEdge)
	k.Mem.WriteU64(d+off("name"), k.str("edge"))
	stat := statSym + irq*0x40
	k.Mem.WriteU64(d+off("kstat_irqs"), stat)
	for cpu, c := range counts {
		k.Mem.WriteU32(stat+k.pcpu[cpu], c)
	}
	m := k.NewObj("struct cpumask")
	k.Mem.WriteU64(m, 2) // CPU 1
	k.Mem.WriteU64(d+off("irq_common_data")+k.Off("struct irq_common_data", "affinity"), m)
	var prev uint64
	for i := 0; i+1 < len(actions); i += 2 {
		a := k.NewObj("struct irqaction")
		k.Mem.WriteU64(a+k.Off("struct irqaction", "name"), k.str(actions[i]))
		h := uint64(timerIntr)
		if actions[i+1] != "timer_interrupt" {
			h = otherIntr
		}
		k.Mem.WriteU64(a+k.Off("struct irqaction", "handler"), h)
		if prev == 0 {
			k.Mem.WriteU64(d+off("action"), a)
		} else {
			k.Mem.WriteU64(prev+k.Off("struct irqaction", "next"), a)
		}
		prev = a
	}
	k.descs[irq] = d
	return d
}

func (k *irqKernel) finish() *symbols.Program {
	root := k.NewObj("struct xarray")
	k.Mem.WriteU64(root+k.Off("struct xarray", "xa_head"), k.BuildXArray(k.descs))
	k.Syms.Add("irq_desc_tree", root, k.Size("struct xarray"), 'd')
	return k.Program()
}

func TestDescs(t *testing.T) {
	k := newIRQKernel(t)
	d0 := k.desc(0, "IO-APIC", [2]uint32{91, 0}, "timer", "timer_interrupt")
	k.desc(2, "XT-PIC", [2]uint32{0, 0})
	d12 := k.desc(12, "IO-APIC", [2]uint32{3, 4}, "i8042", "i8042_interrupt", "serio", "other")
	ds, err := Descs(k.finish())
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 || ds[0].IRQ != 0 || ds[1].IRQ != 2 || ds[2].IRQ != 12 {
		t.Fatalf("descs %+v", ds)
	}
	for _, d := range ds {
		if len(d.Errors) > 0 {
			t.Errorf("irq %d: %v", d.IRQ, d.Errors)
		}
	}
	tests := []struct {
		i              int
		addr           uint64
		chip, names    string
		counts         []uint64
		total          uint64
		shown          bool
		handlerSymbol0 string
	}{
		{0, d0, "IO-APIC", "timer", []uint64{91, 0}, 91, true, "timer_interrupt"},
		{1, 0, "XT-PIC", "", []uint64{0, 0}, 0, false, ""},
		{2, d12, "IO-APIC", "i8042, serio", []uint64{3, 4}, 7, true, "i8042_interrupt"},
	}
	for _, tc := range tests {
		d := ds[tc.i]
		if (tc.addr != 0 && d.Addr != tc.addr) || d.ChipName != tc.chip || d.ActionNames() != tc.names || d.Total != tc.total || d.Shown() != tc.shown {
			t.Errorf("irq %d: addr %#x chip %q actions %q total %d shown %v", d.IRQ, d.Addr, d.ChipName, d.ActionNames(), d.Total, d.Shown())
		}
		if len(d.Counts) != 2 || d.Counts[0] != tc.counts[0] || d.Counts[1] != tc.counts[1] {
			t.Errorf("irq %d: counts %v, want %v", d.IRQ, d.Counts, tc.counts)
		}
		if tc.handlerSymbol0 != "" && (len(d.Actions) == 0 || d.Actions[0].HandlerS != tc.handlerSymbol0) {
			t.Errorf("irq %d: actions %+v", d.IRQ, d.Actions)
		}
		if d.FlowName != "edge" || d.HandleIRQS != "handle_edge_irq" || !d.HasDomain || d.HWIRQ != uint64(d.IRQ)+100 {
			t.Errorf("irq %d: flow %q handler %q domain %v hwirq %d", d.IRQ, d.FlowName, d.HandleIRQS, d.HasDomain, d.HWIRQ)
		}
		if len(d.Affinity) != 1 || d.Affinity[0] != 1 {
			t.Errorf("irq %d: affinity %v", d.IRQ, d.Affinity)
		}
	}
}

// A cyclic action chain is an error on its descriptor, not a hang.
func TestDescsActionCycle(t *testing.T) {
	k := newIRQKernel(t)
	d := k.desc(1, "IO-APIC", [2]uint32{1, 1}, "a", "x")
	a, _ := k.Program().ReadU64(d + k.Off("struct irq_desc", "action"))
	k.Mem.WriteU64(a+k.Off("struct irqaction", "next"), a)
	ds, err := Descs(k.finish())
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || len(ds[0].Errors) == 0 || len(ds[0].Actions) != 1 {
		t.Errorf("descs %+v: want one action and an error", ds)
	}
}
