package symbols

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// Per-CPU variables. pahole encodes every per-CPU variable as a VAR in the
// DATASEC ".data..percpu" with its offset from the start of that section,
// which is __per_cpu_start (include/asm-generic/vmlinux.lds.h PERCPU_INPUT
// opens the section with __per_cpu_start = .). The link address of the
// section follows from any per-CPU variable whose address is known: the
// export table holds those exported with EXPORT_PER_CPU_SYMBOL
// (cpu_number on arm64, many on x86_64). Failing that, the boot CPU's
// run queue is reached from init_task: its idle task's se.cfs_rq is
// &cpu_rq(cpu)->cfs (kernel/sched/core.c init_idle -> __set_task_cpu ->
// set_task_rq, with root_task_group.cfs_rq[cpu] = &rq->cfs from
// sched_init; CONFIG_FAIR_GROUP_SCHED). Without the DATASEC (Debian's
// 5.10 BTF has none) only runqueues is found, that way.

// percpuSectionName is the BTF DATASEC of per-CPU variables.
const percpuSectionName = ".data..percpu"

// PerCPUSection returns the offset of every per-CPU variable vmlinux BTF
// describes from the start of the per-CPU section, and the section's size.
func (b *BTFTypes) PerCPUSection() (map[string]uint64, uint64, error) {
	b.mu.Lock()
	spec := b.vmlinux.spec
	b.mu.Unlock()
	cands, err := spec.AnyTypesByName(percpuSectionName)
	if err != nil {
		return nil, 0, fmt.Errorf("BTF from %s: DATASEC %s: %w", b.origin, percpuSectionName, err)
	}
	for _, c := range cands {
		ds, ok := c.(*btf.Datasec)
		if !ok {
			continue
		}
		offs := make(map[string]uint64, len(ds.Vars))
		for _, vs := range ds.Vars {
			if v, ok := vs.Type.(*btf.Var); ok && v.Name != "" {
				offs[v.Name] = uint64(vs.Offset)
			}
		}
		return offs, uint64(ds.Size), nil
	}
	return nil, 0, fmt.Errorf("BTF from %s has no DATASEC %s", b.origin, percpuSectionName)
}

// perCPUSectioner is a type source that knows the per-CPU section.
type perCPUSectioner interface {
	PerCPUSection() (map[string]uint64, uint64, error)
}

// maxPerCPUVerify bounds how many CPUs' run queues are checked.
const maxPerCPUVerify = 64

// perCPUSymbols returns a symbol for every per-CPU variable BTF describes,
// at its link address, plus __per_cpu_start and __per_cpu_end.
func perCPUSymbols(p *Program, t *DataSymTable) ([]Symbol, error) {
	ps, ok := p.Types.(perCPUSectioner)
	if !ok {
		return nil, fmt.Errorf("the types (%s) do not describe the per-CPU section", p.Types.Describe())
	}
	offs, size, err := ps.PerCPUSection()
	if err != nil {
		return nil, err
	}
	start, how, err := perCPUStart(p, t, offs)
	if err != nil {
		return nil, err
	}
	if err := verifyPerCPUStart(p, start, offs); err != nil {
		return nil, fmt.Errorf("per-CPU section at %#x (%s): %w", start, how, err)
	}
	out := make([]Symbol, 0, len(offs)+2)
	for n, off := range offs {
		out = append(out, Symbol{Name: n, Addr: start + off, Type: 'D'})
	}
	// __per_cpu_end is not published: the linker pads the section past
	// the DATASEC's size (x86_64 6.1: 0x33104 in BTF, 0x34000 linked).
	out = append(out, Symbol{Name: "__per_cpu_start", Addr: start, Type: 'D'})
	t.mu.Lock()
	t.pcpuLo, t.pcpuHi = start, start+size
	t.mu.Unlock()
	return out, nil
}

// perCPUStart finds the link address of the per-CPU section: the one the
// known per-CPU variables agree on (all of them must), else through
// init_task's run queue.
func perCPUStart(p *Program, t *DataSymTable, offs map[string]uint64) (uint64, string, error) {
	votes := map[uint64][]string{}
	t.mu.Lock()
	for n, off := range offs {
		// Only the export table's entries: a text symbol that shares a
		// per-CPU variable's name says nothing of the section.
		s, ok := t.found[n]
		if !ok || s.Addr < off {
			continue
		}
		votes[s.Addr-off] = append(votes[s.Addr-off], n)
	}
	t.mu.Unlock()
	switch len(votes) {
	case 1:
		for s, names := range votes {
			return s, fmt.Sprintf("from %d exported per-CPU variables (%s...)", len(names), names[0]), nil
		}
	case 0:
	default:
		var desc []string
		for s, names := range votes {
			desc = append(desc, fmt.Sprintf("%#x (%s)", s, names[0]))
		}
		return 0, "", fmt.Errorf("the exported per-CPU variables disagree on the section's address: %v", desc)
	}
	s, err := perCPUStartFromInitTask(p, offs)
	if err != nil {
		return 0, "", fmt.Errorf("no exported per-CPU variable is in BTF, and through init_task: %w", err)
	}
	return s, "from init_task's run queue", nil
}

// perCPUStartFromInitTask: the section starts off(runqueues) below the
// run queues' link address.
func perCPUStartFromInitTask(p *Program, offs map[string]uint64) (uint64, error) {
	rqOff, ok := offs["runqueues"]
	if !ok {
		return 0, errors.New("BTF has no VAR runqueues")
	}
	rq, err := runqueuesFromInitTask(p)
	if err != nil {
		return 0, err
	}
	return rq - rqOff, nil
}

// runqueuesFromInitTask returns the link address of the per-CPU
// runqueues: cpu_rq(cpu) = init_task.se.cfs_rq - offsetof(struct rq, cfs)
// (CONFIG_FAIR_GROUP_SCHED), and cpu_rq(cpu) = &runqueues +
// __per_cpu_offset[cpu].
func runqueuesFromInitTask(p *Program) (uint64, error) {
	task, err := p.Variable("init_task")
	if err != nil {
		return 0, err
	}
	cfsRq, err := task.MemberUint("se.cfs_rq")
	if err != nil {
		return 0, fmt.Errorf("init_task.se.cfs_rq (CONFIG_FAIR_GROUP_SCHED): %w", err)
	}
	cfsOff, err := p.OffsetOf("struct rq", "cfs")
	if err != nil {
		return 0, err
	}
	cpu, err := taskCPU(task)
	if err != nil {
		return 0, err
	}
	pcpu, err := p.PerCPUOffset(cpu)
	if err != nil {
		return 0, err
	}
	return cfsRq - cfsOff - pcpu, nil
}

// runqueuesSymbol finds runqueues alone, for kernels whose BTF has no
// per-CPU section (Debian's 5.10), checked as verifyPerCPUStart checks.
func runqueuesSymbol(p *Program) (Symbol, error) {
	rq, err := runqueuesFromInitTask(p)
	if err != nil {
		return Symbol{}, err
	}
	if err := verifyRunqueues(p, rq); err != nil {
		return Symbol{}, fmt.Errorf("runqueues at %#x: %w", rq, err)
	}
	return Symbol{Name: "runqueues", Addr: rq, Type: 'D'}, nil
}

// taskCPU reads a task's CPU: task_struct.cpu (5.16+) or
// thread_info.cpu (include/linux/sched.h task_cpu).
func taskCPU(task Object) (int, error) {
	v, err := task.MemberUint("cpu")
	if err != nil {
		if v, err = task.MemberUint("thread_info.cpu"); err != nil {
			return 0, fmt.Errorf("task cpu: %w", err)
		}
	}
	if v >= maxCPUs {
		return 0, fmt.Errorf("task cpu %d out of range", v)
	}
	return int(v), nil
}

// verifyPerCPUStart checks the section address against the run queues.
func verifyPerCPUStart(p *Program, start uint64, offs map[string]uint64) error {
	rqOff, ok := offs["runqueues"]
	if !ok {
		return nil
	}
	return verifyRunqueues(p, start+rqOff)
}

// verifyRunqueues checks a link address of runqueues: each possible CPU's
// rq->cpu is that CPU (kernel/sched/core.c sched_init). A kernel whose
// struct rq has no cpu (!CONFIG_SMP) is not checked.
func verifyRunqueues(p *Program, runqueues uint64) error {
	rqt, err := p.Type("struct rq")
	if err != nil || !rqt.HasMember("cpu") {
		return nil
	}
	n, err := p.NumCPUIDs()
	if err != nil {
		return fmt.Errorf("nr_cpu_ids: %w", err)
	}
	checked := 0
	for cpu := 0; cpu < n && cpu < maxPerCPUVerify; cpu++ {
		pcpu, err := p.PerCPUOffset(cpu)
		if err != nil {
			return err
		}
		if pcpu == 0 && cpu > 0 {
			continue // not a possible CPU: __per_cpu_offset keeps its boot value
		}
		got, err := p.ObjectAt(rqt, runqueues+pcpu).MemberUint("cpu")
		if err != nil {
			return fmt.Errorf("cpu %d's run queue: %w", cpu, err)
		}
		if got != uint64(cpu) {
			return fmt.Errorf("cpu %d's run queue at %#x says cpu %d", cpu, runqueues+pcpu, got)
		}
		checked++
	}
	if checked == 0 {
		return errors.New("no run queue checked")
	}
	return nil
}
