package waitfor

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
	"github.com/kwalk/kwalk/walkers/workqueue"
)

// Work functions of the flush scenes.
const (
	symMyWorkFn    = 0xffffffff81003000
	symOtherWorkFn = 0xffffffff81003100
	symBarrierFn   = 0xffffffff81003200
)

// flushScene adds the workqueue types of kernel/workqueue.c to a kind
// scene, a workqueue "events" with one pool_workqueue, and the worker
// pools the analysis is given (the pools' own reading is tested on the
// real dumps, workqueue.TestPoolsAgainstRecords).
type flushScene struct {
	*kindScene
	wqHead, wq, pwq uint64
	pools           []workqueue.Pool
}

func newFlushScene(t *testing.T) *flushScene {
	s := &flushScene{kindScene: newKindScene(t, false)}
	ty := s.Types
	lh, ptr, i32 := ty.Get("struct list_head"), ty.Ptr(nil), ty.Get("int")
	comp := ty.Get("struct completion")
	work := ty.Struct("work_struct", 32, symtest.F("data", ty.Get("unsigned long"), 0), symtest.F("entry", lh, 8), symtest.F("func", ptr, 24))
	ty.Struct("wq_barrier", 72, symtest.F("work", work, 0), symtest.F("done", comp, 32), symtest.F("task", ptr, 64))
	ty.Struct("wq_flusher", 56, symtest.F("list", lh, 0), symtest.F("flush_color", i32, 16), symtest.F("done", comp, 24))
	ty.Struct("pool_workqueue", 128, symtest.F("pool", ptr, 0), symtest.F("wq", ptr, 8),
		symtest.F("nr_in_flight", ty.Array(i32, 16), 16), symtest.F("pwqs_node", lh, 80))
	ty.Struct("workqueue_struct", 128, symtest.F("pwqs", lh, 0), symtest.F("list", lh, 16), symtest.F("work_color", i32, 32),
		symtest.F("flush_color", i32, 36), symtest.F("first_flusher", ptr, 40), symtest.F("flusher_queue", lh, 48),
		symtest.F("flusher_overflow", lh, 64), symtest.F("name", ty.Array(ty.Get("char"), 24), 80))
	s.sym("my_work_fn", symMyWorkFn)
	s.sym("other_work_fn", symOtherWorkFn)
	s.sym("wq_barrier_func", symBarrierFn)
	s.wqHead = s.Alloc(16)
	s.syms = append(s.syms, symbols.Symbol{Name: "workqueues", Addr: s.wqHead, Size: 16, Type: 'd'})
	s.wq = s.Alloc(128)
	s.Mem.WriteString(s.wq+80, "events")
	s.Mem.WriteU32(s.wq+32, 2) // work_color
	s.Mem.WriteU32(s.wq+36, 1) // flush_color
	s.List(s.wq + 48)
	s.List(s.wq + 64)
	s.List(s.wqHead, s.wq+16)
	s.pwq = s.Alloc(128)
	s.Mem.WriteU64(s.pwq+8, s.wq)
	s.List(s.wq, s.pwq+80)
	s.memo[workPoolsKey{}] = []workqueue.Pool(nil)
	return s
}

// work makes a work item with function fn; it returns its address.
func (s *flushScene) work(fn uint64) uint64 {
	w := s.Alloc(32)
	s.Mem.WriteU64(w+24, fn)
	return w
}

// pool adds a worker pool with a worklist head; it returns its index.
func (s *flushScene) pool(id, cpu, workers, idle int) int {
	s.pools = append(s.pools, workqueue.Pool{Addr: s.Alloc(64), ID: id, CPU: cpu, NrWorkers: workers, NrIdle: idle, Worklist: s.Alloc(16)})
	s.List(s.pools[len(s.pools)-1].Worklist)
	s.memo[workPoolsKey{}] = s.pools
	return len(s.pools) - 1
}

// busy makes a kworker of pool running work with fn (through pwq, when
// not 0); it returns the task and the worker's scheduled list head.
func (s *flushScene) busy(pool, pid int, state string, work, fn, pwq uint64, frames ...string) (uint64, uint64) {
	task, _ := s.task(pid, "kworker/0:1", state, frames...)
	sch := s.Alloc(16)
	s.List(sch)
	pl := &s.pools[pool]
	pl.Busy = append(pl.Busy, workqueue.Worker{Addr: s.Alloc(64), Task: task, Pool: pl.Addr, CurrentWork: work,
		CurrentFunc: fn, CurrentPwq: pwq, CurrentColor: -1, Scheduled: sch})
	s.memo[workPoolsKey{}] = s.pools
	return task, sch
}

// flusher makes a task in flush_work whose wq_barrier (on its stack) is
// linked, by the caller, after the nodes given; it returns the barrier.
func (s *flushScene) flusher(pid int) uint64 {
	task, st := s.task(pid, "modprobe", "D", "__schedule", "wait_for_completion", "__flush_work", "flush_work", "my_exit")
	barr := st + 0x3c00
	s.Mem.WriteU64(barr+24, symBarrierFn)
	s.Mem.WriteU64(barr+64, task)
	s.swaitWaiter(task, st, 0x3e00, barr+32)
	return barr
}

func TestFlushWorkWait(t *testing.T) {
	type want struct {
		what, note string
		holders    []int
		certain    bool
		root       string
		summary    string
		rootSure   bool
	}
	for _, tc := range []struct {
		name  string
		build func(s *flushScene)
		want  want
	}{
		{
			name: "the work runs: barrier on the worker's scheduled list",
			build: func(s *flushScene) {
				p := s.pool(2, 0, 2, 1)
				target := s.work(symMyWorkFn)
				_, sch := s.busy(p, 60, "S", target, symMyWorkFn, s.pwq, "__schedule", "schedule_timeout", "my_work_fn")
				barr := s.flusher(61)
				s.List(sch, barr+8)
			},
			want: want{what: "work my_work_fn (workqueue events), running on kworker/0:1 (pid 60)", holders: []int{60}, certain: true,
				note: "kworker/0:1 (pid 60) runs work my_work_fn (workqueue events) and has not finished it", root: RootWorkNotFinishing, rootSure: true,
				summary: "kworker/0:1 (pid 60) runs work my_work_fn (workqueue events) and has not finished it; modprobe (pid 61) flushes it"},
		},
		{
			name: "the work is pending behind another in the pool's worklist",
			build: func(s *flushScene) {
				p := s.pool(3, 1, 2, 0)
				other, target := s.work(symOtherWorkFn), s.work(symMyWorkFn)
				s.busy(p, 62, "R", s.work(symOtherWorkFn), symOtherWorkFn, 0)
				barr := s.flusher(61)
				s.List(s.pools[p].Worklist, other+8, target+8, barr+8)
			},
			want: want{what: "work my_work_fn, queued on worker pool 3 (CPU 1), not started", holders: []int{62},
				note: "2 work item(s) ahead of the barrier on the worklist of worker pool 3 (CPU 1), which has 2 worker(s), 0 idle; busy: kworker/0:1 (pid 62) runs other_work_fn",
				root: RootWorkNotStarted, summary: "work my_work_fn has not started: 2 work item(s) ahead of the barrier on the worklist of worker pool 3 (CPU 1), which has 2 worker(s), 0 idle; busy: kworker/0:1 (pid 62) runs other_work_fn; modprobe (pid 61) flushes it"},
		},
		{
			name: "the work runs in softirq on a BH pool",
			build: func(s *flushScene) {
				p := s.pool(4, 0, 1, 0)
				target := s.work(symMyWorkFn)
				sch := s.Alloc(16)
				s.pools[p].Busy = append(s.pools[p].Busy, workqueue.Worker{Addr: s.Alloc(64), CurrentWork: target,
					CurrentFunc: symMyWorkFn, CurrentColor: -1, Scheduled: sch})
				barr := s.flusher(61)
				s.List(sch, barr+8)
			},
			want: want{what: "work my_work_fn, running in softirq on BH worker pool 4", note: "runs in softirq context",
				root: RootWorkNotFinishing, rootSure: true, summary: "work my_work_fn runs in softirq context (BH worker pool 4) and has not finished"},
		},
		{
			name: "pending on an unbound pool nobody works on",
			build: func(s *flushScene) {
				p := s.pool(9, -1, 1, 1)
				target := s.work(symMyWorkFn)
				barr := s.flusher(61)
				s.List(s.pools[p].Worklist, target+8, barr+8)
			},
			want: want{what: "work my_work_fn, queued on worker pool 9 (unbound), not started",
				note: "1 work item(s) ahead of the barrier on the worklist of worker pool 9 (unbound), which has 1 worker(s), 1 idle; no worker of the pool is running work",
				root: RootWorkNotStarted, rootSure: true, summary: "no worker of the pool is running work; modprobe (pid 61) flushes it"},
		},
		{
			name: "behind max_active: a list of no pool",
			build: func(s *flushScene) {
				s.pool(2, 0, 1, 1)
				inactive := s.Alloc(16)
				target := s.work(symMyWorkFn)
				barr := s.flusher(61)
				s.List(inactive, target+8, barr+8)
			},
			want: want{what: "work my_work_fn, queued behind max_active (on its workqueue's inactive list)", note: "inactive list (max_active reached)",
				root: RootWorkNotStarted, rootSure: true, summary: "work my_work_fn has not started: the barrier behind it"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFlushScene(t)
			tc.build(s)
			_, ws, cs := s.run()
			w := waitOfPID(ws, 61)
			if w == nil {
				t.Fatalf("no wait for the flusher: %+v", ws)
			}
			if w.Kind != WaitFlushWork || !w.Certain || w.Object.What != tc.want.what || !strings.Contains(w.Note, tc.want.note) {
				t.Errorf("wait %s (certain %v) what %q note %q, want what %q note with %q", w.Kind, w.Certain, w.Object.What, w.Note, tc.want.what, tc.want.note)
			}
			var pids []int
			for _, h := range w.Holders {
				pids = append(pids, h.Task.PID)
				if h.Certain != tc.want.certain {
					t.Errorf("holder %d certain %v, want %v (%s)", h.Task.PID, h.Certain, tc.want.certain, h.How)
				}
			}
			if len(pids) != len(tc.want.holders) || (len(pids) > 0 && pids[0] != tc.want.holders[0]) {
				t.Errorf("holders %v, want %v", pids, tc.want.holders)
			}
			c := chainOfPID(cs, 61)
			if c == nil {
				t.Fatal("no chain")
			}
			t.Logf("%s", strings.Join(c.Story, "\n"))
			if c.Root.Kind != tc.want.root || !strings.Contains(c.Root.Summary, tc.want.summary) || c.Root.Certain != tc.want.rootSure {
				t.Errorf("root %+v, want %s with %q", c.Root, tc.want.root, tc.want.summary)
			}
		})
	}
}

func TestFlushWorkqueueWait(t *testing.T) {
	s := newFlushScene(t)
	p := s.pool(2, 0, 2, 0)
	s.busy(p, 60, "S", s.work(symMyWorkFn), symMyWorkFn, s.pwq, "__schedule", "msleep", "my_work_fn")
	s.busy(p, 63, "S", s.work(symOtherWorkFn), symOtherWorkFn, 0, "__schedule", "msleep", "other_work_fn")
	s.Mem.WriteU32(s.pwq+16+4*1, 3) // nr_in_flight[flush colour 1]
	// The first flusher, and a second queued on flusher_queue.
	first, st1 := s.task(61, "modprobe", "D", "__schedule", "wait_for_completion", "__flush_workqueue", "drain_workqueue", "destroy_workqueue")
	fl1 := st1 + 0x3c00
	s.List(fl1)
	s.Mem.WriteU64(s.wq+40, fl1)
	s.swaitWaiter(first, st1, 0x3e00, fl1+24)
	second, st2 := s.task(64, "rmmod", "D", "__schedule", "wait_for_completion", "__flush_workqueue")
	fl2 := st2 + 0x3c00
	s.List(s.wq+48, fl2)
	s.swaitWaiter(second, st2, 0x3e00, fl2+24)
	// A flusher of no workqueue is a plain completion wait.
	stray, st3 := s.task(65, "stray", "D", "__schedule", "wait_for_completion", "__flush_workqueue")
	fl3 := st3 + 0x3c00
	s.List(fl3)
	s.swaitWaiter(stray, st3, 0x3e00, fl3+24)

	_, ws, cs := s.run()
	for _, want := range []struct {
		pid     int
		note    string
		certain bool
	}{
		{61, "waits for 3 work item(s) of flush colour 1 in flight", true},
		{64, "queued behind the flush in progress (position 1 on flusher_queue)", false},
	} {
		w := waitOfPID(ws, want.pid)
		if w == nil {
			t.Fatalf("pid %d: no wait", want.pid)
		}
		if w.Kind != WaitFlushWorkqueue || w.Object.Addr != s.wq || w.Object.What != "the work queued on workqueue events" || !strings.Contains(w.Note, want.note) {
			t.Errorf("pid %d: wait %s object %+v note %q", want.pid, w.Kind, w.Object, w.Note)
		}
		if len(w.Holders) != 1 || w.Holders[0].Task.PID != 60 || w.Holders[0].Certain != want.certain ||
			w.Holders[0].How != "kworker running work my_work_fn of workqueue events (worker pool 2)" {
			t.Errorf("pid %d: holders %+v", want.pid, w.Holders)
		}
		// Both flushers wait on one workqueue held by one kworker: one
		// chain, whose root is the flush in progress's (certain).
		c := chainOfPID(cs, want.pid)
		if c == nil || c.Root.Kind != RootWorkNotFinishing || !c.Root.Certain || c.Blocked != 2 ||
			!strings.Contains(c.Root.Summary, "kworker/0:1 (pid 60) runs the work queued on workqueue events and does not finish it") {
			t.Fatalf("pid %d: chain %+v", want.pid, c)
		}
		t.Logf("%s", strings.Join(c.Story, "\n"))
	}
	if w := waitOfPID(ws, 65); w == nil || w.Kind != "completion" || !strings.Contains(w.Note, "no workqueue has this completion's wq_flusher") {
		t.Errorf("stray flusher: %+v", w)
	}
}

// A barrier on a damaged list (prev links that loop without reaching a
// head or the barrier) is reported with the error, not followed forever.
func TestFlushWorkCorruptList(t *testing.T) {
	s := newFlushScene(t)
	s.pool(2, 0, 1, 1)
	x, y := s.work(symMyWorkFn), s.work(symOtherWorkFn)
	barr := s.flusher(61)
	s.List(s.pools[0].Worklist, barr+8)
	s.Mem.WriteU64(barr+8+8, x+8) // barrier.prev = x
	s.Mem.WriteU64(x+8+8, y+8)    // x.prev = y
	s.Mem.WriteU64(y+8+8, x+8)    // y.prev = x: a loop
	_, ws, _ := s.run()
	w := waitOfPID(ws, 61)
	if w == nil || w.Kind != WaitFlushWork || w.Certain || !strings.Contains(w.Error, "corrupt list") || len(w.Holders) != 0 {
		t.Fatalf("wait %+v", w)
	}
}
