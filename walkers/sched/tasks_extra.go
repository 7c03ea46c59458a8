package sched

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// The task facts crash's ps flags show that Task does not decode: each is
// read from Task.Obj on demand, so a listing pays only for what it asks.

// Scheduling policies, include/uapi/linux/sched.h (4 was SCHED_ISO, never
// merged; crash still names it).
var policyNames = []string{"NORMAL", "FIFO", "RR", "BATCH", "ISO", "IDLE", "DEADLINE"}

// PolicyName is the name of policy value v ("NORMAL", "FIFO", ...), or
// the number when it has none.
func PolicyName(v int) string {
	if v >= 0 && v < len(policyNames) {
		return policyNames[v]
	}
	return strconv.Itoa(v)
}

// ParsePolicy reads a policy name (any case, "SCHED_" prefix optional) or
// number.
func ParsePolicy(s string) (int, error) {
	u := strings.TrimPrefix(strings.ToUpper(s), "SCHED_")
	if u == "OTHER" {
		return 0, nil
	}
	for i, n := range policyNames {
		if u == n {
			return i, nil
		}
	}
	if v, err := strconv.Atoi(s); err == nil && v >= 0 && v < 64 {
		return v, nil
	}
	return 0, fmt.Errorf("unknown scheduling policy %q (NORMAL FIFO RR BATCH ISO IDLE DEADLINE or a number)", s)
}

// Policy returns task_struct.policy (include/linux/sched.h).
func (t Task) Policy() (int, error) {
	v, err := t.Obj.MemberUint("policy")
	if err != nil {
		return 0, fmt.Errorf("task %#x: %w", t.Addr, err)
	}
	return int(v), nil
}

// Parent returns the address of the task's real_parent (the task that
// forked it; /proc's PPid is its tgid), 0 for a task that is its own (the
// idle tasks).
func (t Task) Parent() (uint64, error) {
	v, err := t.Obj.MemberUint("real_parent")
	if err != nil {
		return 0, fmt.Errorf("task %#x: %w", t.Addr, err)
	}
	if v == t.Addr {
		return 0, nil
	}
	return v, nil
}

// TaskTimes are a task's start time and CPU time, in nanoseconds.
type TaskTimes struct {
	// StartNs is start_time: CLOCK_MONOTONIC at fork.
	StartNs uint64 `json:"start_time_ns"`
	// StartBootNs is start_boottime (5.5+; real_start_time before): the
	// CLOCK_BOOTTIME at fork that /proc/PID/stat's starttime shows.
	StartBootNs uint64 `json:"start_boottime_ns"`
	// UtimeNs and StimeNs are the user and system time charged to the
	// thread (task_struct.utime/stime, kernel/sched/cputime.c).
	UtimeNs uint64 `json:"utime_ns"`
	StimeNs uint64 `json:"stime_ns"`
}

// Times reads the task's start and CPU times (include/linux/sched.h).
func (t Task) Times() (TaskTimes, error) {
	var tt TaskTimes
	var err error
	if tt.StartNs, err = t.Obj.MemberUint("start_time"); err != nil {
		return tt, fmt.Errorf("task %#x: %w", t.Addr, err)
	}
	tt.StartBootNs = tt.StartNs
	for _, m := range []string{"start_boottime", "real_start_time"} {
		if t.Obj.Type().HasMember(m) {
			if tt.StartBootNs, err = t.Obj.MemberUint(m); err != nil {
				return tt, fmt.Errorf("task %#x: %w", t.Addr, err)
			}
			break
		}
	}
	if tt.UtimeNs, err = t.Obj.MemberUint("utime"); err != nil {
		return tt, fmt.Errorf("task %#x: %w", t.Addr, err)
	}
	if tt.StimeNs, err = t.Obj.MemberUint("stime"); err != nil {
		return tt, fmt.Errorf("task %#x: %w", t.Addr, err)
	}
	return tt, nil
}

// RlimitNames are the resource limits in index order
// (include/uapi/asm-generic/resource.h).
var RlimitNames = []string{"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
	"MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"}

// RlimInfinity is RLIM_INFINITY (~0UL).
const RlimInfinity = ^uint64(0)

// Rlimit is one resource limit of a thread group.
type Rlimit struct {
	Name string `json:"name"`
	Cur  uint64 `json:"cur"` // RlimInfinity when unlimited
	Max  uint64 `json:"max"`
}

// Rlimits reads signal->rlim[] (include/linux/sched/signal.h: struct
// rlimit rlim[RLIM_NLIMITS]): the limits the task's thread group shares.
func (t Task) Rlimits() ([]Rlimit, error) {
	rl, err := t.Obj.Member("signal")
	if err == nil {
		rl, err = rl.Deref()
	}
	if err == nil {
		rl, err = rl.Member("rlim")
	}
	if err != nil {
		return nil, fmt.Errorf("task %#x: signal->rlim: %w", t.Addr, err)
	}
	n := int64(rl.Type().Resolve().Len)
	if n <= 0 || n > 64 {
		return nil, fmt.Errorf("task %#x: signal->rlim has %d entries", t.Addr, n)
	}
	out := make([]Rlimit, 0, n)
	for i := int64(0); i < n; i++ {
		e, err := rl.Index(i)
		if err != nil {
			return out, err
		}
		r := Rlimit{Name: strconv.FormatInt(i, 10)}
		if int(i) < len(RlimitNames) {
			r.Name = RlimitNames[i]
		}
		if r.Cur, err = e.MemberUint("rlim_cur"); err != nil {
			return out, fmt.Errorf("task %#x: rlim[%d]: %w", t.Addr, i, err)
		}
		if r.Max, err = e.MemberUint("rlim_max"); err != nil {
			return out, fmt.Errorf("task %#x: rlim[%d]: %w", t.Addr, i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// ActiveTasks returns each possible CPU's rq->curr (kernel/sched/core.c):
// the task running there when the dump was taken, by CPU; a CPU whose
// runqueue cannot be read is left out and counted in the error.
func ActiveTasks(p *symbols.Program) (map[int]uint64, error) {
	cpus, err := p.PossibleCPUs()
	if err != nil || len(cpus) == 0 {
		n, nerr := p.NumCPUIDs()
		if nerr != nil {
			return nil, fmt.Errorf("active tasks: %w", nerr)
		}
		cpus = cpus[:0]
		for i := 0; i < n; i++ {
			cpus = append(cpus, i)
		}
	}
	out := make(map[int]uint64, len(cpus))
	var firstErr error
	bad := 0
	for _, cpu := range cpus {
		rq, err := Runqueue(p, cpu)
		var curr uint64
		if err == nil {
			curr, err = rq.MemberUint("curr")
		}
		if err != nil || curr == 0 {
			if err == nil {
				err = fmt.Errorf("rq->curr is NULL")
			}
			bad++
			if firstErr == nil {
				firstErr = fmt.Errorf("cpu %d: %w", cpu, err)
			}
			continue
		}
		out[cpu] = curr
	}
	if bad > 0 {
		return out, fmt.Errorf("active tasks: %d CPUs unreadable; first: %w", bad, firstErr)
	}
	return out, nil
}
