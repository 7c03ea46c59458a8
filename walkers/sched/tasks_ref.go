package sched

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// TaskRef names a task briefly: enough for a human to find it again.
type TaskRef struct {
	Addr uint64 `json:"addr"`
	PID  int    `json:"pid"`
	TGID int    `json:"tgid"`
	Comm string `json:"comm"`
}

func (t TaskRef) String() string {
	if t.Comm == "" && t.PID == 0 {
		return fmt.Sprintf("task %#x", t.Addr)
	}
	return fmt.Sprintf("%d (%s)", t.PID, t.Comm)
}

// TaskRefAt reads pid, tgid and comm of the task_struct at addr. A task that
// cannot be read still gives a TaskRef carrying its address, with the error.
func TaskRefAt(p *symbols.Program, addr uint64) (TaskRef, error) {
	r := TaskRef{Addr: addr}
	t, err := p.Object("struct task_struct", addr)
	if err != nil {
		return r, err
	}
	pid, err := t.MemberUint("pid")
	if err != nil {
		return r, err
	}
	tgid, err := t.MemberUint("tgid")
	if err != nil {
		return r, err
	}
	comm, err := t.MemberString("comm")
	if err != nil {
		return r, err
	}
	r.PID, r.TGID, r.Comm = int(int32(pid)), int(int32(tgid)), comm
	return r, nil
}
