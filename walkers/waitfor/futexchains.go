package waitfor

import (
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
)

// futexWaiter is a thread asleep in a futex wait on what looks like a
// locked glibc mutex, with the owner's TID (locking.ProbeGlibcOwner).
type futexWaiter struct {
	t     *sched.Task
	owner int32
}

// futexChains adds the threads stuck behind userspace mutexes. Threads
// asleep in futex waits are not waits of their own (FutexWait is
// HolderOnly: condition variables and idle pools sleep there by design),
// but a thread waiting for a glibc mutex whose owner is itself blocked is
// stuck: an owner that waits in the kernel on something reported (out),
// an owner in a cycle of such mutex waits (a userspace ABBA deadlock), or
// an owner stuck in either way in turn. Their waits are FutexWait's (the
// owner a hint); waits on mutexes whose owners run or sleep otherwise are
// ordinary contention and left out. O(waiters): each owner is resolved
// once.
func (a *waitAnalysis) futexChains(out []TaskWait, have map[uint64]bool, ws []futexWaiter) []TaskWait {
	if len(ws) == 0 {
		return out
	}
	// The owners: threads of the waiter's process with that TID (in the
	// process's pid namespace).
	type tidKey struct {
		tgid int
		tid  int32
	}
	procs := map[int]bool{}
	for _, w := range ws {
		procs[w.t.TGID] = true
	}
	byTID := map[tidKey]*sched.Task{}
	for i := range a.tasks {
		t := &a.tasks[i]
		if procs[t.TGID] && t.State != "Z" && t.State != "X" {
			byTID[tidKey{t.TGID, int32(t.NSPID())}] = t
		}
	}
	next := map[uint64]uint64{} // waiter → owner
	for _, w := range ws {
		if o := byTID[tidKey{w.t.TGID, w.owner}]; o != nil && o.Addr != w.t.Addr {
			next[w.t.Addr] = o.Addr
		}
	}
	stuck := futexStuck(next, have)
	for _, w := range ws {
		if !stuck[w.t.Addr] || have[w.t.Addr] {
			continue
		}
		m0 := a.missed()
		if tw, ok := locking.FutexWait.Detect(a, w.t); ok {
			taintMissing(&tw, a.missed()-m0)
			out = append(out, tw)
			have[w.t.Addr] = true
		}
	}
	return out
}

// futexStuck says which mutex waiters are stuck, given each waiter's
// owner (next) and the tasks blocked on something reported (have): those
// whose owner path reaches a reported task or runs into a cycle. Each
// task is resolved once.
func futexStuck(next map[uint64]uint64, have map[uint64]bool) map[uint64]bool {
	verdicts := map[uint64]bool{}
	for start := range next {
		var path []uint64
		on := map[uint64]int{} // task → its index on path
		verdict := false
		for cur := start; ; {
			if v, ok := verdicts[cur]; ok {
				verdict = v
				break
			}
			if have[cur] {
				verdict = true // blocked in the kernel on something reported
				break
			}
			if i, ok := on[cur]; ok {
				for _, t := range path[i:] {
					verdicts[t] = true // a cycle of mutex waits
				}
				verdict = true
				break
			}
			nx, ok := next[cur]
			if !ok {
				break // an owner that is no mutex waiter: contention
			}
			on[cur] = len(path)
			path = append(path, cur)
			cur = nx
		}
		for _, t := range path {
			if _, ok := verdicts[t]; !ok {
				verdicts[t] = verdict
			}
		}
	}
	return verdicts
}
