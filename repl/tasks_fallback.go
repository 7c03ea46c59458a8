package repl

import (
	"context"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// maxTasks bounds the fallback task walk (pid_max is at most 4M,
// include/linux/threads.h PID_MAX_LIMIT).
const maxTasks = 1 << 22

// fallbackTasks lists tasks by walking init_task.tasks (thread-group
// leaders, kernel/fork.c) and each leader's signal->thread_head list
// (threads, kernel/fork.c; 3.16+). It is used until the task walker
// registers a TaskSource; it reports only what set/foreach need.
func fallbackTasks(ctx context.Context, prog *symbols.Program) ([]TaskInfo, error) {
	init, err := prog.Variable("init_task")
	if err != nil {
		return nil, fmt.Errorf("listing tasks: %w", err)
	}
	tt := init.Type()
	var out []TaskInfo
	leaders, err := listEntries(ctx, prog, init, "tasks", tt, "tasks", maxTasks)
	if err != nil {
		return nil, fmt.Errorf("listing tasks: %w", err)
	}
	// init_task itself is the list head and is the idle task of CPU 0.
	leaders = append([]symbols.Object{init}, leaders...)
	threadsOK := tt.HasMember("thread_node")
	for _, l := range leaders {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		out = append(out, taskInfo(l))
		if !threadsOK || l.Addr() == init.Addr() {
			continue
		}
		sig, err := l.Member("signal")
		if err != nil {
			continue
		}
		head, err := sig.Member("thread_head")
		if err != nil {
			continue
		}
		threads, err := listEntries(ctx, prog, head, "", tt, "thread_node", maxTasks)
		if err != nil {
			continue
		}
		for _, t := range threads {
			if t.Addr() != l.Addr() {
				out = append(out, taskInfo(t))
			}
		}
		if len(out) > maxTasks {
			return out, fmt.Errorf("listing tasks: more than %d tasks, list corrupt?", maxTasks)
		}
	}
	return out, nil
}

// taskInfo reads what TaskInfo needs from a task_struct, leaving fields it
// cannot read at their zero value.
func taskInfo(t symbols.Object) TaskInfo {
	ti := TaskInfo{Task: t, CPU: -1}
	if v, err := t.MemberUint("pid"); err == nil {
		ti.PID = int(int32(v))
	}
	ti.Comm, _ = t.MemberString("comm")
	// task_struct.__state replaced .state in 5.14 (include/linux/sched.h).
	var state, exit uint64
	if v, err := t.MemberUint("__state"); err == nil {
		state = v
	} else if v, err := t.MemberUint("state"); err == nil {
		state = v
	}
	exit, _ = t.MemberUint("exit_state")
	ti.State = stateName(state, exit)
	// task_struct.cpu (CONFIG_THREAD_INFO_IN_TASK, 5.16+) or thread_info.cpu.
	if v, err := t.MemberUint("cpu"); err == nil {
		ti.CPU = int(v)
	} else if v, err := t.MemberUint("thread_info.cpu"); err == nil {
		ti.CPU = int(v)
	}
	if mm, err := t.MemberUint("mm"); err == nil && mm == 0 {
		ti.Kernel = true
	}
	return ti
}

// stateName gives crash's two-letter state for __state/exit_state values
// (TASK_* bits, include/linux/sched.h).
func stateName(state, exit uint64) string {
	switch {
	case exit&0x10 != 0:
		return "ZO" // EXIT_ZOMBIE
	case exit&0x20 != 0:
		return "DE" // EXIT_DEAD
	case state == 0:
		return "RU"
	case state&0x402 == 0x402:
		return "ID" // TASK_IDLE = TASK_UNINTERRUPTIBLE | TASK_NOLOAD
	case state&0x1 != 0:
		return "IN"
	case state&0x2 != 0:
		return "UN"
	case state&0x4 != 0:
		return "ST"
	case state&0x8 != 0:
		return "TR"
	case state&0x200 != 0:
		return "WA" // TASK_WAKING
	case state&0x80 != 0:
		return "DE" // TASK_DEAD
	}
	return "??"
}

// listEntries walks a circular struct list_head (include/linux/list.h)
// starting at the list head member headPath of head ("" when head is the
// list_head itself) and returns the containing objects of type entryType
// linked through member linkPath. It stops at max entries and on a cycle
// that does not return to the head.
func listEntries(ctx context.Context, prog *symbols.Program, head symbols.Object, headPath string, entryType *symbols.Type, linkPath string, max int) ([]symbols.Object, error) {
	h := head
	if headPath != "" {
		var err error
		if h, err = head.Member(headPath); err != nil {
			return nil, err
		}
	}
	headAddr, ok := h.Address()
	if !ok {
		return nil, fmt.Errorf("%s: list head not in memory", h.Path())
	}
	off, err := prog.OffsetOfType(entryType, linkPath)
	if err != nil {
		return nil, err
	}
	seen := make(map[uint64]bool)
	var out []symbols.Object
	next, err := h.MemberUint("next")
	if err != nil {
		return nil, err
	}
	for next != headAddr {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if next == 0 {
			return out, fmt.Errorf("%s: NULL next pointer after %d entries", h.Path(), len(out))
		}
		if seen[next] {
			return out, fmt.Errorf("%s: %w at %#x after %d entries", h.Path(), symbols.ErrCycle, next, len(out))
		}
		if len(out) >= max {
			return out, fmt.Errorf("%s: more than %d entries", h.Path(), max)
		}
		seen[next] = true
		out = append(out, prog.ObjectAt(entryType, next-off))
		n, err := prog.ReadU64(next)
		if err != nil {
			return out, fmt.Errorf("%s: entry %d at %#x: %w", h.Path(), len(out), next, err)
		}
		next = n
	}
	return out, nil
}
