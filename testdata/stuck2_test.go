package testdata

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata/truth"
)

// The stuck2 guest's record: every role in the state its scenario staged,
// as the guest kernel itself reports it (/proc, /proc/locks, sysfs).
func TestStuck2Records(t *testing.T) {
	for _, d := range append(Require(t, Filter{}), Arm64Dumps(t)...) {
		if d.Guest.Name != GuestStuck2 {
			continue
		}
		t.Run(d.ID(), func(t *testing.T) {
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
			for _, c := range []struct {
				scenario string
				check    func(*testing.T, *truth.Record, roleFunc)
			}{
				{ScenarioPIFutex, checkPIFutex},
				{ScenarioVfork, checkVfork},
				{ScenarioCgroupFrozen, checkCgroupFrozen},
				{ScenarioPtraced, checkPtraced},
				{ScenarioDMSuspended, checkDMSuspended},
				{ScenarioNBD, checkNBD},
			} {
				if !d.Has(c.scenario) {
					t.Errorf("stuck2 guest without scenario %s", c.scenario)
					continue
				}
				t.Run(c.scenario, func(t *testing.T) { c.check(t, rec, role) })
			}
		})
	}
}

// wantTask checks a role's state and that its stack holds one of funcs.
func wantTask(t *testing.T, name string, tk *truth.Task, state byte, funcs ...string) {
	t.Helper()
	if tk == nil {
		return
	}
	if tk.State != state || (len(funcs) > 0 && !inAny(tk, funcs)) {
		t.Errorf("%s (pid %d): state %c, stack %+v; want %c in one of %v", name, tk.TID, tk.State, tk.Stack, state, funcs)
	}
}

func checkPIFutex(t *testing.T, rec *truth.Record, role roleFunc) {
	wantTask(t, "pifutex.waiter", role("pifutex.waiter"), 'S', "futex_lock_pi")
	h := role("pifutex.holder")
	wantTask(t, "pifutex.holder", h, 'S')
	if h != nil && h.InStack("futex_lock_pi") {
		t.Errorf("pifutex.holder waits for a PI futex itself: %+v", h.Stack)
	}
}

// kernel/fork.c wait_for_vfork_done is inlined into kernel_clone on the
// Debian kernels: /proc shows the parent there.
var vforkWaitFuncs = []string{"wait_for_vfork_done", "kernel_clone"}

func checkVfork(t *testing.T, rec *truth.Record, role roleFunc) {
	p, c := role("vfork.parent"), role("vfork.child")
	wantTask(t, "vfork.parent", p, 'D', vforkWaitFuncs...)
	// pause(2) on x86_64; arm64 has none: ppoll with nothing to wait for.
	wantTask(t, "vfork.child", c, 'S', "__do_sys_pause", "sys_pause", "do_sys_poll", "__arm64_sys_ppoll")
	if p != nil && c != nil && c.PPID != p.PID {
		t.Errorf("vfork.child %d has parent %d, want vfork.parent %d", c.TID, c.PPID, p.PID)
	}
}

// checkLockedHolder checks a flock waiter blocked, in /proc/locks, on its
// holder's lock, and every thread of the holder in state holderState.
func checkLockedHolder(t *testing.T, rec *truth.Record, role roleFunc, prefix string, holderState byte) {
	t.Helper()
	w, h := role(prefix+".waiter"), role(prefix+".holder")
	wantTask(t, prefix+".waiter", w, 'S', lockWaitFuncs...)
	if h == nil || w == nil {
		return
	}
	for _, th := range rec.Threads(h.PID) {
		if th.State != holderState {
			t.Errorf("%s.holder thread %d state %c, want %c", prefix, th.TID, th.State, holderState)
		}
	}
	found := false
	for i, l := range rec.Locks {
		if b := rec.Blocker(i); l.PID == w.PID && l.Class == "FLOCK" && b != nil && b.PID == h.PID {
			found = true
		}
	}
	if !found {
		t.Errorf("no FLOCK request of %s.waiter (pid %d) blocked on %s.holder's (pid %d) in /proc/locks", prefix, w.PID, prefix, h.PID)
	}
}

func checkCgroupFrozen(t *testing.T, rec *truth.Record, role roleFunc) {
	// kernel/signal.c do_freezer_trap (inlined into get_signal): state S.
	checkLockedHolder(t, rec, role, "cgfrozen", 'S')
	if h := role("cgfrozen.holder"); h != nil {
		for _, th := range rec.Threads(h.PID) {
			if !th.InStack("get_signal") && !th.InStack("do_freezer_trap") {
				t.Errorf("cgfrozen.holder thread %d not in the freezer trap: %+v", th.TID, th.Stack)
			}
		}
	}
	if cg := rec.Meta["cgfrozen.cgroup"]; cg != "/sys/fs/cgroup/kwalk-frozen" {
		t.Errorf("meta cgfrozen.cgroup %q", cg)
	}
	if ev := rec.Meta["cgfrozen.events"]; !strings.Contains(ev, "frozen 1") {
		t.Errorf("meta cgfrozen.events %q: the cgroup did not reach frozen", ev)
	}
}

func checkPtraced(t *testing.T, rec *truth.Record, role roleFunc) {
	checkLockedHolder(t, rec, role, "ptraced", 't')
	if h := role("ptraced.holder"); h != nil {
		for _, th := range rec.Threads(h.PID) {
			if !inStackPrefix(th, "ptrace_stop") { // ptrace_stop.part.0 on 6.1
				t.Errorf("ptraced.holder thread %d not in ptrace_stop: %+v", th.TID, th.Stack)
			}
		}
	}
	if tr := role("ptraced.tracer"); tr != nil && tr.State == 'Z' {
		t.Errorf("ptraced.tracer (pid %d) has exited: its tracees would be detached", tr.PID)
	}
}

// Where the suspended device's writers wait (/proc/PID/stack): fsync's
// wait for write-back (mm/filemap.c, mm/page-writeback.c) and the
// O_DIRECT wait for its bios (fs/iomap/direct-io.c).
var (
	writebackWaitFuncs = []string{"folio_wait_writeback", "__filemap_fdatawait_range"}
	directIOWaitFuncs  = []string{"__iomap_dio_rw", "iomap_dio_rw"}
)

func checkDMSuspended(t *testing.T, rec *truth.Record, role roleFunc) {
	wantTask(t, "dm.writer", role("dm.writer"), 'D', writebackWaitFuncs...)
	wantTask(t, "dm.direct", role("dm.direct"), 'D', directIOWaitFuncs...)
	// The throttled writer wakes every 200 ms to look at the dirty
	// counts again (mm/page-writeback.c balance_dirty_pages): read at
	// such a moment it is R, and /proc/PID/stack is empty (x86_64) or
	// still ends in balance_dirty_pages (arm64).
	if tk := role("dm.throttled"); tk != nil {
		switch {
		case tk.State == 'R' && (len(tk.Stack) == 0 || tk.InStack("balance_dirty_pages")):
		case len(tk.Stack) == 0:
			wantTask(t, "dm.throttled", tk, 'D')
		default:
			wantTask(t, "dm.throttled", tk, 'D', "balance_dirty_pages")
		}
	}
	m := rec.Meta
	if m["dm.dirty_bytes"] != "1048576" {
		t.Errorf("meta dm.dirty_bytes %q, want the 1 MiB the stager set", m["dm.dirty_bytes"])
	}
	if m["dm.name"] != "kwalk-stuck" || m["dm.sysname"] != m["dm.name"] {
		t.Errorf("meta dm.name %q, dm.sysname %q (/sys/block/%s/dm/name), want kwalk-stuck", m["dm.name"], m["dm.sysname"], m["dm.disk"])
	}
	if m["dm.suspended"] != "1" {
		t.Errorf("meta dm.suspended %q (/sys/block/%s/dm/suspended), want 1", m["dm.suspended"], m["dm.disk"])
	}
	if !strings.HasPrefix(m["dm.disk"], "dm-") || len(strings.Fields(m["dm.inflight"])) != 2 {
		t.Errorf("meta dm.disk %q, dm.inflight %q", m["dm.disk"], m["dm.inflight"])
	}
	mnt := rec.Mount(m["dm.mount"])
	if mnt == nil || mnt.FSType != "ext2" {
		t.Fatalf("dm mount %q: %+v, want an ext2", m["dm.mount"], mnt)
	}
	if dev := fmt.Sprintf("%d:%d", mnt.Major, mnt.Minor); dev != m["dm.dev"] {
		t.Errorf("meta dm.dev %q, mountinfo of %s says %s", m["dm.dev"], m["dm.mount"], dev)
	}
}

// inStackPrefix reports whether a frame of tk's stack is fn or a
// compiler-made copy of it (fn.part.0, fn.constprop.0).
func inStackPrefix(tk *truth.Task, fn string) bool {
	for _, f := range tk.Stack {
		if f.Func == fn || strings.HasPrefix(f.Func, fn+".") {
			return true
		}
	}
	return false
}

// Where the NBD readers wait (/proc/PID/stack): the buffered reader for its
// locked page (mm/filemap.c), the O_DIRECT reader for its bio
// (block/fops.c).
var (
	nbdReadWaitFuncs   = []string{"folio_wait_bit_common", "folio_put_wait_locked", "__folio_lock_killable", "filemap_update_page"}
	nbdDirectWaitFuncs = []string{"__blkdev_direct_IO_simple", "__blkdev_direct_IO", "blkdev_direct_IO", "__blkdev_direct_IO_async"}
)

func checkNBD(t *testing.T, rec *truth.Record, role roleFunc) {
	wantTask(t, "nbd.reader", role("nbd.reader"), 'D', nbdReadWaitFuncs...)
	wantTask(t, "nbdtcp.reader", role("nbdtcp.reader"), 'D', nbdDirectWaitFuncs...)
	wantTask(t, "nbd.server", role("nbd.server"), 'T')
	wantTask(t, "nbdtcp.server", role("nbdtcp.server"), 'S')
	wantTask(t, "nbdtcp.tagwait", role("nbdtcp.tagwait"), 'D', "blk_mq_get_tag")
	for _, n := range []string{"nbd", "nbdtcp"} {
		c := role(n + ".client")
		wantTask(t, n+".client", c, 'S')
		if c != nil && rec.Meta[n+".pid"] != fmt.Sprint(c.TID) {
			t.Errorf("meta %s.pid %q (/sys/block/%s/pid), want the client %d", n, rec.Meta[n+".pid"], rec.Meta[n+".dev"], c.TID)
		}
		if f := strings.Fields(rec.Meta[n+".inflight"]); len(f) != 2 || f[0] == "0" {
			t.Errorf("meta %s.inflight %q (/sys/block/%s/inflight), want a read in flight", n, rec.Meta[n+".inflight"], rec.Meta[n+".dev"])
		}
	}
}
