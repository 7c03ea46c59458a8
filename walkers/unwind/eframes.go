package unwind

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
)

// Searches of a stack for saved register blocks (crash's bt -e and -E),
// the CPU stacks they search, and an unwind from a given stack address
// (bt -S, -I). None of this changes how Stack unwinds.

// StackRegion is one kernel stack, [Lo, Hi).
type StackRegion struct {
	Lo, Hi uint64
	Kind   StackKind
	Name   string // "irq stack of cpu 1", "NMI stack of cpu 0"
}

// CPUStacks lists cpu's IRQ stack and exception stacks (x86_64: the
// per-CPU hardirq_stack_ptr and cea_exception_stacks; arm64: the IRQ,
// overflow, SDEI and EFI runtime stacks, addARM64CPUStacks), lowest first. Stacks whose pointers cannot be
// read are left out.
func CPUStacks(p *symbols.Program, cpu int) ([]StackRegion, error) {
	u, err := UnwinderFor(p)
	if err != nil {
		return nil, err
	}
	mem := &stackMem{mem: p.Mem}
	if u.arm64 != nil {
		u.addARM64CPUStacks(mem, cpu)
	} else {
		u.addCPUStacks(mem, cpu)
	}
	out := make([]StackRegion, 0, len(mem.regions))
	for _, r := range mem.regions {
		out = append(out, StackRegion{Lo: r.lo, Hi: r.hi, Kind: r.kind, Name: r.name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lo < out[j].Lo })
	return out, nil
}

// Segment selectors and RFLAGS bits a saved x86_64 pt_regs holds
// (arch/x86/include/asm/segment.h: __KERNEL_CS 0x10, __KERNEL_DS 0x18,
// __USER_DS 0x2b, __USER_CS 0x33, user32CS in syscall.go;
// arch/x86/include/uapi/asm/processor-flags.h: bit 1 always set, bits 3,
// 5, 15 and 22-63 reserved as zero).
const (
	kernelCS      = 0x10
	kernelDS      = 0x18
	userDS        = 0x2b
	userCS        = 0x33
	flagsFixed    = 1 << 1
	flagsReserved = 1<<3 | 1<<5 | 1<<15 | ^uint64(1<<22-1)
	// User space ends below 1<<47 with 4-level paging and 1<<56 with
	// 5-level; kernel space starts at 0xffff800000000000 and
	// 0xff00000000000000 (Documentation/arch/x86/x86_64/mm.rst).
	userAddressLimit = 1 << 56
	kernelHalf       = 0xff00000000000000
)

// PlausiblePtRegs reports whether r, read as a struct pt_regs, looks like
// one entry code saved: a kernel or user code segment with its stack
// segment, RFLAGS with its fixed bit set and reserved bits clear, and an
// instruction pointer in kernel text (kernel mode) or in the user half
// (user mode), with a stack pointer of the same half. user says which.
// A user frame's reserved RFLAGS bits are not checked: the entry saves
// what SYSCALL left in r11, and a real 6.12 dump (under QEMU's TCG) holds
// 0x4f088246 there.
func PlausiblePtRegs(p *symbols.Program, r *Registers) (user, ok bool) {
	cs, _ := r.Get(RegCS)
	ss, _ := r.Get(RegSS)
	fl, _ := r.Get(RegFlags)
	ip, _ := r.Get(RegIP)
	sp, _ := r.Get(RegSP)
	if fl&flagsFixed == 0 || sp == 0 || ip == 0 {
		return false, false
	}
	switch cs {
	case kernelCS:
		if fl&flagsReserved != 0 || ss != 0 && ss != kernelDS || sp < kernelHalf || sp&7 != 0 || p.Syms == nil {
			return false, false
		}
		sym, _, found := p.Syms.LookupAddr(ip)
		return false, found && sym.IsText()
	case userCS, user32CS:
		return true, ss == userDS && ip < userAddressLimit && sp < userAddressLimit
	}
	return false, false
}

// arm64 PSTATE modes (arch/arm64/include/uapi/asm/ptrace.h): EL0t for
// user space (PSR_MODE32_BIT set for a 32-bit task), EL1t and EL1h for
// the kernel; the upper 32 bits hold no flags.
const (
	psrModeMask = 0x1f
	psrEL0t     = 0x00
	psrUsr32    = 0x10
	psrEL1t     = 0x04
	psrEL1h     = 0x05
	// arm64 user addresses are below 1<<52 at most (52-bit VA).
	arm64UserLimit = 1 << 52
)

// arm64PlausiblePtRegs reads b as an arm64 struct pt_regs at addr and
// reports whether entry code saved it (arch/arm64/kernel/entry.S
// kernel_entry): a user (EL0) or kernel (EL1) PSTATE mode, a pc and sp of
// the same half, the kernel's pc in its text, and the frame record the
// entry stores in stackframe: {x29, pc} for an entry from EL1, {0, 0} for
// one from EL0.
func (u *Unwinder) arm64PlausiblePtRegs(b []byte, addr uint64) (ExceptionFrame, bool) {
	l := u.arm64
	rd := func(off uint64) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
	pc, sp, pstate := rd(l.regsPC), rd(l.regsSP), rd(l.regsPState)
	x29 := rd(l.regsX + 29*8)
	if pstate>>32 != 0 || pc == 0 || sp == 0 {
		return ExceptionFrame{}, false
	}
	var user bool
	switch pstate & psrModeMask {
	case psrEL0t, psrUsr32:
		user = true
		if pc >= arm64UserLimit || sp >= arm64UserLimit {
			return ExceptionFrame{}, false
		}
	case psrEL1t, psrEL1h:
		if sp < kernelHalf || sp&15 != 0 || u.p.Syms == nil {
			return ExceptionFrame{}, false
		}
		sym, _, found := u.p.Syms.LookupAddr(l.strip(pc))
		if !found || !sym.IsText() {
			return ExceptionFrame{}, false
		}
	default:
		return ExceptionFrame{}, false
	}
	switch {
	case l.regsMetaType != 0 && l.regsMetaType+8 <= uint64(len(b)):
		// 6.13+: a {0, 0} struct frame_record_meta whose type is
		// FRAME_META_TYPE_FINAL for EL0 entries, FRAME_META_TYPE_PT_REGS
		// for EL1 ones (arch/arm64/kernel/entry.S kernel_entry).
		want := uint64(frameMetaPtRegs)
		if user {
			want = frameMetaFinal
		}
		if rd(l.regsFrame) != 0 || rd(l.regsFrame+8) != 0 || rd(l.regsMetaType) != want {
			return ExceptionFrame{}, false
		}
	case l.regsFrame != 0 && l.regsFrame+16 <= uint64(len(b)):
		fp, lr := rd(l.regsFrame), rd(l.regsFrame+8)
		if user && (fp != 0 || lr != 0) || !user && (fp != x29 || l.strip(lr) != l.strip(pc)) {
			return ExceptionFrame{}, false
		}
	}
	full := kcore.ARM64Regs{SP: sp, PC: pc, PState: pstate}
	for i := range full.X {
		full.X[i] = rd(l.regsX + uint64(i)*8)
	}
	return ExceptionFrame{Addr: addr, User: user, Regs: arm64Regs(pc, sp, x29, true), ARM64: &full}, true
}

// maxSearchBytes bounds one search (a stack is at most maxStackRegion).
const maxSearchBytes = maxStackRegion

// SearchExceptionFrames scans [lo, hi) for every 8-byte aligned struct
// pt_regs that PlausiblePtRegs (arm64: arm64PlausiblePtRegs) accepts,
// lowest address first (crash's
// bt -e on a task stack, bt -E on IRQ and exception stacks). It is a
// search, not an unwind: a block left by an earlier interrupt that
// returned long ago is found as well. Pages that cannot be read are
// skipped and named in the error, with what was found elsewhere.
func SearchExceptionFrames(p *symbols.Program, lo, hi uint64) ([]ExceptionFrame, error) {
	u, err := UnwinderFor(p)
	if err != nil {
		return nil, err
	}
	return u.searchExceptionFrames(lo, hi)
}

func (u *Unwinder) searchExceptionFrames(lo, hi uint64) ([]ExceptionFrame, error) {
	p := u.p
	if hi <= lo || hi-lo > maxSearchBytes {
		return nil, fmt.Errorf("search of [%#x, %#x): not a stack (at most %d bytes)", lo, hi, maxSearchBytes)
	}
	lo &^= 7
	buf := make([]byte, hi-lo)
	bad := map[uint64]error{} // page-aligned address -> why unreadable
	for a := lo; a < hi; {
		end := min((a+4096)&^4095, hi)
		if err := p.Mem.ReadVirt(buf[a-lo:end-lo], a); err != nil {
			bad[a&^4095] = err
		}
		a = end
	}
	readable := func(a, n uint64) bool {
		for pg := a &^ 4095; pg < a+n; pg += 4096 {
			if _, miss := bad[pg]; miss {
				return false
			}
		}
		return true
	}
	var size uint64
	if u.arm64 != nil {
		size = u.arm64.regsSize
	} else {
		size = u.ptregs.size
	}
	var out []ExceptionFrame
	for a := lo; a+size <= hi; a += 8 {
		if !readable(a, size) {
			continue
		}
		if u.arm64 != nil {
			if ef, ok := u.arm64PlausiblePtRegs(buf[a-lo:a-lo+size], a); ok {
				out = append(out, ef)
			}
			continue
		}
		r := &Registers{}
		for reg := Reg(0); reg < numPtRegs; reg++ {
			off := a - lo + u.ptregs.off[reg]
			r.Set(reg, binary.LittleEndian.Uint64(buf[off:]))
		}
		user, ok := PlausiblePtRegs(p, r)
		if !ok {
			continue
		}
		out = append(out, ExceptionFrame{Addr: a, User: user, Regs: r})
	}
	if npages := (hi - (lo &^ 4095) + 4095) / 4096; uint64(len(bad)) == npages {
		return nil, fmt.Errorf("[%#x, %#x): no page readable (not mapped, or not in the dump): %w", lo, hi, bad[lo&^4095])
	}
	if len(bad) > 0 {
		pages := make([]uint64, 0, len(bad))
		for pg := range bad {
			pages = append(pages, pg)
		}
		sort.Slice(pages, func(i, j int) bool { return pages[i] < pages[j] })
		return out, fmt.Errorf("%d page(s) of [%#x, %#x) unreadable, not searched (first %#x: %w)", len(pages), lo, hi, pages[0], bad[pages[0]])
	}
	return out, nil
}

// SearchTaskExceptionFrames is SearchExceptionFrames over task's kernel
// stack (crash's bt -e).
func SearchTaskExceptionFrames(p *symbols.Program, task symbols.Object) ([]ExceptionFrame, error) {
	u, err := UnwinderFor(p)
	if err != nil {
		return nil, err
	}
	base, err := u.task.stackBase(task)
	if err != nil {
		return nil, err
	}
	return SearchExceptionFrames(p, base, base+u.task.threadSize)
}

// StackFrom unwinds task's kernel stack from a given place instead of its
// saved or running state (crash's bt -S SP and -I IP): with ip 0, sp is a
// stack slot holding a return address (the bracketed address of a frame
// line, or of bt -t's list), and the unwind starts at that return address
// with the stack pointer just above the slot; with ip set, ip is the
// instruction and sp the stack pointer there. sp must lie on the task's
// stack or on an IRQ or exception stack of a CPU. A slot that the task's
// own unwind passes through gives that unwind's state there; elsewhere
// only ip and sp are known, and rbp, which functions that keep a frame
// pointer need, is guessed (guessBP). On arm64 the walk starts at the first frame record at
// or above sp (arm64StackFrom).
func StackFrom(p *symbols.Program, task symbols.Object, ip, sp uint64) (*Trace, error) {
	u, err := UnwinderFor(p)
	if err != nil {
		return nil, err
	}
	tr, mem, err := u.taskTrace(task)
	if err != nil {
		return nil, err
	}
	if u.arm64 != nil {
		return u.arm64StackFrom(task, tr, mem, ip, sp)
	}
	if mem.region(sp, 8) == nil {
		var cpus []int
		if cpu, err := u.taskCPU(task); err == nil {
			cpus = append(cpus, cpu)
		}
		if online, err := u.p.OnlineCPUs(); err == nil {
			cpus = append(cpus, online...)
		}
		cpus = append(cpus, ActiveCPUs(u.p)...)
		seen := map[int]bool{}
		for _, cpu := range cpus {
			if seen[cpu] || len(seen) >= maxSearchCPUs {
				continue
			}
			seen[cpu] = true
			u.addCPUStacks(mem, cpu)
			if mem.region(sp, 8) != nil {
				break
			}
		}
	}
	if mem.region(sp, 8) == nil {
		return nil, fmt.Errorf("stack address %#x: %w", sp, errOffStack)
	}
	if ip == 0 {
		// A slot the task's own unwind passes through: its state there,
		// rbp included, rather than a guess.
		if st, ok := u.stateAtSlot(task, mem, sp); ok {
			u.walk(tr, mem, st)
			return tr, nil
		}
	}
	st := unwState{sp: sp, ip: ip, signal: true}
	if ip == 0 {
		if st.ip, err = mem.readU64(sp); err != nil {
			return nil, fmt.Errorf("return address at %#x: %w", sp, err)
		}
		st.slot, st.sp, st.signal = sp, sp+8, false
	}
	st.known.Set(RegIP, st.ip)
	st.known.Set(RegSP, st.sp)
	if u.orc != nil {
		st = u.guessBP(mem, tr, st)
	}
	u.walk(tr, mem, st)
	return tr, nil
}

// stateAtSlot replays the task's own unwind (as Stack starts it, without
// the stack-scan fallback) and returns its state at the frame whose return
// address was read from slot; ok is false when the unwind does not pass
// through slot.
func (u *Unwinder) stateAtSlot(task symbols.Object, mem *stackMem, slot uint64) (unwState, bool) {
	var st unwState
	run, err := u.runningOn(task)
	if err != nil {
		return st, false
	}
	if run != nil {
		if run.regs == nil {
			return st, false
		}
		u.addCPUStacks(mem, run.cpu)
		st = unwState{signal: true, regs: run.regs, full: true, known: *run.regs}
		st.ip, _ = run.regs.Get(RegIP)
		st.sp, _ = run.regs.Get(RegSP)
		st.bp, _ = run.regs.Get(RegBP)
	} else if st, err = u.sleepingState(task, mem); err != nil {
		return st, false
	}
	base, _ := u.task.stackBase(task)
	core := &unwindCore{mem: mem, orc: u.orc, ptregs: u.ptregs, taskPtRegs: base + u.task.threadSize - u.ptregs.size}
	for i := 0; i < MaxFrames; i++ {
		if st.slot == slot {
			return st, true
		}
		res, err := core.step(&st)
		if err != nil || res.end || (res.exc != nil && res.exc.User) {
			return st, false
		}
		st = res.next
	}
	return st, false
}

// guessBP supplies rbp for an unwind started by StackFrom, which knows
// only ip and sp: a function that keeps a frame pointer finds its CFA
// through rbp (ORC sp_reg BP), and rbp is also what later frames inherit.
// When the unwind from st does not reach the end of the stack cleanly,
// each stack word above sp whose next word is a return address is tried
// as rbp (push %rbp; mov %rsp,%rbp leaves the caller's rbp at rbp and the
// return address at rbp+8). Stale return addresses of finished calls lie
// there too, so among the candidates from which the unwind ends cleanly
// the lowest whose call instruction calls ip's own function directly is
// taken, else the lowest reached by an indirect call, else the lowest.
// st is returned unchanged when none unwinds cleanly.
func (u *Unwinder) guessBP(mem *stackMem, tr *Trace, st unwState) unwState {
	core := &unwindCore{mem: mem, orc: u.orc, ptregs: u.ptregs, taskPtRegs: tr.StackTop - u.ptregs.size}
	if u.unwindsCleanly(core, st) {
		return st
	}
	r := mem.region(st.sp, 8)
	if r == nil || u.p.Syms == nil {
		return st
	}
	var fnStart uint64
	if sym, _, ok := u.p.Syms.LookupAddr(st.ip); ok {
		fnStart = sym.Addr
	}
	var best unwState
	bestRank := 0 // 3: calls ip's function; 2: an indirect call; 1: calls another function
	for i, a := 0, st.sp; i < maxScanWords && a+16 <= r.hi && bestRank < 3; i, a = i+1, a+8 {
		ret, err := mem.readU64(a + 8)
		if err != nil || !u.isReturnAddress(core, ret) {
			continue
		}
		rank := 2
		if target, direct := directCallTarget(u.p, ret); direct {
			rank = 1
			if fnStart != 0 && target == fnStart {
				rank = 3
			}
		}
		if rank <= bestRank {
			continue
		}
		cand := st
		cand.bp = a
		cand.known.Set(RegBP, a)
		if u.unwindsCleanly(core, cand) {
			best, bestRank = cand, rank
		}
	}
	if bestRank == 0 {
		return st
	}
	return best
}

// directCallTarget returns where the call ending just before ret goes
// when it is a direct call (e8 rel32); ok is false for other calls.
func directCallTarget(p *symbols.Program, ret uint64) (uint64, bool) {
	var b [5]byte
	if err := p.Mem.ReadVirt(b[:], ret-5); err != nil || b[0] != 0xe8 {
		return 0, false
	}
	return ret + uint64(int64(int32(binary.LittleEndian.Uint32(b[1:])))), true
}

// maxSearchCPUs bounds the CPUs whose stacks StackFrom adds (NR_CPUS on
// x86_64 is at most 8192).
const maxSearchCPUs = 8192
