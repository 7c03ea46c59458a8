package waitfor_test

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/waitfor"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// rootKinds are the root causes the stuck guest's scenarios must be given:
// the roles of a scenario whose waits must end in a chain of that root.
var rootKinds = map[string]string{
	"frozen.writer1":     "filesystem-frozen",
	"frozen.writer2":     "filesystem-frozen",
	"frozen.writer3":     "filesystem-frozen",
	"locks.flock.waiter": "file-lock-held",
	"locks.posix.waiter": "file-lock-held",
	"locks.ofd.waiter":   "file-lock-held",
	"locks.chain.a":      "file-lock-held",
	"stopped.waiter":     waitfor.RootHolderStopped,
	"stopped.client":     waitfor.RootHolderStopped,
	"folio.reader2":      waitfor.RootFuseNotAnswering,
	"mutex.waiter":       waitfor.RootFuseNotAnswering,
	// The stuck2 guest.
	"pifutex.waiter":  waitfor.RootHolderNotBlocked,
	"vfork.parent":    waitfor.RootVforkChild,
	"cgfrozen.waiter": waitfor.RootHolderStopped,
	"ptraced.waiter":  waitfor.RootHolderStopped,
	"dm.writer":       waitfor.RootBlockSuspended,
	"dm.direct":       waitfor.RootBlockSuspended,
	"dm.throttled":    waitfor.RootBlockSuspended,
	"nbd.reader":      waitfor.RootHolderStopped,
	"nbdtcp.reader":   waitfor.RootBlockServer,
	"nbdtcp.tagwait":  waitfor.RootBlockServer,
	// The stuck3 guest.
	"jbd2.fsync":       waitfor.RootBlockSuspended,
	"jbd2.thread":      waitfor.RootBlockSuspended,
	"coredump.dumper":  waitfor.RootBlockSuspended,
	"coredump.blocker": waitfor.RootBlockSuspended,
	"syncwb.sync":      waitfor.RootBlockSuspended,
	"syncwb.worker":    waitfor.RootBlockSuspended,
	"loop.reader":      waitfor.RootFuseNotAnswering,
	"loop.worker":      waitfor.RootFuseNotAnswering,
	"loop.freezer":     waitfor.RootFuseNotAnswering,
	"loop.entrant":     waitfor.RootFuseNotAnswering,
	"mm.reader":        waitfor.RootFuseNotAnswering,
	"mm.owner":         waitfor.RootFuseNotAnswering,
	"mm.ps":            waitfor.RootFuseNotAnswering,
	"noinit.reader":    waitfor.RootFuseNotAnswering,
	"fusewb.fsync":     waitfor.RootFuseNotAnswering,
	"fusewb.truncate":  waitfor.RootFuseNotAnswering,
	"nfs.mkdir":        waitfor.RootHolderStopped,
	"nfs.truncate":     waitfor.RootHolderStopped,
	"nfs.truncate2":    waitfor.RootHolderStopped,
	"nfs.folio":        waitfor.RootHolderStopped,
	"fuselock.reader":  waitfor.RootFuseNotAnswering,
	"fuselock.writer":  waitfor.RootFuseNotAnswering,
	// The ufutex scenario (kmod guest, x86 stuck3 guests).
	"ufutex.a":         waitfor.RootCycle,
	"ufutex.b":         waitfor.RootCycle,
	"ufutex.c":         waitfor.RootCycle,
	"ufutex.flockwait": "file-lock-held",
	"ufutex.d":         "file-lock-held",
	// The kmod guest.
	"kmod.abba.a":           waitfor.RootCycle,
	"kmod.abba.b":           waitfor.RootCycle,
	"kmod.kstop.stoppee":    waitfor.RootCycle,
	"kmod.kstop.stopper":    waitfor.RootCycle,
	"kmod.rt.waiter":        waitfor.RootHolderNotBlocked,
	"kmod.rwsem.writer":     waitfor.RootHolderNotBlocked,
	"kmod.io.waiter":        waitfor.RootHolderNotBlocked,
	"kmod.ww.waiter":        waitfor.RootHolderNotBlocked,
	"kmod.flush.flusher":    waitfor.RootHolderNotBlocked,
	"kmod.flush.worker":     waitfor.RootHolderNotBlocked,
	"kmod.cancel.canceller": waitfor.RootHolderNotBlocked,
	"kmod.wqflush.flusher":  waitfor.RootHolderNotBlocked,
	"kmod.kwork.flusher":    waitfor.RootHolderNotBlocked,
	"kmod.kwork.worker":     waitfor.RootHolderNotBlocked,
	"kmod.rcu.sync":         waitfor.RootRCUStall,
	"kmod.rcu.exp":          waitfor.RootRCUStall,
	"kmod.srcu.sync":        waitfor.RootSRCUStall,
}

// objectNames are how the waits of some roles must name their object (its
// kind, where the wait's kind is shared: a ww_mutex waits in the mutex
// slowpath).
var objectNames = map[string]string{
	"kmod.ww.waiter":  "ww_mutex kwalk_ww",
	"kmod.io.waiter":  "mutex kwalk_mutex_c",
	"kmod.rt.waiter":  "rt_mutex kwalk_rtmutex",
	"kmod.sem.waiter": "semaphore kwalk_sem",
	"kmod.srcu.sync":  "an SRCU grace period of kwalk_srcu [kwalk_hang]",
}

// hintedHolders are holders of waits whose kernels may record them (a
// semaphore's last_holder): when the report names holders, these are
// among them.
var hintedHolders = map[string]string{
	"kmod.sem.waiter": "kmod.holder",
}

// TestDeadlockStagedEdges checks every wait-for edge every generated dump
// stages (testdata.Edges) against the report: the waiting role has a wait
// whose holders include the holding role, and its chain has the root cause
// a user needs. Benign sleepers are in no wait.
func TestDeadlockStagedEdges(t *testing.T) {
	dumps := testdata.Require(t, testdata.Filter{Format: testdata.FormatKdumpZlibFlat})
	// The aarch64 guests, read with nothing but the dump (no System.map).
	for _, d := range testdata.Arm64Dumps(t) {
		if d.Path(testdata.FormatKdumpZlibFlat) != "" {
			dumps = append(dumps, d)
		}
	}
	for _, d := range dumps {
		edges := d.Edges()
		if len(edges) == 0 {
			continue
		}
		t.Run(d.ID(), func(t *testing.T) {
			p := openDump(t, d.Path(testdata.FormatKdumpZlibFlat))
			defer p.Dump.Close()
			rep := mustDeadlock(t, p)
			roles := d.Truth.Roles
			waitsOf := func(pid int) []*waitkind.TaskWait {
				var out []*waitkind.TaskWait
				for i := range rep.Waits {
					w := &rep.Waits[i]
					if w.Task.PID == pid || w.Task.TGID == pid {
						out = append(out, w)
					}
				}
				return out
			}
			rootOf := map[uint64]string{}
			for _, c := range rep.Chains {
				for _, w := range append(append([]waitkind.TaskWait(nil), c.Path...), c.Others...) {
					rootOf[w.Task.Addr] = c.Root.Kind
				}
			}
			checked := 0
			for _, e := range edges {
				wp, ok := roles[e.Waiter]
				if !ok {
					t.Errorf("%s: role %s not in the record", e.Via, e.Waiter)
					continue
				}
				ws := waitsOf(wp)
				if len(ws) == 0 {
					t.Errorf("%s (pid %d) waits for %s: no wait reported", e.Waiter, wp, e.Via)
					continue
				}
				if e.Holder != "" {
					hp := roles[e.Holder]
					found := false
					for _, w := range ws {
						for _, h := range w.Holders {
							found = found || h.Task.PID == hp || h.Task.TGID == hp
						}
					}
					if !found {
						t.Errorf("%s (pid %d) waits for %s: holder %s (pid %d) not among the holders of %s", e.Waiter, wp, e.Via, e.Holder, hp, describeWaits(ws))
					}
				}
				if h, ok := hintedHolders[e.Waiter]; ok && len(ws[0].Holders) > 0 {
					hp, found := roles[h], false
					for _, x := range ws[0].Holders {
						found = found || x.Task.PID == hp
					}
					if !found {
						t.Errorf("%s (pid %d): hinted holders %s, want %s (pid %d) among them", e.Waiter, wp, describeWaits(ws[:1]), h, hp)
					}
				}
				if want, ok := objectNames[e.Waiter]; ok && !strings.HasPrefix(ws[0].Object.What, want) {
					t.Errorf("%s (pid %d): waits on %q, want it named %q…", e.Waiter, wp, ws[0].Object.What, want)
				}
				if want, ok := rootKinds[e.Waiter]; ok {
					got := rootOf[ws[0].Task.Addr]
					if got != want {
						t.Errorf("%s (pid %d): chain root %q, want %q (%s)", e.Waiter, wp, got, want, describeWaits(ws))
					}
				}
				checked++
			}
			for role, pid := range roles {
				if strings.HasPrefix(role, "benign.") {
					for _, w := range waitsOf(pid) {
						t.Errorf("benign sleeper %s (pid %d) reported: %s", role, pid, w.Object.What)
					}
				}
			}
			t.Logf("%d staged edges checked", checked)
		})
	}
}

func describeWaits(ws []*waitkind.TaskWait) string {
	var parts []string
	for _, w := range ws {
		var hs []string
		for _, h := range w.Holders {
			hs = append(hs, h.Task.String())
		}
		parts = append(parts, w.Kind+" on "+w.Object.What+" held by ["+strings.Join(hs, ", ")+"]")
	}
	return strings.Join(parts, "; ")
}
