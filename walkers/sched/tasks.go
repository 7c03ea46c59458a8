package sched

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// Task is one task (thread) with the fields hang analysis asks about first,
// decoded once. Obj is the struct task_struct for anything else.
type Task struct {
	Obj  symbols.Object `json:"-"`
	Addr uint64         `json:"addr"`

	PID  int `json:"pid"`  // task->pid: the thread id in the init namespace
	TGID int `json:"tgid"` // task->tgid: the process id
	PPID int `json:"ppid"` // real_parent's tgid, like /proc/PID/status PPid
	// NSPIDs are the thread's ids in each pid namespace, init namespace
	// first (thread_pid->numbers[0..level]); len > 1 inside a container.
	NSPIDs []int `json:"ns_pids,omitempty"`

	Comm string `json:"comm"` // task->comm
	// Name is what /proc/PID/comm shows: the kthread's full name when comm
	// was truncated, a workqueue worker's "-desc"/"+desc" suffix.
	Name string `json:"name"`

	State     string `json:"state"`      // /proc letter: R S D T t X Z P I
	RawState  uint64 `json:"raw_state"`  // __state (or state)
	ExitState uint64 `json:"exit_state"` // EXIT_ZOMBIE, EXIT_DEAD or 0
	Flags     uint64 `json:"flags"`      // PF_*

	CPU   int  `json:"cpu"`
	OnCPU bool `json:"on_cpu"` // task->on_cpu: running (or being switched) on CPU
	// Idle marks a per-CPU idle task (swapper/N, pid 0); IdleCPU is its CPU.
	Idle bool `json:"idle,omitempty"`

	// LastArrival is sched_info.last_arrival (rq clock ns when it last
	// started running); SinceRan is the task's CPU's rq->clock minus it,
	// valid when HasSinceRan.
	LastArrival uint64        `json:"last_arrival"`
	SinceRan    time.Duration `json:"since_ran_ns"`
	HasSinceRan bool          `json:"has_since_ran"`

	// SigPnd is task->pending.signal, ShdPnd signal->shared_pending.signal
	// (bit n-1 is signal n), as /proc/PID/status shows them.
	SigPnd uint64 `json:"sig_pnd"`
	ShdPnd uint64 `json:"shd_pnd"`

	// Errors are the fields that could not be read; the others are valid.
	Errors []string `json:"errors,omitempty"`
}

// Exiting reports PF_EXITING: the task is in do_exit.
func (t Task) Exiting() bool { return t.Flags&PFExiting != 0 }

// Kthread reports PF_KTHREAD.
func (t Task) Kthread() bool { return t.Flags&PFKthread != 0 }

// Signaled reports PF_SIGNALED: killed by a signal.
func (t Task) Signaled() bool { return t.Flags&PFSignaled != 0 }

// IsLeader reports whether the task is its thread group's leader.
func (t Task) IsLeader() bool { return t.PID == t.TGID }

// Killable reports TASK_KILLABLE (an uninterruptible sleep a fatal signal ends).
func (t Task) Killable() bool { return t.RawState&TaskKillable == TaskKillable }

// NoLoad reports TASK_NOLOAD (an uninterruptible sleep not counted in load).
func (t Task) NoLoad() bool { return t.RawState&TaskNoload != 0 }

// CrashState is crash's two-letter state (RU IN UN ST TR DE ZO PA ID).
func (t Task) CrashState() string { return CrashState(t.RawState, t.ExitState) }

// FatalSignalPending reports SIGKILL in either pending set (the kernel's
// fatal_signal_pending looks at the thread's set, where complete_signal
// puts SIGKILL for every thread).
func (t Task) FatalSignalPending() bool {
	const sigkill = 1 << (9 - 1)
	return t.SigPnd&sigkill != 0 || t.ShdPnd&sigkill != 0
}

// NSPID returns the task's id in its innermost pid namespace.
func (t Task) NSPID() int {
	if len(t.NSPIDs) == 0 {
		return t.PID
	}
	return t.NSPIDs[len(t.NSPIDs)-1]
}

// taskWalk is the state of one walk: the layout, and caches of values many
// tasks share.
type taskWalk struct {
	p      *symbols.Program
	lay    *taskLayout
	clocks map[int]uint64 // rq->clock per CPU
	tgids  map[uint64]int // task address → tgid, for PPID
	pidLay *pidLayout
}

func newTaskWalk(p *symbols.Program) (*taskWalk, error) {
	lay, err := newTaskLayout(p)
	if err != nil {
		return nil, err
	}
	w := &taskWalk{p: p, lay: lay, clocks: make(map[int]uint64), tgids: make(map[uint64]int)}
	w.pidLay = newPidLayout(p)
	return w, nil
}

// Tasks returns every task: the per-CPU idle tasks (swapper/N, pid 0, like
// crash shows them), every thread group on init_task.tasks and each of its
// threads (signal->thread_head/thread_node; thread_group on kernels without
// thread_node), sorted by pid then CPU. A task whose fields cannot all be
// read is kept with Errors set. Problems walking the lists themselves (a
// corrupt list, an unreadable signal_struct) do not stop the walk: the tasks
// found are returned along with an error joining those problems.
func Tasks(p *symbols.Program) ([]Task, error) {
	return TasksContext(context.Background(), p)
}

// TasksContext is Tasks that stops early, with ctx's error, when ctx is done.
func TasksContext(ctx context.Context, p *symbols.Program) ([]Task, error) {
	w, err := newTaskWalk(p)
	if err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	addrs, walkErr := w.taskAddrs(ctx)
	if len(addrs) == 0 && walkErr != nil {
		return nil, walkErr
	}
	out := make([]Task, 0, len(addrs))
	for i, a := range addrs {
		if i%256 == 0 && ctx.Err() != nil {
			return out, ctx.Err()
		}
		out = append(out, w.decode(a.addr, a.idleCPU))
	}
	for i := range out {
		w.tgids[out[i].Addr] = out[i].TGID
	}
	for i := range out {
		w.fillParent(&out[i])
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].PID != out[j].PID {
			return out[i].PID < out[j].PID
		}
		return out[i].CPU < out[j].CPU
	})
	return out, walkErr
}

type taskRef struct {
	addr    uint64
	idleCPU int // -1 unless a per-CPU idle task
}

// taskAddrs lists task addresses: idle tasks, then leaders with threads.
func (w *taskWalk) taskAddrs(ctx context.Context) ([]taskRef, error) {
	p, l := w.p, w.lay
	var errs []error
	var out []taskRef
	seen := make(map[uint64]bool)
	add := func(a uint64, cpu int) {
		if a != 0 && !seen[a] {
			seen[a] = true
			out = append(out, taskRef{a, cpu})
		}
	}
	initAddr, err := p.Symbol("init_task")
	if err != nil {
		return nil, fmt.Errorf("tasks: %w", err)
	}
	// Idle tasks: init_task is CPU 0's; the others are rq->idle, forked
	// with pid 0 by fork_idle and on no list (kernel/fork.c copy_process
	// links only tasks with a pid).
	add(initAddr, 0)
	cpus, err := p.PossibleCPUs()
	if err != nil || len(cpus) == 0 {
		// No cpu_possible_mask symbol: every id below nr_cpu_ids.
		n, nerr := NumCPUs(p)
		if nerr != nil {
			errs = append(errs, fmt.Errorf("idle tasks of CPUs other than 0: %w", nerr))
		}
		cpus = cpus[:0]
		for cpu := 0; cpu < n; cpu++ {
			cpus = append(cpus, cpu)
		}
	}
	for _, cpu := range cpus {
		rq, err := Runqueue(p, cpu)
		if err != nil {
			errs = append(errs, fmt.Errorf("cpu %d idle task: %w", cpu, err))
			break
		}
		idle, err := rq.MemberUint("idle")
		if err != nil {
			errs = append(errs, fmt.Errorf("cpu %d idle task: %w", cpu, err))
			continue
		}
		add(idle, cpu)
	}
	if !l.tasks.OK {
		return out, errors.Join(append(errs, fmt.Errorf("%w: task_struct.tasks", symbols.ErrNoMember))...)
	}
	leaders, err := kmem.ListHeadNodes(p, initAddr+l.tasks.Off, "init_task.tasks", 0)
	if err != nil {
		errs = append(errs, err)
	}
	for i, node := range leaders {
		if i%256 == 0 && ctx.Err() != nil {
			return out, ctx.Err()
		}
		leader := node - l.tasks.Off
		add(leader, -1)
		threads, err := w.threads(leader)
		if err != nil {
			errs = append(errs, err)
		}
		for _, t := range threads {
			add(t, -1)
		}
	}
	return out, errors.Join(errs...)
}

// threads returns the addresses of the threads of the group led by leader
// (leader included when the list has it).
func (w *taskWalk) threads(leader uint64) ([]uint64, error) {
	p, l := w.p, w.lay
	switch {
	case l.threadNode.OK && l.signal.OK && l.sigThreadHead.OK:
		// include/linux/sched/signal.h for_each_thread: signal->thread_head,
		// linked through task->thread_node (since 3.14, every target kernel).
		sig, err := p.ReadU64(leader + l.signal.Off)
		if err != nil {
			return nil, fmt.Errorf("task %#x: signal: %w", leader, err)
		}
		if sig == 0 {
			return nil, nil // reaped leader still linked: no threads to show
		}
		nodes, err := kmem.ListHeadNodes(p, sig+l.sigThreadHead.Off, fmt.Sprintf("task %#x signal->thread_head", leader), 0)
		out := make([]uint64, len(nodes))
		for i, n := range nodes {
			out[i] = n - l.threadNode.Off
		}
		return out, err
	case l.threadGroup.OK:
		// Older ring through task->thread_group, no separate head.
		nodes, err := kmem.ListHeadNodes(p, leader+l.threadGroup.Off, fmt.Sprintf("task %#x thread_group", leader), 0)
		out := make([]uint64, len(nodes))
		for i, n := range nodes {
			out[i] = n - l.threadGroup.Off
		}
		return out, err
	}
	return nil, fmt.Errorf("%w: task_struct has neither thread_node nor thread_group", symbols.ErrNoMember)
}

// TaskByAddr decodes the task_struct at addr.
func TaskByAddr(p *symbols.Program, addr uint64) (Task, error) {
	w, err := newTaskWalk(p)
	if err != nil {
		return Task{}, err
	}
	t, err := w.decodeErr(addr, -1)
	if err != nil {
		return t, err
	}
	w.fillParent(&t)
	return t, nil
}

// TaskFromObject is TaskByAddr for a struct task_struct object or pointer.
func TaskFromObject(o symbols.Object) (Task, error) {
	if r := o.Type().Resolve(); r != nil && r.Kind == symbols.KindPointer {
		v, err := o.Uint()
		if err != nil {
			return Task{}, err
		}
		return TaskByAddr(o.Prog(), v)
	}
	a, ok := o.Address()
	if !ok {
		return Task{}, fmt.Errorf("%s: task is not in memory", o.Path())
	}
	return TaskByAddr(o.Prog(), a)
}

// decode is decodeErr for listings: a task that cannot be read at all is
// kept, with the error in Errors.
func (w *taskWalk) decode(addr uint64, idleCPU int) Task {
	t, err := w.decodeErr(addr, idleCPU)
	if err != nil {
		t.Errors = append(t.Errors, err.Error())
	}
	return t
}

// decodeErr reads one task_struct in one block and decodes it. The error
// is for a task_struct that cannot be read at all; fields that cannot be
// read are in Task.Errors.
func (w *taskWalk) decodeErr(addr uint64, idleCPU int) (Task, error) {
	p, l := w.p, w.lay
	t := Task{Obj: p.ObjectAt(l.typ, addr), Addr: addr, CPU: -1}
	// Only the span of the members decoded is read; buf is indexed by
	// member offsets, so the bytes before spanLo stay zero.
	buf := make([]byte, l.spanHi)
	if err := p.Mem.ReadVirt(buf[l.spanLo:], addr+l.spanLo); err != nil {
		return t, fmt.Errorf("read task_struct %#x: %w", addr, err)
	}
	// "unsigned int __state" (5.14+) or "volatile long state": either way
	// the TASK_* bits are the low ones.
	t.RawState, _ = l.state.UintAt(buf)
	t.ExitState, _ = l.exitState.UintAt(buf)
	t.State = StateLetter(t.RawState, t.ExitState)
	t.Flags, _ = l.flags.UintAt(buf)
	if v, ok := l.pid.IntAt(buf); ok {
		t.PID = int(v)
	}
	if v, ok := l.tgid.IntAt(buf); ok {
		t.TGID = int(v)
	}
	if l.comm.OK && l.comm.Off+l.comm.Size <= uint64(len(buf)) {
		t.Comm = kmem.CString(buf[l.comm.Off : l.comm.Off+l.comm.Size])
	}
	t.Name = t.Comm
	if v, ok := l.onCPU.UintAt(buf); ok {
		t.OnCPU = v != 0
	}
	if v, ok := l.cpu.UintAt(buf); ok {
		t.CPU = int(v)
	}
	if idleCPU >= 0 {
		t.Idle = true
		t.CPU = idleCPU
	}
	if v, ok := l.pendingSig.UintAt(buf); ok {
		t.SigPnd = v
	}
	if l.signal.OK && l.sigSharedPending.OK {
		if sig, _ := l.signal.UintAt(buf); sig != 0 {
			v, err := p.ReadU64(sig + l.sigSharedPending.Off)
			if err != nil {
				t.Errors = append(t.Errors, fmt.Sprintf("signal->shared_pending: %v", err))
			} else {
				t.ShdPnd = v
			}
		}
	}
	if v, ok := l.lastArrival.UintAt(buf); ok {
		t.LastArrival = v
		if clk, ok := w.clock(t.CPU); ok && clk >= v {
			t.SinceRan = time.Duration(clk - v)
			t.HasSinceRan = true
		}
	}
	if l.threadPid.OK {
		if pidp, _ := l.threadPid.UintAt(buf); pidp != 0 && w.pidLay != nil {
			ns, err := w.pidLay.readNumbers(p, pidp)
			if err != nil {
				t.Errors = append(t.Errors, fmt.Sprintf("thread_pid: %v", err))
			} else {
				t.NSPIDs = ns
			}
		}
	}
	if name, err := w.procName(buf, t); err != nil {
		t.Errors = append(t.Errors, fmt.Sprintf("name: %v", err))
	} else if name != "" {
		t.Name = name
	}
	return t, nil
}

// fillParent sets PPID from real_parent's tgid.
func (w *taskWalk) fillParent(t *Task) {
	l := w.lay
	if !l.realParent.OK || t.Idle {
		return
	}
	par, err := w.p.ReadU64(t.Addr + l.realParent.Off)
	if err != nil {
		t.Errors = append(t.Errors, fmt.Sprintf("real_parent: %v", err))
		return
	}
	if par == 0 || par == t.Addr {
		return
	}
	if tg, ok := w.tgids[par]; ok {
		t.PPID = tg
		return
	}
	v, err := w.p.ReadU32(par + l.tgid.Off)
	if err != nil {
		t.Errors = append(t.Errors, fmt.Sprintf("real_parent->tgid: %v", err))
		return
	}
	t.PPID = int(int32(v))
}

// clock returns cpu's rq->clock, cached for the walk.
func (w *taskWalk) clock(cpu int) (uint64, bool) {
	if cpu < 0 {
		return 0, false
	}
	if c, ok := w.clocks[cpu]; ok {
		return c, c != 0
	}
	c, err := RunqueueClock(w.p, cpu)
	if err != nil {
		c = 0
	}
	w.clocks[cpu] = c
	return c, c != 0
}
