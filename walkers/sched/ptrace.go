package sched

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// ptPtraced is PT_PTRACED in task_struct.ptrace (include/linux/ptrace.h,
// 5.10 through 7.1): the task is traced.
const ptPtraced = 0x1

// Tracer returns the task tracing t (kernel/ptrace.c ptrace_link: a traced
// task's parent is its tracer, real_parent stays its parent), and false
// when t is not traced.
func (t *Task) Tracer(p *symbols.Program) (TaskRef, bool, error) {
	if !t.Obj.Type().HasMember("ptrace") {
		return TaskRef{}, false, nil
	}
	flags, err := t.Obj.MemberUint("ptrace")
	if err != nil {
		return TaskRef{}, false, fmt.Errorf("task %d: ptrace: %w", t.PID, err)
	}
	if flags&ptPtraced == 0 {
		return TaskRef{}, false, nil
	}
	par, err := t.Obj.MemberUint("parent")
	if err != nil {
		return TaskRef{}, false, fmt.Errorf("task %d: parent: %w", t.PID, err)
	}
	if par == 0 {
		return TaskRef{}, false, fmt.Errorf("task %d: traced (ptrace %#x) with no parent", t.PID, flags)
	}
	r, err := TaskRefAt(p, par)
	return r, true, err
}
