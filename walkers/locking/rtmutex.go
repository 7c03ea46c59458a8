package locking

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// WaitRtMutex is TaskWait.Kind of a wait on an rt_mutex.
const WaitRtMutex = "rt-mutex"

// rtMutexHasWaiters is RT_MUTEX_HAS_WAITERS, bit 0 of rt_mutex_base.owner
// (kernel/locking/rtmutex_common.h, 5.10 through 7.1).
const rtMutexHasWaiters = 1

// RtMutexWait is the wait kind of a task blocked on an rt_mutex
// (kernel/locking/rtmutex.c): the kernel records it in
// task_struct.pi_blocked_on (an rt_mutex_waiter on the task's stack, whose
// lock names the rt_mutex_base — struct rt_mutex in 5.10) and the owner in
// the lock's owner word, so the edge is certain, and a priority-inheritance
// chain is followed hop by hop. Users: PI futexes (pthread mutexes with
// PTHREAD_PRIO_INHERIT, futex_lock_pi), i2c buses, RCU boosting, and every
// sleeping lock of a PREEMPT_RT kernel.
var RtMutexWait = &waitkind.Kind{
	Name: WaitRtMutex,
	Verb: "waits for",
	Frames: waitkind.NewFrames("rt_mutex_slowlock", "__rt_mutex_slowlock", "rt_mutex_slowlock_block",
		"__rt_mutex_slowlock_locked", "rt_mutex_wait_proxy_lock", "futex_lock_pi", "rt_mutex_lock",
		"rt_mutex_lock_interruptible", "rt_mutex_lock_killable"),
	Interruptible: true,
	Detect:        detectRtMutexWait,
}

func detectRtMutexWait(c waitkind.Context, t *sched.Task) (waitkind.TaskWait, bool) {
	if !t.Obj.Type().HasMember("pi_blocked_on") {
		return waitkind.TaskWait{}, false
	}
	waiter, err := t.Obj.MemberUint("pi_blocked_on")
	if err != nil || waiter == 0 {
		return waitkind.TaskWait{}, false
	}
	p := c.Prog()
	w := waitkind.TaskWait{Task: c.Blocked(t), Kind: WaitRtMutex, Certain: true,
		How: "task_struct.pi_blocked_on: the task's rt_mutex_waiter names the lock"}
	wo, err := p.Object("struct rt_mutex_waiter", waiter)
	if err != nil {
		w.Certain, w.Error = false, err.Error()
		w.Object = waitkind.WaitObject{Type: "rt_mutex", What: fmt.Sprintf("an rt_mutex (waiter %#x unreadable)", waiter)}
		return w, true
	}
	if wt, err := wo.MemberUint("task"); err == nil && wt != t.Addr {
		return waitkind.TaskWait{}, false // a stale pointer: the waiter is another task's
	}
	lock, err := wo.MemberUint("lock")
	if err != nil || lock == 0 {
		return waitkind.TaskWait{}, false
	}
	owner, oerr := rtMutexOwner(p, lock)
	w.Object = waitkind.WaitObject{Type: "rt_mutex", Addr: lock, What: describeRtMutex(p, lock, owner)}
	switch {
	case oerr != nil:
		w.Certain, w.Error = false, oerr.Error()
	case owner == 0:
		w.Note = "the rt_mutex has no owner: the waiter is being given the lock"
	case owner != t.Addr:
		w.Holders = append(w.Holders, waitkind.Holder{Task: c.Ref(owner), Certain: true, How: "rt_mutex owner (owner word without RT_MUTEX_HAS_WAITERS)"})
	}
	return w, true
}

// rtMutexOwner reads the owner task of the rt_mutex_base (or 5.10 struct
// rt_mutex) at lock.
func rtMutexOwner(p *symbols.Program, lock uint64) (uint64, error) {
	typ := "struct rt_mutex_base"
	if _, err := p.Type(typ); err != nil {
		typ = "struct rt_mutex"
	}
	o, err := p.Object(typ, lock)
	if err != nil {
		return 0, err
	}
	v, err := o.MemberUint("owner")
	if err != nil {
		return 0, fmt.Errorf("rt_mutex %#x: %w", lock, err)
	}
	return v &^ rtMutexHasWaiters, nil
}

// describeRtMutex names a PI futex's lock by its futex_pi_state
// (kernel/futex/futex.h: pi_mutex inside struct futex_pi_state, whose
// owner is the lock's owner), else by symbol or address.
func describeRtMutex(p *symbols.Program, lock, owner uint64) string {
	if ps, err := p.ContainerOf(lock, "struct futex_pi_state", "pi_mutex"); err == nil {
		if po, err := ps.MemberUint("owner"); err == nil && po == owner && owner != 0 {
			what := "a PI futex (a pthread mutex with priority inheritance)"
			if ua, err := ps.MemberUint("key.both.word"); err == nil && ua != 0 {
				what += fmt.Sprintf(" key %#x", ua)
			}
			return what
		}
	}
	return waitkind.DescribeLock(p, lock, "rt_mutex")
}
