package locking

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// LockWaiter is one entry of a lock's or wait queue's waiter list.
type LockWaiter struct {
	// Waiter is the address of the waiter structure (mutex_waiter,
	// rwsem_waiter, semaphore_waiter, swait_queue, wait_queue_entry); these
	// live on the waiting task's stack.
	Waiter uint64 `json:"waiter"`
	// Task is the waiting task; its Addr is 0 when the entry has none
	// (a wait_queue_entry whose private is not a task).
	Task sched.TaskRef `json:"task"`
	// Type is "read" or "write" for rw-semaphores, empty otherwise.
	Type string `json:"type,omitempty"`
	// Func is a wait_queue_entry's wake function, by symbol.
	Func string `json:"func,omitempty"`
	// Flags are a wait_queue_entry's WQ_FLAG_* names.
	Flags []string `json:"flags,omitempty"`
	// Folio and BitNr describe a page/folio waiter (wake_page_function).
	Folio uint64 `json:"folio,omitempty"`
	BitNr int    `json:"bit_nr,omitempty"`
	// Error is set when the entry could not be read completely.
	Error string `json:"error,omitempty"`
}

// waiterList returns the waiter structures (addresses of waiterType
// objects, via their member "list") queued on lock. The lock either has a
// list head (listMember, ≤ 7.0) or a pointer to its first waiter
// (firstMember, 7.1+); the type decides.
func waiterList(lock symbols.Object, listMember, firstMember, waiterType string) ([]uint64, error) {
	p := lock.Prog()
	listOff, err := p.OffsetOf(waiterType, "list")
	if err != nil {
		return nil, err
	}
	var nodes []uint64
	switch {
	case lock.Type().HasMember(listMember):
		head, err := lock.Member(listMember)
		if err != nil {
			return nil, err
		}
		nodes, err = kmem.ListHeadNodes(p, head.Addr(), "", kmem.MaxWaiters)
		if err != nil {
			err = fmt.Errorf("%s.%s: %w", lock.Path(), listMember, err)
		}
		return subtract(nodes, listOff), err
	case firstMember != "" && lock.Type().HasMember(firstMember):
		first, err := lock.MemberUint(firstMember)
		if err != nil || first == 0 {
			return nil, err
		}
		nodes, err = kmem.CircularNodes(p, first+listOff, kmem.MaxWaiters)
		if err != nil {
			err = fmt.Errorf("%s.%s: %w", lock.Path(), firstMember, err)
		}
		return subtract(nodes, listOff), err
	}
	return nil, fmt.Errorf("%w: %s has neither %s nor %s (PREEMPT_RT locks are not supported)", symbols.ErrNoMember, lock.Type(), listMember, firstMember)
}

func subtract(nodes []uint64, off uint64) []uint64 {
	out := make([]uint64, len(nodes))
	for i, n := range nodes {
		out[i] = n - off
	}
	return out
}

// taskWaiters reads the "task" member of each waiter structure.
func taskWaiters(p *symbols.Program, waiterType string, addrs []uint64) []LockWaiter {
	out := make([]LockWaiter, 0, len(addrs))
	for _, a := range addrs {
		w := LockWaiter{Waiter: a}
		o, err := p.Object(waiterType, a)
		if err == nil {
			var t uint64
			if t, err = o.MemberUint("task"); err == nil {
				w.Task, err = sched.TaskRefAt(p, t)
			}
		}
		if err != nil {
			w.Error = err.Error()
		}
		out = append(out, w)
	}
	return out
}

// lockMemo is a decoded lock kept for the analysis, with its waiters'
// places indexed, so that each of its waiters costs O(1).
type lockMemo[T any] struct {
	info  T
	err   error
	byW   map[uint64]int // waiter structure → 1-based place
	byT   map[uint64]int // task → 1-based place of its first waiter
	count int
}

type lockKey struct {
	typ  string
	addr uint64
}

// memoLock decodes the lock of type typ at addr once per analysis.
func memoLock[T any](c waitkind.Context, typ string, addr uint64, decode func() (T, []LockWaiter, error)) *lockMemo[T] {
	return c.Memo(lockKey{typ, addr}, func() any {
		info, ws, err := decode()
		m := &lockMemo[T]{info: info, err: err, byW: make(map[uint64]int, len(ws)), byT: make(map[uint64]int, len(ws)), count: len(ws)}
		for i, w := range ws {
			m.byW[w.Waiter] = i + 1
			if _, ok := m.byT[w.Task.Addr]; !ok {
				m.byT[w.Task.Addr] = i + 1
			}
		}
		return m
	}).(*lockMemo[T])
}

// pos returns the 1-based place of the waiter structure waiter (or, when
// waiter is 0, of the first waiter of task) and the queue length.
func (m *lockMemo[T]) pos(waiter, task uint64) (int, int) {
	if waiter != 0 {
		return m.byW[waiter], m.count
	}
	return m.byT[task], m.count
}

type describeKey struct {
	addr uint64
	typ  string
}

// describeLock is waitkind.DescribeLock once per lock and analysis: the
// description of an inode's or a file's lock resolves a path.
func describeLock(c waitkind.Context, addr uint64, typ string) string {
	return waitkind.MemoExact(c, describeKey{addr, typ}, func() string {
		return waitkind.DescribeLock(c.Prog(), addr, typ)
	})
}
