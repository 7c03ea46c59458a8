// Package truth parses the record a dump generator's guest prints on its
// console just before the host dumps its memory: the kernel's own account of
// mounts, FUSE connections and every thread (state, pending signals, /proc
// stack, open files). Tests compare what kwalk reads from the dump with it.
//
// The record sits between KWALK-TRUTH-BEGIN and KWALK-TRUTH-END:
//
//	meta KEY=VALUE                      release, la57, cmdline, scenarios, recorder (newer generators)
//	role NAME pid=PID                   the process playing a part in a scenario (newer generators)
//	<a /proc/self/mountinfo line>
//	fuseconn DEV waiting=N
//	task tid=T pid=P comm=NAME state=S SigPnd:=HEX ShdPnd:=HEX [ppid=PP flags=0xF]
//	  stack [<0>] FUNC+0xOFF/0xLEN [MODULE]
//	  fd N -> TARGET
//
// The console may hold other lines around and (rarely) inside the block;
// lines the parser does not know are kept in Record.Unparsed.
package truth

import "strings"

// Record is one guest's account of itself.
type Record struct {
	Meta     map[string]string // "release", "la57", "cmdline", "scenarios", "recorder", ...
	Roles    map[string]int    // role name ("square.dd") → pid
	Mounts   []Mount
	FuseConn []FuseConn
	Tasks    []Task
	// Unparsed holds lines inside the block that matched no known form.
	Unparsed []string
	// Ready reports that KWALK-SCENARIO-READY followed the block.
	Ready bool
	// Live holds kwalk's runs against the guest's running kernel, by
	// arguments ("sys", "ps", "deadlock", "deadlock --json"); nil when the
	// console has none (older generators). See live.go.
	Live map[string]LiveRun
	// LiveNotes are the guest's remarks on the live runs ("present
	// /proc/kcore", "absent /sys/kernel/btf/vmlinux: ...").
	LiveNotes []string

	byTID map[int]int // index into Tasks, built by Parse
}

// Mount is one line of /proc/self/mountinfo (Documentation/filesystems/proc.rst).
type Mount struct {
	ID, ParentID int
	Major, Minor uint32 // st_dev of the superblock
	Root         string
	MountPoint   string
	Options      string // per-mount options
	FSType       string // "fuse.hangfs", "proc", ...
	Source       string
	SuperOptions string
}

// FuseConn is /sys/fs/fuse/connections/DEV: DEV is the minor of the
// superblock's anonymous device (fs/fuse/control.c names it by s_dev).
type FuseConn struct {
	Dev     uint32
	Waiting int // requests waiting for an answer (fuse_conn.num_waiting)
}

// Task is one thread.
type Task struct {
	TID, PID int    // PID is the thread group id
	Comm     string // /proc status Name: kernel threads may show more than task->comm's 15 characters
	State    byte   // 'R', 'S', 'D', 'Z', 'I', 'T', 't', 'X', 'P'
	SigPnd   uint64 // per-thread pending signals
	ShdPnd   uint64 // shared (thread group) pending signals
	PPID     int    // -1 when the record does not say
	Flags    uint64 // task->flags (PF_*), valid when HasFlags
	HasFlags bool
	Stack    []Frame
	// FDs of a thread-group leader (nil for other threads or when none
	// could be read, e.g. a zombie leader).
	FDs []FD
}

// Frame is one line of /proc/PID/task/TID/stack.
type Frame struct {
	Func   string
	Offset uint64
	Size   uint64
	Module string // "" for vmlinux
}

// FD is one open file descriptor: the /proc/PID/fd/N link target.
type FD struct {
	Num    int
	Target string
}

// PF_EXITING is task->flags' bit for a task in do_exit (include/linux/sched.h).
const PF_EXITING = 0x00000004

// IsLeader reports whether t is its thread group's leader.
func (t *Task) IsLeader() bool { return t.TID == t.PID }

// Exiting reports PF_EXITING, when the record has flags.
func (t *Task) Exiting() bool { return t.HasFlags && t.Flags&PF_EXITING != 0 }

// Pending reports whether signal sig (1-based) is pending for the thread or
// its group.
func (t *Task) Pending(sig int) bool {
	if sig < 1 || sig > 64 {
		return false
	}
	bit := uint64(1) << (sig - 1)
	return (t.SigPnd|t.ShdPnd)&bit != 0
}

// InStack reports whether fn is one of t's /proc stack frames.
func (t *Task) InStack(fn string) bool {
	for _, f := range t.Stack {
		if f.Func == fn {
			return true
		}
	}
	return false
}

// CommMatches reports whether comm as read from task_struct.comm (at most 15
// characters) agrees with the recorded name, which for kernel threads may be
// the longer full name.
func (t *Task) CommMatches(comm string) bool {
	if comm == t.Comm {
		return true
	}
	return len(comm) == 15 && strings.HasPrefix(t.Comm, comm)
}

// Task returns the thread with the given tid, or nil.
func (r *Record) Task(tid int) *Task {
	if i, ok := r.byTID[tid]; ok && i < len(r.Tasks) && r.Tasks[i].TID == tid {
		return &r.Tasks[i]
	}
	for i := range r.Tasks {
		if r.Tasks[i].TID == tid {
			return &r.Tasks[i]
		}
	}
	return nil
}

// Threads returns the threads of thread group pid.
func (r *Record) Threads(pid int) []*Task {
	var out []*Task
	for i := range r.Tasks {
		if r.Tasks[i].PID == pid {
			out = append(out, &r.Tasks[i])
		}
	}
	return out
}

// TasksIn returns the threads whose stack holds fn.
func (r *Record) TasksIn(fn string) []*Task {
	var out []*Task
	for i := range r.Tasks {
		if r.Tasks[i].InStack(fn) {
			out = append(out, &r.Tasks[i])
		}
	}
	return out
}

// Mount returns the mount at mountPoint, or nil.
func (r *Record) Mount(mountPoint string) *Mount {
	for i := range r.Mounts {
		if r.Mounts[i].MountPoint == mountPoint {
			return &r.Mounts[i]
		}
	}
	return nil
}

// FuseWaiting returns the waiting count of the FUSE connection of the mount
// at mountPoint.
func (r *Record) FuseWaiting(mountPoint string) (int, bool) {
	m := r.Mount(mountPoint)
	if m == nil {
		return 0, false
	}
	for _, c := range r.FuseConn {
		if c.Dev == m.Minor && m.Major == 0 {
			return c.Waiting, true
		}
	}
	return 0, false
}

// Release is the guest's kernel release when the record says.
func (r *Record) Release() string { return r.Meta["release"] }
