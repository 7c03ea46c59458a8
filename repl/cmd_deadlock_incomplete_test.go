package repl

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/walkers/crash"
	"github.com/kwalk/kwalk/walkers/waitfor"
)

func TestExitIncompleteIsDeadlocks(t *testing.T) {
	if ExitIncomplete != waitfor.DeadlockIncomplete {
		t.Errorf("ExitIncomplete %d, waitfor.DeadlockIncomplete %d", ExitIncomplete, waitfor.DeadlockIncomplete)
	}
}

// An incomplete report never reads "nothing is stuck": it says what could
// not be read, and its warnings are not in the text.
func TestDeadlockIncompleteText(t *testing.T) {
	for _, c := range []struct {
		name   string
		rep    waitfor.DeadlockReport
		want   []string
		absent []string
	}{
		{"nothing found", waitfor.DeadlockReport{Status: "incomplete", ExitCode: waitfor.DeadlockIncomplete,
			Unexamined: &waitfor.Unexamined{Tasks: 2, Summary: "incomplete: 2 tasks could not be examined", What: []string{"dd (pid 7, task 0x1): its kernel stack could not be unwound: gone"}},
			Warnings:   []string{"a list broke"}},
			[]string{"incomplete: 2 tasks could not be examined\n", "among what could be read, nothing is stuck; what could not be read may be", "  - dd (pid 7, task 0x1): its kernel stack could not be unwound: gone\n"},
			[]string{"nothing is stuck:", "a list broke"}},
		{"a cycle found", waitfor.DeadlockReport{Status: "incomplete", ExitCode: waitfor.DeadlockIncomplete, Cycles: 1,
			Chains:     []waitfor.Chain{{Root: waitfor.Root{Kind: waitfor.RootCycle, Summary: "deadlock: a → b → a"}, Blocked: 2}},
			Unexamined: &waitfor.Unexamined{TaskList: "broken", Summary: "incomplete: the task list could not be walked whole", What: []string{"the task list: broken"}}},
			[]string{"among what could be read: DEADLOCK, 1 cycle(s); 1 chain(s) in all", "#1  cycle"},
			[]string{"nothing is stuck"}},
		{"hung-task warnings without a panic", waitfor.DeadlockReport{Status: "stuck", ExitCode: 1,
			Chains:     []waitfor.Chain{{Root: waitfor.Root{Kind: waitfor.RootHolderNotBlocked, Summary: "x holds y"}, Blocked: 1}},
			HungTasks:  []crash.HungTask{{Comm: "dd", PID: 7, Seconds: 120}, {Comm: "gone", PID: 9, Seconds: 120}},
			HungChains: []int{1, 0}},
			[]string{"the hung-task detector reported 2 task(s) in the kernel log (the kernel did not panic):\n",
				"  dd (pid 7), blocked more than 120 s: chain #1 below\n", "  gone (pid 9), blocked more than 120 s: in no chain below"},
			[]string{"the kernel panicked"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b strings.Builder
			rep := c.rep
			if err := (DeadlockResult{DeadlockReport: &rep}).WriteText(&b); err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("text lacks %q:\n%s", w, b.String())
				}
			}
			for _, a := range c.absent {
				if strings.Contains(b.String(), a) {
					t.Errorf("text has %q:\n%s", a, b.String())
				}
			}
		})
	}
}
