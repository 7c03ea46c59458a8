package unwind

import (
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
)

// arm64 kernels keep frame pointers: each function with a frame stores a
// frame record {x29, x30} and points x29 at it, so [fp] is the caller's
// frame record and [fp+8] the return address (AAPCS64;
// arch/arm64/kernel/stacktrace.c unwind_next). Return addresses on the
// stack are signed with pointer authentication when the kernel has
// CONFIG_ARM64_PTR_AUTH_KERNEL: the PAC bits are stripped with
// KERNELPACMASK (arch/arm64/include/asm/pointer_auth.h
// ptrauth_strip_kernel_insn_pac). Exception entry (kernel_entry,
// arch/arm64/kernel/entry.S) saves a struct pt_regs whose stackframe[2]
// is a frame record {x29, elr} of the interrupted code, or {0, 0} (the
// final record) for an entry from EL0. Since 6.13 stackframe is a struct
// frame_record_meta (arch/arm64/include/asm/stacktrace/frame.h): the
// record is {0, 0} for every entry and its type says what it is,
// FRAME_META_TYPE_FINAL (EL0 entries, and the pt_regs at the top of a
// kernel thread's stack) or FRAME_META_TYPE_PT_REGS (EL1 entries, whose
// interrupted state is in the pt_regs). The record then lies 8 bytes off
// a 16-byte boundary (pt_regs is 320 bytes at the stack's top): frame
// records are 8-byte aligned (arch/arm64/kernel/stacktrace.c
// kunwind_next_frame_record checks fp & 0x7).

// arm64Layout is what the arm64 unwinder needs of the types.
type arm64Layout struct {
	// offsets in task_struct of thread.cpu_context.{fp, sp, pc, x19}
	// (arch/arm64/include/asm/processor.h struct cpu_context).
	ctxFP, ctxSP, ctxPC, ctxX19 uint64
	// struct pt_regs (arch/arm64/include/asm/ptrace.h).
	regsX, regsSP, regsPC, regsPState, regsFrame, regsSize uint64
	// regsMetaType is the offset of stackframe.type (struct
	// frame_record_meta, 6.13+), 0 when stackframe is a plain record.
	regsMetaType uint64
	pacMask      uint64
}

// newARM64Layout reads the arm64 layouts from the types; ok is false when
// the kernel is not arm64 (task_struct.thread has no cpu_context).
func newARM64Layout(p *symbols.Program) (*arm64Layout, bool) {
	task, err := p.Type("struct task_struct")
	if err != nil {
		return nil, false
	}
	l := &arm64Layout{}
	for _, m := range []struct {
		dst  *uint64
		path string
	}{
		{&l.ctxFP, "thread.cpu_context.fp"}, {&l.ctxSP, "thread.cpu_context.sp"},
		{&l.ctxPC, "thread.cpu_context.pc"}, {&l.ctxX19, "thread.cpu_context.x19"},
	} {
		off, err := p.OffsetOfType(task, m.path)
		if err != nil {
			return nil, false
		}
		*m.dst = off
	}
	// user_pt_regs order, used when the type lacks a member: regs[31],
	// sp, pc, pstate.
	l.regsX, l.regsSP, l.regsPC, l.regsPState, l.regsSize = 0, 31*8, 32*8, 33*8, 34*8
	if t, err := p.Type("struct pt_regs"); err == nil && t.IsAggregate() {
		for _, m := range []struct {
			dst  *uint64
			path string
		}{{&l.regsX, "regs"}, {&l.regsSP, "sp"}, {&l.regsPC, "pc"}, {&l.regsPState, "pstate"}, {&l.regsFrame, "stackframe"}} {
			if off, err := p.OffsetOfType(t, m.path); err == nil {
				*m.dst = off
			}
		}
		if off, err := p.OffsetOfType(t, "stackframe.type"); err == nil && off != 0 {
			l.regsMetaType = off
		}
		l.regsSize = t.Resolve().Size
	}
	l.pacMask = defaultPACMask
	if p.Dump != nil {
		if m := p.Dump.PACMask(); m != 0 {
			l.pacMask = m
		}
	}
	return l, true
}

// defaultPACMask is KERNELPACMASK of a 48-bit-VA kernel: bits 63..48
// but bit 55, which selects the TTBR (pointer_auth.h ptrauth_kernel_pac_mask).
const defaultPACMask = 0xff7f_0000_0000_0000

// strip removes a pointer-authentication code from a kernel text address.
// Addresses of the kernel half (bit 55 set) get the PAC bits set.
func (l *arm64Layout) strip(addr uint64) uint64 {
	if addr&(1<<55) != 0 {
		return addr | l.pacMask
	}
	return addr &^ l.pacMask
}

// arm64Regs makes a Registers for the common registers of an arm64 frame:
// pc in IP, sp in SP, fp (x29) in BP.
func arm64Regs(pc, sp, fp uint64, haveSP bool) *Registers {
	r := &Registers{}
	r.Set(RegIP, pc)
	r.Set(RegBP, fp)
	if haveSP {
		r.Set(RegSP, sp)
	}
	return r
}

// arm64Stack unwinds task on an arm64 kernel.
func (u *Unwinder) arm64Stack(task symbols.Object, tr *Trace, mem *stackMem) {
	l := u.arm64
	run, err := u.runningOn(task)
	if err != nil {
		tr.Err = err
		return
	}
	var pc, fp, sp uint64
	if run != nil {
		tr.Running, tr.CPU = true, run.cpu
		if run.arm == nil {
			why := "the dump has no saved registers for that CPU"
			if u.p.Dump != nil && u.p.Dump.Live() {
				why = "a live kernel: running tasks cannot be unwound"
			}
			tr.Err = fmt.Errorf("task is running on CPU %d and %s", run.cpu, why)
			return
		}
		if run.arm.UserMode() {
			tr.UserMode = true
			tr.UserRegs = &ExceptionFrame{User: true, Regs: arm64Regs(run.arm.PC, run.arm.SP, run.arm.X[29], true), ARM64: run.arm}
			return
		}
		u.addARM64CPUStacks(mem, run.cpu)
		pc, fp, sp = l.strip(run.arm.PC), run.arm.X[29], run.arm.SP
	} else {
		rd := func(off uint64) (uint64, error) { return u.p.ReadU64(task.Addr() + off) }
		if pc, err = rd(l.ctxPC); err == nil {
			if fp, err = rd(l.ctxFP); err == nil {
				sp, err = rd(l.ctxSP)
			}
		}
		if err != nil {
			tr.Err = fmt.Errorf("thread.cpu_context: %w", err)
			return
		}
		pc = l.strip(pc)
	}
	u.arm64Walk(tr, mem, pc, fp, sp, run != nil)
}

// addARM64CPUStacks adds the stacks cpu may run on besides a task's
// (arch/arm64/include/asm/stacktrace.h stackinfo_get_*): the IRQ stack (the
// per-CPU irq_stack_ptr points at its base, IRQ_STACK_SIZE == THREAD_SIZE,
// arch/arm64/kernel/irq.c); with CONFIG_VMAP_STACK the overflow stack, the
// per-CPU array overflow_stack of OVERFLOW_STACK_SIZE (4 KiB,
// arch/arm64/include/asm/memory.h), where handle_bad_stack runs after a
// stack overflow; with CONFIG_ARM_SDE_INTERFACE the SDEI stacks (per-CPU
// sdei_stack_normal_ptr and sdei_stack_critical_ptr at their bases,
// SDEI_STACK_SIZE == IRQ_STACK_SIZE, arch/arm64/kernel/sdei.c; NULL when
// the firmware has no SDEI); and the EFI runtime services' stack, shared
// by the CPUs (efi_rt_stack_top, its top, THREAD_SIZE below it,
// arch/arm64/kernel/efi.c). Stacks whose symbols are absent are left out.
func (u *Unwinder) addARM64CPUStacks(mem *stackMem, cpu int) {
	ts := u.task.threadSize
	if lo, err := perCPUPointer(u.p, "irq_stack_ptr", cpu); err == nil && lo != 0 {
		mem.add(lo, lo+ts, StackIRQ, fmt.Sprintf("irq stack of cpu %d", cpu))
	}
	if a, err := u.p.Symbol("overflow_stack"); err == nil {
		if lo, err := u.p.PerCPUAddr(a, cpu); err == nil && lo != 0 {
			mem.add(lo, lo+arm64OverflowStackSize, StackException, fmt.Sprintf("overflow stack of cpu %d", cpu))
		}
	}
	for _, sdei := range []struct{ sym, name string }{
		{"sdei_stack_normal_ptr", "SDEI normal"}, {"sdei_stack_critical_ptr", "SDEI critical"},
	} {
		if lo, err := perCPUPointer(u.p, sdei.sym, cpu); err == nil && lo != 0 {
			mem.add(lo, lo+ts, StackException, fmt.Sprintf("%s stack of cpu %d", sdei.name, cpu))
		}
	}
	if a, err := u.p.Symbol("efi_rt_stack_top"); err == nil {
		if hi, err := u.p.ReadU64(a); err == nil && hi > ts {
			mem.add(hi-ts, hi, StackException, "EFI runtime services stack")
		}
	}
}

// arm64OverflowStackSize is OVERFLOW_STACK_SIZE (SZ_4K).
const arm64OverflowStackSize = 4096

var errFrameRecord = errors.New("frame record outside the stack or not 8-byte aligned")

// arm64Walk follows the frame records from (pc, fp). The first frame's pc
// is exact when it comes from a CPU's registers.
func (u *Unwinder) arm64Walk(tr *Trace, mem *stackMem, pc, fp, sp uint64, exact bool) {
	l := u.arm64
	// The first frame's bracketed address is its stack pointer (crash
	// shows the same; it has no return-address slot of its own).
	f := Frame{Level: 0, SP: sp, IP: pc, RSP: sp, Exact: exact, Regs: arm64Regs(pc, sp, fp, true)}
	f.Stack, _ = mem.kindOf(sp)
	u.symbolize(&f, exact)
	tr.Frames = append(tr.Frames, f)
	prevFP := uint64(0)
	for level := 1; ; level++ {
		if fp == 0 {
			return // the outermost frame
		}
		if level >= MaxFrames {
			tr.Err = errTooDeep
			return
		}
		if fp&7 != 0 || mem.region(fp, 16) == nil {
			tr.Err = fmt.Errorf("fp %#x: %w", fp, errFrameRecord)
			return
		}
		k0, r0 := mem.kindOf(prevFP)
		_, r1 := mem.kindOf(fp)
		if prevFP != 0 && r0 == r1 && k0 != StackUnknown && fp <= prevFP {
			tr.Err = fmt.Errorf("fp %#x -> %#x: %w", prevFP, fp, errWrongWay)
			return
		}
		next, err := mem.readU64(fp)
		if err != nil {
			tr.Err = err
			return
		}
		ret, err := mem.readU64(fp + 8)
		if err != nil {
			tr.Err = err
			return
		}
		cur := &tr.Frames[len(tr.Frames)-1]
		cur.CFA = fp + 16
		// The record may be a pt_regs' stackframe: the state of the
		// interrupted code (an exception or IRQ, or user space).
		if exc := u.arm64Exception(mem, fp, next, ret); exc != nil {
			cur.Exception = exc
			if exc.User {
				tr.UserRegs = exc
				return
			}
			pcX, _ := exc.Regs.Get(RegIP)
			spX, _ := exc.Regs.Get(RegSP)
			nf := Frame{Level: level, SP: exc.Addr + l.regsPC, IP: l.strip(pcX), RSP: spX, Exact: true, Regs: exc.Regs}
			nf.Stack, _ = mem.kindOf(spX)
			u.symbolize(&nf, true)
			tr.Frames = append(tr.Frames, nf)
			// The interrupted code's x29: the record's own fp before
			// 6.13, which a frame_record_meta's {0, 0} no longer is.
			x29, _ := exc.Regs.Get(RegBP)
			prevFP, fp = fp, x29
			continue
		}
		if next == 0 && ret == 0 {
			return // the final frame record
		}
		ip := l.strip(ret)
		nf := Frame{Level: level, SP: fp + 8, IP: ip, RSP: fp + 16, Regs: arm64Regs(ip, 0, next, false)}
		nf.Stack, _ = mem.kindOf(fp)
		u.symbolize(&nf, false)
		tr.Frames = append(tr.Frames, nf)
		prevFP, fp = fp, next
	}
}

// arm64Exception returns the pt_regs whose stackframe is the record at fp
// (holding next, ret), when there is one: the record must lie where
// stackframe lies in a pt_regs on the stack, and agree with that pt_regs'
// x29 and pc (EL1 entries) or be the zero final record of an EL0 entry.
func (u *Unwinder) arm64Exception(mem *stackMem, fp, next, ret uint64) *ExceptionFrame {
	l := u.arm64
	if l.regsFrame == 0 || fp < l.regsFrame {
		return nil
	}
	base := fp - l.regsFrame
	if mem.region(base, l.regsSize) == nil {
		return nil
	}
	pc, err1 := mem.readU64(base + l.regsPC)
	x29, err2 := mem.readU64(base + l.regsX + 29*8)
	sp, err3 := mem.readU64(base + l.regsSP)
	pstate, err4 := mem.readU64(base + l.regsPState)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil
	}
	if pc == 0 {
		return nil // a zeroed pt_regs (kernel threads, idle tasks): the final record
	}
	user := pstate&0xc == 0 && pstate>>32 == 0
	switch {
	case l.regsMetaType != 0:
		// struct frame_record_meta: a {0, 0} record whose type is
		// FRAME_META_TYPE_FINAL (1) for an EL0 entry or
		// FRAME_META_TYPE_PT_REGS (2) for an EL1 one.
		typ, err := mem.readU64(base + l.regsMetaType)
		if err != nil || next != 0 || ret != 0 {
			return nil
		}
		if !(user && typ == frameMetaFinal) && !(!user && typ == frameMetaPtRegs) {
			return nil
		}
	case user && next == 0 && ret == 0:
	case !user && next == x29 && l.strip(ret) == l.strip(pc):
	default:
		return nil
	}
	exc := &ExceptionFrame{Addr: base, User: user, Regs: arm64Regs(pc, sp, x29, true)}
	full := kcore.ARM64Regs{SP: sp, PC: pc, PState: pstate}
	for i := range full.X {
		v, err := mem.readU64(base + l.regsX + uint64(i)*8)
		if err != nil {
			return exc
		}
		full.X[i] = v
	}
	exc.ARM64 = &full
	return exc
}

// frame_record_meta types (arch/arm64/include/asm/stacktrace/frame.h).
const (
	frameMetaFinal  = 1 // FRAME_META_TYPE_FINAL
	frameMetaPtRegs = 2 // FRAME_META_TYPE_PT_REGS
)

// maxRecordSearch bounds how far above a given stack address arm64StackFrom
// looks for a frame record.
const maxRecordSearch = 4096

// arm64StackFrom unwinds from stack address sp (bt -S): the frame records
// are what arm64 unwinds by (arch/arm64/kernel/stacktrace.c), so the walk
// starts at the first plausible record at or above sp — 16-byte aligned
// on a known stack, its saved lr in kernel text, its saved fp 0 or a
// record higher on a stack. Without ip, sp is taken as the slot of a
// return address (the bracketed address of a frame line: the lr of the
// record below it) when it is one, and the unwind starts at that return
// address; with ip, ip is the instruction whose frame holds sp.
func (u *Unwinder) arm64StackFrom(task symbols.Object, tr *Trace, mem *stackMem, ip, sp uint64) (*Trace, error) {
	l := u.arm64
	if mem.region(sp, 8) == nil {
		if cpu, err := u.taskCPU(task); err == nil {
			u.addARM64CPUStacks(mem, cpu)
		}
		if online, err := u.p.OnlineCPUs(); err == nil {
			for i, cpu := range online {
				if mem.region(sp, 8) != nil || i >= maxSearchCPUs {
					break
				}
				u.addARM64CPUStacks(mem, cpu)
			}
		}
	}
	if mem.region(sp, 8) == nil {
		return nil, fmt.Errorf("stack address %#x: %w", sp, errOffStack)
	}
	record := func(fp uint64) (next, ret uint64, ok bool) {
		if fp&15 != 0 || mem.region(fp, 16) == nil {
			return 0, 0, false
		}
		next, err1 := mem.readU64(fp)
		ret, err2 := mem.readU64(fp + 8)
		if err1 != nil || err2 != nil || !u.isTextAddr(l.strip(ret)) {
			return 0, 0, false
		}
		if next != 0 && (next <= fp || next&7 != 0 || mem.region(next, 16) == nil) {
			return 0, 0, false
		}
		return next, ret, true
	}
	if ip == 0 && sp >= 8 {
		if next, ret, ok := record(sp - 8); ok {
			u.arm64Walk(tr, mem, l.strip(ret), next, sp+8, false)
			return tr, nil
		}
	}
	for fp := (sp + 15) &^ 15; fp < sp+maxRecordSearch; fp += 16 {
		if _, ret, ok := record(fp); ok {
			if ip == 0 {
				next, _ := mem.readU64(fp)
				u.arm64Walk(tr, mem, l.strip(ret), next, fp+16, false)
			} else {
				u.arm64Walk(tr, mem, ip, fp, sp, false)
			}
			return tr, nil
		}
	}
	return nil, fmt.Errorf("stack address %#x: no arm64 frame record in the %d bytes above it", sp, maxRecordSearch)
}

// isTextAddr reports whether a is in a text symbol (kernel or module).
func (u *Unwinder) isTextAddr(a uint64) bool {
	if u.p.Syms == nil {
		return false
	}
	sym, _, ok := u.p.Syms.LookupAddr(a)
	return ok && (sym.Type == 't' || sym.Type == 'T')
}
