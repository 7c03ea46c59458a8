package sched

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// taskLayout holds the task_struct members the task walker decodes, found
// once per walk from the type (feature detection; include/linux/sched.h).
type taskLayout struct {
	typ  *symbols.Type
	size uint64

	state     kmem.Field // unsigned int __state (5.14+) or volatile long state
	stateName string     // which of the two
	exitState kmem.Field
	flags     kmem.Field
	onCPU     kmem.Field
	cpu       kmem.Field // thread_info.cpu (5.16+ on x86) or cpu
	pid, tgid kmem.Field
	comm      kmem.Field
	tasks     kmem.Field // list_head on init_task.tasks
	// Threads: signal->thread_head/thread_node (every target kernel), and
	// the older thread_group ring (removed in 6.7).
	threadNode, threadGroup kmem.Field
	signal                  kmem.Field
	realParent              kmem.Field
	threadPid               kmem.Field
	pendingSig              kmem.Field // pending.signal (sigset_t)
	lastArrival             kmem.Field // sched_info.last_arrival (CONFIG_SCHED_INFO)
	workerPrivate           kmem.Field // struct kthread * since 5.17 (kernel/kthread.c to_kthread)
	setChildTid             kmem.Field // held struct kthread * before 5.17

	// struct signal_struct
	sigThreadHead, sigSharedPending kmem.Field

	// spanLo, spanHi bound the bytes decode reads: the members above,
	// not the whole (large) task_struct.
	spanLo, spanHi uint64
}

type taskLayoutKey struct{}

// newTaskLayout returns the task layout of p, derived once per Program.
func newTaskLayout(p *symbols.Program) (*taskLayout, error) {
	v, err := p.Memo(taskLayoutKey{}, func() (any, error) { return buildTaskLayout(p) })
	if err != nil {
		return nil, err
	}
	return v.(*taskLayout), nil
}

func buildTaskLayout(p *symbols.Program) (*taskLayout, error) {
	t, err := p.Type("struct task_struct")
	if err != nil {
		return nil, err
	}
	r := t.Resolve()
	if r == nil || r.Size == 0 || r.Size > 1<<20 {
		return nil, fmt.Errorf("struct task_struct has no usable size")
	}
	l := &taskLayout{typ: t, size: r.Size}
	// include/linux/sched.h: "unsigned int __state" since 2f064a59a11f
	// (5.14), "volatile long state" before.
	l.state, l.stateName = kmem.FirstField(t, "__state", "state")
	l.exitState = kmem.FieldOf(t, "exit_state")
	l.flags = kmem.FieldOf(t, "flags")
	l.onCPU = kmem.FieldOf(t, "on_cpu")
	// CPU: thread_info.cpu with THREAD_INFO_IN_TASK since bcf9033e5449
	// (5.16), task_struct.cpu before.
	l.cpu, _ = kmem.FirstField(t, "thread_info.cpu", "cpu")
	l.pid = kmem.FieldOf(t, "pid")
	l.tgid = kmem.FieldOf(t, "tgid")
	l.comm = kmem.FieldOf(t, "comm")
	l.tasks = kmem.FieldOf(t, "tasks")
	l.threadNode = kmem.FieldOf(t, "thread_node")
	l.threadGroup = kmem.FieldOf(t, "thread_group")
	l.signal = kmem.FieldOf(t, "signal")
	l.realParent = kmem.FieldOf(t, "real_parent")
	l.threadPid = kmem.FieldOf(t, "thread_pid")
	l.pendingSig = kmem.FieldOf(t, "pending.signal")
	l.lastArrival = kmem.FieldOf(t, "sched_info.last_arrival")
	l.workerPrivate = kmem.FieldOf(t, "worker_private")
	l.setChildTid = kmem.FieldOf(t, "set_child_tid")
	for name, f := range map[string]kmem.Field{"state or __state": l.state, "pid": l.pid, "tgid": l.tgid, "comm": l.comm, "flags": l.flags} {
		if !f.OK {
			return nil, fmt.Errorf("%w: struct task_struct has no %s", symbols.ErrNoMember, name)
		}
	}
	l.spanLo, l.spanHi = l.size, 0
	for _, f := range []kmem.Field{l.state, l.exitState, l.flags, l.onCPU, l.cpu, l.pid, l.tgid, l.comm, l.tasks,
		l.threadNode, l.threadGroup, l.signal, l.realParent, l.threadPid, l.pendingSig, l.lastArrival,
		l.workerPrivate, l.setChildTid} {
		if f.OK {
			l.spanLo = min(l.spanLo, f.Off)
			l.spanHi = max(l.spanHi, f.Off+f.Size)
		}
	}
	if st, err := p.Type("struct signal_struct"); err == nil {
		l.sigThreadHead = kmem.FieldOf(st, "thread_head")
		l.sigSharedPending = kmem.FieldOf(st, "shared_pending.signal")
	}
	return l, nil
}
