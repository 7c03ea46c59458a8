package locking

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// Mutex owner flag bits, kept in the low bits of mutex.owner
// (kernel/locking/mutex.c: MUTEX_FLAG_WAITERS/HANDOFF/PICKUP; the same
// values from 4.10 through 7.1).
const (
	MutexFlagWaiters = 0x01
	mutexFlagHandoff = 0x02
	MutexFlagPickup  = 0x04
	mutexFlags       = 0x07
)

// MutexInfo is a decoded struct mutex.
type MutexInfo struct {
	Addr uint64 `json:"addr"`
	// Owner is the owning task (nil when unlocked). During a handoff it is
	// the waiter about to take the lock (flag PICKUP).
	Owner    *sched.TaskRef `json:"owner,omitempty"`
	OwnerRaw uint64         `json:"owner_raw"`
	// Flags are the owner word's flag bits: WAITERS, HANDOFF, PICKUP.
	Flags []string `json:"flags,omitempty"`
	// Waiters in queue order (FIFO; ww_mutex: stamp order).
	Waiters []LockWaiter `json:"waiters"`
	// Error reports a problem walking the waiters; Waiters holds what was
	// read before it.
	Error string `json:"error,omitempty"`
}

// Mutex decodes the struct mutex at addr: owner, flags and waiters. Layouts
// come from the types: the waiter list is mutex.wait_list (≤ 7.0) or the
// circular list from mutex.first_waiter (7.1+), of struct mutex_waiter
// (include/linux/mutex.h ≤ 5.x, kernel/locking/mutex.h 6.x).
func Mutex(p *symbols.Program, addr uint64) (*MutexInfo, error) {
	m, err := p.Object("struct mutex", addr)
	if err != nil {
		return nil, err
	}
	if !m.Type().HasMember("owner") {
		return nil, fmt.Errorf("mutex %#x: struct mutex has no owner (PREEMPT_RT rt_mutex based mutexes are not supported)", addr)
	}
	raw, err := kmem.ScalarMember(m, "owner")
	if err != nil {
		return nil, fmt.Errorf("mutex %#x: %w", addr, err)
	}
	info := &MutexInfo{Addr: addr, OwnerRaw: raw, Flags: mutexFlagNames(raw)}
	if owner := raw &^ mutexFlags; owner != 0 {
		t, _ := sched.TaskRefAt(p, owner)
		info.Owner = &t
	}
	ws, err := waiterList(m, "wait_list", "first_waiter", "struct mutex_waiter")
	info.Waiters = taskWaiters(p, "struct mutex_waiter", ws)
	info.Error = kmem.ErrString(err)
	return info, nil
}

func mutexFlagNames(owner uint64) []string {
	var f []string
	if owner&MutexFlagWaiters != 0 {
		f = append(f, "WAITERS")
	}
	if owner&mutexFlagHandoff != 0 {
		f = append(f, "HANDOFF")
	}
	if owner&MutexFlagPickup != 0 {
		f = append(f, "PICKUP")
	}
	return f
}

// MutexWait is the wait kind of a task in a mutex slowpath
// (kernel/locking/mutex.c __mutex_lock_common): a struct mutex_waiter on
// its stack, queued on the mutex; the holder is mutex.owner.
var MutexWait = &waitkind.Kind{
	Name: WaitMutex,
	Verb: "waits for",
	Frames: waitkind.NewFrames("__mutex_lock", "__mutex_lock_slowpath", "mutex_lock", "mutex_lock_killable",
		"mutex_lock_interruptible", "__mutex_lock_killable_slowpath", "__mutex_lock_interruptible_slowpath",
		"mutex_lock_io", "mutex_lock_nested", "__ww_mutex_lock", "__ww_mutex_lock_slowpath", "ww_mutex_lock",
		"__ww_mutex_lock_interruptible_slowpath", "ww_mutex_lock_interruptible"),
	Interruptible: true,
	Waiter: &waitkind.Waiter{Type: "struct mutex_waiter", List: "list", Task: "task",
		Object: "struct mutex", Head: "wait_list", First: "first_waiter"},
	BlockerTypes: []uint64{0}, // BLOCKER_TYPE_MUTEX
	BlockedOn:    "mutex",
	Decode:       decodeMutexWait,
}

// wwMutexFrames are the ww_mutex entries of the mutex slowpath
// (kernel/locking/mutex.c, ww_mutex.h): the waiter names the lock a
// ww_mutex.
var wwMutexFrames = waitkind.NewFrames("__ww_mutex_lock", "__ww_mutex_lock_slowpath", "ww_mutex_lock",
	"__ww_mutex_lock_interruptible_slowpath", "ww_mutex_lock_interruptible")

func decodeMutexWait(c waitkind.Context, t *sched.Task, f waitkind.Found) (waitkind.TaskWait, bool) {
	m := memoLock(c, "mutex", f.Object, func() (*MutexInfo, []LockWaiter, error) {
		info, err := Mutex(c.Prog(), f.Object)
		if err != nil {
			return nil, nil, err
		}
		return info, info.Waiters, nil
	})
	info := m.info
	if m.err != nil || info.OwnerRaw&MutexFlagWaiters == 0 {
		// A mutex with waiters has MUTEX_FLAG_WAITERS set (kernel/locking/mutex.c
		// __mutex_add_waiter).
		return waitkind.TaskWait{}, false
	}
	pos, n := m.pos(f.Waiter, t.Addr)
	if pos == 0 && f.Damaged == "" {
		return waitkind.TaskWait{}, false
	}
	w := waitkind.TaskWait{Task: c.Blocked(t), Kind: WaitMutex, How: f.How, Certain: true, Position: pos, QueueLen: n}
	what := "mutex"
	if c.HasFrame(t, wwMutexFrames) {
		// struct ww_mutex begins with its struct mutex base
		// (include/linux/ww_mutex.h; the PREEMPT_RT one with an rt_mutex).
		what = "ww_mutex"
	}
	w.Object = waitkind.WaitObject{Type: "mutex", Addr: f.Object, What: describeLock(c, f.Object, what)}
	if info.Owner != nil {
		how := "mutex.owner"
		if info.OwnerRaw&MutexFlagPickup != 0 {
			how += " (handoff: the waiter about to take it)"
		}
		w.Holders = append(w.Holders, waitkind.Holder{Task: c.Ref(info.Owner.Addr), How: how, Certain: true})
	} else {
		w.Note = "the mutex has no owner: the waiter is being woken"
	}
	return w, true
}

// WaitMutex is TaskWait.Kind of a mutex wait.
const WaitMutex = "mutex"
