package locking

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// CompletionInfo is a decoded struct completion.
type CompletionInfo struct {
	Addr uint64 `json:"addr"`
	// Done is the completion count (UINT_MAX after complete_all).
	Done    uint64       `json:"done"`
	Waiters []LockWaiter `json:"waiters"`
	Error   string       `json:"error,omitempty"`
}

// Completion decodes the struct completion at addr. Its wait member is a
// swait_queue_head of struct swait_queue (include/linux/completion.h,
// swait.h since 5.x) or, in older kernels, a plain wait_queue_head; the
// type says which.
func Completion(p *symbols.Program, addr uint64) (*CompletionInfo, error) {
	c, err := p.Object("struct completion", addr)
	if err != nil {
		return nil, err
	}
	done, err := kmem.ScalarMember(c, "done")
	if err != nil {
		return nil, fmt.Errorf("completion %#x: %w", addr, err)
	}
	info := &CompletionInfo{Addr: addr, Done: done}
	wait, err := c.Member("wait")
	if err != nil {
		return nil, err
	}
	if wait.Type().HasMember("task_list") {
		info.Waiters, err = swaitWaiters(wait)
	} else {
		var q *WaitQueueInfo
		if q, err = WaitQueue(p, wait.Addr()); q != nil {
			info.Waiters = q.Waiters
			if err == nil && q.Error != "" {
				err = fmt.Errorf("%s", q.Error)
			}
		}
	}
	info.Error = kmem.ErrString(err)
	return info, nil
}

// swaitWaiters lists the struct swait_queue entries (task, task_list) of a
// swait_queue_head (include/linux/swait.h).
func swaitWaiters(head symbols.Object) ([]LockWaiter, error) {
	p := head.Prog()
	h, err := head.Member("task_list")
	if err != nil {
		return nil, err
	}
	off, err := p.OffsetOf("struct swait_queue", "task_list")
	if err != nil {
		return nil, err
	}
	nodes, werr := kmem.ListHeadNodes(p, h.Addr(), "", kmem.MaxWaiters)
	if werr != nil {
		werr = fmt.Errorf("%s.task_list: %w", head.Path(), werr)
	}
	return taskWaiters(p, "struct swait_queue", subtract(nodes, off)), werr
}

// CompletionWait is the wait kind of a task in wait_for_completion and
// friends (kernel/sched/completion.c): a struct swait_queue on its stack,
// queued on the completion's swait_queue_head. Nobody owns a completion:
// whoever should complete it is unknown to the kernel.
var CompletionWait = &waitkind.Kind{
	Name: WaitCompletion,
	Verb: "waits for",
	Frames: waitkind.NewFrames("wait_for_completion", "__wait_for_common", "wait_for_common",
		"do_wait_for_common", "wait_for_completion_killable", "wait_for_completion_interruptible",
		"wait_for_completion_timeout", "wait_for_completion_io", "wait_for_completion_io_timeout",
		"wait_for_completion_killable_timeout", "wait_for_completion_interruptible_timeout"),
	Waiter: &waitkind.Waiter{Type: "struct swait_queue", List: "task_list", Task: "task",
		Object: "struct swait_queue_head", Head: "task_list", OwnStack: true},
	NoOwner: true,
	Decode:  decodeCompletionWait,
}

// SwaitWait is a struct swait_queue on a task's stack outside a
// completion wait (include/linux/swait.h users: RCU, KVM).
var SwaitWait = &waitkind.Kind{
	Name: WaitQueueEvent,
	Verb: "sleeps on",
	Waiter: &waitkind.Waiter{Type: "struct swait_queue", List: "task_list", Task: "task",
		Object: "struct swait_queue_head", Head: "task_list", OwnStack: true},
	NoOwner: true,
	Decode:  decodeSwaitWait,
}

func decodeSwaitWait(c waitkind.Context, t *sched.Task, f waitkind.Found) (waitkind.TaskWait, bool) {
	w := waitkind.TaskWait{Task: c.Blocked(t), Kind: WaitQueueEvent, How: "swait_queue on the task's stack, linked into the queue", Certain: true}
	w.Object = waitkind.WaitObject{Type: "swait_queue_head", Addr: f.Object, What: describeLock(c, f.Object, "swait_queue_head")}
	w.Note = "nobody owns a completion or wait queue: whoever should complete it is unknown"
	return w, true
}

func decodeCompletionWait(c waitkind.Context, t *sched.Task, f waitkind.Found) (waitkind.TaskWait, bool) {
	w, _ := decodeSwaitWait(c, t, f)
	if coff, err := c.Prog().OffsetOf("struct completion", "wait"); err == nil {
		addr := f.Object - coff
		w.Kind = WaitCompletion
		w.Object = waitkind.WaitObject{Type: "completion", Addr: addr, What: describeLock(c, addr, "completion")}
	}
	return w, true
}

// WaitCompletion is TaskWait.Kind of a completion wait.
const WaitCompletion = "completion"

// WaitQueueEvent is TaskWait.Kind of a sleep on a wait queue that no
// other kind recognised.
const WaitQueueEvent = "waitqueue"
