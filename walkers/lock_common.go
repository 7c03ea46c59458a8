package walkers

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// MaxWaiters bounds every walk of a lock's or wait queue's waiter list. A
// list longer than this is reported as truncated (a real kernel rarely has
// more than a few hundred waiters on one object).
const MaxWaiters = 100000

// ErrListTruncated is returned (wrapped) when a waiter list is longer than
// MaxWaiters.
var ErrListTruncated = errors.New("list longer than the walk bound")

// TaskRef names a task briefly: enough for a human to find it again.
type TaskRef struct {
	Addr uint64 `json:"addr"`
	PID  int    `json:"pid"`
	TGID int    `json:"tgid"`
	Comm string `json:"comm"`
}

func (t TaskRef) String() string {
	if t.Comm == "" && t.PID == 0 {
		return fmt.Sprintf("task %#x", t.Addr)
	}
	return fmt.Sprintf("%d (%s)", t.PID, t.Comm)
}

// taskRefAt reads pid, tgid and comm of the task_struct at addr. A task that
// cannot be read still gives a TaskRef carrying its address, with the error.
func taskRefAt(p *symbols.Program, addr uint64) (TaskRef, error) {
	r := TaskRef{Addr: addr}
	t, err := p.Object("struct task_struct", addr)
	if err != nil {
		return r, err
	}
	pid, err := t.MemberUint("pid")
	if err != nil {
		return r, err
	}
	tgid, err := t.MemberUint("tgid")
	if err != nil {
		return r, err
	}
	comm, err := t.MemberString("comm")
	if err != nil {
		return r, err
	}
	r.PID, r.TGID, r.Comm = int(int32(pid)), int(int32(tgid)), comm
	return r, nil
}

// scalarMember reads an integer member that may be wrapped in an atomic
// type (atomic_t, atomic_long_t: struct { counter; }).
func scalarMember(o symbols.Object, name string) (uint64, error) {
	m, err := o.Member(name)
	if err != nil {
		return 0, err
	}
	if m.Type().IsAggregate() {
		if m.Type().HasMember("counter") {
			m, err = m.Member("counter")
		} else if m.Type().HasMember("refs") { // refcount_t { atomic_t refs; }
			m, err = m.Member("refs.counter")
		} else {
			return 0, fmt.Errorf("%s.%s: %s is not a scalar or atomic", o.Path(), name, m.Type())
		}
		if err != nil {
			return 0, err
		}
	}
	return m.Uint()
}

// listNodes returns the nodes of the circular list whose head is at head,
// in order, without the head. It stops at max nodes, at a node seen twice
// (a list that does not come back to its head), at a node whose prev does
// not point back, and at a read error; the nodes gathered so far are
// returned with the error.
func listNodes(p *symbols.Program, head uint64, max int) ([]uint64, error) {
	var nodes []uint64
	seen := map[uint64]bool{head: true}
	prev := head
	cur, err := p.ReadU64(head)
	if err != nil {
		return nil, fmt.Errorf("list head %#x: %w", head, err)
	}
	for cur != head {
		if cur == 0 {
			return nodes, fmt.Errorf("list head %#x: NULL next pointer after %#x", head, prev)
		}
		if seen[cur] {
			return nodes, fmt.Errorf("list head %#x: node %#x seen twice: %w", head, cur, symbols.ErrCycle)
		}
		if len(nodes) >= max {
			return nodes, fmt.Errorf("list head %#x: %w (%d)", head, ErrListTruncated, max)
		}
		var b [16]byte
		if err := p.Mem.ReadVirt(b[:], cur); err != nil {
			return nodes, fmt.Errorf("list head %#x: node %#x: %w", head, cur, err)
		}
		next, back := le64(b[:8]), le64(b[8:])
		if back != prev {
			return nodes, fmt.Errorf("list head %#x: node %#x has prev %#x, expected %#x (list corrupt or changing)", head, cur, back, prev)
		}
		seen[cur] = true
		nodes = append(nodes, cur)
		prev, cur = cur, next
	}
	return nodes, nil
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// circularNodes walks the headless circular list used since Linux 7.1 for
// lock waiters (kernel/locking/mutex.c __mutex_add_waiter: the first waiter
// is in lock->first_waiter, the others are list_add_tail'ed to its list):
// first is the address of the first waiter's list member.
func circularNodes(p *symbols.Program, first uint64, max int) ([]uint64, error) {
	nodes := []uint64{first}
	seen := map[uint64]bool{first: true}
	cur, err := p.ReadU64(first)
	if err != nil {
		return nodes, fmt.Errorf("first waiter list %#x: %w", first, err)
	}
	for cur != first {
		if cur == 0 || seen[cur] {
			return nodes, fmt.Errorf("first waiter list %#x: node %#x: %w", first, cur, symbols.ErrCycle)
		}
		if len(nodes) >= max {
			return nodes, fmt.Errorf("first waiter list %#x: %w (%d)", first, ErrListTruncated, max)
		}
		seen[cur] = true
		nodes = append(nodes, cur)
		next, err := p.ReadU64(cur)
		if err != nil {
			return nodes, fmt.Errorf("first waiter list %#x: node %#x: %w", first, cur, err)
		}
		cur = next
	}
	return nodes, nil
}

// LockWaiter is one entry of a lock's or wait queue's waiter list.
type LockWaiter struct {
	// Waiter is the address of the waiter structure (mutex_waiter,
	// rwsem_waiter, semaphore_waiter, swait_queue, wait_queue_entry); these
	// live on the waiting task's stack.
	Waiter uint64 `json:"waiter"`
	// Task is the waiting task; its Addr is 0 when the entry has none
	// (a wait_queue_entry whose private is not a task).
	Task TaskRef `json:"task"`
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
		nodes, err = listNodes(p, head.Addr(), MaxWaiters)
		if err != nil {
			err = fmt.Errorf("%s.%s: %w", lock.Path(), listMember, err)
		}
		return subtract(nodes, listOff), err
	case firstMember != "" && lock.Type().HasMember(firstMember):
		first, err := lock.MemberUint(firstMember)
		if err != nil || first == 0 {
			return nil, err
		}
		nodes, err = circularNodes(p, first+listOff, MaxWaiters)
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
				w.Task, err = taskRefAt(p, t)
			}
		}
		if err != nil {
			w.Error = err.Error()
		}
		out = append(out, w)
	}
	return out
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
