package walkers

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// maxCPUs bounds per-CPU walks whatever nr_cpu_ids says (the kernel's
// NR_CPUS limit is 8192 on x86_64, include/linux/threads.h / Kconfig).
const maxCPUs = 8192

// NumCPUs returns nr_cpu_ids (kernel/smp.c: the number of possible CPU ids).
func NumCPUs(p *symbols.Program) (int, error) {
	addr, err := p.Symbol("nr_cpu_ids")
	if err != nil {
		return 0, err
	}
	n, err := p.ReadU32(addr)
	if err != nil {
		return 0, fmt.Errorf("nr_cpu_ids: %w", err)
	}
	if n == 0 || n > maxCPUs {
		return 0, fmt.Errorf("nr_cpu_ids is %d, not a CPU count", n)
	}
	return int(n), nil
}

// PerCPUOffset returns __per_cpu_offset[cpu] (arch/x86/kernel/setup_percpu.c):
// what to add to a per-CPU variable's symbol address to reach cpu's copy.
// It is symbols.Program.PerCPUOffset.
func PerCPUOffset(p *symbols.Program, cpu int) (uint64, error) { return p.PerCPUOffset(cpu) }

// PerCPUVar returns cpu's copy of the per-CPU variable name, typed from the
// variable's type (BTF VAR or DWARF), or typeName when the type source has
// no record of the variable (typeName may be "" to require one).
func PerCPUVar(p *symbols.Program, name, typeName string, cpu int) (symbols.Object, error) {
	off, err := PerCPUOffset(p, cpu)
	if err != nil {
		return symbols.Object{}, err
	}
	v, err := p.Variable(name)
	if err != nil {
		if typeName == "" {
			return symbols.Object{}, err
		}
		addr, serr := p.Symbol(name)
		if serr != nil {
			return symbols.Object{}, serr
		}
		return p.Object(typeName, addr+off)
	}
	return p.ObjectAt(v.Type(), v.Addr()+off), nil
}

// Runqueue returns cpu's struct rq (kernel/sched/core.c: DEFINE_PER_CPU_SHARED_ALIGNED(struct rq, runqueues)).
func Runqueue(p *symbols.Program, cpu int) (symbols.Object, error) {
	return PerCPUVar(p, "runqueues", "struct rq", cpu)
}

// RunqueueClock returns cpu's rq->clock in nanoseconds: the clock
// sched_info.last_arrival is taken from (kernel/sched/stats.h).
func RunqueueClock(p *symbols.Program, cpu int) (uint64, error) {
	rq, err := Runqueue(p, cpu)
	if err != nil {
		return 0, err
	}
	return rq.MemberUint("clock")
}
