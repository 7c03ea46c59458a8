package locking

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// SemaphoreInfo is a decoded struct semaphore (include/linux/semaphore.h).
type SemaphoreInfo struct {
	Addr  uint64 `json:"addr"`
	Count uint64 `json:"count"`
	// LastHolder is the last task that took the semaphore, recorded with
	// CONFIG_DETECT_HUNG_TASK_BLOCKER (6.18+): a hint, not proof it still
	// holds it.
	LastHolder *sched.TaskRef `json:"last_holder,omitempty"`
	Waiters    []LockWaiter   `json:"waiters"`
	Error      string         `json:"error,omitempty"`
}

// Semaphore decodes the struct semaphore at addr. Its waiters are struct
// semaphore_waiter on wait_list (≤ 6.19) or from first_waiter (7.1+).
func Semaphore(p *symbols.Program, addr uint64) (*SemaphoreInfo, error) {
	s, err := p.Object("struct semaphore", addr)
	if err != nil {
		return nil, err
	}
	count, err := kmem.ScalarMember(s, "count")
	if err != nil {
		return nil, fmt.Errorf("semaphore %#x: %w", addr, err)
	}
	info := &SemaphoreInfo{Addr: addr, Count: count}
	if s.Type().HasMember("last_holder") {
		if h, err := s.MemberUint("last_holder"); err == nil && h != 0 {
			t, _ := sched.TaskRefAt(p, h)
			info.LastHolder = &t
		}
	}
	ws, err := waiterList(s, "wait_list", "first_waiter", "struct semaphore_waiter")
	info.Waiters = taskWaiters(p, "struct semaphore_waiter", ws)
	info.Error = kmem.ErrString(err)
	return info, nil
}

// SemaphoreWait is the wait kind of a task in down() and friends
// (kernel/locking/semaphore.c __down_common): a struct semaphore_waiter on
// its stack. Semaphores record no holder; 6.x+ debug kernels keep
// last_holder, a hint.
var SemaphoreWait = &waitkind.Kind{
	Name: WaitSemaphore,
	Verb: "waits for",
	Frames: waitkind.NewFrames("__down", "__down_common", "down", "down_interruptible", "down_killable",
		"down_timeout", "__down_killable", "__down_interruptible", "__down_timeout"),
	Interruptible: true,
	Waiter: &waitkind.Waiter{Type: "struct semaphore_waiter", List: "list", Task: "task",
		Object: "struct semaphore", Head: "wait_list", First: "first_waiter"},
	BlockerTypes: []uint64{1}, // BLOCKER_TYPE_SEM
	Decode:       decodeSemWait,
}

func decodeSemWait(c waitkind.Context, t *sched.Task, f waitkind.Found) (waitkind.TaskWait, bool) {
	m := memoLock(c, "semaphore", f.Object, func() (*SemaphoreInfo, []LockWaiter, error) {
		info, err := Semaphore(c.Prog(), f.Object)
		if err != nil {
			return nil, nil, err
		}
		return info, info.Waiters, nil
	})
	info := m.info
	if m.err != nil {
		return waitkind.TaskWait{}, false
	}
	pos, n := m.pos(f.Waiter, t.Addr)
	if pos == 0 && f.Damaged == "" {
		return waitkind.TaskWait{}, false
	}
	w := waitkind.TaskWait{Task: c.Blocked(t), Kind: WaitSemaphore, How: f.How, Certain: true, Position: pos, QueueLen: n}
	w.Object = waitkind.WaitObject{Type: "semaphore", Addr: f.Object, What: describeLock(c, f.Object, "semaphore")}
	if info.LastHolder != nil {
		w.Holders = append(w.Holders, waitkind.Holder{Task: c.Ref(info.LastHolder.Addr), How: "semaphore.last_holder (hint)", Certain: false})
	} else {
		w.Note = "semaphores do not record their holders"
	}
	return w, true
}

// WaitSemaphore is TaskWait.Kind of a semaphore wait.
const WaitSemaphore = "semaphore"
