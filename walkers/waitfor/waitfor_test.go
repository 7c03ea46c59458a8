package waitfor

import (
	"sort"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// stackFixture adds kernel stacks to the lock fixture: each task gets a
// 16 KiB stack at a THREAD_SIZE-aligned address.
type stackFixture struct {
	*walktest.LockFixture
	nextStack uint64
}

func newStackFixture(t testing.TB, firstWaiter bool) *stackFixture {
	return &stackFixture{LockFixture: walktest.NewLockFixture(t, firstWaiter), nextStack: 0xffffc90000010000}
}

// stackTask makes a task with a stack; it returns the task and stack base.
func (f *stackFixture) stackTask(pid int, comm string) (uint64, uint64) {
	task := f.Task(pid, comm)
	base := f.nextStack
	f.nextStack += 2 * threadSize
	f.Mem.Write(base, make([]byte, threadSize))
	f.Mem.WriteU64(task+32, base)
	return task, base
}

// analysis builds a waitAnalysis over the given tasks without unwinding
// (no frames: waiter shapes are then checked against the lock alone).
func (f *stackFixture) analysis(p *symbols.Program, tasks ...uint64) *waitAnalysis {
	return f.analysisOf(p, f.taskList(p, tasks...))
}

// taskList reads the tasks, all in state D.
func (f *stackFixture) taskList(p *symbols.Program, tasks ...uint64) []sched.Task {
	var out []sched.Task
	for _, ta := range tasks {
		o, err := p.Object("struct task_struct", ta)
		if err != nil {
			f.T.Fatal(err)
		}
		r, _ := sched.TaskRefAt(p, ta)
		out = append(out, sched.Task{Obj: o, Addr: ta, PID: r.PID, TGID: r.TGID, Comm: r.Comm, State: "D"})
	}
	return out
}

// analysisOf builds a waitAnalysis over tasks (which it keeps).
func (f *stackFixture) analysisOf(p *symbols.Program, tasks []sched.Task) *waitAnalysis {
	a := &waitAnalysis{p: p, byAddr: map[uint64]*sched.Task{}, traces: map[uint64]*unwind.Trace{},
		stacks: map[uint64][]byte{}, connBy: map[uint64]*fuse.FuseConn{}, reqWait: map[uint64]*fuse.FuseReq{},
		servers: map[uint64][]fuse.FuseServer{}, tasks: tasks}
	a.useKinds(Kinds())
	for i := range a.tasks {
		t := &a.tasks[i]
		a.byAddr[t.Addr] = t
		a.traces[t.Addr] = nil
		base, _ := t.Obj.MemberUint("stack")
		a.bases = append(a.bases, base)
	}
	sort.Slice(a.bases, func(i, j int) bool { return a.bases[i] < a.bases[j] })
	return a
}

func TestStackWaiterRwsem(t *testing.T) {
	f := newStackFixture(t, false)
	owner, _ := f.stackTask(10, "dd")
	w1, s1 := f.stackTask(11, "truncate")
	w2, s2 := f.stackTask(12, "rm")
	sem := f.Alloc(40)
	f.Mem.WriteU64(sem, 3) // WRITER_LOCKED | WAITERS
	f.Mem.WriteU64(sem+8, owner)
	// rwsem_waiter { list @0, task @16, type @24 } on each waiter's stack.
	wa1, wa2 := s1+0x3d00, s2+0x3e00
	f.Mem.WriteU64(wa1+16, w1)
	f.Mem.WriteU64(wa2+16, w2)
	f.List(sem+24, wa1, wa2)
	p := f.Prog()
	a := f.analysis(p, owner, w1, w2)
	for i, want := range []struct {
		task uint64
		pos  int
	}{{w1, 1}, {w2, 2}} {
		w, ok := a.stackWait(a.byAddr[want.task], false)
		if !ok {
			t.Fatalf("waiter %d: no wait found", i)
		}
		if w.Kind != locking.WaitRwsemWrite || w.Object.Addr != sem || w.Position != want.pos || w.QueueLen != 2 {
			t.Errorf("waiter %d: %+v", i, w)
		}
		if len(w.Holders) != 1 || w.Holders[0].Task.PID != 10 || !w.Holders[0].Certain {
			t.Errorf("waiter %d holders %+v", i, w.Holders)
		}
	}
	if _, ok := a.stackWait(a.byAddr[owner], false); ok {
		t.Error("the owner, with nothing on its stack, has a wait")
	}
}

func TestStackWaiterGarbage(t *testing.T) {
	f := newStackFixture(t, false)
	w1, s1 := f.stackTask(11, "x")
	// A waiter-shaped pair whose neighbours do not point back: ignored.
	wa := s1 + 0x3d00
	f.Mem.WriteU64(wa, 0xffff888000900000)
	f.Mem.WriteU64(wa+8, 0xffff888000900000)
	f.Mem.WriteU64(wa+16, w1)
	a := f.analysis(f.Prog(), w1)
	for _, sw := range a.findStackWaiters(a.byAddr[w1]) {
		if sw.broken == "" {
			t.Errorf("unverified waiter accepted: %+v", sw)
		}
	}
	// A verified waiter whose list never leaves the stacks: no head.
	f.List(wa) // self-linked: not a list with others
	b := s1 + 0x3c00
	f.Mem.WriteU64(b+16, w1)
	f.List(wa, b)
	a = f.analysis(f.Prog(), w1)
	w, ok := a.stackWait(a.byAddr[w1], false)
	if !ok || w.Kind != "unknown" || w.Error == "" {
		t.Errorf("want an unknown wait with an error, got %+v %v", w, ok)
	}
}

func TestStackWaiterFirstWaiter(t *testing.T) {
	f := newStackFixture(t, true) // 7.1 layout: mutex.first_waiter
	owner, _ := f.stackTask(20, "owner")
	w1, s1 := f.stackTask(21, "w1")
	w2, s2 := f.stackTask(22, "w2")
	m := f.Alloc(40)
	f.Mem.WriteU64(m, owner|locking.MutexFlagWaiters)
	wa1, wa2 := s1+0x3d00, s2+0x3d00
	f.Mem.WriteU64(wa1+16, w1)
	f.Mem.WriteU64(wa2+16, w2)
	f.List(wa1, wa2) // the headless ring
	f.Mem.WriteU64(m+16, wa1)
	// The slowpath keeps the lock pointer in a stack slot.
	f.Mem.WriteU64(s2+0x3f00, m)
	a := f.analysis(f.Prog(), owner, w1, w2)
	w, ok := a.stackWait(a.byAddr[w2], false)
	if !ok || w.Kind != locking.WaitMutex || w.Object.Addr != m || w.Position != 2 || len(w.Holders) != 1 || w.Holders[0].Task.PID != 20 {
		t.Fatalf("7.1 mutex wait: %+v %v", w, ok)
	}
	if w.How != stackHowFirst {
		t.Errorf("how %q", w.How)
	}
}

func TestFieldWaitBlocker(t *testing.T) {
	f := newStackFixture(t, false)
	tt := f.Types.Get("struct task_struct")
	tt.Members = append(tt.Members, symbols.Member{Name: "blocker", Type: f.Types.Get("unsigned long"), Offset: 300, BitOffset: 2400})
	owner, _ := f.stackTask(30, "owner")
	w1, s1 := f.stackTask(31, "reader")
	sem := f.Alloc(40)
	f.Mem.WriteU64(sem, 1|2)
	f.Mem.WriteU64(sem+8, owner)
	wa := s1 + 0x3d00
	f.Mem.WriteU64(wa+16, w1)
	f.Mem.WriteU32(wa+24, 1) // waiting for read
	f.List(sem+24, wa)
	f.Mem.WriteU64(w1+300, sem|2 /* BLOCKER_TYPE_RWSEM_READER */)
	a := f.analysis(f.Prog(), owner, w1)
	w, ok := a.fieldWait(a.byAddr[w1])
	if !ok || w.Kind != locking.WaitRwsemRead || w.Object.Addr != sem || w.Holders[0].Task.PID != 30 || w.How != "task_struct.blocker (hung-task blocker tracking)" {
		t.Fatalf("blocker wait: %+v %v", w, ok)
	}
	if _, ok := a.fieldWait(a.byAddr[owner]); ok {
		t.Error("blocker 0 gave a wait")
	}
}
