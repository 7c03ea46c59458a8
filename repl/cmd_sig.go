package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
)

func registerSig(r *Registry) {
	r.Add(&Command{
		Name:    "sig",
		Summary: "a task's signal handlers, pending, blocked, ignored and caught signals",
		Usage:   "sig [-g] [-l] [PID|TASK-ADDR]...",
		Help: `Shows the signal state of the current task (see set), or of each task given
by pid or task_struct address, like crash's sig: the signal_struct and
its thread count, the sighand's action[] for signals 1-64 (the struct
k_sigaction, the handler: SIG_DFL, SIG_IGN or the user address, sa_mask
and sa_flags named), the shared pending set (signal->shared_pending) and
the private one (task->pending) each with its queue of struct sigqueue,
and the blocked, ignored and caught sets as /proc/PID/status shows them
(SigBlk, SigIgn, SigCgt: handlers SIG_IGN and functions). Masks are
16 hex digits, bit n-1 for signal n; the signals in a set are named.

JSON: {"tasks": [{"pid", "tgid", "comm", "task", "cpu", "signal_struct",
"sighand_struct", "nr_threads", "shared_pending": {"signal", "names",
"queue": [{"sigqueue", "signo", "errno", "code"}]}, "private_pending"
(same), "blocked", "ignored", "caught" (masks as 16-digit hex strings),
"actions": [{"sig", "name", "k_sigaction", "handler" ("SIG_DFL",
"SIG_IGN" or hex), "flags", "flag_names", "mask"}], "errors"}]};
with -l {"signals": [{"sig", "name"}]}.`,
		Flags: []Flag{
			{Name: "g", Help: "every thread of each task's thread group"},
			{Name: "l", Help: "list the signal numbers and names"},
		},
		Examples: []string{"sig", "sig 1", "sig -g 1234", "foreach sig", "sig -l", "sig --json 1"},
		PerTask:  true,
		Complete: func(c *Completion) []string { return c.Pids() },
		Run:      runSig,
	})
}

// SigPendingRow is a struct sigpending of "sig".
type SigPendingRow struct {
	Signal string        `json:"signal"`
	Names  string        `json:"names"`
	Queue  []SigQueueRow `json:"queue"`
}

// SigQueueRow is one queued struct sigqueue.
type SigQueueRow struct {
	Sigqueue Hex `json:"sigqueue"`
	Signo    int `json:"signo"`
	Errno    int `json:"errno"`
	Code     int `json:"code"`
}

// SigActionRow is one sighand action of "sig".
type SigActionRow struct {
	Sig       int    `json:"sig"`
	Name      string `json:"name"`
	KSigact   Hex    `json:"k_sigaction"`
	Handler   string `json:"handler"`
	Flags     Hex    `json:"flags"`
	FlagNames string `json:"flag_names"`
	Mask      string `json:"mask"`
}

// SigTask is one task of "sig".
type SigTask struct {
	PID       int            `json:"pid"`
	TGID      int            `json:"tgid"`
	Comm      string         `json:"comm"`
	Task      Hex            `json:"task"`
	CPU       int            `json:"cpu"`
	Signal    Hex            `json:"signal_struct"`
	Sighand   Hex            `json:"sighand_struct"`
	NrThreads int            `json:"nr_threads"`
	Shared    SigPendingRow  `json:"shared_pending"`
	Private   SigPendingRow  `json:"private_pending"`
	Blocked   string         `json:"blocked"`
	Ignored   string         `json:"ignored"`
	Caught    string         `json:"caught"`
	Actions   []SigActionRow `json:"actions"`
	Errors    []string       `json:"errors,omitempty"`
}

// SigResult is the result of "sig".
type SigResult struct {
	Tasks []SigTask `json:"tasks"`
}

// SigListResult is the result of "sig -l".
type SigListResult struct {
	Signals []SigName `json:"signals"`
}

// SigName is one signal of "sig -l".
type SigName struct {
	Sig  int    `json:"sig"`
	Name string `json:"name"`
}

// ResultWarnings implements Warner.
func (r *SigResult) ResultWarnings() []string {
	var out []string
	for _, t := range r.Tasks {
		for _, e := range t.Errors {
			out = append(out, fmt.Sprintf("pid %d: %s", t.PID, e))
		}
	}
	return out
}

func runSig(c *Call) (Result, error) {
	if c.Bool("l") {
		var r SigListResult
		for n := 1; n <= 64; n++ {
			r.Signals = append(r.Signals, SigName{n, sched.SignalName(n)})
		}
		return &r, nil
	}
	objs, err := argTasks(c)
	if err != nil {
		return nil, err
	}
	var addrs []uint64
	seen := map[uint64]bool{}
	for _, o := range objs {
		a, err := taskAddr(o)
		if err != nil {
			return nil, err
		}
		group := []uint64{a}
		if c.Bool("g") {
			if group, err = sched.ThreadGroup(c.Prog, a); err != nil && len(group) == 0 {
				return nil, err
			}
		}
		for _, g := range group {
			if !seen[g] {
				seen[g] = true
				addrs = append(addrs, g)
			}
		}
	}
	res := &SigResult{Tasks: []SigTask{}}
	for _, a := range addrs {
		if err := c.Ctx.Err(); err != nil {
			return nil, err
		}
		s, err := sched.TaskSignals(c.Prog, a)
		if err != nil {
			return nil, err
		}
		res.Tasks = append(res.Tasks, sigTaskRow(s))
	}
	return res, nil
}

// taskAddr is the address of a task object (a struct or a pointer to one).
func taskAddr(o symbols.Object) (uint64, error) {
	if r := o.Type().Resolve(); r != nil && r.Kind == symbols.KindPointer {
		return o.Uint()
	}
	if a, ok := o.Address(); ok {
		return a, nil
	}
	return 0, fmt.Errorf("%s: task is not in memory", o.Path())
}

func sigPendingRow(p sched.Pending) SigPendingRow {
	r := SigPendingRow{Signal: sched.FormatSigset(p.Signal), Names: sched.SigsetNames(p.Signal), Queue: []SigQueueRow{}}
	for _, q := range p.Queue {
		r.Queue = append(r.Queue, SigQueueRow{Sigqueue: Hex(q.Addr), Signo: q.Signo, Errno: q.Errno, Code: q.Code})
	}
	return r
}

func sigTaskRow(s sched.Signals) SigTask {
	t := SigTask{PID: s.Task.PID, TGID: s.Task.TGID, Comm: s.Task.Comm, Task: Hex(s.Task.Addr), CPU: s.CPU,
		Signal: Hex(s.Signal), Sighand: Hex(s.Sighand), NrThreads: s.NrThreads,
		Shared: sigPendingRow(s.Shared), Private: sigPendingRow(s.Private),
		Blocked: sched.FormatSigset(s.Blocked), Ignored: sched.FormatSigset(s.Ignored), Caught: sched.FormatSigset(s.Caught),
		Actions: []SigActionRow{}, Errors: s.Errors}
	for _, a := range s.Actions {
		t.Actions = append(t.Actions, SigActionRow{Sig: a.Sig, Name: a.Name, KSigact: Hex(a.Addr), Handler: a.HandlerName(),
			Flags: Hex(a.Flags), FlagNames: sched.SAFlagNames(a.Flags), Mask: sched.FormatSigset(a.Mask)})
	}
	return t
}

// WriteText implements Result.
func (r *SigResult) WriteText(w io.Writer) error {
	for i, t := range r.Tasks {
		var b strings.Builder
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "PID: %-6d TASK: %016x  CPU: %-3d COMMAND: %q\n", t.PID, uint64(t.Task), t.CPU, t.Comm)
		fmt.Fprintf(&b, "SIGNAL_STRUCT: %016x  NR_THREADS: %d  SIGHAND_STRUCT: %016x\n", uint64(t.Signal), t.NrThreads, uint64(t.Sighand))
		if len(t.Actions) > 0 {
			b.WriteString(" SIG  SIGACTION         HANDLER           MASK              FLAGS\n")
			for _, a := range t.Actions {
				fl := fmt.Sprintf("%x", uint64(a.Flags))
				if a.FlagNames != "" {
					fl += " (" + a.FlagNames + ")"
				}
				fmt.Fprintf(&b, "%-5s %016x  %-16s  %s  %s\n", fmt.Sprintf("[%d]", a.Sig), uint64(a.KSigact), a.Handler, a.Mask, fl)
			}
		}
		writePend := func(title string, p SigPendingRow) {
			fmt.Fprintf(&b, "%s\n    SIGNAL: %s%s\n", title, p.Signal, sigNamesSuffix(p.Names))
			if len(p.Queue) == 0 {
				b.WriteString("  SIGQUEUE: (empty)\n")
				return
			}
			b.WriteString("  SIGQUEUE:  SIG  SIGINFO            CODE  ERRNO\n")
			for _, q := range p.Queue {
				fmt.Fprintf(&b, "            %3d  %016x  %5d  %5d  %s\n", q.Signo, uint64(q.Sigqueue), q.Code, q.Errno, sched.SignalName(q.Signo))
			}
		}
		writePend("SHARED_PENDING", t.Shared)
		writePend("PRIVATE_PENDING", t.Private)
		fmt.Fprintf(&b, "   BLOCKED: %s%s\n", t.Blocked, sigNamesSuffix(namesOfHex(t.Blocked)))
		fmt.Fprintf(&b, "   IGNORED: %s\n", t.Ignored)
		fmt.Fprintf(&b, "    CAUGHT: %s%s\n", t.Caught, sigNamesSuffix(namesOfHex(t.Caught)))
		for _, e := range t.Errors {
			fmt.Fprintf(&b, "  (could not read %s)\n", e)
		}
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}

func sigNamesSuffix(names string) string {
	if names == "" {
		return ""
	}
	return "  " + names
}

func namesOfHex(h string) string {
	var v uint64
	if _, err := fmt.Sscanf(h, "%x", &v); err != nil || v == ^uint64(0) {
		return ""
	}
	return sched.SigsetNames(v)
}

// WriteText implements Result.
func (r *SigListResult) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, s := range r.Signals {
		fmt.Fprintf(&b, "[%d] %s\n", s.Sig, s.Name)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
