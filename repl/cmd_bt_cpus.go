package repl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/unwind"
)

// runBtCPUs is bt -a and bt -c: the task running on each CPU. Every CPU
// is listed — the kernel's online CPUs, the CPU count of the dump and
// every CPU with registers in its notes — and one that cannot be unwound
// says why (no register note, a damaged one, its current task unreadable)
// instead of being left out.
func runBtCPUs(c *Call) (Result, error) {
	var cpus []int
	if c.IsSet("c") {
		var err error
		if cpus, err = parseCPUList(c.String("c")); err != nil {
			return nil, err
		}
	} else {
		cpus = allCPUs(c.Prog)
		if len(cpus) == 0 {
			return nil, fmt.Errorf("bt -a: the image has no CPU registers (a live kernel, or a dump without notes) and the kernel's online CPUs cannot be read")
		}
	}
	withRegs := map[int]bool{}
	for _, cpu := range btCPUs(c.Prog) {
		withRegs[cpu] = true
	}
	var noteProblems []string
	if d := c.Prog.Dump; d != nil {
		noteProblems = d.NoteProblems()
	}
	res := &BtResult{words: btWantWords(c)}
	for _, cpu := range cpus {
		if err := c.Ctx.Err(); err != nil {
			return nil, err
		}
		bt, err := btCPUTrace(c, cpu)
		if err != nil {
			return nil, err
		}
		if !withRegs[cpu] && len(noteProblems) > 0 && bt.Running {
			bt.Error += "; the dump's CPU notes are damaged: " + strings.Join(noteProblems, "; ")
		}
		res.Traces = append(res.Traces, bt)
	}
	return res, nil
}

// btCPUTrace unwinds the task running on cpu, or says why there is none.
func btCPUTrace(c *Call, cpu int) (BtTrace, error) {
	noTask := func(err error) BtTrace {
		return BtTrace{PID: -1, Comm: "?", CPU: cpu, Frames: []BtFrame{}, Error: fmt.Sprintf("cpu %d: %v", cpu, err)}
	}
	addr, err := unwind.CurrentTask(c.Prog, cpu)
	if err != nil {
		return noTask(err), nil
	}
	o, err := c.Prog.Object("struct task_struct", addr)
	if err != nil {
		return noTask(fmt.Errorf("current task %#x: %w", addr, err)), nil
	}
	bt, err := btTrace(c, o)
	if err != nil {
		return bt, err
	}
	if !bt.Running && bt.Error == "" {
		// The CPU's current task, yet not running on it by its own
		// fields: its cpu member disagrees (a damaged task_struct).
		bt.Error = fmt.Sprintf("cpu %d's current task says it last ran on cpu %d: unwound as a sleeping task", cpu, bt.CPU)
	}
	bt.CPU = cpu
	return bt, nil
}

// allCPUs lists every CPU bt -a shows: the kernel's online CPUs, the
// dump's CPU count (kdump header, or its CPU notes) and the CPUs with
// registers in the notes, in order. None for a live kernel.
func allCPUs(p *symbols.Program) []int {
	if p.Dump != nil && p.Dump.Live() {
		return nil
	}
	set := map[int]bool{}
	for _, cpu := range btCPUs(p) {
		set[cpu] = true
	}
	if online, err := p.OnlineCPUs(); err == nil {
		for _, cpu := range online {
			set[cpu] = true
		}
	}
	if p.Dump != nil {
		for cpu := 0; cpu < p.Dump.NumCPUs() && cpu < maxBtCPUs; cpu++ {
			set[cpu] = true
		}
	}
	var out []int
	for cpu := range set {
		out = append(out, cpu)
	}
	sort.Ints(out)
	return out
}

// maxBtCPUs bounds the CPU count taken from a dump header (x86_64's
// NR_CPUS is at most 8192).
const maxBtCPUs = 8192
