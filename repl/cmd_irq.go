package repl

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/walkers/irq"
)

func registerIRQ(r *Registry) {
	r.Add(&Command{
		Name:    "irq",
		Summary: "interrupt descriptors: chip, handlers, per-CPU counts, affinity",
		Usage:   "irq [-s | -a] [IRQ]...",
		Help: `Lists the interrupt descriptors (struct irq_desc, from the sparse_irqs
maple tree on 6.5+ or the irq_desc_tree radix tree before), like crash's
irq: the irq number, the irq_desc, its first irqaction and the actions'
names (irqaction.name, what request_irq was given). With IRQ numbers, only
those, each in detail: chip, flow handler, hwirq, disable depth, and each
action's handler and thread function by symbol.

-s shows the per-CPU counts of the online CPUs like /proc/interrupts (the
per-CPU kstat_irqs of each descriptor, the chip name, hwirq, flow name and
action names); like /proc/interrupts it leaves out descriptors with no
action and no count. -a shows each descriptor's affinity (and effective
affinity) as CPU lists. The architecture's own lines of /proc/interrupts
(NMI, LOC, ...) are not shown.

JSON: {"cpus": [online CPU ids], "irqs": [{"irq", "desc", "hwirq",
"has_domain", "chip", "chip_name", "flow_name", "handle_irq",
"handle_irq_symbol", "depth", "actions": [{"addr", "name", "handler",
"handler_symbol", "thread_fn", "thread_fn_symbol", "flags", "dev_id"}],
"counts" (indexed by CPU id), "total", "affinity", "effective_affinity",
"errors"}], "warnings"}.`,
		Flags: []Flag{
			{Name: "s", Help: "per-CPU counts, like /proc/interrupts"},
			{Name: "a", Help: "affinity of each descriptor"},
		},
		Examples: []string{"irq", "irq -s", "irq -a", "irq 0 1", "irq -s --json"},
		Run:      runIRQ,
	})
}

// IRQResult is the result of "irq".
type IRQResult struct {
	CPUs     []int    `json:"cpus"`
	IRQs     []IRQRow `json:"irqs"`
	Warnings []string `json:"warnings,omitempty"`

	descs []irq.Desc
	mode  string // "", "s", "a", "detail"
}

// IRQRow is one descriptor of "irq" (irq.Desc with addresses as strings).
type IRQRow struct {
	IRQ               int            `json:"irq"`
	Desc              Hex            `json:"desc"`
	HWIRQ             uint64         `json:"hwirq"`
	HasDomain         bool           `json:"has_domain"`
	Chip              Hex            `json:"chip"`
	ChipName          string         `json:"chip_name"`
	PrintChip         string         `json:"print_chip,omitempty"`
	Trigger           string         `json:"trigger,omitempty"`
	Hidden            bool           `json:"hidden,omitempty"`
	FlowName          string         `json:"flow_name"`
	HandleIRQ         Hex            `json:"handle_irq"`
	HandleIRQSymbol   string         `json:"handle_irq_symbol"`
	Depth             int            `json:"depth"`
	Actions           []IRQActionRow `json:"actions"`
	Counts            []uint64       `json:"counts"`
	Total             uint64         `json:"total"`
	Affinity          []int          `json:"affinity"`
	EffectiveAffinity []int          `json:"effective_affinity,omitempty"`
	Errors            []string       `json:"errors,omitempty"`
}

// IRQActionRow is one irqaction of "irq".
type IRQActionRow struct {
	Addr           Hex    `json:"addr"`
	Name           string `json:"name"`
	Handler        Hex    `json:"handler"`
	HandlerSymbol  string `json:"handler_symbol"`
	ThreadFn       Hex    `json:"thread_fn,omitempty"`
	ThreadFnSymbol string `json:"thread_fn_symbol,omitempty"`
	Flags          Hex    `json:"flags"`
	DevID          Hex    `json:"dev_id"`
}

func irqRow(d irq.Desc) IRQRow {
	r := IRQRow{IRQ: d.IRQ, Desc: Hex(d.Addr), HWIRQ: d.HWIRQ, HasDomain: d.HasDomain, Chip: Hex(d.Chip), ChipName: d.ChipName,
		PrintChip: d.PrintChip, Trigger: d.Trigger, Hidden: d.Hidden,
		FlowName: d.FlowName, HandleIRQ: Hex(d.HandleIRQ), HandleIRQSymbol: d.HandleIRQS, Depth: d.Depth, Actions: []IRQActionRow{},
		Counts: d.Counts, Total: d.Total, Affinity: d.Affinity, EffectiveAffinity: d.EffectiveAffinity, Errors: d.Errors}
	for _, a := range d.Actions {
		r.Actions = append(r.Actions, IRQActionRow{Addr: Hex(a.Addr), Name: a.Name, Handler: Hex(a.Handler), HandlerSymbol: a.HandlerS,
			ThreadFn: Hex(a.ThreadFn), ThreadFnSymbol: a.ThreadS, Flags: Hex(a.Flags), DevID: Hex(a.DevID)})
	}
	return r
}

// ResultWarnings implements Warner.
func (r *IRQResult) ResultWarnings() []string {
	out := append([]string(nil), r.Warnings...)
	for _, d := range r.descs {
		for _, e := range d.Errors {
			out = append(out, fmt.Sprintf("irq %d: %s", d.IRQ, e))
		}
	}
	return out
}

func runIRQ(c *Call) (Result, error) {
	if c.Bool("s") && c.Bool("a") {
		return nil, UsageErrorf("irq: -s and -a do not go together")
	}
	want := map[int]bool{}
	for _, a := range c.Args {
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 {
			return nil, UsageErrorf("irq: %q is not an irq number", a)
		}
		want[n] = true
	}
	ds, err := irq.Descs(c.Prog)
	if ds == nil && err != nil {
		return nil, err
	}
	res := &IRQResult{IRQs: []IRQRow{}}
	if err != nil {
		res.Warnings = append(res.Warnings, err.Error())
	}
	if res.CPUs, err = c.Prog.OnlineCPUs(); err != nil {
		res.Warnings = append(res.Warnings, fmt.Sprintf("online CPUs: %v", err))
	}
	filter := len(want) > 0
	for _, d := range ds {
		if filter {
			if !want[d.IRQ] {
				continue
			}
			delete(want, d.IRQ)
		} else if c.Bool("s") && !d.Shown() {
			continue
		}
		res.descs = append(res.descs, d)
		res.IRQs = append(res.IRQs, irqRow(d))
	}
	for n := range want {
		return nil, fmt.Errorf("irq %d: no descriptor", n)
	}
	switch {
	case c.Bool("s"):
		res.mode = "s"
	case c.Bool("a"):
		res.mode = "a"
	case len(c.Args) > 0:
		res.mode = "detail"
	}
	return res, nil
}

// WriteText implements Result.
func (r *IRQResult) WriteText(w io.Writer) error {
	var b strings.Builder
	switch r.mode {
	case "s":
		b.WriteString("     ")
		for _, c := range r.CPUs {
			fmt.Fprintf(&b, " %10s", fmt.Sprintf("CPU%d", c))
		}
		b.WriteString("\n")
		for _, d := range r.descs {
			fmt.Fprintf(&b, "%4d:", d.IRQ)
			for _, c := range r.CPUs {
				var n uint64
				if c < len(d.Counts) {
					n = d.Counts[c]
				}
				fmt.Fprintf(&b, " %10d", n)
			}
			chip := d.ChipName
			if d.PrintChip != "" {
				// The kernel prints this chip's name through a callback
				// kwalk cannot run: name the callback.
				chip = "(" + d.PrintChip + ")"
			}
			fmt.Fprintf(&b, " %8s", chip)
			if d.HasDomain {
				fmt.Fprintf(&b, " %3d", d.HWIRQ)
			} else {
				b.WriteString("    ")
			}
			if d.Trigger != "" {
				fmt.Fprintf(&b, " %-8s", d.Trigger)
			}
			if d.FlowName != "" {
				fmt.Fprintf(&b, "-%-8s", d.FlowName)
			}
			if len(d.Actions) > 0 {
				b.WriteString("  " + d.ActionNames())
			}
			b.WriteString("\n")
		}
	case "a":
		b.WriteString(" IRQ NAME                 AFFINITY     EFFECTIVE\n")
		for _, d := range r.descs {
			fmt.Fprintf(&b, "%4d %-20s %-12s %s\n", d.IRQ, irqDash(d.ActionNames()), cpuList(d.Affinity), cpuList(d.EffectiveAffinity))
		}
	case "detail":
		for i, d := range r.descs {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "    IRQ: %d\n", d.IRQ)
			fmt.Fprintf(&b, "   DESC: %x\n", d.Addr)
			fmt.Fprintf(&b, "   CHIP: %x  %q\n", d.Chip, d.ChipName)
			fmt.Fprintf(&b, "  HWIRQ: %d\n", d.HWIRQ)
			fmt.Fprintf(&b, "HANDLER: %x  <%s>  %s\n", d.HandleIRQ, d.HandleIRQS, d.FlowName)
			fmt.Fprintf(&b, "  DEPTH: %d%s\n", d.Depth, map[bool]string{true: " (disabled)"}[d.Depth > 0])
			fmt.Fprintf(&b, "  TOTAL: %d  AFFINITY: %s\n", d.Total, cpuList(d.Affinity))
			for _, a := range d.Actions {
				fmt.Fprintf(&b, " ACTION: %x  %q\n", a.Addr, a.Name)
				fmt.Fprintf(&b, "         handler: %x  <%s>\n", a.Handler, a.HandlerS)
				if a.ThreadFn != 0 {
					fmt.Fprintf(&b, "         thread_fn: %x  <%s>\n", a.ThreadFn, a.ThreadS)
				}
				fmt.Fprintf(&b, "         flags: %x  dev_id: %x\n", a.Flags, a.DevID)
			}
		}
	default:
		b.WriteString(" IRQ   IRQ_DESC/_DATA      IRQACTION      NAME\n")
		for _, d := range r.descs {
			if len(d.Actions) == 0 {
				fmt.Fprintf(&b, "%4d   %016x  (unused)\n", d.IRQ, d.Addr)
				continue
			}
			for i, a := range d.Actions {
				if i == 0 {
					fmt.Fprintf(&b, "%4d   %016x  %016x  %q\n", d.IRQ, d.Addr, a.Addr, a.Name)
				} else {
					fmt.Fprintf(&b, "%4s   %16s  %016x  %q\n", "", "", a.Addr, a.Name)
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func irqDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// cpuList renders CPU ids as ranges: "0-3,6".
func cpuList(cpus []int) string {
	if len(cpus) == 0 {
		return "-"
	}
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(cpus[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}
