// Package truth parses the record a dump generator's guest prints on its
// console just before the host dumps its memory: the kernel's own account of
// mounts, FUSE connections and every thread (state, pending signals, /proc
// stack, open files). Tests compare what kwalk reads from the dump with it.
//
// The record sits between KWALK-TRUTH-BEGIN and KWALK-TRUTH-END:
//
//	meta KEY=VALUE                      release, la57, cmdline, scenarios, recorder (newer generators)
//	role NAME pid=PID                   the process (or thread) playing a part in a scenario (newer generators)
//	<a /proc/self/mountinfo line>
//	fuseconn DEV waiting=N
//	lock <a line of /proc/locks>        (newer generators)
//	task tid=T pid=P comm=NAME state=S SigPnd:=HEX ShdPnd:=HEX [ppid=PP flags=0xF]
//	  stack [<0>] FUNC+0xOFF/0xLEN [MODULE]
//	  fd N -> TARGET
//	  map LINE                          a /proc/PID/maps line of a thread-group leader (newer generators)
//	file PATH                           a whole system file (/proc/meminfo, ...), each line after "  | " (newer generators)
//
// The console may hold other lines around and (rarely) inside the block;
// lines the parser does not know are kept in Record.Unparsed.
package truth

import "strings"

// Record is one guest's account of itself.
type Record struct {
	Meta map[string]string // "release", "la57", "cmdline", "scenarios", "recorder", ...
	// Roles maps a role name ("square.dd") to the pid of the process
	// playing it, or to the tid of the thread when one thread of a
	// process plays it (the stuck guest's mutex.*, benign.*): Task finds
	// either.
	Roles    map[string]int
	Mounts   []Mount
	FuseConn []FuseConn
	// Locks are the lines of /proc/locks, in order (nil for records
	// without them).
	Locks []Lock
	Tasks []Task
	// Files holds whole system files by path ("/proc/meminfo",
	// "/proc/slabinfo", "/proc/interrupts", ...): nil for records
	// without them; a path is missing when the guest could not read it.
	Files map[string][]string
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

	byTID   map[int]int // index into Tasks, built by Parse
	curFile string      // the file whose lines are being read
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

// Lock is one line of /proc/locks (fs/locks.c lock_get_status): a granted
// lock, or a request waiting for one. locks_show prints each granted lock
// followed by the tree of requests blocked on it (__locks_insert_block),
// depth first, each request with the granted lock's ID.
type Lock struct {
	ID int // /proc/locks' ordinal of the granted lock (shared by the requests below it)
	// Depth is 0 for the granted lock, 1 for a request blocked on it,
	// n+1 for a request blocked on a request of depth n.
	Depth int
	Class string // "POSIX", "FLOCK", "OFDLCK", "ACCESS", "LEASE", "DELEG", "UNKNOWN"
	Mode  string // "ADVISORY", "*NOINODE*"; for leases "ACTIVE", "BREAKING", "BREAKER"
	Type  string // "READ", "WRITE", "UNLCK"
	// PID is the lock's fl_pid: the thread group that took it, -1 for OFD
	// locks (owned by an open file, not a process), 0 when not visible.
	PID          int
	HasInode     bool // false for "<none>:0"
	Major, Minor uint32
	Inode        uint64
	Start        int64 // first byte; 0 for flock and leases
	End          int64 // last byte, inclusive; LockEOF for "EOF"
}

// LockEOF is Lock.End of a lock that runs to the end of the file.
const LockEOF = -1

// Blocked reports whether l is a request waiting for a lock.
func (l *Lock) Blocked() bool { return l.Depth > 0 }

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
	// CPU is the CPU the thread last ran on (/proc stat "processor"), -1
	// when the record does not say.
	CPU int
	// SigBlk, SigIgn and SigCgt are /proc status' blocked, ignored and
	// caught signal masks, valid when HasSigMasks.
	SigBlk, SigIgn, SigCgt uint64
	HasSigMasks            bool
	Stack                  []Frame
	// Maps are the /proc/PID/maps lines of a thread-group leader.
	Maps []string
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

// varyingRoles are staged tasks that stay stuck but wake now and then, so
// that the record and the dump may see them R or D: a writer throttled in
// balance_dirty_pages re-checks the dirty counts every 200 ms
// (mm/page-writeback.c).
var varyingRoles = []string{"dm.throttled"}

// Varies reports whether tid is a staged task whose state may differ
// between the record and the dump (varyingRoles).
func (r *Record) Varies(tid int) bool {
	for _, role := range varyingRoles {
		if pid, ok := r.Roles[role]; ok && pid == tid {
			return true
		}
	}
	return false
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

// LocksOf returns the /proc/locks lines whose pid is pid, granted and
// blocked.
func (r *Record) LocksOf(pid int) []*Lock {
	var out []*Lock
	for i := range r.Locks {
		if r.Locks[i].PID == pid {
			out = append(out, &r.Locks[i])
		}
	}
	return out
}

// Blocker returns the lock the request at index i of r.Locks waits for:
// the nearest line above it one level shallower, or nil when i is a
// granted lock.
func (r *Record) Blocker(i int) *Lock {
	if i < 0 || i >= len(r.Locks) || r.Locks[i].Depth == 0 {
		return nil
	}
	for j := i - 1; j >= 0; j-- {
		if r.Locks[j].ID != r.Locks[i].ID {
			break
		}
		if r.Locks[j].Depth == r.Locks[i].Depth-1 {
			return &r.Locks[j]
		}
	}
	return nil
}

// Release is the guest's kernel release when the record says.
func (r *Record) Release() string { return r.Meta["release"] }
