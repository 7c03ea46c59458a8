package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/unwind"
)

func registerBt(r *Registry) {
	r.Add(&Command{
		Name:    "bt",
		Summary: "kernel stack backtrace of a task, with the syscall it is in",
		Usage:   "bt [-a | -c CPU[,CPU...] [-n idle] | -p | -g] [-f|-F|-FF] [-l] [-v] [-t|-T|-r] [-e] [-E] [-s [-x|-d]] [-R REF] [-S SP [-I IP]] [PID|TASK-ADDR]...",
		Help: `Unwinds the kernel stack of the current context task (see set), of each
task given by pid or task_struct address, or with -a (-c CPUS) of the
task running on each CPU (on those CPUs). -a lists every CPU the kernel
had online or the dump counts; one that cannot be unwound (no register
note for it, a damaged note, its current task unreadable) is shown with
the reason. Frames are shown like crash, innermost first:

  #0 [ffffc9000064bd38] __schedule+0x2f5 at ffffffff81a0f1e5
  #2 [ffffc9000064bdd0] request_wait_answer+0x159 [fuse] at ffffffffc0a1e4d9

The bracketed address is the stack slot the return address was read from.
Sleeping tasks are unwound from the frame saved at their last context
switch; running tasks from their CPU's registers in the dump (a live
kernel has none, so running tasks cannot be unwound there). Stacks are
unwound with the kernel's own ORC tables read from memory (modules
included), or with frame pointers when the kernel has no ORC.
Register blocks saved by entry code (interrupts, exceptions, the syscall
entry) are printed under the frame that saved them. At the top of a user
task's stack, the system call it is in is decoded from the saved user
registers: its name from the kernel's sys_call_table, and its arguments
rendered by type where kwalk knows the call (paths read from the task's
user memory when the dump holds the page; fds shown with their file path).
A task that entered the kernel from user space by an exception or an
interrupt (a page fault on a FUSE mapping, say) shows the entry stub.

-t lists instead every stack word that is a kernel text address, from
the innermost frame to the top of the stack, as "[SLOT] SYMBOL+OFF at
ADDR"; -T from the stack's base. Old return addresses show up too: it
is a scan, not an unwind ("text_symbols" in JSON, as "words").

-f also prints the stack words of each frame; -F prints them symbolically
like crash: a word that is a kernel symbol's address as SYMBOL+OFF, one
that points into a slab object as [CACHE] (-FF: [ADDR:CACHE], ADDR the
object's start), other words in hex ("words": [{"addr", "value",
"symbol", "cache", "object"}]). -l adds file:line when DWARF
is loaded (nothing extra otherwise). -v prints under each frame its
function's parameters and locals (and those of functions inlined there)
from DWARF, evaluated at the frame's pc with the registers known there:
callee-saved registers are carried outwards through each callee's call
frame information; caller-saved ones are lost in outer frames, shown as
<not recoverable>, like values on entry; <optimized out> where no location
covers the pc. Pointers show their type (a struct dentry * its name).

Frames always show the offset into the function, in hex; -s is accepted
for crash's scripts (crash shows offsets only with it), -d (-sd) prints
offsets in decimal, -x (-sx) in hex.

-R REF shows only the traces that reference REF: a function name (any
compiler suffix: mutex_lock matches mutex_lock.constprop.0), or a text
address inside a frame's function. Without a task argument (and outside
foreach) it looks through every task, unlike crash's current-context
default: "bt -R rwsem_down_write_slowpath" lists the tasks whose stack
goes through it.

-S SP unwinds from the stack slot SP (a frame's bracketed address, or one
of bt -t's) instead of the task's saved state: the return address stored
there starts the trace. With -I IP, IP is the instruction and SP the stack
pointer there. Handy when the normal unwind stops early or to look at
frames left below the current one. On arm64 the trace starts at the first
frame record (saved fp, lr) at or above SP.

-e searches the task's whole stack for saved register blocks (struct
pt_regs) and prints each as KERNEL-MODE or USER-MODE EXCEPTION FRAME AT
ADDR: a block with a kernel or user code segment and its stack segment,
RFLAGS with bit 1 set and its reserved bits clear, and an instruction
pointer in kernel text (kernel mode) or the user half. It is a search:
blocks of interrupts that returned long ago are found too. -E does the
same on each CPU's IRQ stack and exception stacks (NMI, #DB, #DF, #MC,
#VC; -c CPUS for some CPUs; arm64: the IRQ, overflow, SDEI and EFI
runtime stacks), task arguments
aside. On arm64 a block is one with an EL0 or EL1 PSTATE mode whose
frame record (stackframe) is {x29, pc}, or {0, 0} from EL0.

-r dumps the task's whole kernel stack, two words a line from its base
("raw_stack" in JSON, as "words"; with -F/-FF shown symbolically).

-p unwinds the task that panicked; -g every thread of the task's thread
group, the leader first; -n idle with -a or -c leaves out the frames of
the CPUs' idle tasks (their headers stay).

crash's -o (its older x86_64 backtrace) is not offered: it lists the
kernel text addresses found on the stack, which is what -t and -T show,
and a frame-pointer walk would follow garbage on kernels built for ORC
(no CONFIG_FRAME_POINTER: rbp is an ordinary register). kwalk already
unwinds with frame pointers on kernels that have no ORC.

JSON: {"traces": [{"pid", "comm", "task", "cpu", "running", "user_mode",
"stack_base", "stack_top", "method", "error", "frames": [{"level", "sp",
"ip", "symbol", "offset", "size", "module", "rsp", "cfa", "guess",
"exception": {"addr", "partial", "user", "regs": {NAME: hex}},
"vars": [{"function", "inlined", "vars": [{"name", "param", "type", "value",
"known", "text", "addr", "reason"}]}],
"words": [{"addr", "value", "symbol", "cache", "object"}]}], "user_regs": {...},
"user_entry", "syscall": {"nr", "name", "abi", "text", "args": [{"name", "value",
"text", "error"}]}, "exception_frames" (-e: [{"addr", "user", "regs",
"rip_symbol"}]), "raw_stack" (-r: words), "search_error" (-e, -r: what
could not be read)}], "cpu_stacks" (-E: [{"cpu",
"name", "kind", "base", "top", "exception_frames", "error"}])}.`,
		Flags: []Flag{
			{Name: "a", Help: "the task running on each CPU (from the dump's CPU registers)"},
			{Name: "c", Arg: "CPUS", Help: "the task running on these CPUs (\"1,8,9-14\")"},
			{Name: "f", Help: "print the stack words of each frame"},
			{Name: "l", Help: "show file:line of each frame when DWARF is loaded"},
			{Name: "v", Help: "show each frame's parameters and locals from DWARF"},
			{Name: "t", Help: "list the text symbols on the stack from the innermost frame up (a scan, not an unwind)"},
			{Name: "T", Help: "list the text symbols on the whole stack, from its base"},
			{Name: "F", Help: "like -f, with stack words shown as symbols and slab caches ([CACHE])"},
			{Name: "FF", Help: "like -F, with slab objects shown as [ADDR:CACHE]"},
			{Name: "s", Help: "show symbol+offset (always shown; for crash's scripts)"},
			{Name: "x", Aliases: []string{"sx"}, Help: "show offsets in hex (the default)"},
			{Name: "d", Aliases: []string{"sd"}, Help: "show offsets in decimal"},
			{Name: "R", Arg: "REF", Help: "only traces referencing this function name or text address"},
			{Name: "S", Arg: "SP", Help: "unwind from this stack slot (its return address) instead of the saved state"},
			{Name: "I", Arg: "IP", Help: "with -S: start at this instruction, SP being the stack pointer there"},
			{Name: "e", Help: "search the task's stack for saved register blocks (exception frames)"},
			{Name: "E", Help: "search each CPU's IRQ and exception stacks for exception frames"},
			{Name: "o", Help: "crash's old x86_64 backtrace: not offered (see help bt)"},
			{Name: "p", Help: "the task that panicked"},
			{Name: "r", Help: "dump the whole kernel stack, two words a line"},
			{Name: "g", Help: "every thread of the task's thread group, the leader first"},
			{Name: "n", Arg: "idle", Help: "with -a or -c: leave out the idle tasks' frames"},
		},
		Examples: []string{"bt", "bt 114", "bt -a", "bt -c 1", "bt -f 112", "bt -FF 112", "bt -R rwsem_down_write_slowpath",
			"bt -e 112", "bt -E", "bt -S ffffc9000064bd38 112", "foreach bt", "bt --json 114"},
		PerTask:  true,
		Complete: func(c *Completion) []string { return c.Pids() },
		Run:      runBt,
	})
}

// BtResult is bt's result: one trace per task.
type BtResult struct {
	Traces []BtTrace `json:"traces"`
	// CPUStacks (-E) are the CPUs' IRQ and exception stacks searched.
	CPUStacks []BtCPUStack `json:"cpu_stacks,omitempty"`
	words     bool
	scan      string // "t" or "T": the text-symbol scan instead of frames
	fmt       btFormat
}

// BtTrace is one task's backtrace.
type BtTrace struct {
	PID       int        `json:"pid"`
	Comm      string     `json:"comm"`
	Task      Hex        `json:"task"`
	CPU       int        `json:"cpu"`
	Running   bool       `json:"running"`
	UserMode  bool       `json:"user_mode,omitempty"`
	StackBase Hex        `json:"stack_base"`
	StackTop  Hex        `json:"stack_top"`
	Method    string     `json:"method"`
	Error     string     `json:"error,omitempty"`
	Frames    []BtFrame  `json:"frames"`
	UserRegs  *BtRegs    `json:"user_regs,omitempty"`
	Syscall   *BtSyscall `json:"syscall,omitempty"`
	// UserEntry says how a task that is not in a syscall entered the
	// kernel from user space: the entry stub (a page fault, an interrupt).
	UserEntry string `json:"user_entry,omitempty"`
	// TextSymbols (-t, -T) are the stack words that are kernel text
	// addresses, from the innermost frame (-T: the stack's base) up.
	TextSymbols []BtWord `json:"text_symbols,omitempty"`
	// ExceptionFrames (-e) are the register blocks found on the stack,
	// lowest address first; SearchError says what could not be searched.
	ExceptionFrames []*BtRegs `json:"exception_frames,omitempty"`
	// RawStack (-r) is every word of the stack, from its base.
	RawStack    []BtWord        `json:"raw_stack,omitempty"`
	SearchError string          `json:"search_error,omitempty"`
	syscall     *unwind.Syscall // for text
}

// BtFrame is one frame.
type BtFrame struct {
	Level     int      `json:"level"`
	SP        Hex      `json:"sp"`
	IP        Hex      `json:"ip"`
	Symbol    string   `json:"symbol,omitempty"`
	Offset    Hex      `json:"offset"`
	Size      Hex      `json:"size,omitempty"`
	Module    string   `json:"module,omitempty"`
	RSP       Hex      `json:"rsp"`
	CFA       Hex      `json:"cfa,omitempty"`
	Guess     bool     `json:"guess,omitempty"`
	Scan      bool     `json:"scan,omitempty"`
	Line      string   `json:"line,omitempty"`
	Exception *BtRegs  `json:"exception,omitempty"`
	Words     []BtWord `json:"words,omitempty"`
	// Vars (bt -v): the frame's function's variables, innermost inlined
	// function first.
	Vars []BtScope `json:"vars,omitempty"`
}

// BtScope is one function's variables at a frame (bt -v).
type BtScope struct {
	Function string  `json:"function"`
	Inlined  bool    `json:"inlined,omitempty"`
	Vars     []BtVar `json:"vars"`
}

// BtVar is one parameter or local (bt -v): Value is set when Known; Text
// renders it by type or says why it is missing; Reason explains a value
// that is not recoverable; Addr is where it lives in memory, if it does.
type BtVar struct {
	Name   string `json:"name"`
	Param  bool   `json:"param,omitempty"`
	Type   string `json:"type,omitempty"`
	Known  bool   `json:"known"`
	Value  Hex    `json:"value"`
	Text   string `json:"text"`
	Addr   Hex    `json:"addr,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func btScopes(scopes []unwind.FrameScopeVars) []BtScope {
	var out []BtScope
	for _, sc := range scopes {
		bs := BtScope{Function: sc.Function, Inlined: sc.Inlined, Vars: []BtVar{}}
		for _, v := range sc.Vars {
			bs.Vars = append(bs.Vars, BtVar{Name: v.Name, Param: v.Param, Type: v.Type, Known: v.Known,
				Value: Hex(v.Value), Text: v.Text, Addr: Hex(v.Addr), Reason: v.Reason})
		}
		out = append(out, bs)
	}
	return out
}

// BtRegs is a saved register block.
type BtRegs struct {
	Addr    Hex            `json:"addr"`
	Partial bool           `json:"partial,omitempty"`
	User    bool           `json:"user,omitempty"`
	Regs    map[string]Hex `json:"regs"`
	// RIPSymbol names the interrupted instruction ("native_safe_halt+11").
	RIPSymbol string `json:"rip_symbol,omitempty"`
	regs      *unwind.Registers
	arm64     *kcore.ARM64Regs
}

// BtWord is one stack word (bt -f).
type BtWord struct {
	Addr   Hex    `json:"addr"`
	Value  Hex    `json:"value"`
	Symbol string `json:"symbol,omitempty"`
	// Cache and Object (-F): the slab cache of the object the word points
	// into, and that object's start.
	Cache  string `json:"cache,omitempty"`
	Object Hex    `json:"object,omitempty"`
}

// BtSyscall is the decoded system call.
type BtSyscall struct {
	Nr   int64               `json:"nr"`
	Name string              `json:"name"`
	ABI  string              `json:"abi"`
	Text string              `json:"text"`
	Args []unwind.SyscallArg `json:"args"`
}

func runBt(c *Call) (Result, error) {
	if c.Bool("o") {
		return nil, UsageErrorf("bt -o: not offered: crash's old x86_64 backtrace lists the kernel text addresses on the stack, which bt -t and -T show; a frame-pointer walk would follow garbage on kernels built for ORC (rbp is an ordinary register there), and kwalk already unwinds by frame pointers on kernels without ORC")
	}
	bf, err := btFlags(c) // cmd_bt_flags.go
	if err != nil {
		return nil, err
	}
	if c.Bool("E") {
		return runBtCPUStacks(c, bf)
	}
	var res Result
	if c.Bool("a") || c.IsSet("c") {
		if len(c.Args) > 0 {
			return nil, UsageErrorf("bt -a and -c take no task arguments")
		}
		res, err = runBtCPUs(c) // cmd_bt_cpus.go
	} else {
		res, err = runBtTasks(c)
	}
	if err != nil {
		return nil, err
	}
	return bf.finish(c, res.(*BtResult))
}

func runBtTasks(c *Call) (Result, error) {
	tasks, err := btRefTasks(c) // cmd_bt_flags.go: bt -R alone looks at every task
	if err != nil {
		return nil, err
	}
	if tasks == nil {
		if tasks, err = btArgTasks(c); err != nil { // cmd_bt_flags.go: -p, -g
			return nil, err
		}
	}
	res := &BtResult{words: btWantWords(c)}
	if c.Bool("t") && c.Bool("T") {
		return nil, UsageErrorf("bt: -t and -T exclude each other")
	}
	if c.Bool("t") {
		res.scan = "t"
	} else if c.Bool("T") {
		res.scan = "T"
	}
	for _, t := range tasks {
		if err := c.Ctx.Err(); err != nil {
			return nil, err
		}
		bt, err := btTrace(c, t)
		if err != nil {
			return nil, err
		}
		if res.scan != "" {
			btTextScan(c, t, &bt, res.scan == "T")
		}
		res.Traces = append(res.Traces, bt)
	}
	return res, nil
}

// parseCPUList parses bt -c's "0,2,5" or "1-3,8", like crash's -c.
func parseCPUList(s string) ([]int, error) {
	cpus, err := parseCPURanges(s) // cmd_ps_crash.go
	if err != nil {
		return nil, UsageErrorf("-c: %q is not a list of CPUs (\"1,8,9-14\")", s)
	}
	return cpus, nil
}

// btCPUs lists the CPUs whose registers the image holds.
func btCPUs(p *symbols.Program) []int { return unwind.ActiveCPUs(p) }

func btTrace(c *Call, task symbols.Object) (BtTrace, error) {
	p := c.Prog
	ti := taskInfo(task)
	bt := BtTrace{PID: ti.PID, Comm: ti.Comm, Task: Hex(task.Addr()), CPU: ti.CPU, Frames: []BtFrame{}}
	tr, err := btUnwind(c, task) // cmd_bt_flags.go: -S/-I, else unwind.Stack
	if err != nil {
		bt.Error = err.Error()
		return bt, nil
	}
	bt.Running, bt.UserMode = tr.Running, tr.UserMode
	if tr.Running {
		bt.CPU = tr.CPU
	}
	bt.StackBase, bt.StackTop, bt.Method = Hex(tr.StackBase), Hex(tr.StackTop), tr.Method
	bt.Error = tr.ErrorString()
	var words *unwind.StackWords
	if btWantWords(c) {
		words, _ = unwind.ReadStackWords(p, task)
	}
	sym := newBtSymbolizer(c, words) // -F: symbols and slab caches
	var vars [][]unwind.FrameScopeVars
	if c.Bool("v") {
		if vars, err = unwind.FrameVariables(p, tr); err != nil {
			return bt, fmt.Errorf("-v: %w", err)
		}
	}
	for i := range tr.Frames {
		f := &tr.Frames[i]
		bf := BtFrame{Level: f.Level, SP: Hex(f.SP), IP: Hex(f.IP), Symbol: f.Symbol, Offset: Hex(f.Offset),
			Size: Hex(f.Size), Module: f.Module, RSP: Hex(f.RSP), CFA: Hex(f.CFA), Guess: f.Guess, Scan: f.Scan}
		if c.Bool("l") {
			bf.Line = btLine(p, f)
		}
		if i < len(vars) {
			bf.Vars = btScopes(vars[i])
		}
		if f.Exception != nil && !f.Exception.User {
			bf.Exception = btRegs(f.Exception)
			if ip, ok := f.Exception.Regs.Get(unwind.RegIP); ok && p.Syms != nil {
				if sym, off, ok := p.Syms.LookupAddr(ip); ok && sym.IsText() {
					bf.Exception.RIPSymbol = fmt.Sprintf("%s+%d", sym.Name, off)
				}
			}
		}
		if words != nil {
			// Like crash: the words after this frame's return-address
			// slot, up to the next frame's slot.
			hi := f.CFA
			if i+1 < len(tr.Frames) && tr.Frames[i+1].SP > f.RSP {
				hi = tr.Frames[i+1].SP
			}
			lo, ws := words.Range(f.RSP, hi)
			for j, w := range ws {
				bw := BtWord{Addr: Hex(lo + uint64(j)*8), Value: Hex(w)}
				if sym != nil {
					sym.describe(&bw)
				} else if w != 0 && p.Syms != nil {
					if s, off, ok := p.Syms.LookupAddr(w); ok && s.IsText() {
						bw.Symbol = fmt.Sprintf("%s+%#x", s.Name, off)
					}
				}
				bf.Words = append(bf.Words, bw)
			}
		}
		bt.Frames = append(bt.Frames, bf)
	}
	if tr.UserRegs != nil {
		bt.UserRegs = btRegs(tr.UserRegs)
	}
	sc, err := unwind.DecodeSyscall(p, task, tr, unwind.SyscallOptions{FDPath: unwind.TaskFDPath})
	if err == nil && sc != nil {
		bt.syscall = sc
		bt.Syscall = &BtSyscall{Nr: sc.Nr, Name: sc.Name, ABI: sc.ABI, Text: sc.String(), Args: sc.Args}
	} else if tr.UserRegs != nil && len(tr.Frames) > 0 {
		// The last frame is the entry stub that saved the user registers
		// (asm_exc_page_fault, asm_common_interrupt, ...); orig_ax holds
		// the exception's error code or the IRQ vector there
		// (arch/x86/include/asm/idtentry.h).
		last := tr.Frames[len(tr.Frames)-1]
		code, _ := tr.UserRegs.Regs.Get(unwind.RegOrigAX)
		ip, _ := tr.UserRegs.Regs.Get(unwind.RegIP)
		name := last.Symbol
		if name == "" {
			name = fmt.Sprintf("%#x", last.IP)
		}
		bt.UserEntry = fmt.Sprintf("%s at user ip %#x (orig_ax %#x)", name, ip, code)
	}
	return bt, nil
}

// btLine returns "file:line" of a frame, with the functions inlined there,
// when the type source has line tables (DWARF); "" otherwise.
func btLine(p *symbols.Program, f *unwind.Frame) string {
	// Module frames get lines too when the module's debug file was found
	// (--debuginfo, or /usr/lib/debug/lib/modules/<release>).
	ll, ok := p.Types.(symbols.LineLocator)
	if !ok {
		return ""
	}
	pc := f.IP
	if !f.Exact && pc > 0 {
		pc-- // the call instruction, not the return address
	}
	file, line, inlined, err := ll.LineForAddr(pc)
	if err != nil || file == "" {
		return ""
	}
	s := fmt.Sprintf("%s:%d", file, line)
	for _, in := range inlined {
		s += fmt.Sprintf(" (%s inlined at %s:%d)", in.Function, in.CallFile, in.CallLine)
	}
	return s
}

func btRegs(e *unwind.ExceptionFrame) *BtRegs {
	r := &BtRegs{Addr: Hex(e.Addr), Partial: e.Partial, User: e.User, Regs: map[string]Hex{}, regs: e.Regs, arm64: e.ARM64}
	if a := e.ARM64; a != nil {
		for i, v := range a.X {
			r.Regs[fmt.Sprintf("x%d", i)] = Hex(v)
		}
		r.Regs["sp"], r.Regs["pc"], r.Regs["pstate"] = Hex(a.SP), Hex(a.PC), Hex(a.PState)
		return r
	}
	for reg := unwind.RegR15; reg <= unwind.RegSS; reg++ {
		if v, ok := e.Regs.Get(reg); ok {
			r.Regs[reg.String()] = Hex(v)
		}
	}
	return r
}

// WriteText implements Result: crash's bt layout.
func (r *BtResult) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.CPUStacks != nil {
		writeCPUStacks(&b, r.CPUStacks) // cmd_bt_flags.go
		_, err := io.WriteString(w, b.String())
		return err
	}
	if r.scan != "" {
		for i, t := range r.Traces {
			if i > 0 {
				b.WriteByte('\n')
			}
			writeTextScan(&b, &t)
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	for i, t := range r.Traces {
		if i > 0 {
			b.WriteByte('\n')
		}
		t.writeText(&b, r.words, r.fmt)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (t *BtTrace) writeText(b *strings.Builder, words bool, bf btFormat) {
	cpu := fmt.Sprint(t.CPU)
	if t.CPU < 0 {
		cpu = "-"
	}
	fmt.Fprintf(b, "PID: %-7d TASK: %x  CPU: %-3s COMMAND: %q\n", t.PID, uint64(t.Task), cpu, t.Comm)
	if bf.search {
		writeExceptionSearch(b, t) // cmd_bt_flags.go
		return
	}
	if bf.raw {
		writeRawStack(b, t, bf) // cmd_bt_flags.go
		return
	}
	if t.UserMode {
		fmt.Fprintf(b, "    (running in user mode on CPU %d: no kernel frames)\n", t.CPU)
	}
	for _, f := range t.Frames {
		name := fmt.Sprintf("%#x", uint64(f.IP))
		if f.Symbol != "" {
			name = f.Symbol + bf.offset(uint64(f.Offset))
			if f.Module != "" {
				name += " [" + f.Module + "]"
			}
		}
		guess := ""
		if f.Guess {
			guess = " (guess)"
		}
		if f.Scan {
			guess = " (found by stack scan)"
		}
		fmt.Fprintf(b, "%s#%d [%016x] %s at %016x%s\n", levelPad(f.Level), f.Level, uint64(f.SP), name, uint64(f.IP), guess)
		if f.Line != "" {
			fmt.Fprintf(b, "    %s\n", f.Line)
		}
		writeFrameVars(b, f.Vars)
		if words {
			for i := 0; i < len(f.Words); i += 2 {
				fmt.Fprintf(b, "    %016x:", uint64(f.Words[i].Addr))
				for j := i; j < i+2 && j < len(f.Words); j++ {
					b.WriteByte(' ')
					b.WriteString(bf.word(&f.Words[j]))
				}
				b.WriteByte('\n')
			}
		}
		if f.Exception != nil {
			writeRegs(b, f.Exception)
		}
	}
	if t.UserRegs != nil {
		writeRegs(b, t.UserRegs)
	}
	if t.syscall != nil {
		fmt.Fprintf(b, "    SYSCALL: %s\n", t.syscall.String())
	} else if t.UserEntry != "" {
		fmt.Fprintf(b, "    ENTERED FROM USER SPACE: %s\n", t.UserEntry)
	}
	switch {
	case t.Error != "" && len(t.Frames) == 0:
		fmt.Fprintf(b, "    (no backtrace: %s)\n", t.Error)
	case t.Error != "":
		fmt.Fprintf(b, "    (unwind stopped: %s)\n", t.Error)
	}
}

func levelPad(level int) string {
	if level < 10 {
		return " "
	}
	return ""
}

// writeRegs prints a saved register block like crash's exception frames.
func writeRegs(b *strings.Builder, r *BtRegs) {
	if r.arm64 != nil {
		writeARM64Regs(b, r)
		return
	}
	get := func(reg unwind.Reg) string {
		if v, ok := r.regs.Get(reg); ok {
			return fmt.Sprintf("%016x", v)
		}
		return "----------------"
	}
	if r.Partial {
		fmt.Fprintf(b, "    [iret frame at %x]\n", uint64(r.Addr))
	} else if !r.User {
		rip := get(unwind.RegIP)
		if r.RIPSymbol != "" {
			rip = r.RIPSymbol
		}
		fmt.Fprintf(b, "    [exception RIP: %s]\n", rip)
	}
	fmt.Fprintf(b, "    RIP: %s  RSP: %s  RFLAGS: %s\n", get(unwind.RegIP), get(unwind.RegSP), get(unwind.RegFlags)[8:])
	if r.Partial {
		return
	}
	fmt.Fprintf(b, "    RAX: %s  RBX: %s  RCX: %s\n", get(unwind.RegAX), get(unwind.RegBX), get(unwind.RegCX))
	fmt.Fprintf(b, "    RDX: %s  RSI: %s  RDI: %s\n", get(unwind.RegDX), get(unwind.RegSI), get(unwind.RegDI))
	fmt.Fprintf(b, "    RBP: %s   R8: %s   R9: %s\n", get(unwind.RegBP), get(unwind.RegR8), get(unwind.RegR9))
	fmt.Fprintf(b, "    R10: %s  R11: %s  R12: %s\n", get(unwind.RegR10), get(unwind.RegR11), get(unwind.RegR12))
	fmt.Fprintf(b, "    R13: %s  R14: %s  R15: %s\n", get(unwind.RegR13), get(unwind.RegR14), get(unwind.RegR15))
	fmt.Fprintf(b, "    ORIG_RAX: %s  CS: %s  SS: %s\n", get(unwind.RegOrigAX), get(unwind.RegCS)[12:], get(unwind.RegSS)[12:])
}

// HasTaskHeader implements TaskHeaderer: bt prints its own task header.
func (r *BtResult) HasTaskHeader() bool { return true }

// writeFrameVars prints bt -v's variables under a frame.
func writeFrameVars(b *strings.Builder, scopes []BtScope) {
	for _, sc := range scopes {
		switch {
		case sc.Inlined:
			fmt.Fprintf(b, "    [%s, inlined]\n", sc.Function)
		case len(scopes) > 1:
			fmt.Fprintf(b, "    [%s]\n", sc.Function)
		}
		for _, v := range sc.Vars {
			fmt.Fprintf(b, "    %s = %s\n", v.Name, v.Text)
		}
	}
}

// writeARM64Regs prints an arm64 register block in crash's arm64 layout:
// PC, LR, SP and PSTATE, then x29 down to x0, three a line.
func writeARM64Regs(b *strings.Builder, r *BtRegs) {
	a := r.arm64
	if !r.User {
		pc := fmt.Sprintf("%016x", a.PC)
		if r.RIPSymbol != "" {
			pc = r.RIPSymbol
		}
		fmt.Fprintf(b, "    [exception PC: %s]\n", pc)
	}
	fmt.Fprintf(b, "     PC: %016x   LR: %016x   SP: %016x\n", a.PC, a.X[30], a.SP)
	for i := 29; i >= 0; i -= 3 {
		b.WriteString("   ")
		for j := i; j > i-3 && j >= 0; j-- {
			fmt.Fprintf(b, " %3s: %016x", fmt.Sprintf("X%d", j), a.X[j])
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(b, "    PSTATE: %08x\n", a.PState)
}

// btTextScan fills bt -t/-T: every stack word that is a kernel text
// address, from the innermost frame's slot (fromBase: the stack's lowest
// address) to the top of the stack, as crash's bt -t lists them. Return
// addresses of finished calls are among them: it is a scan, not an unwind.
func btTextScan(c *Call, task symbols.Object, bt *BtTrace, fromBase bool) {
	p := c.Prog
	words, err := unwind.ReadStackWords(p, task)
	if err != nil || words == nil {
		if err != nil && bt.Error == "" {
			bt.Error = "stack: " + err.Error()
		}
		return
	}
	lo := words.Base
	if !fromBase && len(bt.Frames) > 0 && words.Contains(uint64(bt.Frames[0].SP)) {
		lo = uint64(bt.Frames[0].SP)
	}
	start, ws := words.Range(lo, words.Top)
	for j, w := range ws {
		if w == 0 || p.Syms == nil {
			continue
		}
		if s, off, ok := p.Syms.LookupAddr(w); ok && s.IsText() {
			bt.TextSymbols = append(bt.TextSymbols, BtWord{Addr: Hex(start + uint64(j)*8), Value: Hex(w), Symbol: fmt.Sprintf("%s+%#x", s.Name, off)})
		}
	}
}

func writeTextScan(b *strings.Builder, t *BtTrace) {
	cpu := fmt.Sprint(t.CPU)
	if t.CPU < 0 {
		cpu = "-"
	}
	fmt.Fprintf(b, "PID: %-7d TASK: %x  CPU: %-3s COMMAND: %q\n", t.PID, uint64(t.Task), cpu, t.Comm)
	if len(t.Frames) > 0 && t.Frames[0].Symbol != "" {
		fmt.Fprintf(b, "              START: %s at %x\n", t.Frames[0].Symbol, uint64(t.Frames[0].IP))
	}
	if t.Error != "" {
		fmt.Fprintf(b, "    (%s)\n", t.Error)
	}
	for _, w := range t.TextSymbols {
		fmt.Fprintf(b, "  [%016x] %s at %x\n", uint64(w.Addr), w.Symbol, uint64(w.Value))
	}
}
