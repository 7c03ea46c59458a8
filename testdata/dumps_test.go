package testdata

import (
	"os"
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
			for _, f := range []Format{FormatELF, FormatKdumpZlibFlat} {
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
	for _, d := range Require(t, Filter{Guest: GuestHangs}) {
		t.Run(d.ID(), func(t *testing.T) {
			edges := d.Edges()
			if len(edges) == 0 {
				t.Fatal("no edges for a hangs guest")
			}
			for _, e := range edges {
				wpid, ok1 := d.Truth.Roles[e.Waiter]
				_, ok2 := d.Truth.Roles[e.Holder]
				if !ok1 || !ok2 {
					t.Errorf("edge %+v: role missing from the record", e)
					continue
				}
				blocked := false
				for _, th := range d.Truth.Threads(wpid) {
					blocked = blocked || th.State == 'D' || th.InStack("request_wait_answer") || th.InStack("do_wait")
				}
				if !blocked {
					t.Errorf("edge %+v: no thread of pid %d is blocked", e, wpid)
				}
			}
		})
	}
}
