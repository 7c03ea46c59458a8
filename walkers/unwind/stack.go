package unwind

import (
	"fmt"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
)

// StackKind says which stack a frame's stack pointer lies on.
type StackKind uint8

const (
	StackUnknown   StackKind = iota
	StackTask                // the task's own kernel stack (task->stack)
	StackIRQ                 // a CPU's hard-IRQ stack (hardirq_stack_ptr)
	StackException           // a CPU's exception stack (NMI, #DF, #MC, #DB, #VC)
)

func (k StackKind) String() string {
	switch k {
	case StackTask:
		return "task"
	case StackIRQ:
		return "irq"
	case StackException:
		return "exception"
	}
	return "unknown"
}

// Frame is one frame of a kernel stack trace, innermost first.
type Frame struct {
	Level int `json:"level"`
	// SP is the stack address the frame's IP was read from (the return
	// address slot, crash's "[ffffc9000064bd38]"); for a frame whose IP came
	// from saved registers it is the address of the saved ip, and 0 when the
	// IP came from a CPU's registers.
	SP uint64 `json:"sp"`
	// RSP is the stack pointer value while executing at IP; CFA is the
	// caller's stack pointer once this frame returns. The frame's own words
	// (locals, saved registers, on-stack structures such as lock waiters)
	// lie in [RSP, CFA). CFA is 0 for the last frame when unknown.
	RSP uint64 `json:"rsp"`
	CFA uint64 `json:"cfa,omitempty"`
	// IP is the return address (or the interrupted instruction for the
	// first frame and frames after an exception).
	IP     uint64 `json:"ip"`
	Symbol string `json:"symbol,omitempty"` // "" when no symbol covers IP
	Offset uint64 `json:"offset"`
	Size   uint64 `json:"size,omitempty"`   // size of the symbol when known
	Module string `json:"module,omitempty"` // "" for vmlinux
	// Stack is the stack RSP lies on.
	Stack StackKind `json:"-"`
	// Regs are the registers known at this frame: all of them after a
	// pt_regs or from a CPU's notes, the callee-saved ones of a sleeping
	// task's first frame, rbp where ORC tracks it. Never nil.
	Regs *Registers `json:"-"`
	// Exception, when set, is the register block (struct pt_regs) an entry
	// stub saved below this frame: the state of the code this frame's
	// function interrupted (an IRQ, an exception, or the syscall entry from
	// user space when Exception.User).
	Exception *ExceptionFrame `json:"exception,omitempty"`
	// Exact: IP is the interrupted or resumed instruction itself (from
	// saved registers), not a return address; for a return address the
	// call instruction is at IP-1, which is what line lookups should use.
	Exact bool `json:"exact,omitempty"`
	// Guess marks a frame found by the frame-pointer fallback rather than
	// unwind tables: it may be wrong.
	Guess bool `json:"guess,omitempty"`
	// Scan marks the frame where the unwind resumed after a gap in the
	// unwind tables, found by a validated stack scan (a return address
	// after a call, from which the tables unwind cleanly): the frames
	// between the gap and it are unknown.
	Scan bool `json:"scan,omitempty"`
	// Inline lists functions inlined at IP, innermost first, when DWARF
	// says so (file:line support); empty otherwise.
	Inline []string `json:"inline,omitempty"`
}

// Name renders the frame's location as "func+0x1f/0x2f0 [module]", or the
// IP in hex when no symbol covers it.
func (f *Frame) Name() string {
	if f.Symbol == "" {
		return fmt.Sprintf("%#x", f.IP)
	}
	s := fmt.Sprintf("%s+%#x", f.Symbol, f.Offset)
	if f.Size != 0 {
		s += fmt.Sprintf("/%#x", f.Size)
	}
	if f.Module != "" {
		s += " [" + f.Module + "]"
	}
	return s
}

// ExceptionFrame is a struct pt_regs saved on a stack by entry code.
type ExceptionFrame struct {
	Addr uint64 `json:"addr"` // address of the struct pt_regs
	// Partial: only the hardware iret frame (ip, cs, flags, sp, ss) is
	// valid (ORC REGS_PARTIAL).
	Partial bool `json:"partial,omitempty"`
	// User: the saved state is user mode (the bottom of a syscall, or an
	// interrupt taken in user space).
	User bool       `json:"user,omitempty"`
	Regs *Registers `json:"-"`
	// ARM64 is the whole register set on arm64 (Regs then holds only pc,
	// sp and fp); nil on x86_64.
	ARM64 *kcore.ARM64Regs `json:"-"`
}

// Trace is the kernel stack trace of one task.
type Trace struct {
	Task uint64 `json:"task"` // address of the task_struct
	// Frames, innermost first.
	Frames []Frame `json:"frames"`
	// Err says why the unwind stopped before the bottom of the stack, or
	// why it could not start; nil when the walk ended cleanly (at the
	// syscall entry of a user task, or the end-of-stack mark of a kernel
	// thread).
	Err error `json:"-"`
	// Scanned is why the unwind had to resume from a stack scan (the gap
	// in the unwind tables), "" when it did not.
	Scanned string `json:"scanned,omitempty"`
	// StackBase and StackTop bound the task's kernel stack [base, top).
	StackBase uint64 `json:"stack_base"`
	StackTop  uint64 `json:"stack_top"`
	// Running: the task was on a CPU; its frames start from that CPU's
	// registers in the dump's notes. CPU is meaningful only when Running.
	Running bool `json:"running,omitempty"`
	CPU     int  `json:"cpu"`
	// UserMode: a running task whose CPU was in user mode (no kernel
	// frames to show).
	UserMode bool `json:"user_mode,omitempty"`
	// UserRegs is the user-space state saved at the top of the kernel stack
	// when the unwind reached it (syscall, or interrupt from user space).
	UserRegs *ExceptionFrame `json:"user_regs,omitempty"`
	// Method names how the frames were found: "orc", "frame pointers".
	Method string `json:"method"`
}

// ErrorString is Err as text, "" when nil (for JSON renderers).
func (t *Trace) ErrorString() string {
	if t == nil || t.Err == nil {
		return ""
	}
	return t.Err.Error()
}

// Limits of one unwind.
const (
	// MaxFrames bounds a trace; a 16 KiB stack holds at most ~2000 return
	// addresses, and real traces are far shorter.
	MaxFrames = 256
)

// Stack unwinds the kernel stack of task (a struct task_struct object):
//
//	tr, err := walkers.Stack(prog, task.Obj)
//	for _, f := range tr.Frames {
//		fmt.Println(f.Level, f.Name(), f.RSP, f.CFA) // locals in [RSP, CFA)
//	}
//	sw, err := walkers.ReadStackWords(prog, task.Obj) // the whole stack, once
//	for _, at := range sw.Find(lockAddr) {            // where the lock's address is stored
//		if f, ok := tr.FrameOf(at); ok { ... }        // in which function's frame
//	}
//	sc, _ := walkers.DecodeSyscall(prog, task.Obj, tr, walkers.SyscallOptions{FDPath: walkers.TaskFDPath})
//
// sleeping tasks from their saved switch frame, tasks running on a CPU from
// that CPU's registers in the dump. It returns a Trace even when the unwind
// stops early (Trace.Err says why); the error is for a trace that could not
// start at all (no stack, unreadable task).
func Stack(p *symbols.Program, task symbols.Object) (*Trace, error) {
	u, err := UnwinderFor(p)
	if err != nil {
		return nil, err
	}
	return u.Stack(task)
}

// TaskStack is Stack for a task from the task walker.
func TaskStack(p *symbols.Program, t sched.Task) (*Trace, error) { return Stack(p, t.Obj) }
