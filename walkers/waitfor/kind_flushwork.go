package waitfor

import (
	"fmt"
	"github.com/kwalk/kwalk/symbols"
	"strings"

	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
	"github.com/kwalk/kwalk/walkers/workqueue"
)

// Kind names of waits for workqueue work.
const (
	// WaitFlushWork: flush_work and the calls built on it wait for one
	// work item to finish.
	WaitFlushWork = "flush-work"
	// WaitFlushWorkqueue: __flush_workqueue / drain_workqueue wait for
	// every work item queued on a workqueue before the flush.
	WaitFlushWorkqueue = "flush-workqueue"
)

// Root kinds of chains ending at a flush.
const (
	// RootWorkNotFinishing: the worker running the flushed work is not
	// blocked in a way kwalk recognises (it runs, or sleeps in the work
	// function) and does not finish it.
	RootWorkNotFinishing = "work-not-finishing"
	// RootWorkNotStarted: the flushed work is queued on a pool and no
	// worker picks it up.
	RootWorkNotStarted = "work-not-started"
)

// FlushWorkWait: __flush_work (kernel/workqueue.c; flush_work,
// flush_delayed_work, flush_rcu_work, cancel_work_sync and
// __cancel_work_timer / __cancel_work_sync when the work runs, work_on_cpu)
// queues a struct wq_barrier from its own stack behind the work
// (insert_wq_barrier) and sleeps in wait_for_completion(&barr->done). The
// barrier goes to the front of the running worker's scheduled list when
// the work is running — that kworker holds the wait — or right after the
// work in its pool's worklist when it has not started.
var FlushWorkWait = &waitkind.Kind{
	Name: WaitFlushWork,
	Verb: "waits for",
	Frames: waitkind.NewFrames("__flush_work", "flush_work", "flush_delayed_work", "flush_rcu_work",
		"cancel_work_sync", "cancel_delayed_work_sync", "__cancel_work_timer", "__cancel_work_sync",
		"disable_work_sync", "disable_delayed_work_sync", "work_on_cpu", "work_on_cpu_key", "work_on_cpu_safe_key"),
	Waiter:   locking.CompletionWait.Waiter,
	Decode:   decodeFlushWork,
	Classify: classifyFlush,
	Remedies: flushRemedies,
}

// FlushWorkqueueWait: __flush_workqueue (flush_workqueue before 6.0;
// drain_workqueue and destroy_workqueue call it) puts a struct wq_flusher
// on its stack — as wq->first_flusher, or queued on wq->flusher_queue or
// flusher_overflow behind the flush in progress — and sleeps in
// wait_for_completion(&this_flusher.done) until every work item of the
// flushed colours has run. The workers running the workqueue's work hold
// it.
var FlushWorkqueueWait = &waitkind.Kind{
	Name:     WaitFlushWorkqueue,
	Verb:     "waits for",
	Frames:   waitkind.NewFrames("__flush_workqueue", "flush_workqueue", "drain_workqueue", "destroy_workqueue"),
	Waiter:   locking.CompletionWait.Waiter,
	Decode:   decodeFlushWorkqueue,
	Classify: classifyFlush,
	Remedies: flushRemedies,
}

// maxFlusherQueue bounds the walk from a wq_flusher to its list head.
const maxFlusherQueue = 4096

// funcName names a work function by its symbol, or its address.
func (a *waitAnalysis) funcName(fn uint64) string {
	if s := a.symbolAt(fn); s != "" {
		return s
	}
	return fmt.Sprintf("%#x", fn)
}

func decodeFlushWork(c waitkind.Context, t *sched.Task, f waitkind.Found) (TaskWait, bool) {
	a := c.(*waitAnalysis)
	p := a.p
	barr, ok := completionOwner(p, f.Object, "struct wq_barrier", "done")
	workOff, err := p.OffsetOf("struct wq_barrier", "work")
	if !ok || err != nil {
		return locking.CompletionWait.Decode(c, t, f)
	}
	// wq_barrier.task is the flusher (insert_wq_barrier: current, "purely
	// informational"): the check that this completion is a barrier's.
	bo, err := p.Object("struct wq_barrier", barr)
	if err != nil {
		return locking.CompletionWait.Decode(c, t, f)
	}
	if tk, err := bo.MemberUint("task"); err != nil || tk != t.Addr {
		return locking.CompletionWait.Decode(c, t, f)
	}
	work := barr + workOff
	w := TaskWait{Task: c.Blocked(t), Kind: WaitFlushWork, Certain: true,
		How: "swait_queue on the task's stack, linked into the done completion of a struct wq_barrier whose task is this task (kernel/workqueue.c insert_wq_barrier)"}
	w.Object = WaitObject{Type: "wq_barrier", Addr: barr, What: "the work item it flushes"}
	pools := a.workPools()
	// The barrier itself running: its worker is completing it.
	if wk, ok := workqueue.Running(pools, work); ok {
		if wk.Task == 0 {
			w.Note = "a BH worker runs the flush barrier itself (softirq): the flush is completing"
		} else {
			w.Holders = []Holder{{Task: c.Ref(wk.Task), Certain: true, How: "kworker running the flush barrier itself: the flush is completing"}}
		}
		return w, true
	}
	pl, err := workqueue.Locate(p, pools, work)
	if err != nil {
		w.Certain = false
		w.Error = fmt.Sprintf("the barrier's place could not be found: %v", err)
		return w, true
	}
	switch pl.Where {
	case workqueue.Scheduled:
		w.Object.State = "running"
		pool := pools[pl.Pool]
		wk := pool.Busy[pl.Worker]
		fn := a.funcName(wk.CurrentFunc)
		if wk.Task == 0 {
			// A BH pool's worker (6.9+ POOL_BH) runs in softirq: no task.
			w.Object.What = fmt.Sprintf("work %s, running in softirq on BH worker pool %d", fn, pool.ID)
			w.Note = fmt.Sprintf("work %s runs in softirq context (BH worker pool %d) and has not finished", fn, pool.ID)
			break
		}
		ref := c.Ref(wk.Task)
		wqName := a.workqueueName(wk.CurrentPwq)
		w.Object.What = fmt.Sprintf("work %s%s, running on %s", fn, wqName, taskName(ref))
		w.Holders = []Holder{{Task: ref, Certain: true,
			How: fmt.Sprintf("kworker running the flushed work %s (current_func; worker pool %d): the barrier is on its scheduled list", fn, pool.ID)}}
		w.Note = fmt.Sprintf("%s runs work %s%s and has not finished it; %s flushes it", taskName(ref), fn, wqName, taskName(w.Task.TaskRef))
		if pl.Ahead > 0 {
			w.Note += fmt.Sprintf(" (%d more work item(s) ahead of the barrier on its scheduled list)", pl.Ahead)
		}
	case workqueue.Worklist:
		w.Object.State = "queued"
		pool := pools[pl.Pool]
		target := "the work"
		if pl.Prev != 0 {
			if fn, err := workqueue.WorkFunc(p, pl.Prev); err == nil {
				target = "work " + a.funcName(fn)
			}
		}
		where := fmt.Sprintf("worker pool %d", pool.ID)
		if pool.CPU >= 0 {
			where += fmt.Sprintf(" (CPU %d)", pool.CPU)
		} else {
			where += " (unbound)"
		}
		w.Object.What = fmt.Sprintf("%s, queued on %s, not started", target, where)
		var busy []string
		for _, wk := range pool.Busy {
			if wk.Task == 0 {
				continue // a BH pool's worker: no task
			}
			ref := c.Ref(wk.Task)
			fn := a.funcName(wk.CurrentFunc)
			busy = append(busy, fmt.Sprintf("%s runs %s", taskName(ref), fn))
			w.Holders = append(w.Holders, Holder{Task: ref, Certain: false,
				How: fmt.Sprintf("busy worker of %s, running %s: the flushed work waits behind it", where, fn)})
		}
		w.Note = fmt.Sprintf("%s has not started: %d work item(s) ahead of the barrier on the worklist of %s, which has %d worker(s), %d idle",
			target, pl.Ahead, where, pool.NrWorkers, pool.NrIdle)
		if len(busy) > 0 {
			w.Note += "; busy: " + strings.Join(busy, ", ")
		} else {
			w.Note += "; no worker of the pool is running work"
		}
	default:
		w.Object.State = "queued"
		target := "the work"
		if pl.Prev != 0 {
			if fn, err := workqueue.WorkFunc(p, pl.Prev); err == nil {
				target = "work " + a.funcName(fn)
			}
		}
		w.Object.What = target + ", queued behind max_active (on its workqueue's inactive list)"
		w.Note = target + " has not started: the barrier behind it is on a list that is no pool's worklist and no busy worker's scheduled list, its workqueue's inactive list (max_active reached); the workqueue's running work items hold it"
	}
	return w, true
}

// workqueueName is " (workqueue NAME)" for the workqueue of a
// pool_workqueue, or "".
func (a *waitAnalysis) workqueueName(pwq uint64) string {
	if pwq == 0 {
		return ""
	}
	wq, err := workqueue.PwqWorkqueue(a.p, pwq)
	if err != nil || wq == 0 {
		return ""
	}
	o, err := workqueue.ReadWorkqueue(a.p, wq)
	if err != nil || o.Name == "" {
		return ""
	}
	return " (workqueue " + o.Name + ")"
}

type workqueuesKey struct{}

// workqueues reads the workqueues list once per analysis.
func (a *waitAnalysis) workqueues() []workqueue.Workqueue {
	return a.Memo(workqueuesKey{}, func() any {
		wqs, err := workqueue.Workqueues(a.p)
		if err != nil {
			a.Warn(fmt.Sprintf("workqueues: %v", err))
		}
		return wqs
	}).([]workqueue.Workqueue)
}

func decodeFlushWorkqueue(c waitkind.Context, t *sched.Task, f waitkind.Found) (TaskWait, bool) {
	a := c.(*waitAnalysis)
	p := a.p
	fl, ok := completionOwner(p, f.Object, "struct wq_flusher", "done")
	listOff, err := p.OffsetOf("struct wq_flusher", "list")
	if !ok || err != nil {
		return locking.CompletionWait.Decode(c, t, f)
	}
	// Which workqueue: the one whose first_flusher is this flusher, or
	// whose flusher_queue / flusher_overflow the flusher's list reaches.
	wqs := a.workqueues()
	var wq *workqueue.Workqueue
	first, position := false, 0
	heads := map[uint64]int{}
	for i := range wqs {
		if wqs[i].FirstFlusher == fl {
			wq, first = &wqs[i], true
			break
		}
		heads[wqs[i].FlusherQueue] = i
		heads[wqs[i].FlusherOverflow] = i
	}
	queue := ""
	if wq == nil {
		cur := fl + listOff
		for n := 0; n < maxFlusherQueue; n++ {
			prev, err := p.ReadU64(cur + 8)
			if err != nil || prev == fl+listOff || prev == 0 {
				break
			}
			if i, ok := heads[prev]; ok {
				wq, position = &wqs[i], n+1
				queue = "flusher_queue"
				if prev == wqs[i].FlusherOverflow {
					queue = "flusher_overflow"
				}
				break
			}
			cur = prev
		}
	}
	if wq == nil {
		w, ok := locking.CompletionWait.Decode(c, t, f)
		w.Note = appendErr(w.Note, "in __flush_workqueue, but no workqueue has this completion's wq_flusher as first flusher or on its flusher lists")
		return w, ok
	}
	name := wq.Name
	if name == "" {
		name = fmt.Sprintf("%#x", wq.Addr)
	}
	w := TaskWait{Task: c.Blocked(t), Kind: WaitFlushWorkqueue, Certain: true,
		How: "swait_queue on the task's stack, linked into the done completion of a struct wq_flusher that is the workqueue's first_flusher or on its flusher lists (kernel/workqueue.c __flush_workqueue)"}
	w.Object = WaitObject{Type: "workqueue_struct", Addr: wq.Addr, What: "the work queued on workqueue " + name}
	if first {
		if n, err := workqueue.InFlight(p, wq.Addr, wq.FlushColor); err == nil {
			w.Note = fmt.Sprintf("the flush in progress (first_flusher) waits for %d work item(s) of flush colour %d in flight", n, wq.FlushColor)
		}
	} else {
		w.Note = fmt.Sprintf("queued behind the flush in progress (position %d on %s)", position, queue)
	}
	for _, pl := range a.workPools() {
		for _, wk := range pl.Busy {
			if wk.CurrentPwq == 0 || wk.Task == 0 {
				continue
			}
			if owner, err := workqueue.PwqWorkqueue(p, wk.CurrentPwq); err != nil || owner != wq.Addr {
				continue
			}
			// The first flusher waits for the flush colour's work: a worker
			// running work of that colour (6.1+ current_color) certainly holds
			// it; one of a later colour, or any for a queued flusher, may.
			certain := first && (wk.CurrentColor < 0 || wk.CurrentColor == wq.FlushColor)
			fn := a.funcName(wk.CurrentFunc)
			w.Holders = append(w.Holders, Holder{Task: c.Ref(wk.Task), Certain: certain,
				How: fmt.Sprintf("kworker running work %s of workqueue %s (worker pool %d)", fn, name, pl.ID)})
		}
	}
	if len(w.Holders) == 0 {
		w.Note = appendErr(w.Note, "no worker runs work of workqueue "+name+": its work is queued, not started")
	}
	return w, true
}

// classifyFlush names the root of a chain ending at a flush whose
// holders are not blocked in a way kwalk recognises (a work function
// that spins or sleeps without a waiter structure), or that has no
// holder (the work is queued and nothing runs it).
func classifyFlush(w *TaskWait, r *Root) bool {
	if w.Kind != WaitFlushWork && w.Kind != WaitFlushWorkqueue {
		return false
	}
	if (w.Error != "" && len(r.Holders) == 0) || (w.Kind == WaitFlushWork && w.Object.State == "") {
		return false
	}
	certain := false
	for _, h := range r.Holders {
		certain = certain || h.Certain
	}
	switch {
	case w.Kind == WaitFlushWork && w.Object.State == "running":
		r.Kind = RootWorkNotFinishing
		r.Summary = w.Note + " (kernel/workqueue.c __flush_work)"
	case w.Kind == WaitFlushWork && w.Object.State == "queued":
		// Queued, not started: the note says where and behind what.
		r.Kind = RootWorkNotStarted
		r.Summary = fmt.Sprintf("%s; %s flushes it (kernel/workqueue.c __flush_work)", w.Note, taskName(w.Task.TaskRef))
	case len(r.Holders) > 0:
		r.Kind = RootWorkNotFinishing
		r.Summary = fmt.Sprintf("%s runs %s and does not finish it, so the flush by %s cannot end: %s",
			serverNames(r.Holders), w.Object.What, taskName(w.Task.TaskRef), w.Note)
	default:
		r.Kind = RootWorkNotStarted
		r.Summary = fmt.Sprintf("%s waits for %s: %s", taskName(w.Task.TaskRef), w.Object.What, w.Note)
	}
	if len(r.Holders) > 0 {
		r.Certain = r.Certain && certain
	}
	return true
}

func flushRemedies(r *Root) []string {
	var out []string
	switch r.Kind {
	case RootWorkNotFinishing:
		for _, h := range r.Holders {
			if h.Certain {
				out = append(out, fmt.Sprintf("look at %s (bt %d): its work function does not return", taskName(h.Task), h.Task.PID))
			}
		}
	case RootWorkNotStarted:
		out = append(out, "look at the worker pool's busy workers (bt each): a work item that does not return, or a CPU hogged so no new worker runs")
	}
	return out
}

// completionOwner returns the address of the typ whose completion member
// holds the swait_queue_head at wait (a waiter's Found.Object), or false
// when a type is missing or the address cannot be one.
func completionOwner(p *symbols.Program, wait uint64, typ, member string) (uint64, bool) {
	coff, err1 := p.OffsetOf("struct completion", "wait")
	off, err2 := p.OffsetOf(typ, member)
	if err1 != nil || err2 != nil || wait < coff+off {
		return 0, false
	}
	return wait - coff - off, true
}
