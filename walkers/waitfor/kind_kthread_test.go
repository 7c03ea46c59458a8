package waitfor

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// kindScene is a stack fixture whose tasks have frames, states and flags,
// for the kinds recognised by a waiter on the stack and a frame (kthread
// stop, flushes, RCU): the whole analysis (waits, holders, chains) runs
// on it.
type kindScene struct {
	*stackFixture
	syms   []symbols.Symbol
	tasks  []uint64
	frames map[uint64][]string
	states map[uint64]string
	flags  map[uint64]uint64
	memo   map[any]any
}

// Offsets the scene adds to the fixture's 512-byte task_struct.
const (
	offWorkerPrivate = 300
	offSetChildTid   = 308
	offRCUNodeEntry  = 320
)

// newKindScene adds struct kthread and the task members that reach it:
// worker_private (5.17+) unless legacy, where only set_child_tid does.
func newKindScene(t *testing.T, legacy bool) *kindScene {
	f := newStackFixture(t, false)
	ty := f.Types
	tt := ty.Get("struct task_struct")
	if !legacy {
		tt.Members = append(tt.Members, symtest.F("worker_private", ty.Ptr(nil), offWorkerPrivate))
	}
	tt.Members = append(tt.Members, symtest.F("set_child_tid", ty.Ptr(nil), offSetChildTid),
		symtest.F("rcu_node_entry", ty.Get("struct list_head"), offRCUNodeEntry))
	comp := ty.Get("struct completion")
	ty.Struct("kthread", 128, symtest.F("flags", ty.Get("unsigned long"), 0), symtest.F("cpu", ty.Get("unsigned int"), 8),
		symtest.F("parked", comp, 32), symtest.F("exited", comp, 64))
	ty.Add(&symbols.Type{Kind: symbols.KindEnum, Name: "KTHREAD_BITS", Size: 4, Enumerators: []symbols.Enumerator{
		{Name: "KTHREAD_IS_PER_CPU", Value: 0}, {Name: "KTHREAD_SHOULD_STOP", Value: 1}, {Name: "KTHREAD_SHOULD_PARK", Value: 2}}})
	return &kindScene{stackFixture: f, frames: map[uint64][]string{}, states: map[uint64]string{},
		flags: map[uint64]uint64{}, memo: map[any]any{}}
}

// task makes a task in state with the given frames (innermost first).
func (s *kindScene) task(pid int, comm, state string, frames ...string) (uint64, uint64) {
	a, st := s.stackTask(pid, comm)
	s.tasks = append(s.tasks, a)
	s.states[a] = state
	if len(frames) > 0 {
		s.frames[a] = frames
	}
	return a, st
}

// kthread makes a kthread with its struct kthread; it returns the task and
// the struct kthread.
func (s *kindScene) kthread(pid int, comm, state string, legacy bool) (uint64, uint64) {
	a, _ := s.task(pid, comm, state)
	s.flags[a] = sched.PFKthread
	kt := s.Alloc(128)
	s.List(kt + 64 + 16) // exited.wait.task_list, empty
	if legacy {
		s.Mem.WriteU64(a+offSetChildTid, kt)
	} else {
		s.Mem.WriteU64(a+offWorkerPrivate, kt)
	}
	return a, kt
}

// swaitWaiter puts a struct swait_queue of task at stack+off, queued on
// the completion at comp.
func (s *kindScene) swaitWaiter(task, stack, off, comp uint64) {
	q := stack + off
	s.Mem.WriteU64(q, task)
	s.List(comp+16, q+8)
}

// sym adds a text symbol.
func (s *kindScene) sym(name string, addr uint64) {
	s.syms = append(s.syms, symbols.Symbol{Name: name, Addr: addr, Size: 0x40, Type: 'T'})
}

// run analyses the scene's tasks: every wait and the chains.
func (s *kindScene) run() (*waitAnalysis, []TaskWait, []Chain) {
	a := s.analysis(s.Prog(s.syms...), s.tasks...)
	a.memo = s.memo
	for i := range a.tasks {
		t := &a.tasks[i]
		t.State, t.Flags = s.states[t.Addr], s.flags[t.Addr]
		if fr := s.frames[t.Addr]; fr != nil {
			tr := &unwind.Trace{Task: t.Addr}
			for _, n := range fr {
				tr.Frames = append(tr.Frames, unwind.Frame{Symbol: n})
			}
			a.traces[t.Addr] = tr
		}
	}
	ws := a.waits()
	return a, ws, buildChains(ws)
}

func waitOfPID(ws []TaskWait, pid int) *TaskWait {
	for i := range ws {
		if ws[i].Task.PID == pid {
			return &ws[i]
		}
	}
	return nil
}

func chainOfPID(cs []Chain, pid int) *Chain {
	for i := range cs {
		for _, w := range append(append([]TaskWait(nil), cs[i].Path...), cs[i].Others...) {
			if w.Task.PID == pid {
				return &cs[i]
			}
		}
	}
	return nil
}

func TestKthreadStopWait(t *testing.T) {
	for _, tc := range []struct {
		name      string
		legacy    bool // struct kthread in set_child_tid (before 5.17)
		stopFlag  bool // KTHREAD_SHOULD_STOP set
		otherComp bool // the stopper waits on a completion no kthread has
		kind      string
		note      string // a part of the wait's note
		root      string
	}{
		{name: "worker_private", stopFlag: true, kind: WaitKthreadStop, root: RootKthreadNotStopping},
		{name: "set_child_tid", legacy: true, stopFlag: true, kind: WaitKthreadStop, root: RootKthreadNotStopping},
		{name: "should-stop not set", stopFlag: false, kind: WaitKthreadStop, note: "KTHREAD_SHOULD_STOP is not set", root: RootKthreadNotStopping},
		{name: "a completion of no kthread", otherComp: true, kind: "completion", note: "no kthread's struct kthread", root: RootNoWaker},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newKindScene(t, tc.legacy)
			_, kt := s.kthread(50, "my_kthread", "S", tc.legacy)
			s.kthread(52, "other_kthread", "S", tc.legacy)
			if tc.stopFlag {
				s.Mem.WriteU64(kt, 1<<1)
			}
			stopper, st := s.task(51, "rmmod", "D", "__schedule", "schedule_timeout", "wait_for_completion", "kthread_stop", "my_exit")
			comp := kt + 64
			if tc.otherComp {
				comp = s.Alloc(32)
				s.List(comp + 16)
			}
			s.swaitWaiter(stopper, st, 0x3e00, comp)
			_, ws, cs := s.run()
			w := waitOfPID(ws, 51)
			if w == nil {
				t.Fatalf("no wait for the stopper: %+v", ws)
			}
			if w.Kind != tc.kind || !strings.Contains(w.Note, tc.note) {
				t.Errorf("wait %s note %q, want %s with %q", w.Kind, w.Note, tc.kind, tc.note)
			}
			if tc.kind == WaitKthreadStop {
				if len(w.Holders) != 1 || w.Holders[0].Task.PID != 50 || !w.Holders[0].Certain ||
					w.Holders[0].How != "kthread_stop of my_kthread (pid 50): it has to see kthread_should_stop() and return" || !w.Certain {
					t.Errorf("holders %+v (certain %v)", w.Holders, w.Certain)
				}
				if w.Object.Addr != comp || !strings.Contains(w.Object.What, "my_kthread (pid 50)") {
					t.Errorf("object %+v", w.Object)
				}
			}
			c := chainOfPID(cs, 51)
			if c == nil || c.Root.Kind != tc.root {
				t.Fatalf("chain %+v, want root %s", c, tc.root)
			}
			t.Logf("%s", strings.Join(c.Story, "\n"))
			if tc.root == RootKthreadNotStopping {
				if !c.Root.Certain || !strings.Contains(c.Root.Summary, "kthread my_kthread (pid 50) was asked to stop by rmmod (pid 51)") ||
					!strings.Contains(strings.Join(c.Remedy, "\n"), "bt 50") {
					t.Errorf("root %+v remedies %q", c.Root, c.Remedy)
				}
			}
		})
	}
}

// On every dump each kthread's struct kthread is found (worker_private or
// set_child_tid, by the types; kernel/kthread.c): a workqueue worker's kthread->data is its
// struct worker, whose task is the kthread; where struct kthread records
// its task (6.14+), that is the kthread.
func TestKthreadOfRealDumps(t *testing.T) {
	for _, d := range testdata.Require(t, testdata.Filter{Format: testdata.FormatKdumpZlib}) {
		t.Run(d.ID(), func(t *testing.T) {
			p := walktest.OpenReal(t, testdata.RealDump{Path: d.Path(testdata.FormatKdumpZlib)})
			tasks, err := sched.Tasks(p)
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for i := range tasks {
				tk := &tasks[i]
				if !tk.Kthread() || tk.Idle || tk.State == "X" || tk.State == "Z" {
					continue
				}
				kt, err := kthreadOf(p, tk)
				if err == nil && kt == 0 && tk.Comm == "kthreadd" {
					continue // 5.10: kthreadd, started by kernel_thread (init/main.c rest_init), has none
				}
				if err != nil || kt == 0 {
					t.Errorf("kthread %d (%s): struct kthread %#x: %v", tk.PID, tk.Comm, kt, err)
					continue
				}
				ko, err := p.Object("struct kthread", kt)
				if err != nil {
					t.Fatal(err)
				}
				if ko.Type().HasMember("task") {
					if back, err := ko.MemberUint("task"); err != nil || back != tk.Addr {
						t.Errorf("kthread %d (%s): struct kthread %#x names task %#x", tk.PID, tk.Comm, kt, back)
					}
					checked++
				}
				if tk.Flags&sched.PFWQWorker != 0 {
					data, err := ko.MemberUint("data")
					if err != nil {
						t.Fatal(err)
					}
					wk, err := p.Object("struct worker", data)
					if err != nil {
						t.Fatal(err)
					}
					if wt, err := wk.MemberUint("task"); err != nil || wt != tk.Addr {
						t.Errorf("kworker %d (%s): kthread->data %#x is a worker of task %#x", tk.PID, tk.Comm, data, wt)
					}
					checked++
				}
			}
			if checked == 0 {
				t.Error("no kthread checked")
			}
			t.Logf("%d kthread structs checked", checked)
		})
	}
}
