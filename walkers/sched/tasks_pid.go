package sched

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// pidLayout locates struct pid members (include/linux/pid.h: struct pid {
// refcount_t count; unsigned int level; ...; struct hlist_head
// tasks[PIDTYPE_MAX]; ...; struct upid numbers[]; } with upid { int nr;
// struct pid_namespace *ns; }).
type pidLayout struct {
	level, numbers kmem.Field
	upidSize       uint64
	nrOff          uint64
	tasks          kmem.Field
}

func newPidLayout(p *symbols.Program) *pidLayout {
	t, err := p.Type("struct pid")
	if err != nil {
		return nil
	}
	l := &pidLayout{level: kmem.FieldOf(t, "level"), tasks: kmem.FieldOf(t, "tasks")}
	m, ok := t.FindMember("numbers")
	if !ok || !l.level.OK {
		return nil
	}
	at := m.Type.Resolve()
	if at == nil || at.Kind != symbols.KindArray || at.Elem.Resolve() == nil {
		return nil
	}
	l.numbers = kmem.Field{Off: m.Offset, OK: true}
	l.upidSize = at.Elem.Resolve().Size
	nr := kmem.FieldOf(at.Elem, "nr")
	if !nr.OK || l.upidSize == 0 {
		return nil
	}
	l.nrOff = nr.Off
	return l
}

// maxPidLevel bounds struct pid levels (kernel/pid_namespace.c MAX_PID_NS_LEVEL 32).
const maxPidLevel = 32

// readNumbers returns numbers[0..level].nr of the struct pid at addr.
func (l *pidLayout) readNumbers(p *symbols.Program, addr uint64) ([]int, error) {
	lv, err := p.ReadU32(addr + l.level.Off)
	if err != nil {
		return nil, fmt.Errorf("struct pid %#x: level: %w", addr, err)
	}
	if lv > maxPidLevel {
		return nil, fmt.Errorf("struct pid %#x: level %d is not a pid namespace depth", addr, lv)
	}
	out := make([]int, 0, lv+1)
	for i := uint64(0); i <= uint64(lv); i++ {
		v, err := p.ReadU32(addr + l.numbers.Off + i*l.upidSize + l.nrOff)
		if err != nil {
			return out, fmt.Errorf("struct pid %#x: numbers[%d]: %w", addr, i, err)
		}
		out = append(out, int(int32(v)))
	}
	return out, nil
}

// TaskByPID finds the task with thread id pid in the init pid namespace
// through init_pid_ns.idr (kernel/pid.c alloc_pid: idr_alloc into
// ns->idr) → struct pid → tasks[PIDTYPE_PID].first → task_struct
// .pid_links[PIDTYPE_PID]. pid 0 is init_task (CPU 0's idle task). When the
// idr cannot be read it falls back to scanning Tasks.
func TaskByPID(p *symbols.Program, pid int) (Task, error) {
	if pid < 0 {
		return Task{}, fmt.Errorf("no task with pid %d", pid)
	}
	if pid == 0 {
		a, err := p.Symbol("init_task")
		if err != nil {
			return Task{}, err
		}
		return TaskByAddr(p, a)
	}
	addr, err := taskAddrByPID(p, pid)
	if err == nil {
		return TaskByAddr(p, addr)
	}
	ts, terr := Tasks(p)
	for _, t := range ts {
		if t.PID == pid {
			return t, nil
		}
	}
	if terr != nil {
		return Task{}, fmt.Errorf("pid %d: %v; scanning tasks: %w", pid, err, terr)
	}
	return Task{}, fmt.Errorf("no task with pid %d (%v)", pid, err)
}

func taskAddrByPID(p *symbols.Program, pid int) (uint64, error) {
	ns, err := p.Variable("init_pid_ns")
	if err != nil {
		return 0, err
	}
	idr, err := ns.Member("idr")
	if err != nil {
		return 0, err
	}
	pidp, ok, err := kmem.IDRFind(idr, uint64(pid))
	if err != nil && !ok {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("no task with pid %d in init_pid_ns.idr", pid)
	}
	pidT, err := p.Type("struct pid")
	if err != nil {
		return 0, err
	}
	// enum pid_type { PIDTYPE_PID, ... } (include/linux/pid.h)
	pidtype := int64(0)
	if et, err := p.Type("enum pid_type"); err == nil {
		if v, ok := et.EnumValue("PIDTYPE_PID"); ok {
			pidtype = v
		}
	}
	first, err := p.ObjectAt(pidT, pidp).MemberUint(fmt.Sprintf("tasks[%d].first", pidtype))
	if err != nil {
		return 0, err
	}
	if first == 0 {
		return 0, fmt.Errorf("pid %d: struct pid %#x has no task (exited)", pid, pidp)
	}
	task, err := p.ContainerOf(first, "struct task_struct", fmt.Sprintf("pid_links[%d]", pidtype))
	if err != nil {
		return 0, err
	}
	return task.Addr(), nil
}
