package unwind

import (
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// Unwinder unwinds kernel stacks of one Program. It keeps what it learnt
// (ORC tables, type layouts); get the Program's shared one with UnwinderFor.
type Unwinder struct {
	p      *symbols.Program
	orc    *orcInfo
	orcErr error // why there is no ORC (frame pointers are used then)
	ptregs *ptRegsLayout
	task   *taskStackLayout
	// retFromFork are the addresses a new task's switch frame returns to
	// (ret_from_fork in 5.10/6.1, ret_from_fork_asm since 6.6;
	// arch/x86/entry/entry_64.S): their ORC entry applies unshifted.
	retFromFork []uint64
	// arm64 is set on an arm64 kernel: frame records, not ORC (arm64.go).
	arm64 *arm64Layout
}

type unwinderKey struct{}

// UnwinderFor returns the Program's unwinder, building it on first use.
func UnwinderFor(p *symbols.Program) (*Unwinder, error) {
	v, err := p.Memo(unwinderKey{}, func() (any, error) { return NewUnwinder(p) })
	if err != nil {
		return nil, err
	}
	return v.(*Unwinder), nil
}

// NewUnwinder prepares an unwinder: ORC tables when the kernel has them,
// frame pointers otherwise.
func NewUnwinder(p *symbols.Program) (*Unwinder, error) {
	u := &Unwinder{p: p}
	var err error
	if u.task, err = newTaskStackLayout(p); err != nil {
		return nil, err
	}
	u.ptregs = newPtRegsLayout(p)
	if l, ok := newARM64Layout(p); ok {
		u.arm64 = l
		u.orcErr = errors.New("arm64 kernels unwind by frame records")
		return u, nil
	}
	u.orc, u.orcErr = loadORC(p)
	for _, name := range []string{"ret_from_fork", "ret_from_fork_asm"} {
		if a, err := p.Symbol(name); err == nil {
			u.retFromFork = append(u.retFromFork, a)
		}
	}
	return u, nil
}

// Method says how this unwinder finds frames, and why when it had to fall
// back.
func (u *Unwinder) Method() string {
	if u.orc != nil {
		return "orc"
	}
	if u.arm64 != nil {
		return "frame records"
	}
	return "frame pointers"
}

// ORCFormat describes the ORC entry format in use and how it was decided
// ("" without ORC).
func (u *Unwinder) ORCFormat() string {
	if u.orc == nil {
		if u.orcErr != nil {
			return "none: " + u.orcErr.Error()
		}
		return ""
	}
	return fmt.Sprintf("%v (%s)", u.orc.format, u.orc.how)
}

// Stack unwinds task's kernel stack (see the package function Stack).
func (u *Unwinder) Stack(task symbols.Object) (*Trace, error) {
	tr, mem, err := u.taskTrace(task)
	if err != nil {
		return nil, err
	}
	if u.arm64 != nil {
		u.arm64Stack(task, tr, mem)
		return tr, nil
	}

	run, err := u.runningOn(task)
	if err != nil {
		tr.Err = err
		return tr, nil
	}
	var st unwState
	if run != nil {
		tr.Running, tr.CPU = true, run.cpu
		if run.regs == nil {
			why := "the dump has no saved registers for that CPU (it did not answer the crash NMI, or the dump has no CPU notes)"
			if u.p.Dump != nil && u.p.Dump.Live() {
				why = "a live kernel: running tasks cannot be unwound"
			}
			tr.Err = fmt.Errorf("task is running on CPU %d and %s", run.cpu, why)
			return tr, nil
		}
		cs, _ := run.regs.Get(RegCS)
		if userMode(cs) {
			tr.UserMode = true
			tr.UserRegs = &ExceptionFrame{User: true, Regs: run.regs}
			return tr, nil
		}
		u.addCPUStacks(mem, run.cpu)
		// A CPU stopped by the crash NMI: its handler's frames first.
		tr.Frames = append(tr.Frames, u.nmiFrames(mem, run.cpu, run.regs)...)
		st = unwState{signal: true, regs: run.regs, full: true, known: *run.regs}
		st.ip, _ = run.regs.Get(RegIP)
		st.sp, _ = run.regs.Get(RegSP)
		st.bp, _ = run.regs.Get(RegBP)
	} else {
		if st, err = u.sleepingState(task, mem); err != nil {
			tr.Err = err
			return tr, nil
		}
	}
	u.walk(tr, mem, st)
	return tr, nil
}

// sleepingState is the state of a task switched out by __switch_to_asm:
// task->thread.sp points at struct inactive_task_frame {r15, r14, r13, r12,
// bx, bp, ret_addr} (arch/x86/include/asm/switch_to.h); the unwind starts
// at ret_addr with sp just above the frame (unwind_orc.c __unwind_start).
func (u *Unwinder) sleepingState(task symbols.Object, mem *stackMem) (unwState, error) {
	var st unwState
	tsp, err := u.task.taskWord(task, u.task.offThreadSP, "thread.sp")
	if err != nil {
		return st, err
	}
	l := u.task
	if mem.region(tsp, l.frameSize) == nil {
		return st, fmt.Errorf("thread.sp %#x is not inside the task's stack: %w", tsp, errOffStack)
	}
	rd := func(off uint64) (uint64, error) { return mem.readU64(tsp + off) }
	if st.ip, err = rd(l.frameRetAddr); err != nil {
		return st, fmt.Errorf("inactive_task_frame.ret_addr: %w", err)
	}
	if st.bp, err = rd(l.frameBP); err != nil {
		return st, fmt.Errorf("inactive_task_frame.bp: %w", err)
	}
	st.sp = tsp + l.frameSize
	st.slot = tsp + l.frameRetAddr
	for reg, off := range l.frameRegs {
		if v, err := rd(off); err == nil {
			st.known.Set(reg, v)
		}
	}
	st.known.Set(RegIP, st.ip)
	st.known.Set(RegSP, st.sp)
	for _, a := range u.retFromFork {
		if st.ip == a {
			st.signal = true
		}
	}
	return st, nil
}

// walk runs the unwind from st, appending frames to tr.
func (u *Unwinder) walk(tr *Trace, mem *stackMem, st unwState) {
	core := &unwindCore{mem: mem, orc: u.orc, ptregs: u.ptregs, taskPtRegs: tr.StackTop - u.ptregs.size}
	scanned := false // one scan per unwind: a second gap ends it
	for level := len(tr.Frames); ; level++ {
		if level >= MaxFrames {
			tr.Err = errTooDeep
			return
		}
		tr.Frames = append(tr.Frames, u.frame(level, &st, mem))
		f := &tr.Frames[len(tr.Frames)-1]
		res, err := core.step(&st)
		if err != nil && canScan(err) && !scanned {
			if next, ok := u.scanResume(core, st); ok {
				scanned = true
				tr.Scanned = err.Error()
				st = next
				continue
			}
		}
		if err != nil {
			tr.Err = err
			return
		}
		if res.end {
			return
		}
		f.CFA = res.cfa
		if res.exc != nil {
			f.Exception = res.exc
			if res.exc.User {
				tr.UserRegs = res.exc
				return
			}
		}
		if res.next.guess && res.next.ip == 0 {
			return // a zero return address: the outermost frame-pointer frame
		}
		st = res.next
	}
}

// frame makes the Frame for a state, symbolized.
func (u *Unwinder) frame(level int, st *unwState, mem *stackMem) Frame {
	known := st.known
	f := Frame{Level: level, SP: st.slot, RSP: st.sp, IP: st.ip, Regs: &known, Guess: st.guess, Scan: st.scan, Exact: st.signal}
	f.Stack, _ = mem.kindOf(st.sp)
	u.symbolize(&f, st.signal)
	return f
}

// symbolize names the function at f.IP. A return address may be the first
// byte after a call at the very end of a function (a call to a noreturn
// function), so it is looked up at IP-1 unless it is an interrupted
// instruction, like the kernel's %pB.
func (u *Unwinder) symbolize(f *Frame, exact bool) {
	if u.p.Syms == nil {
		return
	}
	at := f.IP
	if !exact && at > 0 {
		at--
	}
	sym, _, ok := u.p.Syms.LookupAddr(at)
	if !ok {
		return
	}
	f.Symbol, f.Offset, f.Size, f.Module = sym.Name, f.IP-sym.Addr, sym.Size, sym.Module
}

// errNotTask: the object is not a task_struct.
var errNotTask = errors.New("not a struct task_struct")

// taskTrace starts a Trace of task's kernel stack: its bounds, and the
// stack memory holding only the task stack so far.
func (u *Unwinder) taskTrace(task symbols.Object) (*Trace, *stackMem, error) {
	tr := &Trace{Task: task.Addr(), Method: u.Method(), CPU: -1}
	base, err := u.task.stackBase(task)
	if err != nil {
		return nil, nil, err
	}
	tr.StackBase, tr.StackTop = base, base+u.task.threadSize
	mem := &stackMem{mem: u.p.Mem}
	mem.add(tr.StackBase, tr.StackTop, StackTask, "task stack")
	return tr, mem, nil
}
