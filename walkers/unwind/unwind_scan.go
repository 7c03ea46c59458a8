package unwind

import (
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// When the unwind tables have nothing for an address — the registers a
// crash saved inside __crash_kexec (crash_setup_regs, kernel/crash_core.c
// and kernel/kexec_core.c), hand-written assembly, a gap in ORC — the
// unwinder resumes from a validated scan of the stack, like crash's
// "bt -t" filtered by the unwind tables: the first word above the stack
// pointer that is a return address (kernel text right after a call
// instruction, with ORC data for the call) from which ORC unwinds cleanly
// to the bottom of the stack (or to user state). Frames found so are
// marked Scan.

// maxScanWords bounds the words examined by one scan (a 16 KiB stack has
// 2048); maxTrialSteps the unwind tried from each candidate.
const (
	maxScanWords  = 4096
	maxTrialSteps = 256
)

// scanResume finds where to resume after st, whose IP the tables do not
// cover. ok is false when no candidate unwinds cleanly.
func (u *Unwinder) scanResume(core *unwindCore, st unwState) (unwState, bool) {
	if u.p.Syms == nil || core.orc == nil {
		return unwState{}, false
	}
	r := core.mem.region(st.sp, 8)
	if r == nil {
		return unwState{}, false
	}
	for i, addr := 0, st.sp; i < maxScanWords && addr+8 <= r.hi; i, addr = i+1, addr+8 {
		v, err := core.mem.readU64(addr)
		if err != nil || !u.isReturnAddress(core, v) {
			continue
		}
		cand := unwState{ip: v, sp: addr + 8, slot: addr, bp: st.bp, scan: true}
		cand.known.Set(RegIP, v)
		cand.known.Set(RegSP, cand.sp)
		if u.unwindsCleanly(core, cand) {
			return cand, true
		}
	}
	return unwState{}, false
}

// isReturnAddress: v is in kernel text, right after a call instruction,
// and the unwind tables cover the call.
func (u *Unwinder) isReturnAddress(core *unwindCore, v uint64) bool {
	if v < 0xffffffff80000000 {
		return false
	}
	sym, _, ok := u.p.Syms.LookupAddr(v - 1)
	if !ok || !sym.IsText() {
		return false
	}
	if !precededByCall(u.p, v) {
		return false
	}
	e, ok, err := core.orc.find(v - 1)
	return err == nil && ok && e.typ != orcUndefined
}

// precededByCall reports whether the bytes before v end a call: e8 rel32
// (5 bytes, also retpoline thunk calls), or ff /2 (call r/m64) in its
// common lengths (2, 3, 6 and 7 bytes with ModRM, SIB and displacements).
func precededByCall(p *symbols.Program, v uint64) bool {
	var b [7]byte
	if err := p.Mem.ReadVirt(b[:], v-7); err != nil {
		return false
	}
	if b[2] == 0xe8 {
		return true
	}
	for _, n := range []int{2, 3, 6, 7} {
		op, modrm := b[7-n], b[8-n]
		if op == 0xff && (modrm>>3)&7 == 2 {
			return true
		}
	}
	return false
}

// unwindsCleanly tries the unwind from st: it must reach the end of the
// stack or user state without an error.
func (u *Unwinder) unwindsCleanly(core *unwindCore, st unwState) bool {
	for i := 0; i < maxTrialSteps; i++ {
		res, err := core.step(&st)
		if err != nil {
			return false
		}
		if res.end || (res.exc != nil && res.exc.User) {
			return true
		}
		if res.next.guess && res.next.ip == 0 {
			return true
		}
		st = res.next
	}
	return false
}

// canScan reports whether an unwind error is one a stack scan may get past.
func canScan(err error) bool {
	return errors.Is(err, errORCUndefined)
}

// maxNMIFrames bounds the frames taken from a CPU's NMI stack.
const maxNMIFrames = 32

// nmiFrames finds, for a CPU whose saved registers are the context an NMI
// interrupted (the crash NMI: crash_nmi_callback → crash_save_cpu(regs)
// saves the pt_regs of the interrupted code, arch/x86/kernel/reboot.c),
// the frames of the NMI handler still on the CPU's NMI stack: a validated
// scan of that stack for a return address from which ORC unwinds into an
// entry pt_regs holding exactly those registers. It returns the frames,
// innermost first, the last carrying that exception frame; nil when the
// NMI stack holds no such chain (a dump taken from outside, by QEMU).
func (u *Unwinder) nmiFrames(mem *stackMem, cpu int, regs *Registers) []Frame {
	if u.p.Syms == nil || u.orc == nil {
		return nil
	}
	ip, _ := regs.Get(RegIP)
	sp, _ := regs.Get(RegSP)
	var nmi *stackRegion
	for _, r := range mem.regions {
		if r.kind == StackException && r.name == fmt.Sprintf("NMI stack of cpu %d", cpu) {
			nmi = r
		}
	}
	if nmi == nil {
		return nil
	}
	core := &unwindCore{mem: mem, orc: u.orc, ptregs: u.ptregs}
	for addr := nmi.lo; addr+8 <= nmi.hi; addr += 8 {
		v, err := mem.readU64(addr)
		if err != nil || !u.isReturnAddress(core, v) {
			continue
		}
		st := unwState{ip: v, sp: addr + 8, slot: addr, scan: true}
		st.known.Set(RegIP, v)
		st.known.Set(RegSP, st.sp)
		var frames []Frame
		for i := 0; i < maxNMIFrames; i++ {
			f := u.frame(i, &st, mem)
			res, err := core.step(&st)
			if err != nil || res.end {
				break
			}
			f.CFA = res.cfa
			if res.exc != nil {
				eip, _ := res.exc.Regs.Get(RegIP)
				esp, _ := res.exc.Regs.Get(RegSP)
				if eip == ip && esp == sp {
					f.Exception = res.exc
					return append(frames, f)
				}
				break
			}
			frames = append(frames, f)
			st = res.next
		}
	}
	return nil
}
