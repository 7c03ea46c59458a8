package sched

import (
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// The per-CPU helpers are symbols.Program's (symbols/percpu.go); these
// wrappers keep the walkers' names, which scripts use.

// NumCPUs returns nr_cpu_ids (kernel/smp.c: the number of possible CPU
// ids); it is symbols.Program.NumCPUIDs.
func NumCPUs(p *symbols.Program) (int, error) { return p.NumCPUIDs() }

// PerCPUOffset returns __per_cpu_offset[cpu] (arch/x86/kernel/setup_percpu.c):
// what to add to a per-CPU variable's symbol address to reach cpu's copy.
// It is symbols.Program.PerCPUOffset.
func PerCPUOffset(p *symbols.Program, cpu int) (uint64, error) { return p.PerCPUOffset(cpu) }

// PerCPUVar returns cpu's copy of the per-CPU variable name
// (symbols.Program.PerCPUVariable), or, when the program knows no type
// for the variable, cpu's copy typed as typeName (typeName "" requires a
// known type).
func PerCPUVar(p *symbols.Program, name, typeName string, cpu int) (symbols.Object, error) {
	o, err := p.PerCPUVariable(name, cpu)
	if err == nil || typeName == "" || !errors.Is(err, symbols.ErrNoType) {
		return o, err
	}
	addr, err := p.Symbol(name)
	if err != nil {
		return symbols.Object{}, err
	}
	if addr, err = p.PerCPUAddr(addr, cpu); err != nil {
		return symbols.Object{}, fmt.Errorf("%s on cpu %d: %w", name, cpu, err)
	}
	return p.Object(typeName, addr)
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
