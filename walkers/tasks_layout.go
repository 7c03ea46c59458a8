package walkers

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// taskLayout holds the task_struct members the task walker decodes, found
// once per walk from the type (feature detection; include/linux/sched.h).
type taskLayout struct {
	typ  *symbols.Type
	size uint64

	state     field  // unsigned int __state (5.14+) or volatile long state
	stateName string // which of the two
	exitState field
	flags     field
	onCPU     field
	cpu       field // thread_info.cpu (5.16+ on x86) or cpu
	pid, tgid field
	comm      field
	tasks     field // list_head on init_task.tasks
	// Threads: signal->thread_head/thread_node (every target kernel), and
	// the older thread_group ring (removed in 6.7).
	threadNode, threadGroup field
	signal                  field
	realParent              field
	threadPid               field
	pendingSig              field // pending.signal (sigset_t)
	lastArrival             field // sched_info.last_arrival (CONFIG_SCHED_INFO)
	workerPrivate           field // struct kthread * since 5.17 (kernel/kthread.c to_kthread)
	setChildTid             field // held struct kthread * before 5.17

	// struct signal_struct
	sigThreadHead, sigSharedPending field

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
	l.state, l.stateName = firstField(t, "__state", "state")
	l.exitState = fieldOf(t, "exit_state")
	l.flags = fieldOf(t, "flags")
	l.onCPU = fieldOf(t, "on_cpu")
	// CPU: thread_info.cpu with THREAD_INFO_IN_TASK since bcf9033e5449
	// (5.16), task_struct.cpu before.
	l.cpu, _ = firstField(t, "thread_info.cpu", "cpu")
	l.pid = fieldOf(t, "pid")
	l.tgid = fieldOf(t, "tgid")
	l.comm = fieldOf(t, "comm")
	l.tasks = fieldOf(t, "tasks")
	l.threadNode = fieldOf(t, "thread_node")
	l.threadGroup = fieldOf(t, "thread_group")
	l.signal = fieldOf(t, "signal")
	l.realParent = fieldOf(t, "real_parent")
	l.threadPid = fieldOf(t, "thread_pid")
	l.pendingSig = fieldOf(t, "pending.signal")
	l.lastArrival = fieldOf(t, "sched_info.last_arrival")
	l.workerPrivate = fieldOf(t, "worker_private")
	l.setChildTid = fieldOf(t, "set_child_tid")
	for name, f := range map[string]field{"state or __state": l.state, "pid": l.pid, "tgid": l.tgid, "comm": l.comm, "flags": l.flags} {
		if !f.ok {
			return nil, fmt.Errorf("%w: struct task_struct has no %s", symbols.ErrNoMember, name)
		}
	}
	l.spanLo, l.spanHi = l.size, 0
	for _, f := range []field{l.state, l.exitState, l.flags, l.onCPU, l.cpu, l.pid, l.tgid, l.comm, l.tasks,
		l.threadNode, l.threadGroup, l.signal, l.realParent, l.threadPid, l.pendingSig, l.lastArrival,
		l.workerPrivate, l.setChildTid} {
		if f.ok {
			l.spanLo = min(l.spanLo, f.off)
			l.spanHi = max(l.spanHi, f.off+f.size)
		}
	}
	if st, err := p.Type("struct signal_struct"); err == nil {
		l.sigThreadHead = fieldOf(st, "thread_head")
		l.sigSharedPending = fieldOf(st, "shared_pending.signal")
	}
	return l, nil
}
