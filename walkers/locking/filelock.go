package locking

import (
	"fmt"
	"math"
	"slices"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// File lock flags and types (include/linux/filelock.h, fs.h ≤ 6.2;
// uapi fcntl F_RDLCK/F_WRLCK/F_UNLCK on x86 and arm64; 5.10 through 7.1).
const (
	flPosix = 1
	flFlock = 2
	flLease = 32
	flOFD   = 1024
)

// WaitFileLock is TaskWait.Kind of a wait for a file lock.
const WaitFileLock = "file-lock"

// RootFileLockHeld is the root kind of a chain ending at a file lock whose
// holder is not blocked: it holds the lock and does something else.
const RootFileLockHeld = "file-lock-held"

// FileLockWait is the wait kind of a task in flock(2) or fcntl(F_SETLKW,
// F_OFD_SETLKW) (fs/locks.c): it sleeps interruptibly (state S) on its
// own request's fl_wait (flc_wait from 6.9, struct file_lock_core), and
// the request's blocker names the lock it waits for — or an earlier
// waiter it queues behind; the root of the blocker chain is the granted
// lock. Its owner is a files_struct (POSIX) or a struct file (flock, OFD).
var FileLockWait = &waitkind.Kind{
	Name: WaitFileLock,
	Verb: "waits for",
	Frames: waitkind.NewFrames("locks_lock_inode_wait", "flock_lock_inode_wait", "posix_lock_inode_wait",
		"do_lock_file_wait", "fcntl_setlk", "fcntl_setlk64", "__do_sys_flock", "locks_lock_file_wait"),
	Interruptible: true,
	Waiter:        &waitQueueEntry,
	Decode:        decodeFileLockWait,
	Classify:      classifyFileLock,
	Remedies:      fileLockRemedies,
}

// FileLock is a decoded struct file_lock (or file_lock_core).
type FileLock struct {
	Addr uint64 `json:"addr"`
	// Class is POSIX, FLOCK, OFD or LEASE; Type READ, WRITE or UNLCK.
	Class string `json:"class"`
	Type  string `json:"type"`
	// Pid is fl_pid: the locker's tgid when it was taken (-1 for OFD).
	Pid     int32  `json:"pid"`
	Owner   uint64 `json:"owner"`
	File    uint64 `json:"file"`
	Blocker uint64 `json:"blocker,omitempty"`
	// Start and End are the byte range (End -1: to the end of the file);
	// flock locks have none.
	Start int64  `json:"start"`
	End   int64  `json:"end"`
	Flags uint64 `json:"flags"`
}

// fileLockLayout is where the lock's core members are: struct
// file_lock_core (flc_*, 6.9+) inside struct file_lock at c, or struct
// file_lock itself (fl_*).
type fileLockLayout struct {
	core, pfx string
	coreOff   uint64 // offset of the core in struct file_lock
}

func newFileLockLayout(p *symbols.Program) (fileLockLayout, error) {
	if _, err := p.Type("struct file_lock_core"); err == nil {
		off, err := p.OffsetOf("struct file_lock", "c")
		if err != nil {
			return fileLockLayout{}, err
		}
		return fileLockLayout{core: "struct file_lock_core", pfx: "flc_", coreOff: off}, nil
	}
	if _, err := p.Type("struct file_lock"); err != nil {
		return fileLockLayout{}, err
	}
	return fileLockLayout{core: "struct file_lock", pfx: "fl_"}, nil
}

// ReadFileLock decodes the file lock whose core is at addr.
func ReadFileLock(p *symbols.Program, addr uint64) (*FileLock, error) {
	l, err := newFileLockLayout(p)
	if err != nil {
		return nil, err
	}
	return l.read(p, addr)
}

func (l fileLockLayout) read(p *symbols.Program, addr uint64) (*FileLock, error) {
	c, err := p.Object(l.core, addr)
	if err != nil {
		return nil, err
	}
	fl := &FileLock{Addr: addr, End: -1}
	get := func(m string) uint64 {
		v, e := c.MemberUint(l.pfx + m)
		if e != nil && err == nil {
			err = fmt.Errorf("file lock %#x: %w", addr, e)
		}
		return v
	}
	fl.Blocker, fl.Owner, fl.Flags, fl.File = get("blocker"), get("owner"), get("flags"), get("file")
	typ, pid := get("type"), get("pid")
	if err != nil {
		return nil, err
	}
	fl.Pid = int32(pid)
	fl.Type = map[uint64]string{0: "READ", 1: "WRITE", 2: "UNLCK"}[typ]
	switch {
	case fl.Flags&flOFD != 0:
		fl.Class = "OFD"
	case fl.Flags&flPosix != 0:
		fl.Class = "POSIX"
	case fl.Flags&flFlock != 0:
		fl.Class = "FLOCK"
	case fl.Flags&flLease != 0:
		fl.Class = "LEASE"
	default:
		fl.Class = fmt.Sprintf("flags %#x", fl.Flags)
	}
	if fl.Class == "POSIX" || fl.Class == "OFD" {
		if o, e := p.Object("struct file_lock", addr-l.coreOff); e == nil {
			if s, e := o.MemberUint("fl_start"); e == nil {
				fl.Start = int64(s)
			}
			if e, er := o.MemberUint("fl_end"); er == nil {
				fl.End = int64(e)
			}
		}
	}
	return fl, nil
}

// maxBlockerDepth bounds the walk up a tree of blocked lock requests.
const maxBlockerDepth = 256

func decodeFileLockWait(c waitkind.Context, t *sched.Task, f waitkind.Found) (waitkind.TaskWait, bool) {
	p := c.Prog()
	l, err := newFileLockLayout(p)
	if err != nil {
		return waitkind.TaskWait{}, false
	}
	woff, err := p.OffsetOf(l.core, l.pfx+"wait")
	if err != nil {
		return waitkind.TaskWait{}, false
	}
	req, err := l.read(p, f.Object-woff)
	if err != nil || req.Blocker == 0 {
		return waitkind.TaskWait{}, false // granted meanwhile, or not a lock request
	}
	w := waitkind.TaskWait{Task: c.Blocked(t), Kind: WaitFileLock, Certain: true,
		How: "wait_queue_entry on the task's stack, on its lock request's wait queue; the request's blocker names the lock"}
	// Follow the blockers to the granted lock (fs/locks.c
	// __locks_insert_block queues a request behind a conflicting waiter).
	root, depth := req, 0
	for root.Blocker != 0 {
		if depth++; depth > maxBlockerDepth {
			w.Error = fmt.Sprintf("blocker chain from %#x longer than %d", req.Addr, maxBlockerDepth)
			w.Certain = false
			break
		}
		next, err := l.read(p, root.Blocker)
		if err != nil {
			w.Error = err.Error()
			w.Certain = false
			break
		}
		root = next
	}
	what := fmt.Sprintf("%s %s lock", root.Class, root.Type)
	if path, err := vfs.FilePath(p, root.File); err == nil {
		what += " on " + path
	} else if path, err := vfs.FilePath(p, req.File); err == nil {
		what += " on " + path
	}
	if root.Class == "POSIX" || root.Class == "OFD" {
		end := "EOF"
		if root.End >= 0 && root.End != math.MaxInt64 { // OFFSET_MAX: to the end
			end = fmt.Sprint(root.End)
		}
		what += fmt.Sprintf(" (bytes %d-%s)", root.Start, end)
	}
	w.Object = waitkind.WaitObject{Type: "file_lock", Addr: root.Addr, What: what}
	if depth > 1 {
		w.Note = fmt.Sprintf("queued behind %d other waiting request(s) for the same lock", depth-1)
	}
	// The holders are found once per lock (they are read from every
	// process's fd table), however many requests wait on it.
	w.Holders = slices.Clone(waitkind.MemoExact(c, fileLockHoldersKey(root.Addr), func() []waitkind.Holder {
		return fileLockHolders(c, root)
	}))
	if len(w.Holders) == 0 {
		w.Note = appendNote(w.Note, fmt.Sprintf("no task holds the lock's owner (%#x); fl_pid %d", root.Owner, root.Pid))
	}
	return w, true
}

func appendNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

type fileLockHoldersKey uint64

// maxLockOwnerScan bounds the processes whose fd tables are read to find
// the holders of a flock or OFD lock.
const maxLockOwnerScan = 8192

// fileLockHolders finds the tasks that own lock root: for POSIX locks the
// processes whose files_struct is the owner (fs/locks.c posix_owner_key:
// owner = current->files); for flock and OFD locks the processes with
// the owning struct file in their fd table.
func fileLockHolders(c waitkind.Context, root *FileLock) []waitkind.Holder {
	p := c.Prog()
	var out []waitkind.Holder
	seenTG := map[int]bool{}
	scanned := 0
	filesSeen := map[uint64]bool{}
	for _, t := range c.Tasks() {
		if seenTG[t.TGID] || t.Idle {
			continue
		}
		files, err := t.Obj.MemberUint("files")
		if err != nil || files == 0 {
			continue
		}
		switch root.Class {
		case "POSIX":
			if files == root.Owner {
				seenTG[t.TGID] = true
				out = append(out, waitkind.Holder{Task: c.Ref(t.Addr), Certain: true,
					How: fmt.Sprintf("owns the POSIX lock: its files_struct %#x is the lock's fl_owner", files)})
			}
		default:
			if filesSeen[files] {
				continue
			}
			filesSeen[files] = true
			if scanned++; scanned > maxLockOwnerScan {
				return out
			}
			slots, _ := vfs.FDTable(p, files)
			for _, s := range slots {
				if s.File == root.Owner || s.File == root.File {
					seenTG[t.TGID] = true
					out = append(out, waitkind.Holder{Task: c.Ref(t.Addr), Certain: true,
						How: fmt.Sprintf("has the locked open file (struct file %#x) as fd %d: the %s lock belongs to it", s.File, s.FD, root.Class)})
					break
				}
			}
		}
	}
	if len(out) == 0 && root.Pid > 0 {
		for _, t := range c.Tasks() {
			if t.PID == int(root.Pid) {
				out = append(out, waitkind.Holder{Task: c.Ref(t.Addr), Certain: false,
					How: "fl_pid: the process that took the lock (it may have passed the file on)"})
			}
		}
	}
	return out
}

// classifyFileLock: a lock held by a task that is not blocked is held on
// purpose (or forgotten): it goes when the holder unlocks, closes or exits.
func classifyFileLock(w *waitkind.TaskWait, r *waitkind.Root) bool {
	if len(r.Holders) == 0 {
		return false
	}
	r.Kind = RootFileLockHeld
	names := ""
	for i, h := range r.Holders {
		if i > 0 {
			names += ", "
		}
		names += fmt.Sprintf("%s (pid %d)", h.Task.Comm, h.Task.TGID)
		r.Certain = r.Certain && h.Certain
	}
	r.Summary = fmt.Sprintf("%s holds %s and is not waiting for anything kwalk recognises: the lock is released when it unlocks it, closes the file or exits", names, w.Object.What)
	return true
}

func fileLockRemedies(r *waitkind.Root) []string {
	if r.Kind != RootFileLockHeld {
		return nil
	}
	var out []string
	seen := map[int]bool{}
	for _, h := range r.Holders {
		if !seen[h.Task.TGID] {
			seen[h.Task.TGID] = true
			out = append(out, fmt.Sprintf("kill %d  # %s: its file locks are released when it exits", h.Task.TGID, h.Task.Comm))
		}
	}
	return out
}
