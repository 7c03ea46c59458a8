package testdata

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata/truth"
)

// The generated dumps are what they claim: the files exist, the record parses
// and every scenario's roles are in the state the scenario staged.
func TestGeneratedDumps(t *testing.T) {
	for _, d := range Require(t, Filter{}) {
		t.Run(d.ID(), func(t *testing.T) {
			if d.Release == "" || d.Truth.Release() != d.Release {
				t.Errorf("release: manifest %q, record %q", d.Release, d.Truth.Release())
			}
			if d.PagingLevels != d.Guest.PagingLevels {
				t.Errorf("paging levels %d, guest asked for %d", d.PagingLevels, d.Guest.PagingLevels)
			}
			want := []Format{FormatELF, FormatKdumpZlibFlat}
			if d.Guest.IsKdump() {
				want = kdumpWantFormats // kdump_test.go
			}
			for _, f := range want {
				st, err := os.Stat(d.Path(f))
				if err != nil || st.Size() < 1<<20 {
					t.Errorf("format %s: %v", f, err)
				}
			}
			checkScenarios(t, d)
		})
	}
}

func checkScenarios(t *testing.T, d *Dump) {
	rec := d.Truth
	role := func(name string) *truth.Task {
		t.Helper()
		pid, ok := rec.Roles[name]
		if !ok {
			t.Errorf("record has no role %s", name)
			return nil
		}
		tk := rec.Task(pid)
		if tk == nil {
			t.Errorf("role %s: no task %d", name, pid)
		}
		return tk
	}
	if d.Has(ScenarioSquare) {
		if dd := role("square.dd"); dd != nil && !dd.InStack("request_wait_answer") {
			t.Errorf("square.dd not waiting for its answer: %+v", dd.Stack)
		}
		for _, r := range []string{"square.truncate", "square.rm", "square.touch"} {
			if tk := role(r); tk != nil && tk.State != 'D' {
				t.Errorf("%s state %c, want D", r, tk.State)
			}
		}
		if w, ok := rec.FuseWaiting("/mnt/w"); !ok || w < 1 {
			t.Errorf("/mnt/w waiting = %d (%v), want ≥ 1", w, ok)
		}
	}
	if d.Has(ScenarioReenter) {
		role("reenter.dd")
		if srv := role("reenter.server"); srv != nil {
			stuck := false
			for _, th := range rec.Threads(srv.PID) {
				stuck = stuck || (th.State == 'D' && th.InStack("do_truncate"))
			}
			if !stuck {
				t.Error("no reenter.server thread in do_truncate")
			}
		}
	}
	if d.Has(ScenarioNetflix) {
		if in := role("netflix.init"); in != nil && !in.InStack("zap_pid_ns_processes") {
			t.Errorf("netflix.init not in zap_pid_ns_processes: %+v", in.Stack)
		}
		if srv := role("netflix.server"); srv != nil {
			var flush *truth.Task
			for _, th := range rec.Threads(srv.PID) {
				if th.InStack("fuse_flush") {
					flush = th
				}
			}
			if flush == nil || !flush.Exiting() || !flush.Pending(9) {
				t.Errorf("netflix.server: want a thread in fuse_flush, exiting, SIGKILL pending; got %+v", flush)
			}
		}
	}
	if d.Has(ScenarioThreads) {
		if p := role("threads.proc"); p != nil && len(rec.Threads(p.PID)) < d.Guest.Threads {
			t.Errorf("threads.proc has %d threads, want ≥ %d", len(rec.Threads(p.PID)), d.Guest.Threads)
		}
	}
	if d.Has(ScenarioFrozen) {
		checkFrozen(t, rec, role)
	}
	if d.Has(ScenarioLocks) {
		checkLocks(t, rec, role)
	}
	if d.Has(ScenarioStopped) {
		checkStopped(t, rec, role)
	}
	if d.Has(ScenarioFolio) {
		if r1 := role("folio.reader1"); r1 != nil && !r1.InStack("request_wait_answer") {
			t.Errorf("folio.reader1 not waiting for its READ: %+v", r1.Stack)
		}
		if r2 := role("folio.reader2"); r2 != nil && (r2.State != 'D' || !inAny(r2, folioWaitFuncs) || !r2.InStack("vfs_read")) {
			t.Errorf("folio.reader2: state %c, stack %+v; want D waiting for a folio lock in read", r2.State, r2.Stack)
		}
		if w, ok := rec.FuseWaiting("/mnt/r"); !ok || w < 1 {
			t.Errorf("/mnt/r waiting = %d (%v), want ≥ 1", w, ok)
		}
	}
	if d.Has(ScenarioMutex) {
		proc := role("mutex.proc")
		h, w := role("mutex.holder"), role("mutex.waiter")
		if proc != nil && h != nil && w != nil && (h.PID != proc.PID || w.PID != proc.PID || h.TID == w.TID) {
			t.Errorf("mutex.holder %d and mutex.waiter %d are not two threads of mutex.proc %d", h.TID, w.TID, proc.PID)
		}
		if h != nil && !h.InStack("request_wait_answer") {
			t.Errorf("mutex.holder not waiting for its READ: %+v", h.Stack)
		}
		// mutex_lock is a __sched function: /proc/PID/stack starts at its
		// caller.
		if w != nil && (w.State != 'D' || len(w.Stack) == 0 || !inAny(&truth.Task{Stack: w.Stack[:1]}, fdgetPosFuncs)) {
			t.Errorf("mutex.waiter: state %c, stack %+v; want D at fdget_pos", w.State, w.Stack)
		}
	}
	if d.Has(ScenarioBenign) {
		n := 0
		for name, pid := range rec.Roles {
			if !strings.HasPrefix(name, "benign.") {
				continue
			}
			n++
			if tk := role(name); tk != nil && tk.State != 'S' {
				t.Errorf("%s (tid %d) state %c, want S", name, pid, tk.State)
			}
		}
		if n < 12 {
			t.Errorf("%d benign roles, want 12", n)
		}
	}
	if d.Has(ScenarioIdle) {
		for _, tk := range rec.Tasks {
			if tk.State == 'D' {
				t.Errorf("idle guest has task %d (%s) in D", tk.TID, tk.Comm)
			}
		}
	}
}

// Every edge names roles the record has, and its waiter is blocked.
func TestEdgesAgainstRecords(t *testing.T) {
	for _, d := range Require(t, Filter{}) {
		if d.Guest.Name != GuestHangs && d.Guest.Name != GuestStuck && d.Guest.Name != GuestStuck2 && d.Guest.Name != GuestStuck3 && d.Guest.Name != GuestKmod {
			continue
		}
		t.Run(d.ID(), func(t *testing.T) {
			edges := d.Edges()
			if len(edges) == 0 {
				t.Fatalf("no edges for a %s guest", d.Guest.Name)
			}
			for _, e := range edges {
				wpid, ok1 := d.Truth.Roles[e.Waiter]
				_, ok2 := d.Truth.Roles[e.Holder]
				if !ok1 || (!ok2 && e.Holder != "") {
					t.Errorf("edge %+v: role missing from the record", e)
					continue
				}
				// A role names a process (its threads) or, in the
				// stuck guest, a thread.
				threads := d.Truth.Threads(wpid)
				if tk := d.Truth.Task(wpid); tk != nil && !tk.IsLeader() {
					threads = []*truth.Task{tk}
				}
				blocked := false
				for _, th := range threads {
					blocked = blocked || th.State == 'D' || d.Truth.Varies(th.TID) || th.InStack("request_wait_answer") || th.InStack("do_wait") ||
						(th.State == 'S' && (inAny(th, lockWaitFuncs) || th.InStack("futex_lock_pi") || (strings.HasPrefix(e.Waiter, "ufutex.") && inAny(th, futexWaitFuncs))))
				}
				if !blocked {
					t.Errorf("edge %+v: no thread of %d is blocked", e, wpid)
				}
			}
		})
	}
}

// The stuck guest's record: what its waiters' /proc/PID/stack shows, by
// kernel version. __sched functions (schedule, mutex_lock, down_write,
// ...) are left out of it.
var (
	// fs/locks.c: flock_lock_inode_wait is inlined into
	// locks_lock_inode_wait, do_lock_file_wait into fcntl_setlk.
	lockWaitFuncs = []string{"locks_lock_inode_wait", "flock_lock_inode_wait", "posix_lock_inode_wait", "fcntl_setlk", "do_lock_file_wait"}
	// kernel/futex/waitwake.c: a non-PI futex wait (a glibc mutex).
	futexWaitFuncs = []string{"futex_wait_queue", "futex_wait_queue_me", "futex_do_wait", "futex_wait", "__futex_wait"}
	// mm/filemap.c.
	folioWaitFuncs = []string{"folio_wait_bit_common", "__folio_lock", "__folio_lock_killable", "folio_put_wait_locked"}
	// fs/file.c: the caller of mutex_lock(&file->f_pos_lock).
	fdgetPosFuncs = []string{"__fdget_pos", "fdget_pos"}
)

func inAny(tk *truth.Task, fns []string) bool {
	for _, fn := range fns {
		if tk.InStack(fn) {
			return true
		}
	}
	return false
}

type roleFunc func(name string) *truth.Task

func checkFrozen(t *testing.T, rec *truth.Record, role roleFunc) {
	t.Helper()
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("frozen.writer%d", i)
		if w := role(name); w != nil && (w.State != 'D' || !w.InStack("percpu_rwsem_wait")) {
			t.Errorf("%s: state %c, stack %+v; want D in percpu_rwsem_wait", name, w.State, w.Stack)
		}
	}
	mnt := rec.Mount(rec.Meta["frozen.mount"])
	if mnt == nil || mnt.MountPoint != "/mnt/frz" || mnt.FSType != "ext2" {
		t.Fatalf("frozen mount %q: %+v, want the ext2 at /mnt/frz", rec.Meta["frozen.mount"], mnt)
	}
	if dev := fmt.Sprintf("%d:%d", mnt.Major, mnt.Minor); dev != rec.Meta["frozen.dev"] {
		t.Errorf("frozen.dev %q, mountinfo %s", rec.Meta["frozen.dev"], dev)
	}
}

// checkLocks compares the lock waiters with /proc/locks: each waiter's
// request is blocked on its holder's granted lock.
func checkLocks(t *testing.T, rec *truth.Record, role roleFunc) {
	t.Helper()
	for _, c := range []struct {
		waiter, holder, class string
		start, end            int64
	}{
		{"locks.flock.waiter", "locks.flock.holder", "FLOCK", 0, truth.LockEOF},
		{"locks.posix.waiter", "locks.posix.holder", "POSIX", 0, truth.LockEOF},
		{"locks.ofd.waiter", "locks.ofd.holder", "OFDLCK", 0, truth.LockEOF},
		{"locks.chain.b", "locks.chain.c", "POSIX", 0, 0},
		{"locks.chain.a", "locks.chain.b", "POSIX", 1, 1},
	} {
		w, h := role(c.waiter), role(c.holder)
		if w == nil || h == nil {
			continue
		}
		if w.State != 'S' || !inAny(w, lockWaitFuncs) {
			t.Errorf("%s: state %c, stack %+v; want S in a lock wait", c.waiter, w.State, w.Stack)
		}
		if c.class == "OFDLCK" {
			// OFD locks show pid -1: no pid ties them to a process.
			checkOFD(t, rec)
			continue
		}
		req := -1
		for i, l := range rec.Locks {
			if l.PID == w.PID && l.Blocked() && l.Class == c.class && l.Start == c.start && l.End == c.end {
				req = i
			}
		}
		if req < 0 {
			t.Errorf("%s (pid %d): no blocked %s request [%d, %d] in /proc/locks %+v", c.waiter, w.PID, c.class, c.start, c.end, rec.Locks)
			continue
		}
		if b := rec.Blocker(req); b == nil || b.PID != h.PID || b.Blocked() || b.Inode != rec.Locks[req].Inode {
			t.Errorf("%s's request %+v is blocked on %+v, want %s's (pid %d) granted lock", c.waiter, rec.Locks[req], b, c.holder, h.PID)
		}
	}
}

func checkOFD(t *testing.T, rec *truth.Record) {
	t.Helper()
	granted, blocked := 0, 0
	for i, l := range rec.Locks {
		if l.Class != "OFDLCK" || l.PID != -1 {
			continue
		}
		if !l.Blocked() {
			granted++
		} else if b := rec.Blocker(i); b != nil && b.Class == "OFDLCK" && b.Inode == l.Inode {
			blocked++
		}
	}
	if granted != 1 || blocked != 1 {
		t.Errorf("/proc/locks has %d granted OFD locks and %d requests blocked on one, want 1 and 1", granted, blocked)
	}
}

func checkStopped(t *testing.T, rec *truth.Record, role roleFunc) {
	t.Helper()
	for _, r := range []string{"stopped.holder", "stopped.server"} {
		if p := role(r); p != nil {
			for _, th := range rec.Threads(p.PID) {
				if th.State != 'T' {
					t.Errorf("%s thread %d state %c, want T", r, th.TID, th.State)
				}
			}
		}
	}
	if w, h := role("stopped.waiter"), role("stopped.holder"); w != nil && h != nil {
		if w.State != 'S' || !inAny(w, lockWaitFuncs) {
			t.Errorf("stopped.waiter: state %c, stack %+v; want S in a lock wait", w.State, w.Stack)
		}
		found := false
		for i, l := range rec.Locks {
			if b := rec.Blocker(i); l.PID == w.PID && l.Class == "FLOCK" && b != nil && b.PID == h.PID {
				found = true
			}
		}
		if !found {
			t.Errorf("no FLOCK request of stopped.waiter (pid %d) blocked on stopped.holder's (pid %d) in /proc/locks", w.PID, h.PID)
		}
	}
	if c := role("stopped.client"); c != nil && !c.InStack("request_wait_answer") {
		t.Errorf("stopped.client not waiting for an answer: %+v", c.Stack)
	}
	if w, ok := rec.FuseWaiting("/mnt/s"); !ok || w < 1 {
		t.Errorf("/mnt/s waiting = %d (%v), want ≥ 1", w, ok)
	}
}
