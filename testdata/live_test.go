package testdata_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/testdata/truth"
)

// The guests run kwalk against their own running kernel (/proc/kcore) after
// writing their record (testdata/hangfs/live.go); these tests compare what
// the live runs printed with that record.

// pfKthread is PF_KTHREAD (include/linux/sched.h).
const pfKthread = 0x00200000

// liveDumps returns the dumps whose console holds live runs, skipping
// (loudly) those made by an older generator without them.
func liveDumps(t *testing.T) []*testdata.Dump {
	t.Helper()
	var out []*testdata.Dump
	for _, d := range append(testdata.Require(t, testdata.Filter{}), testdata.Arm64Dumps(t)...) {
		switch {
		case d.Truth == nil:
			t.Errorf("%s: no record", d.ID())
		case d.Truth.Live == nil && skippedLive(d.Truth.LiveNotes):
			t.Logf("SKIP %s: the guest skips live runs: %q", d.ID(), d.Truth.LiveNotes)
		case d.Truth.Live == nil && len(d.Truth.LiveNotes) > 0:
			t.Errorf("%s: the guest ran no kwalk live: %q (console %s/%s)", d.ID(), d.Truth.LiveNotes, d.Dir, d.Console)
		case d.Truth.Live == nil:
			t.Logf("SKIP %s: its console has no KWALK-LIVE sections (made by an older generator; remake it: go run ./testdata/gen -only %s -force)", d.ID(), d.ID())
		default:
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		t.Skip("no dump with live runs (go run ./testdata/gen)")
	}
	return out
}

// skippedLive reports whether the guest says it left the live runs out
// (the scale guest).
func skippedLive(notes []string) bool {
	for _, n := range notes {
		if strings.HasPrefix(n, "skipped ") {
			return true
		}
	}
	return false
}

// liveRun returns the run of args, failing when the guest did not run it.
func liveRun(t *testing.T, d *testdata.Dump, args string) truth.LiveRun {
	t.Helper()
	r, ok := d.Truth.Live[args]
	if !ok {
		t.Fatalf("%s: no live run of %q (runs: %v; notes %q)", d.ID(), args, keys(d.Truth.Live), d.Truth.LiveNotes)
	}
	t.Logf("kwalk %s: rc=%d in %d ms, %d bytes", args, r.RC, r.Millis, len(r.Output))
	return r
}

func keys(m map[string]truth.LiveRun) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestLiveSys(t *testing.T) {
	for _, d := range liveDumps(t) {
		t.Run(d.ID(), func(t *testing.T) {
			r := liveRun(t, d, "sys")
			if r.RC != 0 {
				t.Fatalf("kwalk sys exited %d:\n%s", r.RC, r.Output)
			}
			rel := d.Truth.Release()
			if rel == "" || !strings.Contains(r.Output, rel) {
				t.Errorf("kwalk sys does not print the guest's release %q:\n%s", rel, r.Output)
			}
			// A kernel whose VMCOREINFO names its kallsyms tables (6.0+)
			// is read through them live as in its dump: kcore's reads
			// are exact (they once raced on kcore's bounce buffer, which
			// corrupted kallsyms and per-CPU offsets at random).
			if vmcoreinfoNamesKallsyms(t, d) && !strings.Contains(r.Output, "kallsyms from dump memory (VMCOREINFO)") {
				t.Errorf("kwalk sys did not read kallsyms through VMCOREINFO live:\n%s", r.Output)
			}
		})
	}
}

// vmcoreinfoNamesKallsyms reports whether the dump's VMCOREINFO has
// SYMBOL(kallsyms_names) (kernel/vmcore_info.c, 6.0+).
func vmcoreinfoNamesKallsyms(t *testing.T, d *testdata.Dump) bool {
	t.Helper()
	formats := d.Formats()
	if len(formats) == 0 {
		t.Fatalf("%s: no dump file", d.ID())
	}
	k, err := kcore.Open(d.Path(formats[0]), kcore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	v := k.VMCoreInfo()
	if v == nil {
		t.Fatalf("%s: no VMCOREINFO", d.ID())
	}
	_, ok := v.Symbol("kallsyms_names")
	return ok
}

// psLine is one row of kwalk ps' table.
type psLine struct {
	pid   int
	state string
	comm  string
}

// parsePs reads kwalk ps' table: PID PPID CPU TASK ST %MEM VSZ RSS COMM,
// rows of the active task on a CPU marked with a leading '>'.
func parsePs(out string) map[int][]psLine {
	rows := map[int][]psLine{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), ">"))
		if len(f) < 9 {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		comm := strings.Join(f[8:], " ")
		if strings.HasPrefix(comm, "[") && strings.HasSuffix(comm, "]") {
			comm = comm[1 : len(comm)-1]
		}
		rows[pid] = append(rows[pid], psLine{pid: pid, state: f[4], comm: comm})
	}
	return rows
}

func TestLivePs(t *testing.T) {
	for _, d := range liveDumps(t) {
		t.Run(d.ID(), func(t *testing.T) {
			r := liveRun(t, d, "ps")
			if r.RC != 0 {
				t.Fatalf("kwalk ps exited %d:\n%s", r.RC, r.Output)
			}
			rows := parsePs(r.Output)
			rec := d.Truth
			staged := map[int]string{}
			for role, pid := range rec.Roles {
				staged[pid] = role
			}
			missingK := 0
			for i := range rec.Tasks {
				tk := &rec.Tasks[i]
				got, ok := rows[tk.TID]
				if !ok {
					// Kernel threads (kworkers) come and go between the
					// record and the live run; user tasks here do not.
					if tk.HasFlags && tk.Flags&pfKthread != 0 {
						missingK++
						continue
					}
					t.Errorf("recorded task %d (%s, %c) not in live ps", tk.TID, tk.Comm, tk.State)
					continue
				}
				// /proc shows a kworker's workqueue after its comm
				// ("kworker/0:0-rcu_gp", fs/proc/array.c
				// proc_task_name); ps prints task->comm.
				kthread := tk.HasFlags && tk.Flags&pfKthread != 0
				if !tk.CommMatches(got[0].comm) && !(kthread && strings.HasPrefix(tk.Comm, got[0].comm)) {
					t.Errorf("task %d: live ps comm %q, record %q", tk.TID, got[0].comm, tk.Comm)
				}
				role, isStaged := staged[tk.PID]
				// A throttled writer wakes every 200 ms to look at the
				// dirty counts again (mm/page-writeback.c): R at times.
				pacing := rec.Varies(tk.TID) && got[0].state == "R"
				if isStaged && tk.State == 'D' && got[0].state != "D" && !pacing {
					t.Errorf("staged %s task %d (%s): live ps state %s, record D", role, tk.TID, tk.Comm, got[0].state)
				}
			}
			for role, pid := range rec.Roles {
				if _, ok := rows[pid]; !ok {
					t.Errorf("role %s pid %d not in live ps", role, pid)
				}
			}
			if missingK > 0 {
				t.Logf("%d recorded kernel threads gone by the live run", missingK)
			}
			t.Logf("live ps: %d rows, record %d tasks", len(rows), len(rec.Tasks))
		})
	}
}

// wantDeadlockRC is kwalk deadlock's exit status for d's guest: 2 (a cycle)
// with the reenter, kmod and ufutex (ABBA) scenarios, 1 (stuck, no cycle) with other hangs (the
// stuck guest's included), 0 when nothing is staged.
func wantDeadlockRC(d *testdata.Dump) int {
	switch {
	case d.Has(testdata.ScenarioReenter), d.Has(testdata.ScenarioKmod), d.Has(testdata.ScenarioUfutex):
		return 2
	case d.Has(testdata.ScenarioSquare), d.Has(testdata.ScenarioNetflix),
		d.Has(testdata.ScenarioFrozen), d.Has(testdata.ScenarioFolio), d.Has(testdata.ScenarioMutex),
		d.Has(testdata.ScenarioVfork), d.Has(testdata.ScenarioDMSuspended), d.Has(testdata.ScenarioJbd2):
		return 1
	}
	return 0
}

func TestLiveDeadlock(t *testing.T) {
	for _, d := range liveDumps(t) {
		t.Run(d.ID(), func(t *testing.T) {
			r := liveRun(t, d, "deadlock")
			if want := wantDeadlockRC(d); r.RC != want {
				t.Errorf("kwalk deadlock exited %d, want %d:\n%s", r.RC, want, r.Output)
			}
		})
	}
}

// The parts of docs/deadlock-json.md (schema 1) the live test reads.
type liveReport struct {
	Schema   int         `json:"schema"`
	Status   string      `json:"status"`
	ExitCode int         `json:"exit_code"`
	Cycles   int         `json:"cycles"`
	Chains   []liveChain `json:"chains"`
	Warnings []string    `json:"warnings"`
	Error    string      `json:"error"`
}

type liveChain struct {
	Root struct {
		Kind    string                    `json:"kind"`
		Summary string                    `json:"summary"`
		Task    *liveTask                 `json:"task"`
		Holders []struct{ Task liveTask } `json:"holders"`
	} `json:"root"`
	Path   []struct{ Task liveTask } `json:"path"`
	Others []struct{ Task liveTask } `json:"others"`
}

type liveTask struct {
	PID  int    `json:"pid"`
	TGID int    `json:"tgid"`
	Comm string `json:"comm"`
}

// tgids lists the thread groups of c's blocked tasks.
func (c *liveChain) tgids() map[int]bool {
	m := map[int]bool{}
	for _, w := range c.Path {
		m[w.Task.TGID] = true
	}
	for _, w := range c.Others {
		m[w.Task.TGID] = true
	}
	return m
}

func TestLiveDeadlockJSON(t *testing.T) {
	for _, d := range liveDumps(t) {
		t.Run(d.ID(), func(t *testing.T) {
			r := liveRun(t, d, "deadlock --json")
			want := wantDeadlockRC(d)
			if r.RC != want {
				t.Errorf("kwalk deadlock --json exited %d, want %d", r.RC, want)
			}
			var rep liveReport
			if err := json.Unmarshal([]byte(r.Output), &rep); err != nil {
				t.Fatalf("kwalk deadlock --json: %v:\n%s", err, r.Output)
			}
			if rep.Schema != 1 || rep.ExitCode != r.RC {
				t.Errorf("schema %d exit_code %d (status %q), want schema 1 and the exit status %d", rep.Schema, rep.ExitCode, rep.Status, r.RC)
			}
			for _, w := range rep.Warnings {
				t.Logf("warning: %s", w)
			}
			for _, c := range rep.Chains {
				t.Logf("chain %s: %s", c.Root.Kind, c.Root.Summary)
			}
			roles := d.Truth.Roles
			// chainOf returns the chain whose blocked tasks include thread
			// group tgid.
			chainOf := func(tgid int) *liveChain {
				for i := range rep.Chains {
					if rep.Chains[i].tgids()[tgid] {
						return &rep.Chains[i]
					}
				}
				return nil
			}
			checks := []struct {
				scenario, role, kind string
				rootRole             string // the role whose task is the root's task
				holderRole           string // a role among the root's holders
				with                 []string
			}{
				{testdata.ScenarioSquare, "square.dd", "fuse-server-not-answering", "square.dd", "square.server",
					[]string{"square.truncate", "square.rm", "square.touch"}},
				{testdata.ScenarioReenter, "reenter.dd", "cycle", "", "", []string{"reenter.server"}},
				{testdata.ScenarioNetflix, "netflix.server", "fuse-server-is-waiter", "netflix.server", "",
					[]string{"netflix.init"}},
				// The stuck2 guest.
				{testdata.ScenarioPIFutex, "pifutex.waiter", "holder-not-blocked", "pifutex.waiter", "pifutex.holder", nil},
				{testdata.ScenarioVfork, "vfork.parent", "vfork-child", "vfork.parent", "vfork.child", nil},
				{testdata.ScenarioCgroupFrozen, "cgfrozen.waiter", "holder-stopped", "cgfrozen.waiter", "cgfrozen.holder", nil},
				{testdata.ScenarioPtraced, "ptraced.waiter", "holder-stopped", "ptraced.waiter", "ptraced.holder", nil},
				{testdata.ScenarioDMSuspended, "dm.writer", "block-device-suspended", "", "", []string{"dm.direct"}},
				// The stuck3 guest.
				{testdata.ScenarioJbd2, "jbd2.fsync", "block-device-suspended", "", "", []string{"jbd2.thread"}},
				{testdata.ScenarioCoredump, "coredump.dumper", "block-device-suspended", "", "", nil},
				{testdata.ScenarioSyncWB, "syncwb.sync", "block-device-suspended", "", "", []string{"syncwb.worker"}},
				{testdata.ScenarioMmapLock, "mm.ps", "fuse-server-not-answering", "mm.reader", "mm.server", []string{"mm.owner"}},
				{testdata.ScenarioLoopFuse, "loop.reader", "fuse-server-not-answering", "", "loop.server", nil},
				{testdata.ScenarioFuseInit, "noinit.reader", "fuse-server-not-answering", "noinit.reader", "noinit.server", nil},
				{testdata.ScenarioFuseWB, "fusewb.truncate", "fuse-server-not-answering", "fusewb.fsync", "fusewb.server", []string{"fusewb.fsync"}},
				{testdata.ScenarioFuseLock, "fuselock.reader", "fuse-server-not-answering", "fuselock.writer", "fuselock.server", []string{"fuselock.writer"}},
				{testdata.ScenarioNFS, "nfs.truncate2", "holder-stopped", "nfs.truncate", "nfs.server", []string{"nfs.truncate"}},
			}
			for _, ck := range checks {
				if !d.Has(ck.scenario) {
					continue
				}
				pid, ok := roles[ck.role]
				if !ok {
					t.Errorf("record names no %s", ck.role)
					continue
				}
				c := chainOf(pid)
				if c == nil {
					t.Errorf("%s: no chain holds %s (pid %d)", ck.scenario, ck.role, pid)
					continue
				}
				if c.Root.Kind != ck.kind {
					t.Errorf("%s: %s's chain has root %s, want %s: %s", ck.scenario, ck.role, c.Root.Kind, ck.kind, c.Root.Summary)
				}
				if ck.rootRole != "" && (c.Root.Task == nil || c.Root.Task.TGID != roles[ck.rootRole]) {
					t.Errorf("%s: root task %+v, want %s (pid %d)", ck.scenario, c.Root.Task, ck.rootRole, roles[ck.rootRole])
				}
				if ck.holderRole != "" {
					found := false
					for _, h := range c.Root.Holders {
						found = found || h.Task.TGID == roles[ck.holderRole]
					}
					if !found {
						t.Errorf("%s: root holders %+v lack %s (pid %d)", ck.scenario, c.Root.Holders, ck.holderRole, roles[ck.holderRole])
					}
				}
				for _, w := range ck.with {
					if !c.tgids()[roles[w]] {
						t.Errorf("%s: %s (pid %d) is not in %s's chain", ck.scenario, w, roles[w], ck.role)
					}
				}
			}
			if d.Has(testdata.ScenarioFrozen) || d.Guest.Name == testdata.GuestStuck2 || d.Guest.Name == testdata.GuestStuck3 || d.Guest.Name == testdata.GuestKmod {
				// The stuck guests: their tasks in D are in chains, their
				// benign sleepers in none. Roles there may name threads.
				inChain := map[int]bool{}
				for _, c := range rep.Chains {
					for _, w := range c.Path {
						inChain[w.Task.PID] = true
					}
					for _, w := range c.Others {
						inChain[w.Task.PID] = true
					}
				}
				for name, tid := range roles {
					tk := d.Truth.Task(tid)
					switch {
					case strings.HasPrefix(name, "benign.") && inChain[tid]:
						t.Errorf("benign sleeper %s (tid %d) reported stuck", name, tid)
					case name == "dm.throttled":
						// It wakes every 200 ms to re-check the dirty
						// counts (mm/page-writeback.c): the live run may
						// catch it running, which is no wait.
					case tk != nil && tk.State == 'D' && !inChain[tid]:
						t.Errorf("%s (tid %d) is in D but in no chain", name, tid)
					}
				}
			}
			if want == 0 && len(rep.Chains) != 0 {
				t.Errorf("%d chains on a guest with nothing staged", len(rep.Chains))
			}
		})
	}
}
