package sched

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// FormatSigset renders a 64-signal sigset_t word like /proc/PID/status
// (fs/proc/array.c render_sigset_t): 16 hex digits, highest signals first.
// Bit n-1 is signal n.
func FormatSigset(set uint64) string { return fmt.Sprintf("%016x", set) }

// signalNames are the x86_64/arm64 signal names by number
// (arch/x86/include/uapi/asm/signal.h; 1..31, 32+ are real-time).
var signalNames = [...]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
	7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
	13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD",
	18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
	23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF",
	28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
}

// SignalName returns "SIGKILL" for 9, "SIGRT3" for 35, "SIG70" past the end.
func SignalName(n int) string {
	if n > 0 && n < len(signalNames) && signalNames[n] != "" {
		return signalNames[n]
	}
	if n >= 32 && n <= 64 {
		return fmt.Sprintf("SIGRT%d", n-32)
	}
	return fmt.Sprintf("SIG%d", n)
}

// SigsetNames lists the signals in set: "SIGKILL,SIGTERM", "" when empty.
func SigsetNames(set uint64) string {
	var out []string
	for n := 1; n <= 64; n++ {
		if set&(1<<(n-1)) != 0 {
			out = append(out, SignalName(n))
		}
	}
	return strings.Join(out, ",")
}

// Special handler values (include/uapi/asm-generic/signal-defs.h).
const (
	SigDfl = 0 // SIG_DFL
	SigIgn = 1 // SIG_IGN
)

// sa_flags bits (arch/x86/include/uapi/asm/signal.h, the generic ones).
var saFlagNames = []struct {
	bit  uint64
	name string
}{
	{0x00000001, "SA_NOCLDSTOP"}, {0x00000002, "SA_NOCLDWAIT"}, {0x00000004, "SA_SIGINFO"},
	{0x00000400, "SA_UNSUPPORTED"}, {0x00000800, "SA_EXPOSE_TAGBITS"},
	{0x04000000, "SA_RESTORER"}, {0x08000000, "SA_ONSTACK"}, {0x10000000, "SA_RESTART"},
	{0x40000000, "SA_NODEFER"}, {0x80000000, "SA_RESETHAND"},
}

// SAFlagNames names the bits of a sigaction's sa_flags: "SA_RESTORER|SA_RESTART".
// Unknown bits are shown in hex.
func SAFlagNames(flags uint64) string {
	var out []string
	for _, f := range saFlagNames {
		if flags&f.bit != 0 {
			out = append(out, f.name)
			flags &^= f.bit
		}
	}
	if flags != 0 {
		out = append(out, fmt.Sprintf("%#x", flags))
	}
	return strings.Join(out, "|")
}

// SigAction is one entry of a sighand's action[] (struct k_sigaction):
// signal Sig's disposition.
type SigAction struct {
	Sig     int    `json:"sig"`
	Name    string `json:"name"`
	Addr    uint64 `json:"addr"`    // the struct k_sigaction
	Handler uint64 `json:"handler"` // sa_handler: SigDfl, SigIgn or a user address
	Flags   uint64 `json:"flags"`   // sa_flags
	Mask    uint64 `json:"mask"`    // sa_mask: blocked while the handler runs
}

// HandlerName is "SIG_DFL", "SIG_IGN" or the handler's address in hex.
func (a SigAction) HandlerName() string {
	switch a.Handler {
	case SigDfl:
		return "SIG_DFL"
	case SigIgn:
		return "SIG_IGN"
	}
	return fmt.Sprintf("%x", a.Handler)
}

// QueuedSignal is one struct sigqueue on a sigpending list: a signal
// queued with its siginfo.
type QueuedSignal struct {
	Addr  uint64 `json:"addr"`
	Signo int    `json:"signo"`
	Errno int    `json:"errno"`
	Code  int    `json:"code"`
}

// Pending is a struct sigpending: the set of pending signals and the
// queue of their siginfos.
type Pending struct {
	Signal uint64         `json:"signal"`
	Queue  []QueuedSignal `json:"queue"`
}

// Signals is a task's signal state as crash's sig shows it and
// /proc/PID/status sums it up (fs/proc/array.c task_sig).
type Signals struct {
	Task      TaskRef `json:"task"`
	CPU       int     `json:"cpu"`
	Signal    uint64  `json:"signal_struct"`
	Sighand   uint64  `json:"sighand_struct"`
	NrThreads int     `json:"nr_threads"`
	// Private is task->pending (SigPnd), Shared signal->shared_pending
	// (ShdPnd).
	Private Pending `json:"private_pending"`
	Shared  Pending `json:"shared_pending"`
	// Blocked is task->blocked (SigBlk); Ignored and Caught are the
	// signals whose handler is SIG_IGN and a function (SigIgn, SigCgt;
	// collect_sigign_sigcgt).
	Blocked uint64 `json:"blocked"`
	Ignored uint64 `json:"ignored"`
	Caught  uint64 `json:"caught"`
	// Actions are sighand->action[0..63], signals 1..64.
	Actions []SigAction `json:"actions"`
	Errors  []string    `json:"errors,omitempty"`
}

// maxSigQueue bounds a sigpending queue walk (RLIMIT_SIGPENDING is in the
// thousands on a default system).
const maxSigQueue = 1 << 16

// TaskSignals reads the signal state of the task_struct at addr. Parts
// that cannot be read are in Errors; the error is for a task that cannot
// be read at all.
func TaskSignals(p *symbols.Program, addr uint64) (Signals, error) {
	s := Signals{CPU: -1}
	ref, err := TaskRefAt(p, addr)
	s.Task = ref
	if err != nil {
		return s, fmt.Errorf("task %#x: %w", addr, err)
	}
	t, err := p.Object("struct task_struct", addr)
	if err != nil {
		return s, err
	}
	if tk, err := TaskByAddr(p, addr); err == nil {
		s.CPU = tk.CPU
	}
	bad := func(what string, err error) { s.Errors = append(s.Errors, fmt.Sprintf("%s: %v", what, err)) }
	if v, err := t.MemberUint("blocked.sig[0]"); err != nil {
		bad("blocked", err)
	} else {
		s.Blocked = v
	}
	if pend, err := t.Member("pending"); err != nil {
		bad("pending", err)
	} else if s.Private, err = readPending(pend); err != nil {
		bad("pending", err)
	}
	if s.Signal, err = t.MemberUint("signal"); err != nil {
		bad("signal", err)
	} else if s.Signal != 0 {
		sig, err := p.Object("struct signal_struct", s.Signal)
		if err == nil {
			var n uint64
			if n, err = sig.MemberUint("nr_threads"); err == nil {
				s.NrThreads = int(int32(n))
			}
			var pend symbols.Object
			if pend, err = sig.Member("shared_pending"); err == nil {
				s.Shared, err = readPending(pend)
			}
		}
		if err != nil {
			bad("signal->shared_pending", err)
		}
	}
	if s.Sighand, err = t.MemberUint("sighand"); err != nil {
		bad("sighand", err)
	} else if s.Sighand != 0 {
		if err := s.readActions(p); err != nil {
			bad("sighand->action", err)
		}
	}
	return s, nil
}

func (s *Signals) readActions(p *symbols.Program) error {
	sh, err := p.Object("struct sighand_struct", s.Sighand)
	if err != nil {
		return err
	}
	acts, err := sh.Member("action")
	if err != nil {
		return err
	}
	at := acts.Type().Resolve()
	if at == nil || at.Kind != symbols.KindArray || at.Elem == nil {
		return fmt.Errorf("sighand_struct.action is not an array")
	}
	n := 64
	if at.Len < 64 {
		n = int(at.Len)
	}
	esz := at.Elem.Resolve().Size
	buf := make([]byte, uint64(n)*esz)
	if err := p.Mem.ReadVirt(buf, acts.Addr()); err != nil {
		return fmt.Errorf("sighand %#x: %w", s.Sighand, err)
	}
	hOff, err := p.OffsetOfType(at.Elem, "sa.sa_handler")
	if err != nil {
		return err
	}
	fOff, err := p.OffsetOfType(at.Elem, "sa.sa_flags")
	if err != nil {
		return err
	}
	mOff, err := p.OffsetOfType(at.Elem, "sa.sa_mask")
	if err != nil {
		return err
	}
	le := func(off uint64) uint64 {
		if off+8 > uint64(len(buf)) {
			return 0
		}
		return binary.LittleEndian.Uint64(buf[off:])
	}
	for i := 0; i < n; i++ {
		base := uint64(i) * esz
		a := SigAction{Sig: i + 1, Name: SignalName(i + 1), Addr: acts.Addr() + base,
			Handler: le(base + hOff), Flags: le(base + fOff), Mask: le(base + mOff)}
		// fs/proc/array.c collect_sigign_sigcgt.
		switch a.Handler {
		case SigDfl:
		case SigIgn:
			s.Ignored |= 1 << i
		default:
			s.Caught |= 1 << i
		}
		s.Actions = append(s.Actions, a)
	}
	return nil
}

// readPending reads a struct sigpending: its set and its queue of
// struct sigqueue (kernel/signal.c: linked through sigqueue.list).
func readPending(pend symbols.Object) (Pending, error) {
	var out Pending
	v, err := pend.MemberUint("signal.sig[0]")
	if err != nil {
		return out, err
	}
	out.Signal = v
	p := pend.Prog()
	off, err := p.OffsetOfType(pend.Type(), "list")
	if err != nil {
		return out, err
	}
	nodes, err := kmem.ListHeadNodes(p, pend.Addr()+off, "sigpending.list", maxSigQueue)
	for _, n := range nodes {
		q := QueuedSignal{Addr: n}
		if o, oerr := p.ContainerOf(n, "struct sigqueue", "list"); oerr == nil {
			q.Addr = o.Addr()
			if v, e := o.MemberUint("info.si_signo"); e == nil {
				q.Signo = int(int32(v))
			}
			if v, e := o.MemberUint("info.si_errno"); e == nil {
				q.Errno = int(int32(v))
			}
			if v, e := o.MemberUint("info.si_code"); e == nil {
				q.Code = int(int32(v))
			}
		}
		out.Queue = append(out.Queue, q)
	}
	return out, err
}

// ThreadGroup returns the addresses of the threads of addr's thread group,
// its leader first (include/linux/sched/signal.h for_each_thread).
func ThreadGroup(p *symbols.Program, addr uint64) ([]uint64, error) {
	w, err := newTaskWalk(p)
	if err != nil {
		return nil, err
	}
	leader := addr
	if off, err := p.OffsetOfType(w.lay.typ, "group_leader"); err == nil {
		if v, err := p.ReadU64(addr + off); err == nil && v != 0 {
			leader = v
		}
	}
	ts, err := w.threads(leader)
	if len(ts) == 0 {
		ts = []uint64{addr}
	}
	return ts, err
}
