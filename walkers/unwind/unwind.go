package unwind

import (
	"errors"
	"fmt"
)

// Why an unwind stopped early.
var (
	errOffStack     = errors.New("address is not on the task's stack or a known IRQ/exception stack")
	errWrongWay     = errors.New("stack going in the wrong direction (bad unwind data or a corrupt stack)")
	errORCUndefined = errors.New("no unwind information for this address (ORC type undefined)")
	errTooDeep      = fmt.Errorf("more than %d frames", MaxFrames)
)

// orcSavedRegs are the ORC base registers taken from saved pt_regs.
var orcSavedRegs = map[orcReg]Reg{orcRegR10: RegR10, orcRegR13: RegR13, orcRegDI: RegDI, orcRegDX: RegDX, orcRegAX: RegAX}

// unwState is the unwinder's view of one frame (the kernel's struct
// unwind_state in arch/x86/kernel/unwind_orc.c).
type unwState struct {
	ip, sp, bp uint64
	// slot is where ip was read from (0: from registers).
	slot uint64
	// signal: ip is the interrupted instruction, not a return address, so
	// its own ORC entry applies (not ip-1's).
	signal bool
	// regs are registers saved by entry code (a pt_regs) or a CPU note when
	// the last step crossed one; full is false for an iret frame only.
	// prevRegs keeps the last full set across an iret frame (get_reg).
	regs, prevRegs *Registers
	full           bool
	// known are the registers known at this frame.
	known Registers
	guess bool
	// scan: this state was found by a validated stack scan (unwind_scan.go).
	scan bool
}

// getReg returns a register saved by entry code (unwind_orc.c get_reg).
func (st *unwState) getReg(r Reg) (uint64, bool) {
	if st.regs == nil {
		return 0, false
	}
	if st.full {
		return st.regs.Get(r)
	}
	if st.prevRegs != nil {
		return st.prevRegs.Get(r)
	}
	return 0, false
}

// unwindCore is what one step needs: the stacks, the unwind table and the
// pt_regs layout.
type unwindCore struct {
	mem    *stackMem
	orc    *orcInfo // nil: frame pointers only
	ptregs *ptRegsLayout
	// taskPtRegs is task_pt_regs(task): the pt_regs at the top of the task
	// stack (stack + THREAD_SIZE - sizeof(pt_regs); no
	// TOP_OF_KERNEL_STACK_PADDING on x86_64, arch/x86/include/asm/processor.h).
	taskPtRegs uint64
}

// stepResult is the outcome of one step.
type stepResult struct {
	next unwState
	cfa  uint64          // the caller's stack pointer (prev_sp)
	exc  *ExceptionFrame // a pt_regs crossed
	end  bool            // clean end of the stack
}

// step unwinds one frame (unwind_orc.c unwind_next_frame).
func (c *unwindCore) step(st *unwState) (stepResult, error) {
	var res stepResult
	e, guess, err := c.entryFor(st)
	if err != nil {
		return res, err
	}
	if guess && c.taskPtRegs != 0 && st.sp == c.taskPtRegs {
		// Frame pointers reached the entry code's pt_regs at the top of
		// the stack (what ORC's REGS hint at the syscall entry says).
		e = orcEntry{spReg: orcRegSP, typ: orcRegs, bpReg: orcRegUndefined, signal: true}
	} else if guess && c.orc == nil && st.bp == 0 {
		// The entry code clears rbp (PUSH_AND_CLEAR_REGS,
		// arch/x86/entry/calling.h): the outermost frame.
		res.end = true
		return res, nil
	}
	switch e.typ {
	case orcUndefined:
		return res, fmt.Errorf("at %#x: %w", st.ip, errORCUndefined)
	case orcEndOfStack:
		res.end = true
		return res, nil
	}

	var sp uint64
	off := uint64(int64(e.spOffset))
	switch e.spReg {
	case orcRegSP:
		sp = st.sp + off
	case orcRegBP:
		sp = st.bp + off
	case orcRegSPIndirect:
		if sp, err = c.spIndirect(st, off); err != nil {
			return res, err
		}
	case orcRegBPIndirect:
		if sp, err = c.mem.readU64(st.bp + off); err != nil {
			return res, err
		}
	case orcRegR10, orcRegR13, orcRegDI, orcRegDX, orcRegAX:
		r := orcSavedRegs[e.spReg]
		v, ok := st.getReg(r)
		if !ok {
			return res, fmt.Errorf("at %#x: ORC needs %s, which no saved registers give", st.ip, r)
		}
		sp = v
	default:
		return res, fmt.Errorf("at %#x: unknown ORC sp register %v", st.ip, e.spReg)
	}

	next := unwState{guess: guess, signal: e.signal}
	switch e.typ {
	case orcCall:
		next.slot = sp - 8
		if next.ip, err = c.mem.readU64(next.slot); err != nil {
			return res, err
		}
		next.sp = sp
		next.known.Set(RegIP, next.ip)
		next.known.Set(RegSP, next.sp)
	case orcRegs, orcRegsPartial:
		base := sp
		if e.typ == orcRegsPartial {
			base = sp - c.ptregs.off[RegIP] // IRET_FRAME_OFFSET
		}
		regs, err := c.readPtRegs(base, e.typ == orcRegsPartial)
		if err != nil {
			return res, fmt.Errorf("pt_regs at %#x: %w", base, err)
		}
		next.ip, _ = regs.Get(RegIP)
		next.sp, _ = regs.Get(RegSP)
		next.slot = base + c.ptregs.off[RegIP]
		next.regs = regs
		next.full = e.typ == orcRegs
		if !next.full && st.full {
			next.prevRegs = st.regs
		}
		next.known = *regs
		cs, _ := regs.Get(RegCS)
		res.exc = &ExceptionFrame{Addr: base, Partial: !next.full, User: userMode(cs), Regs: regs}
	default:
		return res, fmt.Errorf("at %#x: unknown ORC type %v", st.ip, e.typ)
	}

	next.bp = st.bp
	switch e.bpReg {
	case orcRegUndefined:
		if v, ok := next.getReg(RegBP); ok {
			next.bp = v
		}
	case orcRegPrevSP:
		if next.bp, err = c.mem.readU64(sp + uint64(int64(e.bpOffset))); err != nil {
			return res, err
		}
	case orcRegBP:
		if next.bp, err = c.mem.readU64(st.bp + uint64(int64(e.bpOffset))); err != nil {
			return res, err
		}
	default:
		return res, fmt.Errorf("at %#x: unknown ORC bp register %v", st.ip, e.bpReg)
	}
	if e.bpReg != orcRegUndefined || next.regs != nil {
		next.known.Set(RegBP, next.bp)
	}
	res.next, res.cfa = next, sp

	if res.exc != nil && res.exc.User {
		return res, nil // the caller stops here: user state reached
	}
	// Prevent loops on bad data: on the same stack, sp must grow.
	k0, r0 := c.mem.kindOf(st.sp)
	_, r1 := c.mem.kindOf(next.sp)
	if r1 == nil {
		return res, fmt.Errorf("at %#x: next sp %#x: %w", st.ip, next.sp, errOffStack)
	}
	if r0 == r1 && k0 != StackUnknown && next.sp <= st.sp {
		return res, fmt.Errorf("at %#x: sp %#x -> %#x: %w", st.ip, st.sp, next.sp, errWrongWay)
	}
	return res, nil
}

// entryFor finds the ORC entry for the state's IP, or the frame-pointer
// guess when there is none.
func (c *unwindCore) entryFor(st *unwState) (orcEntry, bool, error) {
	if c.orc == nil {
		return c.fpEntry(st), true, nil
	}
	ip := st.ip
	if !st.signal && ip != 0 {
		ip--
	}
	e, ok, err := c.orc.find(ip)
	if err != nil {
		return orcEntry{}, false, err
	}
	if !ok {
		return c.fpEntry(st), true, nil
	}
	return e, false, nil
}

// fpEntry is the frame-pointer rule. x86_64 entry code encodes a pt_regs
// pointer in rbp with bit 0 set (ENCODE_FRAME_POINTER,
// arch/x86/entry/calling.h); the frame-pointer unwinder decodes it
// (unwind_frame.c decode_frame_pointer).
func (c *unwindCore) fpEntry(st *unwState) orcEntry {
	if st.bp&1 != 0 {
		return orcEntry{spReg: orcRegBP, spOffset: -1, bpReg: orcRegUndefined, typ: orcRegs, signal: true}
	}
	return orcFPEntry
}

// spIndirect computes an ORC_REG_SP_INDIRECT CFA. Linux 5.12 (87ccc826bf1c
// "x86/unwind/orc: Change REG_SP_INDIRECT") changed it from *(sp+offset) to
// *(sp)+offset. The two agree for offset 0; otherwise take the one that
// lands on a known stack, preferring the newer rule.
func (c *unwindCore) spIndirect(st *unwState, off uint64) (uint64, error) {
	v, errNew := c.mem.readU64(st.sp)
	newSP := v + off
	if off == 0 {
		return newSP, errNew
	}
	oldSP, errOld := c.mem.readU64(st.sp + off)
	if errNew == nil && c.mem.region(newSP-8, 8) != nil {
		return newSP, nil
	}
	if errOld == nil && c.mem.region(oldSP-8, 8) != nil {
		return oldSP, nil
	}
	if errNew != nil {
		return 0, errNew
	}
	return newSP, nil
}

// readPtRegs reads a struct pt_regs at addr (only the iret frame when
// partial).
func (c *unwindCore) readPtRegs(addr uint64, partial bool) (*Registers, error) {
	r := &Registers{}
	for reg := Reg(0); reg < numPtRegs; reg++ {
		if partial && reg < RegIP {
			continue
		}
		v, err := c.mem.readU64(addr + c.ptregs.off[reg])
		if err != nil {
			return nil, err
		}
		r.Set(reg, v)
	}
	return r, nil
}
