package waitfor

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
)

// manyWaiters is a synthetic kernel where n tasks wait on one object: a
// mutex, a write-locked or read-locked rw_semaphore, a wait_queue_head,
// or a 7.1 mutex (first_waiter ring). The object's owner (task 0) runs.
// "mutex-in-100k" is the mutex with sleeping tasks after the waiters, up
// to 100,000 tasks.
type manyWaiters struct {
	f        *stackFixture
	p        *symbols.Program
	tasks    []uint64 // owner first, then the waiters in queue order, then sleepers
	sleepers int
	object   uint64
	frame    string       // the waiters' slowpath frame
	list     []sched.Task // the tasks as read (the task list walk is not measured)
}

const wakeFnAddr = 0xffffffff81200000

func newManyWaiters(tb testing.TB, kind string, n int) *manyWaiters {
	f := newStackFixture(tb, kind == "mutex-7.1")
	m := &manyWaiters{f: f}
	if kind == "mutex-in-100k" {
		kind, m.sleepers = "mutex", 100000-n-1
	}
	owner, _ := f.stackTask(1, "owner")
	m.tasks = append(m.tasks, owner)
	var nodes []uint64
	var headOff, taskOff uint64 = 16, 16
	obj := f.Alloc(64)
	m.object = obj
	switch kind {
	case "mutex", "mutex-7.1":
		f.Mem.WriteU64(obj, owner|locking.MutexFlagWaiters)
		m.frame = "__mutex_lock"
	case "rwsem":
		f.Mem.WriteU64(obj, 3) // WRITER_LOCKED | WAITERS
		f.Mem.WriteU64(obj+8, owner)
		headOff, m.frame = 24, "rwsem_down_write_slowpath"
	case "rwsem-read":
		f.Mem.WriteU64(obj, 2<<8|2) // two readers, WAITERS
		f.Mem.WriteU64(obj+8, owner|1)
		headOff, m.frame = 24, "rwsem_down_write_slowpath"
	case "waitq":
		headOff, taskOff = 8, 8
	default:
		tb.Fatalf("kind %q", kind)
	}
	for i := 0; i < n; i++ {
		task, stack := f.stackTask(100+i, fmt.Sprintf("w%d", i))
		m.tasks = append(m.tasks, task)
		wa := stack + 0x3d00
		if kind == "waitq" {
			// wait_queue_entry { flags, private, func, entry @24 }
			f.Mem.WriteU64(wa+taskOff, task)
			f.Mem.WriteU64(wa+16, wakeFnAddr)
			nodes = append(nodes, wa+24)
			continue
		}
		f.Mem.WriteU64(wa+taskOff, task) // writers (rwsem_waiter.type 0)
		nodes = append(nodes, wa)
		if kind == "mutex-7.1" {
			f.Mem.WriteU64(stack+0x3f00, obj) // the slowpath's lock pointer
		}
	}
	for i := 0; i < m.sleepers; i++ {
		// In S, not in a lock: their stacks are not read.
		task := f.Task(100+n+i, "sleeper")
		f.Mem.WriteU64(task+32, f.nextStack)
		f.nextStack += 2 * threadSize
		m.tasks = append(m.tasks, task)
	}
	if kind == "mutex-7.1" {
		f.List(nodes[0], nodes[1:]...)
		f.Mem.WriteU64(obj+16, nodes[0])
	} else {
		f.List(obj+headOff, nodes...)
	}
	m.p = f.Prog(symbols.Symbol{Name: "autoremove_wake_function", Addr: wakeFnAddr, Size: 64, Type: 'T'})
	return m
}

// analyse runs the wait analysis and groups the chains, as deadlock does
// (without the task list walk and the unwinder: the fixture has neither;
// the tasks are read once, before the first).
func (m *manyWaiters) analyse() ([]TaskWait, []Chain) {
	if m.list == nil {
		m.list = m.f.taskList(m.p, m.tasks...)
		m.list[0].State = "R"
		for i := len(m.list) - m.sleepers; i < len(m.list); i++ {
			m.list[i].State = "S"
		}
	}
	a := m.f.analysisOf(m.p, slices.Clone(m.list))
	for _, t := range m.tasks[1 : len(m.tasks)-m.sleepers] {
		tr := &unwind.Trace{Frames: []unwind.Frame{{Symbol: "__schedule"}, {Symbol: "schedule"}}}
		if m.frame != "" {
			tr.Frames = append(tr.Frames, unwind.Frame{Symbol: m.frame})
		}
		a.traces[t] = tr
	}
	ws := a.waits()
	return ws, buildChains(ws)
}

// BenchmarkManyWaiters is the deadlock analysis of n tasks waiting on
// one lock or wait queue: it must grow linearly with n.
func BenchmarkManyWaiters(b *testing.B) {
	for _, kind := range []string{"mutex", "rwsem", "rwsem-read", "waitq", "mutex-7.1"} {
		for _, n := range []int{1000, 10000} {
			b.Run(fmt.Sprintf("%s/%d", kind, n), func(b *testing.B) {
				m := newManyWaiters(b, kind, n)
				m.analyse()
				runtime.GC()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					ws, chains := m.analyse()
					if len(ws) != n || len(chains) != 1 {
						b.Fatalf("%d waits, %d chains", len(ws), len(chains))
					}
				}
			})
		}
	}
}

// BenchmarkManyWaitersIn100k is the analysis of 100,000 tasks of which
// n wait on one mutex and the others sleep outside any lock.
func BenchmarkManyWaitersIn100k(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("mutex/%d", n), func(b *testing.B) {
			m := newManyWaiters(b, "mutex-in-100k", n)
			m.analyse()
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				ws, chains := m.analyse()
				if len(ws) != n || len(chains) != 1 {
					b.Fatalf("%d waits, %d chains", len(ws), len(chains))
				}
			}
		})
	}
}

// TestManyWaiters checks what the benchmark measures: every waiter found
// at its place in the queue, one chain.
func TestManyWaiters(t *testing.T) {
	const n = 300
	wantKind := map[string]string{"mutex": locking.WaitMutex, "rwsem": locking.WaitRwsemWrite, "rwsem-read": locking.WaitRwsemWrite,
		"waitq": locking.WaitQueueEvent, "mutex-7.1": locking.WaitMutex}
	for _, kind := range []string{"mutex", "rwsem", "rwsem-read", "waitq", "mutex-7.1"} {
		t.Run(kind, func(t *testing.T) {
			m := newManyWaiters(t, kind, n)
			ws, chains := m.analyse()
			if len(ws) != n {
				t.Fatalf("%d waits, want %d", len(ws), n)
			}
			for i, w := range ws {
				if w.Task.Addr != m.tasks[i+1] || w.Object.Addr != m.object || w.Kind != wantKind[kind] {
					t.Fatalf("wait %d: %+v", i, w)
				}
				if kind != "waitq" && (w.Position != i+1 || w.QueueLen != n) {
					t.Fatalf("wait %d: place %d of %d", i, w.Position, w.QueueLen)
				}
				if kind != "waitq" && (len(w.Holders) == 0 || w.Holders[0].Task.Addr != m.tasks[0]) {
					t.Fatalf("wait %d: holders %+v", i, w.Holders)
				}
			}
			if len(chains) != 1 || chains[0].Blocked != n {
				t.Fatalf("%d chains", len(chains))
			}
		})
	}
}

// TestListHeadKept checks the kept list walks against fresh ones: a walk
// that reaches a kept node answers as a walk of its own would, also when
// a node after it is on the walker's own stack.
func TestListHeadKept(t *testing.T) {
	f := newStackFixture(t, false)
	var tasks, bases, nodes []uint64
	for i := 0; i < 6; i++ {
		task, base := f.stackTask(10+i, "w")
		tasks, bases = append(tasks, task), append(bases, base)
		nodes = append(nodes, base+0x3d00)
	}
	head := f.Alloc(64)
	f.List(head, nodes...)
	p := f.Prog()
	// An own walk from node i takes node i+2 as on its own stack.
	walk := func(a *waitAnalysis, i int, own bool) (uint64, error) {
		if own {
			return a.listHeadOf(nodes[i], bases[i+2], bases[i+2]+threadSize)
		}
		return a.listHeadOf(nodes[i], 0, 0)
	}
	fresh := func(i int, own bool) (uint64, error) {
		a := f.analysis(p, tasks...)
		a.disjoint = 2 // nothing kept
		return walk(a, i, own)
	}
	for _, order := range [][]int{{0, 1, 2, 3, 4, 5}, {5, 4, 3, 2, 1, 0}, {3, 0, 5, 1, 4, 2}} {
		a := f.analysis(p, tasks...)
		for _, i := range order {
			for _, own := range []bool{true, false} {
				if own && i+2 >= len(nodes) {
					continue
				}
				got, err := walk(a, i, own)
				want, werr := fresh(i, own)
				if got != want || (err == nil) != (werr == nil) {
					t.Fatalf("order %v, node %d, own %v: %#x %v, want %#x %v", order, i, own, got, err, want, werr)
				}
			}
		}
		if len(a.heads) != len(nodes) {
			t.Errorf("order %v: %d nodes kept, want %d", order, len(a.heads), len(nodes))
		}
	}
}

// TestStackReferencesBut: the scan kept per value answers each waiter as
// StackReferences skipping that waiter does.
func TestStackReferencesBut(t *testing.T) {
	f := newStackFixture(t, false)
	const v = 0xffff888000abc000
	var tasks []uint64
	for i := 0; i < 12; i++ {
		task, base := f.stackTask(10+i, "t")
		tasks = append(tasks, task)
		if i%3 != 1 {
			f.Mem.WriteU64(base+0x3000+uint64(8*i), v)
		}
	}
	p := f.Prog()
	a := f.analysis(p, tasks...)
	a.tasks[4].State = "S" // not looked at
	for _, but := range append(tasks, 0x1234) {
		fresh := f.analysis(p, tasks...)
		fresh.tasks[4].State = "S"
		want := fresh.StackReferences(v, map[uint64]bool{but: true})
		got := a.stackReferencesBut(v, but)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("but %#x: %x, want %x", but, got, want)
		}
	}
}
