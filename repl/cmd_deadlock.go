package repl

import (
	"fmt"
	"io"
	"time"

	"github.com/kwalk/kwalk/walkers/waitfor"
)

func registerDeadlock(r *Registry) {
	r.Add(&Command{
		Name:    "deadlock",
		Aliases: []string{"hung"},
		Summary: "find what every blocked task waits for, chains and cycles, and name the root cause",
		Usage:   "deadlock [-a]",
		Help: `Builds the wait-for graph of the kernel: for every task blocked on a
mutex, rw-semaphore, semaphore, completion, wait queue, page/folio lock or
FUSE request (found from waiter structures on the task's own stack,
verified on the lock's wait list, or from the request's wait queue), and
for pid-namespace inits in zap_pid_ns_processes, it finds the object and
its holder (lock owner, last-reader hint, FUSE server tasks by their open
/dev/fuse, the remaining tasks of the namespace). Chains of waiters are
grouped by root cause, cycles (true deadlocks) first, then by how many
tasks each root blocks; every hop says how it was established and whether
it is certain or a hint. Remedies say what would unstick each chain.

Exit status (batch): 0 nothing stuck, 1 stuck chains, 2 a cycle,
3 could not analyse, 4 incomplete: the task list, a task's stack or a
wait's object could not be read (a truncated or filtered dump), so what
was not seen may be what is stuck; the report lists what could not be
read, and the chains found among the rest. With -a, every blocked task's
wait is listed too; with -v, how each wait was established. The text
starts with one line per root cause (what, how many tasks for how long,
the first fix), then tells each chain; on a terminal it is wrapped to
its width ($COLUMNS when set), in a pipe or file each line stays whole.
Warnings go to stderr.

JSON: the waitfor.DeadlockReport, schema in docs/deadlock-json.md.`,
		Flags: []Flag{{Name: "a", Help: "also list every blocked task's wait"},
			{Name: "v", Help: "say how each wait was found (waiter structure, list, frame)"}},
		Examples: []string{"deadlock", "deadlock -a", "deadlock -v", "deadlock --json"},
		Run: func(c *Call) (Result, error) {
			rep, err := waitfor.Deadlock(c.Prog)
			c.SetStatus(rep.ExitCode)
			if err != nil {
				return nil, fmt.Errorf("deadlock: %w", err)
			}
			return DeadlockResult{DeadlockReport: rep, all: c.Bool("a"), verbose: c.Bool("v"), width: textWidth()}, nil
		},
	})
}

func registerBlocked(r *Registry) {
	r.Add(&Command{
		Name:    "blocked",
		Summary: "what each blocked task waits for, and who holds it",
		Usage:   "blocked [PID]...",
		Help: `For every task blocked on a lock, wait queue, folio, FUSE request or pid
namespace teardown (or only the PIDs given), shows the object it waits
on, how that was established, and the holders with the evidence for each
(certain or a hint). "deadlock" groups the same waits into chains.

JSON: {"waits": [TaskWait...], "warnings": [...]}, TaskWait as in
docs/deadlock-json.md.`,
		Examples: []string{"blocked", "blocked 114", "blocked --json"},
		Complete: func(c *Completion) []string { return c.Pids() },
		Run: func(c *Call) (Result, error) {
			ws, warns, err := waitfor.Waits(c.Prog)
			if err != nil {
				return nil, err
			}
			if len(c.Args) > 0 {
				want := map[int]bool{}
				for _, a := range c.Args {
					var pid int
					if _, err := fmt.Sscanf(a, "%d", &pid); err != nil {
						return nil, UsageErrorf("blocked: %q is not a PID", a)
					}
					want[pid] = true
				}
				var sel []waitfor.TaskWait
				for _, w := range ws {
					if want[w.Task.PID] {
						sel = append(sel, w)
					}
				}
				ws = sel
			}
			if ws == nil {
				ws = []waitfor.TaskWait{}
			}
			return BlockedResult{Waits: ws, Warnings: warns}, nil
		},
	})
}

// BlockedResult is the result of "blocked".
type BlockedResult struct {
	Waits    []waitfor.TaskWait `json:"waits"`
	Warnings []string           `json:"warnings,omitempty"`
}

// MarshalJSON implements json.Marshaler (addresses as hex strings).
func (b BlockedResult) MarshalJSON() ([]byte, error) {
	type plain BlockedResult
	return marshalValue(plain(b))
}

// WriteText implements Result.
func (b BlockedResult) WriteText(w io.Writer) error {
	if len(b.Waits) == 0 {
		fmt.Fprintln(w, "no blocked task")
	}
	for _, x := range b.Waits {
		fmt.Fprintf(w, "PID %d (%s) [%s]", x.Task.PID, x.Task.Comm, x.Task.State)
		if x.Task.Exiting {
			fmt.Fprint(w, " exiting")
		}
		if x.Task.FatalSignal {
			fmt.Fprint(w, " SIGKILL pending")
		}
		if x.Task.BlockedFor > 0 {
			fmt.Fprintf(w, " for %s", x.Task.BlockedFor.Round(time.Second))
		}
		fmt.Fprintf(w, "\n  waits (%s) on %s", x.Kind, x.Object.What)
		if x.Object.Addr != 0 {
			fmt.Fprintf(w, " [%s %#x]", x.Object.Type, x.Object.Addr)
		}
		if x.QueueLen > 0 {
			fmt.Fprintf(w, ", waiter %d of %d", x.Position, x.QueueLen)
		}
		fmt.Fprintf(w, "\n  found by: %s\n", x.How)
		for _, h := range x.Holders {
			c := "certain"
			if !h.Certain {
				c = "hint"
			}
			fmt.Fprintf(w, "  held by PID %d (%s): %s [%s]\n", h.Task.PID, h.Task.Comm, h.How, c)
		}
		if x.Note != "" {
			fmt.Fprintf(w, "  note: %s\n", x.Note)
		}
		if x.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", x.Error)
		}
	}
	return nil
}

// ResultWarnings implements Warner: the walk's warnings go to stderr.
func (b BlockedResult) ResultWarnings() []string { return b.Warnings }

// DeadlockResult is the result of "deadlock".
type DeadlockResult struct {
	*waitfor.DeadlockReport
	all, verbose bool
	width        int // columns to wrap text to; 0: 100
}

// MarshalJSON implements json.Marshaler (addresses as hex strings).
func (d DeadlockResult) MarshalJSON() ([]byte, error) { return marshalValue(d.DeadlockReport) }

// WriteText implements Result.
func (d DeadlockResult) WriteText(w io.Writer) error {
	if pi := d.Panic; pi != nil {
		// Why the dump was taken comes first.
		fmt.Fprintf(w, "the kernel panicked (%s): %s\n", pi.Kind, pi.Message)
		if pi.Cause != "" {
			fmt.Fprintf(w, "  cause: %s\n", pi.Cause)
		}
		if pi.Task != nil {
			fmt.Fprintf(w, "  on CPU %d in %s (pid %d): \"bt %d\" shows where\n", pi.CPU, pi.Task.Comm, pi.Task.PID, pi.Task.PID)
		}
		for i, h := range pi.HungTasks {
			fmt.Fprintf(w, "  hung task reported: %s (pid %d), blocked more than %d s: %s\n", h.Comm, h.PID, h.Seconds, hungWhere(d.PanicChains, i))
		}
		fmt.Fprintln(w)
	} else if len(d.HungTasks) > 0 {
		// Warnings of a kernel that went on running: not why the dump
		// was taken.
		fmt.Fprintf(w, "the hung-task detector reported %d task(s) in the kernel log (the kernel did not panic):\n", len(d.HungTasks))
		for i, h := range d.HungTasks {
			fmt.Fprintf(w, "  %s (pid %d), blocked more than %d s: %s\n", h.Comm, h.PID, h.Seconds, hungWhere(d.HungChains, i))
		}
		fmt.Fprintln(w)
	}
	switch d.Status {
	case "ok":
		fmt.Fprintln(w, "nothing is stuck: no task waits on a lock, FUSE request or namespace teardown kwalk can name")
	case "stuck":
		fmt.Fprintf(w, "%d stuck chain(s), no cycle\n", len(d.Chains))
	case "deadlock":
		fmt.Fprintf(w, "DEADLOCK: %d cycle(s); %d chain(s) in all\n", d.Cycles, len(d.Chains))
	case "incomplete":
		// Never "nothing is stuck": what was not seen may be what is.
		u := d.Unexamined
		fmt.Fprintf(w, "%s\n", u.Summary)
		switch {
		case d.Cycles > 0:
			fmt.Fprintf(w, "among what could be read: DEADLOCK, %d cycle(s); %d chain(s) in all\n", d.Cycles, len(d.Chains))
		case len(d.Chains) > 0:
			fmt.Fprintf(w, "among what could be read: %d stuck chain(s), no cycle\n", len(d.Chains))
		default:
			fmt.Fprintln(w, "among what could be read, nothing is stuck; what could not be read may be")
		}
		fmt.Fprintln(w, "could not read:")
		for _, s := range u.What {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
	writeRootSummary(w, d.Chains, d.width)
	for i, c := range d.Chains {
		writeChainText(w, i+1, c, d.width, d.verbose)
	}
	if d.all {
		fmt.Fprintln(w, "\nall blocked tasks:")
		for _, x := range d.Waits {
			fmt.Fprintf(w, "  %d %s [%s] %s: %s\n", x.Task.PID, x.Task.Comm, x.Task.State, x.Kind, x.Object.What)
		}
	}
	return nil
}

// ResultWarnings implements Warner: the report's warnings go to stderr.
func (d DeadlockResult) ResultWarnings() []string { return d.Warnings }

// hungWhere says which chain below holds the i-th reported hung task.
func hungWhere(chains []int, i int) string {
	if i < len(chains) && chains[i] > 0 {
		return fmt.Sprintf("chain #%d below", chains[i])
	}
	return "in no chain below (it may have moved on)"
}
