package unwind

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// cpuMemory adds saved CPU registers to the synthetic memory, like a dump.
type cpuMemory struct {
	*symtest.Memory
	cpus []kcore.CPUState
}

func (m cpuMemory) CPUs() []kcore.CPUState { return m.cpus }

// TestUnwindRunningAcrossIRQStack unwinds a task interrupted in kernel
// code, whose CPU was running an IRQ handler on the IRQ stack: handler →
// the stack-switch stub (SP_INDIRECT back to the task stack, pt_regs) →
// the interrupted function → kthread → ret_from_fork.
func TestUnwindRunningAcrossIRQStack(t *testing.T) {
	k := newKernel(orcV3)
	const (
		handler  = tText + 0x100
		stub     = tText + 0x200
		victim   = tText + 0x300
		kthread  = tText + 0x400
		rff      = tText + 0x500
		filler   = tText + 0x600
		irqBase  = 0xffffc90000100000
		irqTop   = irqBase + defaultThreadSize
		percpu   = 0xffffffff83100000
		curTask  = 0x1000 // per-CPU symbol offsets
		hardirqP = 0x1008
	)
	for _, f := range []fn{{"handle_thing", handler, 0x100}, {"irq_stub", stub, 0x100}, {"victim", victim, 0x100},
		{"kthread", kthread, 0x100}, {"ret_from_fork", rff, 0x30}, {"filler", filler, 0x10}} {
		k.sym(f.name, f.addr, f.size, 'T')
	}
	const rSPInd = 9
	rows := []orcRow{
		{ip: handler, spReg: rSP, spOff: 16, typ: 2},
		{ip: stub, spReg: rSPInd, spOff: 0, typ: 3},
		{ip: victim, spReg: rSP, spOff: 24, typ: 2},
		{ip: kthread, spReg: rSP, spOff: 16, typ: 2},
		{ip: rff, typ: 1},
		{ip: filler, typ: 0},
	}
	for i := 0; i < 32; i++ {
		rows = append(rows, orcRow{ip: tText + 0x1000 + uint64(i)*16, spReg: rSP, spOff: 8, typ: 2})
	}
	k.vmlinuxORC(orcV3, rows)
	// Per-CPU: __per_cpu_offset[0] = percpu; current_task and
	// hardirq_stack_ptr at their offsets.
	k.sym("__per_cpu_offset", 0xffffffff83000000, 8, 'D')
	k.Mem.WriteU64(0xffffffff83000000, percpu)
	k.sym("current_task", curTask, 8, 'D')
	k.sym("hardirq_stack_ptr", hardirqP, 8, 'D')
	k.Mem.WriteU64(percpu+curTask, tTask)
	k.Mem.WriteU64(percpu+hardirqP, irqTop-8)

	top := k.mapStack()
	for a := uint64(irqBase); a < irqTop; a += 4096 {
		k.Mem.WriteU64(a, 0)
	}
	// Task stack: kthread's frame below ret_from_fork's slot, victim's
	// below, then the pt_regs the interrupt saved.
	cfaK := top - 0x80
	k.Mem.WriteU64(cfaK-8, rff+0x22)
	spK := cfaK - 16
	k.Mem.WriteU64(spK-8, kthread+0x30)
	spV := spK - 24 // victim's rsp when interrupted
	ptregs := spV - 168 - 0x40
	for r := Reg(0); r < numPtRegs; r++ {
		k.Mem.WriteU64(ptregs+uint64(r)*8, 0)
	}
	k.Mem.WriteU64(ptregs+uint64(RegIP)*8, victim+0x20)
	k.Mem.WriteU64(ptregs+uint64(RegSP)*8, spV)
	k.Mem.WriteU64(ptregs+uint64(RegCS)*8, 0x10)
	k.Mem.WriteU64(ptregs+uint64(RegBP)*8, 0xb0b0)
	// IRQ stack: the stub saved the task stack pointer (the pt_regs) at
	// the stack's top word and called the handler.
	stubSP := uint64(irqTop - 0x100)
	k.Mem.WriteU64(stubSP, ptregs)
	k.Mem.WriteU64(stubSP-8, stub+0x5)
	handlerSP := stubSP - 16
	k.Mem.WriteU64(tTask+32, tStack)
	k.Mem.WriteU64(tTask+40, 0) // cpu 0

	cpu := kcore.CPUState{CPU: 0, PID: 1}
	cpu.Regs.IP, cpu.Regs.SP, cpu.Regs.CS, cpu.Regs.BP = handler+0x10, handlerSP, 0x10, 0x1234
	mem := cpuMemory{Memory: k.Mem, cpus: []kcore.CPUState{cpu}}
	p := symbols.NewProgram(mem, k.Syms, k.Types)
	tr := taskStack(t, p)
	wantFrames(t, tr, "handle_thing+0x10 irq_stub+0x5 victim+0x20 kthread+0x30 ret_from_fork+0x22")
	if !tr.Running || tr.CPU != 0 {
		t.Errorf("running %v cpu %d", tr.Running, tr.CPU)
	}
	kinds := []StackKind{StackIRQ, StackIRQ, StackTask, StackTask, StackTask}
	for i, f := range tr.Frames {
		if f.Stack != kinds[i] {
			t.Errorf("frame %d on %v stack, want %v", i, f.Stack, kinds[i])
		}
	}
	exc := tr.Frames[1].Exception
	if exc == nil || exc.User || exc.Addr != ptregs {
		t.Fatalf("frame 1 exception = %+v, want kernel pt_regs at %#x", exc, ptregs)
	}
	if bp, _ := tr.Frames[2].Regs.Get(RegBP); bp != 0xb0b0 {
		t.Errorf("victim's rbp %#x, want it from pt_regs", bp)
	}
	if !tr.Frames[2].Exact || tr.Frames[3].Exact {
		t.Errorf("exactness: %v %v", tr.Frames[2].Exact, tr.Frames[3].Exact)
	}

	// A live kernel has no registers for running tasks: say so.
	p2 := symbols.NewProgram(k.Mem, k.Syms, k.Types)
	tr2, err := Stack(p2, taskObj(t, p2))
	if err != nil || tr2.Err == nil || !strings.Contains(tr2.Err.Error(), "running on CPU 0") {
		t.Errorf("live running task: %v %v", err, tr2.Err)
	}
}
