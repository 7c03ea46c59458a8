package workqueue

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// maxQueue bounds the work items walked on one list (a pool's worklist, a
// worker's scheduled list): more than this is taken as a corrupt list.
const maxQueue = 1 << 16

// maxWorkqueues bounds the workqueues walked on the workqueues list.
const maxWorkqueues = 1 << 14

// Where says which list a queued work item is on.
type Where int

const (
	// Unlisted: the list it is on is neither a pool's worklist nor a busy
	// worker's scheduled list (a pool_workqueue's inactive list when the
	// workqueue's max_active is reached, or a list kwalk does not know).
	Unlisted Where = iota
	// Worklist: pending on a pool's worklist, not started.
	Worklist
	// Scheduled: on a busy worker's scheduled list, run by that worker
	// after the work it runs now.
	Scheduled
)

// Place is where a queued work item is.
type Place struct {
	Where Where
	// Pool is the index in the pools given to Locate of the pool whose
	// worklist (or whose busy worker's scheduled list) holds the work; -1
	// when Unlisted. Worker is the index in that pool's Busy for Scheduled.
	Pool, Worker int
	// Ahead is the number of work items before it on the list.
	Ahead int
	// Prev is the work_struct just before it on the list (0 when it is
	// first): for a flush barrier queued behind its target, the target.
	Prev uint64
	// Head is the list head reached (0 when none was).
	Head uint64
}

// Locate finds the list the work item at work is queued on, walking its
// entry's prev links back to a list head that is a pool's worklist or a
// busy worker's scheduled list (kernel/workqueue.c insert_work: every
// queued work item is on one of those, or on its pool_workqueue's
// inactive list: Where is then Unlisted). It counts the work items ahead
// on the way. A work item whose entry is empty is on no list (it is
// running or done): an error.
func Locate(p *symbols.Program, pools []Pool, work uint64) (Place, error) {
	out := Place{Pool: -1, Worker: -1}
	entryOff, err := p.OffsetOf("struct work_struct", "entry")
	if err != nil {
		return out, fmt.Errorf("workqueue: %w", err)
	}
	type headRef struct{ pool, worker int }
	heads := map[uint64]headRef{}
	for i, pl := range pools {
		heads[pl.Worklist] = headRef{i, -1}
		for j, w := range pl.Busy {
			if w.Scheduled != 0 {
				heads[w.Scheduled] = headRef{i, j}
			}
		}
	}
	node := work + entryOff
	first, err := p.ReadU64(node + 8)
	if err != nil {
		return out, fmt.Errorf("work %#x: entry.prev: %w", work, err)
	}
	if first == node {
		return out, fmt.Errorf("work %#x is on no list (running or done)", work)
	}
	if _, ok := heads[first]; !ok {
		out.Prev = first - entryOff
	}
	seen := map[uint64]bool{}
	cur := first
	for n := 0; n < maxQueue; n++ {
		if h, ok := heads[cur]; ok {
			out.Head, out.Pool, out.Ahead = cur, h.pool, n
			out.Where = Worklist
			if h.worker >= 0 {
				out.Where, out.Worker = Scheduled, h.worker
			}
			return out, nil
		}
		if cur == node {
			// Round the ring back to the work itself: a list with no
			// head kwalk knows (an inactive list).
			return out, nil
		}
		if cur == 0 || seen[cur] {
			return out, fmt.Errorf("work %#x: the list it is on meets %#x twice without reaching a pool's list: %w", work, cur, kmem.ErrListCorrupt)
		}
		seen[cur] = true
		next, err := p.ReadU64(cur + 8)
		if err != nil {
			return out, fmt.Errorf("work %#x: list node %#x: %w", work, cur, err)
		}
		cur = next
	}
	// A long list that never reached a known head: an inactive list
	// is bounded by what was queued, so this is corruption.
	return out, fmt.Errorf("work %#x: %w: more than %d nodes before a pool's list", work, kmem.ErrListCorrupt, maxQueue)
}

// WorkFunc returns the function of the work item at work (work_struct.func).
func WorkFunc(p *symbols.Program, work uint64) (uint64, error) {
	o, err := p.Object("struct work_struct", work)
	if err != nil {
		return 0, err
	}
	fn, err := o.MemberUint("func")
	if err != nil {
		return 0, fmt.Errorf("work %#x: %w", work, err)
	}
	return fn, nil
}

// Workqueue is a struct workqueue_struct and its flush state
// (kernel/workqueue.c __flush_workqueue).
type Workqueue struct {
	Addr uint64
	Name string
	// FlushColor is the colour being flushed, WorkColor the colour new
	// work gets; they differ while a flush is in progress.
	FlushColor, WorkColor int
	// FirstFlusher is the struct wq_flusher of the flush in progress (on
	// its task's stack), 0 when none.
	FirstFlusher uint64
	// FlusherQueue and FlusherOverflow are the addresses of the list
	// heads where later flushers wait their turn.
	FlusherQueue, FlusherOverflow uint64
}

// Workqueues reads every workqueue on the workqueues list
// (kernel/workqueue.c: static LIST_HEAD(workqueues), linked through
// workqueue_struct.list). A workqueue that cannot be read is skipped and
// reported in the error.
func Workqueues(p *symbols.Program) ([]Workqueue, error) {
	head, err := p.Symbol("workqueues")
	if err != nil {
		return nil, fmt.Errorf("workqueue: %w", err)
	}
	listOff, err := p.OffsetOf("struct workqueue_struct", "list")
	if err != nil {
		return nil, fmt.Errorf("workqueue: %w", err)
	}
	nodes, lerr := kmem.ListHeadNodes(p, head, "workqueues", maxWorkqueues)
	var out []Workqueue
	var firstErr error
	for _, n := range nodes {
		wq, err := ReadWorkqueue(p, n-listOff)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = append(out, wq)
	}
	if lerr != nil {
		firstErr = lerr
	}
	return out, firstErr
}

// ReadWorkqueue reads the struct workqueue_struct at addr.
func ReadWorkqueue(p *symbols.Program, addr uint64) (Workqueue, error) {
	o, err := p.Object("struct workqueue_struct", addr)
	if err != nil {
		return Workqueue{}, err
	}
	wq := Workqueue{Addr: addr}
	wq.Name, _ = o.MemberString("name")
	if v, err := o.MemberUint("flush_color"); err == nil {
		wq.FlushColor = int(int32(v))
	}
	if v, err := o.MemberUint("work_color"); err == nil {
		wq.WorkColor = int(int32(v))
	}
	if wq.FirstFlusher, err = o.MemberUint("first_flusher"); err != nil {
		return Workqueue{}, fmt.Errorf("workqueue_struct %#x: %w", addr, err)
	}
	for _, m := range []struct {
		name string
		to   *uint64
	}{{"flusher_queue", &wq.FlusherQueue}, {"flusher_overflow", &wq.FlusherOverflow}} {
		h, err := o.Member(m.name)
		if err != nil {
			return Workqueue{}, fmt.Errorf("workqueue_struct %#x: %w", addr, err)
		}
		*m.to = h.Addr()
	}
	return wq, nil
}

// PwqWorkqueue returns the workqueue a struct pool_workqueue belongs to
// (pool_workqueue.wq).
func PwqWorkqueue(p *symbols.Program, pwq uint64) (uint64, error) {
	o, err := p.Object("struct pool_workqueue", pwq)
	if err != nil {
		return 0, err
	}
	wq, err := o.MemberUint("wq")
	if err != nil {
		return 0, fmt.Errorf("pool_workqueue %#x: %w", pwq, err)
	}
	return wq, nil
}

// InFlight counts the work items of colour color in flight on the
// workqueue at wq: the sum of nr_in_flight[color] over its
// pool_workqueues (workqueue_struct.pwqs, linked through
// pool_workqueue.pwqs_node). A flush of that colour waits for them all.
func InFlight(p *symbols.Program, wq uint64, color int) (int, error) {
	o, err := p.Object("struct workqueue_struct", wq)
	if err != nil {
		return 0, err
	}
	pwqs, err := o.Member("pwqs")
	if err != nil {
		return 0, fmt.Errorf("workqueue_struct %#x: %w", wq, err)
	}
	nodeOff, err := p.OffsetOf("struct pool_workqueue", "pwqs_node")
	if err != nil {
		return 0, err
	}
	nodes, lerr := kmem.ListHeadNodes(p, pwqs.Addr(), fmt.Sprintf("workqueue_struct %#x pwqs", wq), maxQueue)
	total := 0
	for _, n := range nodes {
		pwq, err := p.Object("struct pool_workqueue", n-nodeOff)
		if err != nil {
			return total, err
		}
		arr, err := pwq.Member("nr_in_flight")
		if err != nil {
			return total, fmt.Errorf("pool_workqueue %#x: %w", n-nodeOff, err)
		}
		at := arr.Type().Resolve()
		if at == nil || at.Kind != symbols.KindArray || color < 0 || uint64(color) >= at.Len {
			return total, fmt.Errorf("pool_workqueue %#x: no nr_in_flight[%d]", n-nodeOff, color)
		}
		v, err := p.ReadU32(arr.Addr() + 4*uint64(color))
		if err != nil {
			return total, fmt.Errorf("pool_workqueue %#x nr_in_flight[%d]: %w", n-nodeOff, color, err)
		}
		total += int(int32(v))
	}
	return total, lerr
}
