package waitfor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
)

// Unexamined says what the deadlock analysis could not read. A report
// with one has Status "incomplete": what it did not see may be what is
// stuck, so it never says "nothing is stuck".
type Unexamined struct {
	// Tasks is how many tasks could not be examined: their task_struct,
	// or the kernel stack that tells what they wait on, could not be read.
	Tasks int `json:"tasks"`
	// TaskList is why the task list could not be walked whole; the tasks
	// past the break are not even counted in Tasks.
	TaskList string `json:"task_list,omitempty"`
	// Waits is how many of the waits found have an object that could not
	// be read (their Error says why; they are not certain). Waits only
	// tainted by reads of missing pages (TaskWait.Incomplete) are not
	// counted: their chain says it is incomplete.
	Waits int `json:"waits"`
	// What lists what could not be read, one line each (the first
	// maxUnexaminedListed).
	What []string `json:"what"`
	// Summary is one line: "incomplete: 3 tasks could not be examined; …".
	Summary string `json:"summary"`
}

// maxUnexaminedListed bounds Unexamined.What (a truncated dump can leave
// thousands of tasks unreadable).
const maxUnexaminedListed = 50

// unexamined finds what the analysis that produced ws could not read:
// the task list, tasks whose task_struct or kernel stack the dump does
// not have, waits whose object could not be read. Nil when it saw all.
func (a *waitAnalysis) unexamined(ws []TaskWait) *Unexamined {
	u := &Unexamined{What: []string{}}
	more := 0
	add := func(s string) {
		if len(u.What) < maxUnexaminedListed {
			u.What = append(u.What, s)
		} else {
			more++
		}
	}
	if a.listErr != nil {
		u.TaskList = a.listErr.Error()
		add("the task list: " + firstLine(u.TaskList))
	}
	for i := range a.tasks {
		t := &a.tasks[i]
		if why := a.whyUnexamined(t); why != "" {
			u.Tasks++
			add(fmt.Sprintf("%s (pid %d, task %#x): %s", t.Comm, t.PID, t.Addr, why))
		}
	}
	for _, w := range ws {
		if w.Error != "" && !w.Incomplete {
			u.Waits++
			add(fmt.Sprintf("the wait of %s (pid %d) on %s: %s", w.Task.Comm, w.Task.PID, w.Object.What, w.Error))
		}
	}
	if u.TaskList == "" && u.Tasks == 0 && u.Waits == 0 {
		return nil
	}
	if more > 0 {
		u.What = append(u.What, fmt.Sprintf("… and %d more", more))
	}
	var parts []string
	if u.Tasks > 0 {
		parts = append(parts, fmt.Sprintf("%d tasks could not be examined", u.Tasks))
	}
	if u.TaskList != "" {
		parts = append(parts, fmt.Sprintf("the task list could not be walked whole (%d tasks found; those past the break were not examined)", len(a.tasks)))
	}
	if u.Waits > 0 {
		parts = append(parts, fmt.Sprintf("%d waits have an object that could not be read", u.Waits))
	}
	u.Summary = "incomplete: " + strings.Join(parts, "; ")
	return u
}

// whyUnexamined says why the analysis could not tell what t waits on, ""
// when it could. Only memory the dump lacks counts: a task whose stack is
// unmapped (a zombie's, freed) is the kernel's state, not a gap in the
// dump. Tasks running, idle or dead are not examined and need not be; a
// task that was unwound must have been unwound without meeting a missing
// page; any other sleeper must have had the top of its stack (where
// sleepsInLock looks for a lock slowpath) readable.
func (a *waitAnalysis) whyUnexamined(t *sched.Task) string {
	for _, e := range t.Errors {
		// sched's decode: the task is on the list, its fields unread.
		if strings.HasPrefix(e, "read task_struct") {
			return "its task_struct could not be read: " + e
		}
	}
	if t.Idle || t.OnCPU {
		return ""
	}
	switch t.State {
	case "R", "I", "X", "Z":
		return ""
	}
	if tr, ok := a.traces[t.Addr]; ok {
		if tr == nil {
			if _, err := unwind.Stack(a.p, t.Obj); missingMemory(err) {
				return "its kernel stack could not be unwound: " + err.Error()
			}
			return ""
		}
		if missingMemory(tr.Err) {
			return "its kernel stack was unwound only in part: " + tr.Err.Error()
		}
		return ""
	}
	if err := a.readStackTop(t); missingMemory(err) {
		return "the top of its kernel stack could not be read: " + err.Error()
	}
	return ""
}

// readStackTop reads what sleepsInLock reads: the sleepWindow bytes of
// t's stack from its saved stack pointer.
func (a *waitAnalysis) readStackTop(t *sched.Task) error {
	sp, err := t.Obj.MemberUint("thread.sp")
	if err != nil {
		return err
	}
	base, err := t.Obj.MemberUint("stack")
	if err != nil {
		return err
	}
	top := base + threadSize
	if sp == 0 || sp < base || sp >= top {
		return nil // not a stack pointer into the stack: nothing to read
	}
	buf := make([]byte, min(sleepWindow, top-sp))
	return a.p.Mem.ReadVirt(buf, sp)
}

// missingMemory reports whether err is a read of memory the dump does not
// hold: a page left out, past the end of a truncated file, or outside
// every range it has (not an unmapped or non-canonical address, which is
// the kernel's own state).
func missingMemory(err error) bool {
	return errors.Is(err, kcore.ErrExcluded) || errors.Is(err, kcore.ErrTruncated) || errors.Is(err, kcore.ErrNotInDump)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + fmt.Sprintf(" (and %d more)", strings.Count(s, "\n"))
	}
	return s
}
