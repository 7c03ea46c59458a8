package unwind

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
)

// runInfo says a task was running on a CPU, with that CPU's registers when
// the image has them.
type runInfo struct {
	cpu  int
	regs *Registers
	arm  *kcore.ARM64Regs // arm64: the CPU's registers
}

// cpuStates returns the per-CPU registers the image saved, if any. The kcore
// image may offer them as CPUs() with or without an error.
func cpuStates(p *symbols.Program) ([]kcore.CPUState, bool) {
	// /proc/kcore's PRSTATUS notes hold no meaningful registers
	// (fs/proc/kcore.c): a live kernel's running tasks cannot be unwound.
	if p.Dump != nil && p.Dump.Live() {
		return nil, false
	}
	var src any = p.Mem
	if p.Dump != nil {
		src = p.Dump
	}
	switch d := src.(type) {
	case interface{ CPUs() []kcore.CPUState }:
		return d.CPUs(), true
	case interface {
		CPUs() ([]kcore.CPUState, error)
	}:
		c, err := d.CPUs()
		return c, err == nil
	}
	return nil, false
}

// taskCPU returns the CPU the task last ran on.
func (u *Unwinder) taskCPU(task symbols.Object) (int, error) {
	l := u.task
	if l.offsOK {
		var b [8]byte
		if err := u.p.Mem.ReadVirt(b[:l.cpuSize], task.Addr()+l.offCPU); err == nil {
			return int(int32(binary.LittleEndian.Uint32(b[:]))), nil
		}
	}
	v, err := task.MemberUint(l.cpuMember)
	if err != nil {
		return 0, err
	}
	return int(int32(v)), nil
}

// runningOn tells whether task is the current task of its CPU, and that
// CPU's registers. A task is running when it is its CPU's current task (per
// CPU current_task, pcpu_hot.current_task or runqueues.curr).
func (u *Unwinder) runningOn(task symbols.Object) (*runInfo, error) {
	cpu, err := u.taskCPU(task)
	if err != nil {
		return nil, nil // no CPU member: treat as sleeping
	}
	cur, err := CurrentTask(u.p, cpu)
	if err != nil || cur != task.Addr() {
		return nil, nil
	}
	ri := &runInfo{cpu: cpu}
	states, ok := cpuStates(u.p)
	if !ok {
		return ri, nil
	}
	for _, s := range states {
		if s.CPU == cpu {
			ri.regs = FullRegisters(s.Regs)
			ri.arm = s.ARM64
			return ri, nil
		}
	}
	return ri, nil
}

// CurrentTask returns the address of the task running on cpu: the per-CPU
// current_task (5.10, 6.1, 6.15+), pcpu_hot.current_task (6.2–6.14), or
// runqueues.curr (arch/x86/include/asm/current.h, kernel/sched/sched.h).
func CurrentTask(p *symbols.Program, cpu int) (uint64, error) {
	var errs []string
	if a, err := p.Symbol("current_task"); err == nil {
		if pa, err := p.PerCPUAddr(a, cpu); err == nil {
			if v, err := p.ReadU64(pa); err == nil {
				return v, nil
			} else {
				errs = append(errs, err.Error())
			}
		} else {
			errs = append(errs, err.Error())
		}
	}
	if v, err := perCPUMember(p, "pcpu_hot", "struct pcpu_hot", "current_task", cpu); err == nil {
		return v, nil
	}
	if v, err := perCPUMember(p, "runqueues", "struct rq", "curr", cpu); err == nil {
		return v, nil
	} else {
		errs = append(errs, err.Error())
	}
	return 0, fmt.Errorf("current task of cpu %d: %s", cpu, strings.Join(errs, "; "))
}

// perCPUMember reads the pointer member of CPU cpu's copy of a per-CPU
// variable.
func perCPUMember(p *symbols.Program, sym, typ, member string, cpu int) (uint64, error) {
	a, err := p.Symbol(sym)
	if err != nil {
		return 0, err
	}
	off, err := p.OffsetOf(typ, member)
	if err != nil {
		return 0, err
	}
	pa, err := p.PerCPUAddr(a, cpu)
	if err != nil {
		return 0, err
	}
	return p.ReadU64(pa + off)
}

// addCPUStacks adds the IRQ and exception stacks of cpu to the stacks an
// unwind of a running task may cross.
func (u *Unwinder) addCPUStacks(mem *stackMem, cpu int) {
	// hardirq_stack_ptr holds the top of the IRQ stack minus 8: map_irq_stack
	// sets va + IRQ_STACK_SIZE - 8, and IRQ_STACK_SIZE == THREAD_SIZE on
	// x86_64 (arch/x86/kernel/irq_64.c, arch/x86/include/asm/page_64_types.h).
	top, err := perCPUPointer(u.p, "hardirq_stack_ptr", cpu)
	if err != nil {
		top, err = perCPUMember(u.p, "pcpu_hot", "struct pcpu_hot", "hardirq_stack_ptr", cpu)
	}
	if err == nil && top != 0 {
		hi := top + 8
		mem.add(hi-u.task.threadSize, hi, StackIRQ, fmt.Sprintf("irq stack of cpu %d", cpu))
	}
	// struct cea_exception_stacks (arch/x86/include/asm/cpu_entry_area.h):
	// <NAME>_stack_guard and <NAME>_stack arrays per IST stack.
	ces, err := perCPUPointer(u.p, "cea_exception_stacks", cpu)
	if err != nil || ces == 0 {
		return
	}
	t, err := u.p.Type("struct cea_exception_stacks")
	if err != nil || !t.IsAggregate() {
		return
	}
	for _, m := range t.Resolve().Members {
		if !strings.HasSuffix(m.Name, "_stack") {
			continue
		}
		sz := m.Type.Resolve().Size
		mem.add(ces+m.Offset, ces+m.Offset+sz, StackException,
			fmt.Sprintf("%s stack of cpu %d", strings.TrimSuffix(m.Name, "_stack"), cpu))
	}
}

// perCPUPointer reads CPU cpu's copy of a pointer-sized per-CPU variable.
func perCPUPointer(p *symbols.Program, sym string, cpu int) (uint64, error) {
	a, err := p.Symbol(sym)
	if err != nil {
		return 0, err
	}
	pa, err := p.PerCPUAddr(a, cpu)
	if err != nil {
		return 0, err
	}
	return p.ReadU64(pa)
}

// ActiveCPUs lists the CPUs whose registers the image saved (the CPUs
// "bt -a" shows); none for a live kernel.
func ActiveCPUs(p *symbols.Program) []int {
	states, _ := cpuStates(p)
	var cpus []int
	for _, s := range states {
		cpus = append(cpus, s.CPU)
	}
	return cpus
}
