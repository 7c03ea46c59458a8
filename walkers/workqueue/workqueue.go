// Package workqueue reads the kernel's workqueue worker pools (kernel/
// workqueue.c): every pool with its pending work and idle workers, and
// for each busy worker the work item it runs. It answers "who runs work
// W" (a flush_work waiter's, a writeback's) and "why has W not started".
//
// Pools are found through worker_pool_idr (every pool, per-CPU and
// unbound, is given an id there by worker_pool_assign_id, 3.x to 7.x);
// a pool's busy workers are hashed by the work they run in busy_hash
// (struct worker.hentry).
package workqueue

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// Worker is a worker of a pool that is running a work item.
type Worker struct {
	Addr        uint64 // struct worker
	Task        uint64 // the kworker's task_struct
	Pool        uint64 // its struct worker_pool
	CurrentWork uint64 // the struct work_struct it runs
	CurrentFunc uint64 // that work's function
	// CurrentPwq is the struct pool_workqueue the work was queued through
	// (its wq member names the workqueue).
	CurrentPwq uint64
	// CurrentColor is the flush colour of the work it runs (6.1+:
	// worker.current_color), -1 when the kernel does not record it.
	CurrentColor int
	// Scheduled is the address of the worker's scheduled list head: work
	// queued behind the one it runs (flush barriers among them).
	Scheduled uint64
}

// Pool is one worker pool.
type Pool struct {
	Addr uint64
	ID   int
	CPU  int // -1 for an unbound pool
	// NrWorkers and NrIdle count the pool's workers and its idle ones.
	NrWorkers, NrIdle int
	// BH: a softirq (BH) pool (6.9+ POOL_BH): its work runs in softirq
	// context, its one worker has no task.
	BH bool
	// Worklist is the address of the pool's list head of pending work.
	Worklist uint64
	Busy     []Worker
}

// maxBusy bounds the busy workers read from one hash bucket.
const maxBusy = 4096

// Pools reads every worker pool and its busy workers. A pool that cannot
// be read is skipped and reported in the error (the others are returned).
func Pools(p *symbols.Program) ([]Pool, error) {
	idr, err := p.Variable("worker_pool_idr")
	if err != nil {
		return nil, fmt.Errorf("workqueue: %w", err)
	}
	ents, err := kmem.IDREntries(idr)
	if err != nil && len(ents) == 0 {
		return nil, fmt.Errorf("workqueue: worker_pool_idr: %w", err)
	}
	var firstErr error
	out := make([]Pool, 0, len(ents))
	for _, e := range ents {
		pool, perr := readPool(p, e.Ptr, int(e.ID))
		if perr != nil {
			if firstErr == nil {
				firstErr = perr
			}
			continue
		}
		out = append(out, pool)
	}
	if firstErr == nil {
		firstErr = err
	}
	return out, firstErr
}

func readPool(p *symbols.Program, addr uint64, id int) (Pool, error) {
	o, err := p.Object("struct worker_pool", addr)
	if err != nil {
		return Pool{}, err
	}
	pool := Pool{Addr: addr, ID: id, CPU: -1}
	if cpu, err := o.Member("cpu"); err == nil {
		if v, err := cpu.Int(); err == nil {
			pool.CPU = int(v)
		}
	}
	if et, err := p.Type("enum worker_pool_flags"); err == nil {
		if bit, ok := et.EnumValue("POOL_BH"); ok {
			if f, err := o.MemberUint("flags"); err == nil {
				pool.BH = f&uint64(bit) != 0
			}
		}
	}
	if n, err := o.MemberUint("nr_workers"); err == nil {
		pool.NrWorkers = int(int32(n))
	}
	if n, err := o.MemberUint("nr_idle"); err == nil {
		pool.NrIdle = int(int32(n))
	}
	wl, err := o.Member("worklist")
	if err != nil {
		return Pool{}, fmt.Errorf("worker_pool %#x: %w", addr, err)
	}
	pool.Worklist = wl.Addr()
	bh, err := o.Member("busy_hash")
	if err != nil {
		return Pool{}, fmt.Errorf("worker_pool %#x: %w", addr, err)
	}
	at := bh.Type().Resolve()
	if at == nil || at.Kind != symbols.KindArray || at.Len == 0 || at.Len > 1<<12 {
		return Pool{}, fmt.Errorf("worker_pool %#x: busy_hash is not a hash table", addr)
	}
	hentry, err := p.OffsetOf("struct worker", "hentry")
	if err != nil {
		return Pool{}, err
	}
	for i := uint64(0); i < at.Len; i++ {
		head := bh.Addr() + i*8
		nodes, err := kmem.HlistNodes(p, head, fmt.Sprintf("worker_pool %#x busy_hash[%d]", addr, i), maxBusy)
		if err != nil {
			return pool, err
		}
		for _, n := range nodes {
			w, err := readWorker(p, n-hentry, addr)
			if err != nil {
				return pool, err
			}
			pool.Busy = append(pool.Busy, w)
		}
	}
	return pool, nil
}

func readWorker(p *symbols.Program, addr, pool uint64) (Worker, error) {
	o, err := p.Object("struct worker", addr)
	if err != nil {
		return Worker{}, err
	}
	w := Worker{Addr: addr, Pool: pool}
	if w.Task, err = o.MemberUint("task"); err != nil {
		return Worker{}, fmt.Errorf("worker %#x: %w", addr, err)
	}
	w.CurrentWork, _ = o.MemberUint("current_work")
	w.CurrentFunc, _ = o.MemberUint("current_func")
	w.CurrentPwq, _ = o.MemberUint("current_pwq")
	w.CurrentColor = -1
	if o.Type().HasMember("current_color") {
		if c, err := o.MemberUint("current_color"); err == nil {
			w.CurrentColor = int(int32(c))
		}
	}
	if s, err := o.Member("scheduled"); err == nil {
		w.Scheduled = s.Addr()
	}
	return w, nil
}

// Running returns the busy worker running the work item at work, if any
// (kernel/workqueue.c find_worker_executing_work, over every pool).
func Running(pools []Pool, work uint64) (Worker, bool) {
	for _, pl := range pools {
		for _, w := range pl.Busy {
			if w.CurrentWork == work {
				return w, true
			}
		}
	}
	return Worker{}, false
}
