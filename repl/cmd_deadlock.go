package repl

import (
	"fmt"
	"io"

	"github.com/kwalk/kwalk/walkers"
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
3 could not analyse. With -a, every blocked task's wait is listed too.

JSON: the walkers.DeadlockReport, schema in docs/deadlock-json.md.`,
		Flags:    []Flag{{Name: "a", Help: "also list every blocked task's wait"}},
		Examples: []string{"deadlock", "deadlock -a", "deadlock --json"},
		Run: func(c *Call) (Result, error) {
			rep := walkers.Deadlock(c.Prog)
			c.SetStatus(rep.ExitCode)
			if rep.Status == "error" {
				return nil, fmt.Errorf("deadlock: %s", rep.Error)
			}
			return DeadlockResult{DeadlockReport: rep, all: c.Bool("a")}, nil
		},
	})
}

// DeadlockResult is the result of "deadlock".
type DeadlockResult struct {
	*walkers.DeadlockReport
	all bool
}

// MarshalJSON implements json.Marshaler (addresses as hex strings).
func (d DeadlockResult) MarshalJSON() ([]byte, error) { return marshalValue(d.DeadlockReport) }

// WriteText implements Result.
func (d DeadlockResult) WriteText(w io.Writer) error {
	switch d.Status {
	case "ok":
		fmt.Fprintln(w, "nothing is stuck: no task waits on a lock, FUSE request or namespace teardown kwalk can name")
	case "stuck":
		fmt.Fprintf(w, "%d stuck chain(s), no cycle\n", len(d.Chains))
	case "deadlock":
		fmt.Fprintf(w, "DEADLOCK: %d cycle(s); %d chain(s) in all\n", d.Cycles, len(d.Chains))
	}
	for i, c := range d.Chains {
		certain := "certain"
		if !c.Root.Certain {
			certain = "includes hints"
		}
		fmt.Fprintf(w, "\n#%d  %s — %d task(s) blocked (%s)\n", i+1, c.Root.Kind, c.Blocked, certain)
		fmt.Fprintf(w, "    %s\n", c.Root.Summary)
		for _, s := range c.Story {
			fmt.Fprintf(w, "  - %s\n", s)
		}
		for _, s := range c.Remedy {
			fmt.Fprintf(w, "  fix: %s\n", s)
		}
	}
	if d.all {
		fmt.Fprintln(w, "\nall blocked tasks:")
		for _, x := range d.Waits {
			fmt.Fprintf(w, "  %d %s [%s] %s: %s\n", x.Task.PID, x.Task.Comm, x.Task.State, x.Kind, x.Object.What)
		}
	}
	for _, e := range d.Warnings {
		fmt.Fprintf(w, "warning: %s\n", e)
	}
	return nil
}
