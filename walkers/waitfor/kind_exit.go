package waitfor

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// Kind names of waits for other tasks to exit.
const (
	WaitPidNSExit   = "pidns-exit"   // a pid namespace init in zap_pid_ns_processes
	WaitThreadsExit = "threads-exit" // a zombie group leader whose threads still run
)

// PidNSExitWait: a pid namespace's init in zap_pid_ns_processes
// (kernel/pid_namespace.c) waits for every other task of the namespace.
var PidNSExitWait = &waitkind.Kind{
	Name: WaitPidNSExit,
	Verb: "waits for the",
	Detect: func(c waitkind.Context, t *sched.Task) (TaskWait, bool) {
		a := c.(*waitAnalysis)
		if !a.HasFrame(t, pidnsTeardownFrames) {
			return TaskWait{}, false
		}
		return a.pidnsWait(t), true
	},
}

var pidnsTeardownFrames = waitkind.NewFrames("zap_pid_ns_processes")

// ThreadsExitWait: a zombie thread-group leader is reaped only when its
// other threads have exited. A zombie is a normal sight, so this is looked
// for only in tasks that others wait on.
var ThreadsExitWait = &waitkind.Kind{
	Name:       WaitThreadsExit,
	Verb:       "waits for the",
	HolderOnly: true,
	Detect: func(c waitkind.Context, t *sched.Task) (TaskWait, bool) {
		if t.State != "Z" {
			return TaskWait{}, false
		}
		return c.(*waitAnalysis).zombieWait(t)
	},
}

// zombieWait: a zombie group leader cannot be reaped while other threads
// of its group live (kernel/exit.c delay_group_leader / thread_group_empty).
func (a *waitAnalysis) zombieWait(t *sched.Task) (TaskWait, bool) {
	if !t.IsLeader() {
		return TaskWait{}, false
	}
	w := TaskWait{Task: a.Blocked(t), Kind: WaitThreadsExit, Certain: true,
		How: "zombie thread-group leader: reaped only when its other threads have exited (kernel/exit.c delay_group_leader)"}
	w.Object = WaitObject{Type: "task_struct", Addr: t.Addr, What: fmt.Sprintf("exit of the other threads of process %d", t.TGID)}
	for _, i := range a.threadsOf(t.TGID) {
		o := &a.tasks[i]
		if o.Addr != t.Addr && o.State != "Z" && o.State != "X" {
			w.Holders = append(w.Holders, Holder{Task: a.ref(o), How: "live thread of the zombie's group", Certain: true})
		}
	}
	if len(w.Holders) == 0 {
		return TaskWait{}, false
	}
	return w, true
}

type threadGroupsKey struct{}

// threadsOf returns the places in a.tasks of the tasks of thread group
// tgid, in order (indexed once per analysis).
func (a *waitAnalysis) threadsOf(tgid int) []int {
	return a.Memo(threadGroupsKey{}, func() any {
		byTGID := map[int][]int{}
		for i := range a.tasks {
			byTGID[a.tasks[i].TGID] = append(byTGID[a.tasks[i].TGID], i)
		}
		return byTGID
	}).(map[int][]int)[tgid]
}

// pidnsWait: a pid namespace's init in zap_pid_ns_processes
// (kernel/pid_namespace.c) waits, in kernel_wait4 and then until
// pid_ns->pid_allocated drops to its own, for every other task of the
// namespace to be gone.
func (a *waitAnalysis) pidnsWait(t *sched.Task) TaskWait {
	w := TaskWait{Task: a.Blocked(t), Kind: WaitPidNSExit, Certain: true,
		How: "frame zap_pid_ns_processes: the namespace init waits for every other task of its pid namespace"}
	ns, level := taskPidNS(a.p, t)
	w.Object = WaitObject{Type: "pid_namespace", Addr: ns, What: fmt.Sprintf("teardown of pid namespace %#x (level %d)", ns, level)}
	if ns == 0 {
		w.Error = "could not read the task's pid namespace"
		return w
	}
	if pns, err := a.p.Object("struct pid_namespace", ns); err == nil {
		if n, err := pns.MemberUint("pid_allocated"); err == nil {
			w.Note = fmt.Sprintf("pid_allocated = %#x", n)
		}
	}
	for i := range a.tasks {
		o := &a.tasks[i]
		if o.Addr == t.Addr || len(o.NSPIDs) <= level {
			continue
		}
		if ons, _ := taskPidNSAt(a.p, o, level); ons == ns {
			w.Holders = append(w.Holders, Holder{Task: a.ref(o), Certain: true,
				How: fmt.Sprintf("task of the namespace (pid %d there, state %s)", o.NSPIDs[level], o.State)})
		}
	}
	return w
}

// taskPidNS returns the task's own pid namespace, thread_pid->numbers[
// level].ns (include/linux/pid.h ns_of_pid), and its level.
func taskPidNS(p *symbols.Program, t *sched.Task) (uint64, int) {
	level := len(t.NSPIDs) - 1
	if level < 0 {
		level = 0
	}
	ns, _ := taskPidNSAt(p, t, level)
	return ns, level
}

// taskPidNSAt reads thread_pid->numbers[level].ns. numbers is declared
// numbers[1] in 5.x and as a flexible array later (include/linux/pid.h),
// so the element address is computed rather than indexed.
func taskPidNSAt(p *symbols.Program, t *sched.Task, level int) (uint64, error) {
	pid, err := t.Obj.MemberUint("thread_pid")
	if err != nil || pid == 0 {
		return 0, fmt.Errorf("task %#x: thread_pid: %v", t.Addr, err)
	}
	pt, err := p.Type("struct pid")
	if err != nil {
		return 0, err
	}
	m, ok := pt.FindMember("numbers")
	if !ok {
		return 0, fmt.Errorf("%w: struct pid has no numbers", symbols.ErrNoMember)
	}
	at := m.Type.Resolve()
	if at == nil || at.Kind != symbols.KindArray {
		return 0, fmt.Errorf("struct pid.numbers is not an array")
	}
	esz := at.Elem.Resolve().Size
	nsOff, err := p.OffsetOfType(at.Elem, "ns")
	if err != nil {
		return 0, err
	}
	return p.ReadU64(pid + m.Offset + uint64(level)*esz + nsOff)
}

// WaitVfork is TaskWait.Kind of a vfork parent waiting for its child.
const WaitVfork = "vfork"

// RootVforkChild is the root kind of a chain ending at a vfork child that
// neither execs nor exits.
const RootVforkChild = "vfork-child"

var vforkFrames = waitkind.NewFrames("wait_for_vfork_done")

// vforkCallerFrames are where wait_for_vfork_done is inlined (Debian's
// 6.1 and 7.2 show the completion wait right under kernel_clone, which
// was _do_fork before 5.10). kernel_clone sleeps elsewhere too
// (allocations, cgroup_threadgroup_rwsem), so there a vfork wait needs
// its child.
var vforkCallerFrames = waitkind.NewFrames("kernel_clone", "_do_fork")

// A vforkChild is a task whose vfork_done is set: a vfork child not yet
// exec'ed or exited (kernel/fork.c).
type vforkChild struct {
	task int // index in Tasks
	done uint64
}

type vforkChildrenKey struct{}

// vforkChildren are the tasks with vfork_done set, in task order: read once
// per analysis, not once per vfork parent.
func vforkChildren(c waitkind.Context) []vforkChild {
	return waitkind.MemoExact(c, vforkChildrenKey{}, func() []vforkChild {
		var out []vforkChild
		for i, o := range c.Tasks() {
			if !o.Obj.Type().HasMember("vfork_done") {
				continue
			}
			if vd, err := o.Obj.MemberUint("vfork_done"); err == nil && vd != 0 {
				out = append(out, vforkChild{i, vd})
			}
		}
		return out
	})
}

// VforkWait: after vfork(2) the parent sleeps in wait_for_vfork_done
// (kernel/fork.c, killable: state D) on a completion on its stack until
// the child execs or exits; the child's task_struct.vfork_done points at
// that completion.
var VforkWait = &waitkind.Kind{
	Name: WaitVfork,
	Verb: "waits for the exec or exit of",
	Detect: func(c waitkind.Context, t *sched.Task) (TaskWait, bool) {
		inlined := false
		if !c.HasFrame(t, vforkFrames) {
			if t.State != "D" || !c.HasFrame(t, vforkCallerFrames) {
				return TaskWait{}, false
			}
			inlined = true
		}
		stack, base := c.Stack(t)
		w := TaskWait{Task: c.Blocked(t), Kind: WaitVfork, Certain: true,
			How: "frame wait_for_vfork_done; the child's task_struct.vfork_done points at the completion on this task's stack"}
		w.Object = WaitObject{Type: "task_struct", What: "its vfork child (not found)"}
		for _, vc := range vforkChildren(c) {
			o, vd := c.Tasks()[vc.task], vc.done
			if o.Addr == t.Addr || stack == nil || vd < base || vd >= base+uint64(len(stack)) {
				continue
			}
			w.Object = WaitObject{Type: "task_struct", Addr: o.Addr, What: fmt.Sprintf("vfork child %s (pid %d)", o.Comm, o.PID)}
			w.Holders = append(w.Holders, Holder{Task: c.Ref(o.Addr), Certain: true, How: "vfork child: its vfork_done is the parent's completion"})
			break
		}
		if len(w.Holders) == 0 {
			if inlined {
				return TaskWait{}, false // another sleep in kernel_clone
			}
			w.Certain = false
			w.Note = "no task's vfork_done points at this task's stack"
		} else if inlined {
			w.How = "frame kernel_clone (wait_for_vfork_done inlined); the child's task_struct.vfork_done points at the completion on this task's stack"
		}
		return w, true
	},
	Classify: func(w *TaskWait, r *Root) bool {
		if len(r.Holders) == 0 {
			return false
		}
		r.Kind = RootVforkChild
		r.Summary = fmt.Sprintf("%s neither execs nor exits, so its vfork parent %s cannot go on (kernel/fork.c wait_for_vfork_done)",
			serverNames(r.Holders), taskName(w.Task.TaskRef))
		return true
	},
	Remedies: func(r *Root) []string {
		if r.Kind != RootVforkChild {
			return nil
		}
		var out []string
		for _, h := range r.Holders {
			out = append(out, fmt.Sprintf("kill %d  # the vfork child %s: the parent resumes when it exits", h.Task.PID, h.Task.Comm))
		}
		return out
	},
}

// Kind names of core dump waits.
const (
	// WaitCoredump: the dumping thread waits for the other threads of its
	// mm to reach exit before it writes the core.
	WaitCoredump = "coredump"
	// WaitCoredumpExit: a thread that reached exit waits for the dump to
	// be written.
	WaitCoredumpExit = "coredump-exit"
)

// coredumpFrames: fs/coredump.c do_coredump → coredump_wait (static,
// often inlined) → wait_for_completion(_state)(&core_state->startup).
var coredumpFrames = waitkind.NewFrames("coredump_wait", "do_coredump", "vfs_coredump")

// coredumpExitFrames: kernel/exit.c coredump_task_exit (5.16+; exit_mm
// before) where a killed thread sleeps until the dumper is done.
var coredumpExitFrames = waitkind.NewFrames("coredump_task_exit", "exit_mm")

// CoredumpWait: a thread dumping core (fs/coredump.c coredump_wait) has
// sent SIGKILL to every other thread of its mm and waits, in D, until
// all of them have reached exit (core_state.nr_threads drops to 0). A
// thread that does not — blocked uninterruptibly elsewhere — holds the
// dump and everything waiting for it.
var CoredumpWait = &waitkind.Kind{
	Name: WaitCoredump,
	Verb: "waits, to dump core, for the exit of",
	Detect: func(c waitkind.Context, t *sched.Task) (TaskWait, bool) {
		if t.State != "D" || !c.HasFrame(t, coredumpFrames) {
			return TaskWait{}, false
		}
		cs, err := coreStateOf(c.Prog(), t)
		if err != nil || cs.dumper != t.Addr {
			return TaskWait{}, false
		}
		w := TaskWait{Task: c.Blocked(t), Kind: WaitCoredump, Certain: true,
			How: "frame do_coredump/coredump_wait; core_state.dumper.task is the task (fs/coredump.c)"}
		w.Object = WaitObject{Type: "core_state", Addr: cs.addr,
			What: fmt.Sprintf("the other threads of process %d (%d not yet at exit)", t.TGID, cs.nrThreads)}
		for _, o := range coredumpLaggards(c, t, cs) {
			w.Holders = append(w.Holders, Holder{Task: c.Ref(o.Addr), Certain: true,
				How: fmt.Sprintf("thread of the dumping process, killed, not yet at exit (state %s)", o.State)})
		}
		if len(w.Holders) == 0 {
			w.Note = "every thread of the process has reached exit: the dumper is being woken"
		}
		return w, true
	},
}

// CoredumpExitWait: a thread killed for a core dump waits in exit
// (coredump_task_exit) until the dumper has written it.
var CoredumpExitWait = &waitkind.Kind{
	Name: WaitCoredumpExit,
	Verb: "waits for the core dump written by",
	Detect: func(c waitkind.Context, t *sched.Task) (TaskWait, bool) {
		if t.State != "D" || !c.HasFrame(t, coredumpExitFrames) {
			return TaskWait{}, false
		}
		cs, err := coreStateOf(c.Prog(), t)
		if err != nil || cs.dumper == 0 || cs.dumper == t.Addr {
			return TaskWait{}, false
		}
		w := TaskWait{Task: c.Blocked(t), Kind: WaitCoredumpExit, Certain: true,
			How: "frame coredump_task_exit/exit_mm with a core_state: killed for a core dump, it waits until the dump is written"}
		w.Object = WaitObject{Type: "core_state", Addr: cs.addr, What: fmt.Sprintf("core dump of process %d", t.TGID)}
		w.Holders = []Holder{{Task: c.Ref(cs.dumper), Certain: true, How: "core_state.dumper.task: the thread writing the core"}}
		return w, true
	},
}

// coreState is what a wait report needs of a struct core_state
// (include/linux/sched/signal.h; include/linux/mm_types.h before 5.16).
type coreState struct {
	addr, dumper uint64
	nrThreads    int64
	arrived      map[uint64]bool // threads on the dumper.next list
}

// coreStateOf reads the core dump state of t's process:
// signal_struct.core_state (5.16+) or mm_struct.core_state.
func coreStateOf(p *symbols.Program, t *sched.Task) (*coreState, error) {
	field := "mm->core_state"
	if st, err := p.Type("struct signal_struct"); err == nil && st.HasMember("core_state") {
		field = "signal->core_state"
	}
	addr, err := t.Obj.MemberUint(field)
	if err != nil {
		return nil, err
	}
	if addr == 0 {
		return nil, fmt.Errorf("task %#x: no core dump in progress", t.Addr)
	}
	o, err := p.Object("struct core_state", addr)
	if err != nil {
		return nil, err
	}
	cs := &coreState{addr: addr, arrived: map[uint64]bool{}}
	if cs.dumper, err = o.MemberUint("dumper.task"); err != nil {
		return nil, err
	}
	if n, err := o.MemberUint("nr_threads.counter"); err == nil { // atomic_t
		cs.nrThreads = int64(int32(n))
	}
	// The threads that arrived push a struct core_thread (on their stacks)
	// onto dumper.next (kernel/exit.c coredump_task_exit).
	nextOff, err1 := p.OffsetOf("struct core_thread", "next")
	taskOff, err2 := p.OffsetOf("struct core_thread", "task")
	next, err3 := o.MemberUint("dumper.next")
	if err1 == nil && err2 == nil && err3 == nil {
		for i := 0; next != 0 && i < 1<<16; i++ {
			tk, err := p.ReadU64(next + taskOff)
			if err != nil {
				break
			}
			cs.arrived[tk] = true
			if next, err = p.ReadU64(next + nextOff); err != nil {
				break
			}
		}
	}
	return cs, nil
}

// coredumpLaggards are the threads of t's process (5.16+: its thread
// group; before: every task sharing its mm) that the dump waits for:
// not the dumper, not dead, not yet arrived.
func coredumpLaggards(c waitkind.Context, t *sched.Task, cs *coreState) []*sched.Task {
	sharesMM := false
	if st, err := c.Prog().Type("struct signal_struct"); err == nil && !st.HasMember("core_state") {
		sharesMM = true
	}
	mm, _ := t.Obj.MemberUint("mm")
	var out []*sched.Task
	for i, o := range c.Tasks() {
		if o.Addr == t.Addr || o.State == "Z" || o.State == "X" || cs.arrived[o.Addr] {
			continue
		}
		same := o.TGID == t.TGID
		if sharesMM && mm != 0 {
			omm, _ := o.Obj.MemberUint("mm")
			same = omm == mm
		}
		if same {
			out = append(out, &c.Tasks()[i])
		}
	}
	return out
}
