package repl

import (
	"context"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// SetDefaultTask makes the current context what crash starts with: the
// task that panicked, when the kernel did; else the task running on the
// first online CPU that is not idle (per-CPU
// runqueues.curr vs runqueues.idle, kernel/sched/sched.h struct rq), else
// CPU 0's current (idle) task. It leaves the context unset when the
// runqueues cannot be read, and does nothing for a live kernel, whose
// running tasks change under us.
func (s *Session) SetDefaultTask(ctx context.Context) (TaskInfo, error) {
	p := s.Prog
	if p == nil {
		return TaskInfo{}, fmt.Errorf("no kernel opened")
	}
	if p.Dump != nil && p.Dump.Live() {
		return TaskInfo{}, fmt.Errorf("live kernel: no default task")
	}
	if t, err := panicTask(p); err == nil {
		s.Task = t
		return taskInfo(t), nil
	}
	cpus, err := p.OnlineCPUs()
	if err != nil || len(cpus) == 0 {
		cpus = []int{0}
	}
	var first symbols.Object
	for _, cpu := range cpus {
		if ctx.Err() != nil {
			return TaskInfo{}, ctx.Err()
		}
		rq, err := p.PerCPUVariable("runqueues", cpu)
		if err != nil {
			return TaskInfo{}, fmt.Errorf("default task: %w", err)
		}
		cur, err := rq.Member("curr")
		if err != nil {
			continue
		}
		ca, err := cur.Uint()
		if err != nil || ca == 0 {
			continue
		}
		task, err := cur.Deref()
		if err != nil {
			continue
		}
		if !first.IsValid() {
			first = task
		}
		if idle, err := rq.MemberUint("idle"); err == nil && idle != ca {
			first = task
			break
		}
	}
	if !first.IsValid() {
		return TaskInfo{}, fmt.Errorf("default task: no CPU's runqueue has a current task")
	}
	s.Task = first
	return taskInfo(first), nil
}

// runningTask is the task CPU cpu was running: per-CPU runqueues.curr.
func runningTask(p *symbols.Program, cpu int) (symbols.Object, error) {
	rq, err := p.PerCPUVariable("runqueues", cpu)
	if err != nil {
		return symbols.Object{}, fmt.Errorf("cpu %d: %w", cpu, err)
	}
	cur, err := rq.Member("curr")
	if err != nil {
		return symbols.Object{}, err
	}
	return cur.Deref()
}
