package waitfor

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
)

// tw builds a TaskWait of task pid waiting (kind) on an object held by the
// holder pids.
func tw(pid int, kind string, holders ...int) TaskWait {
	w := TaskWait{Task: BlockedTask{TaskRef: sched.TaskRef{Addr: uint64(0x1000 * pid), PID: pid, TGID: pid, Comm: "t"}, State: "D"},
		Kind: kind, Certain: true, Object: WaitObject{Type: "mutex", Addr: uint64(0x9000 + pid), What: "lock"}}
	for _, h := range holders {
		w.Holders = append(w.Holders, Holder{Task: sched.TaskRef{Addr: uint64(0x1000 * h), PID: h, TGID: h, Comm: "h"}, How: "mutex.owner", Certain: true})
	}
	return w
}

func fuseTW(pid int, conn uint32, holders ...int) TaskWait {
	w := tw(pid, WaitFuseRequest, holders...)
	w.Object = WaitObject{Type: "fuse_req", What: "FUSE request #2 WRITE", Fuse: &FuseReqRef{ConnID: conn, Op: "WRITE", Remedy: fuse.FuseRemedy(conn)}}
	for i := range w.Holders {
		w.Holders[i].Certain = false
		w.Holders[i].How = "FUSE server: holds /dev/fuse fd 3"
	}
	return w
}

func TestBuildChains(t *testing.T) {
	for _, tc := range []struct {
		name      string
		waits     []TaskWait
		wantKinds []string // root kinds in report order
		wantSizes []int
	}{
		{name: "nothing", waits: nil},
		{name: "two-task cycle", waits: []TaskWait{tw(1, locking.WaitMutex, 2), tw(2, locking.WaitMutex, 1)},
			wantKinds: []string{RootCycle}, wantSizes: []int{2}},
		{name: "chain to a running owner", waits: []TaskWait{tw(1, locking.WaitMutex, 2), tw(2, locking.WaitMutex, 3), tw(4, locking.WaitMutex, 2)},
			wantKinds: []string{RootHolderNotBlocked}, wantSizes: []int{3}},
		{name: "fuse server alive", waits: []TaskWait{tw(1, locking.WaitRwsemWrite, 2), fuseTW(2, 24, 50, 51)},
			wantKinds: []string{RootFuseNotAnswering}, wantSizes: []int{2}},
		{name: "fuse server is the waiter", waits: []TaskWait{tw(1, WaitPidNSExit, 2), fuseTW(2, 26, 2)},
			wantKinds: []string{RootFuseServerIsWaite}, wantSizes: []int{2}},
		{name: "fuse no server", waits: []TaskWait{fuseTW(3, 27)},
			wantKinds: []string{RootFuseNoServer}, wantSizes: []int{1}},
		{name: "cycle through a FUSE server, with a waiter behind it", waits: []TaskWait{tw(5, locking.WaitRwsemWrite, 6), fuseTW(6, 23, 5, 7), tw(8, locking.WaitRwsemWrite, 6)},
			wantKinds: []string{RootCycle}, wantSizes: []int{3}},
		{name: "unknown holder", waits: []TaskWait{tw(1, locking.WaitSemaphore)},
			wantKinds: []string{RootUnknownHolder}, wantSizes: []int{1}},
		{name: "cycle first, then by size", waits: []TaskWait{tw(1, locking.WaitMutex, 9), tw(2, locking.WaitMutex, 1), tw(3, locking.WaitMutex, 2), tw(10, locking.WaitMutex, 11), tw(11, locking.WaitMutex, 10)},
			wantKinds: []string{RootCycle, RootHolderNotBlocked}, wantSizes: []int{2, 3}},
		{name: "one holder of several locks is one root", waits: []TaskWait{tw(1, locking.WaitMutex, 9), tw(2, locking.WaitRtMutex, 9), tw(3, locking.WaitMutex, 1)},
			wantKinds: []string{RootHolderNotBlocked}, wantSizes: []int{3}},
		{name: "self-holding lock is not a cycle", waits: []TaskWait{tw(1, locking.WaitMutex, 1)},
			wantKinds: []string{RootUnknownHolder}, wantSizes: []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chains := buildChains(tc.waits)
			var kinds []string
			var sizes []int
			for _, c := range chains {
				kinds = append(kinds, c.Root.Kind)
				sizes = append(sizes, c.Blocked)
				if len(c.Story) == 0 || !strings.HasPrefix(c.Story[len(c.Story)-1], "root: ") {
					t.Errorf("story %q", c.Story)
				}
				if len(c.Path)+len(c.Others) != c.Blocked {
					t.Errorf("path %d + others %d != blocked %d", len(c.Path), len(c.Others), c.Blocked)
				}
			}
			if strings.Join(kinds, ",") != strings.Join(tc.wantKinds, ",") || len(sizes) != len(tc.wantSizes) {
				t.Fatalf("kinds %v sizes %v, want %v %v", kinds, sizes, tc.wantKinds, tc.wantSizes)
			}
			for i := range sizes {
				if sizes[i] != tc.wantSizes[i] {
					t.Errorf("sizes %v, want %v", sizes, tc.wantSizes)
				}
			}
		})
	}
}

func TestChainPathAndRemedy(t *testing.T) {
	// touch → rm → dd → FUSE server 93 (alive); truncate → dd.
	ws := []TaskWait{tw(116, locking.WaitRwsemRead, 114), tw(114, locking.WaitRwsemWrite, 110), tw(112, locking.WaitRwsemWrite, 110), fuseTW(110, 24, 93, 97)}
	chains := buildChains(ws)
	if len(chains) != 1 {
		t.Fatalf("%d chains", len(chains))
	}
	c := chains[0]
	var path []int
	for _, w := range c.Path {
		path = append(path, w.Task.PID)
	}
	if len(path) != 3 || path[0] != 116 || path[1] != 114 || path[2] != 110 {
		t.Errorf("path %v, want [116 114 110]", path)
	}
	if len(c.Others) != 1 || c.Others[0].Task.PID != 112 {
		t.Errorf("others %+v", c.Others)
	}
	rem := strings.Join(c.Remedy, "\n")
	if !strings.Contains(rem, "/sys/fs/fuse/connections/24/abort") || !strings.Contains(rem, "kill 93") {
		t.Errorf("remedy %q", rem)
	}
	if c.Root.Certain {
		t.Error("a FUSE server edge is a hint; the root must not be certain")
	}
}

func TestSCCLongCycle(t *testing.T) {
	// A ring of 50 tasks, each also waited on by a leaf.
	var ws []TaskWait
	for i := 1; i <= 50; i++ {
		ws = append(ws, tw(i, locking.WaitMutex, i%50+1), tw(100+i, locking.WaitMutex, i))
	}
	chains := buildChains(ws)
	if len(chains) != 1 || chains[0].Root.Kind != RootCycle || len(chains[0].Path) != 50 || chains[0].Blocked != 100 {
		t.Fatalf("chains: %d, first %+v", len(chains), chains[0].Root)
	}
}

func TestGuessReadersABBA(t *testing.T) {
	// rm (1) holds the VFS i_rwsem A at 0x5000 and waits on the file
	// system's reader-owned lock B at 0x5200; sendfile (2) waits on A.
	rm := tw(1, locking.WaitRwsemWrite)
	rm.Object.Addr, rm.Object.What, rm.ReaderOwned = 0x5200, "xfs i_lock", true
	sendfile := tw(2, locking.WaitRwsemWrite, 1)
	sendfile.Object.Addr, sendfile.Object.What = 0x5000, "i_rwsem"
	other := tw(3, locking.WaitRwsemWrite, 1)
	other.Object.Addr = 0x900000 // far away: another object
	ws := []TaskWait{rm, sendfile, other}
	guessReaders(ws)
	if len(ws[0].Holders) != 1 || ws[0].Holders[0].Task.PID != 2 || ws[0].Holders[0].Certain {
		t.Fatalf("holders %+v", ws[0].Holders)
	}
	chains := buildChains(ws)
	if len(chains) == 0 || chains[0].Root.Kind != RootCycle || chains[0].Root.Certain {
		t.Fatalf("want an uncertain cycle first, got %+v", chains)
	}
}

// The waits on several locks of one unblocked holder are one chain whose
// root names every lock.
func TestHolderOfSeveralLocks(t *testing.T) {
	a, b, c := tw(1, locking.WaitMutex, 9), tw(2, locking.WaitRtMutex, 9), tw(3, locking.WaitRwsemWrite, 9)
	a.Object.What, b.Object.What, c.Object.What = "mutex A", "rt_mutex T", "rw_semaphore R"
	chains := buildChains([]TaskWait{a, b, c})
	if len(chains) != 1 {
		t.Fatalf("%d chains, want 1", len(chains))
	}
	got := chains[0].Root.Summary
	for _, lock := range []string{"mutex A", "rt_mutex T", "rw_semaphore R"} {
		if !strings.Contains(got, lock) {
			t.Errorf("summary %q does not name %s", got, lock)
		}
	}
	if !strings.Contains(got, ", ") || !strings.Contains(got, " and rw_semaphore R and is not blocked") && !strings.Contains(got, " and rt_mutex T and is not blocked") && !strings.Contains(got, " and mutex A and is not blocked") {
		t.Errorf("summary %q: not one list of three locks", got)
	}
}

// A root whose one holder is not blocked says where that holder is.
func TestHolderWhereInSummary(t *testing.T) {
	w := tw(1, locking.WaitMutex, 2)
	w.Holders[0].State, w.Holders[0].Where = "S", "S in holder_fn [m] ← kthread"
	chains := buildChains([]TaskWait{w})
	if len(chains) != 1 || !strings.HasSuffix(chains[0].Root.Summary, "is not blocked on anything kwalk recognises (it is S in holder_fn [m] ← kthread)") {
		t.Errorf("chains %+v", chains)
	}
}

// A chain of RCU waits is summed up by its normal grace period's note.
func TestRCUChainSummary(t *testing.T) {
	for _, order := range [][2]int{{0, 1}, {1, 0}} {
		ws := []TaskWait{tw(1, WaitRCUExpedited, 9), tw(2, WaitRCUGracePeriod, 9)}
		ws[0].Note, ws[1].Note = "expedited RCU grace period is in progress", "RCU grace period g=-5 has lasted 10s"
		ws[0], ws[1] = ws[order[0]], ws[order[1]]
		chains := buildChains(ws)
		if len(chains) != 1 || chains[0].Root.Kind != RootRCUStall || chains[0].Root.Summary != "RCU grace period g=-5 has lasted 10s" {
			t.Errorf("order %v: chains %+v", order, chains)
		}
	}
}
