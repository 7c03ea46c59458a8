package rcu_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/rcu"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// rcu_state decodes on every dump: a known gp_state, a node tree whose
// leaves cover the possible CPUs, the grace-period kthread the guest's
// record names; on the guests where nothing is stuck no grace period has
// lasted long.
func TestReadRealDumps(t *testing.T) {
	for _, d := range testdata.Require(t, testdata.Filter{Format: testdata.FormatKdumpZlib}) {
		t.Run(d.ID(), func(t *testing.T) {
			p := walktest.OpenReal(t, testdata.RealDump{Path: d.Path(testdata.FormatKdumpZlib)})
			s := checkState(t, p, d)
			if d.Guest.Name == testdata.GuestIdle || d.Guest.Name == testdata.GuestScale {
				if s.InProgress && (!s.HasAge || s.Age > 10*time.Second) {
					t.Errorf("grace period %d in progress (%s), age %v (known %v): stalled on a guest where nothing is stuck",
						s.GP, rcu.GPStateName(s.GPState), s.Age, s.HasAge)
				}
				if len(s.BlockingReaders()) > 0 {
					t.Errorf("blocking readers %v on a guest where nothing is stuck", s.BlockingReaders())
				}
			}
			t.Logf("%s: gp %d in progress %v (%s) age %v, %d nodes, pending CPUs %v, readers %d, exp seq %#x",
				s.Name, s.GP, s.InProgress, rcu.GPStateName(s.GPState), s.Age, len(s.Nodes), s.PendingCPUs(), len(s.BlockingReaders()), s.ExpSeq)
		})
	}
}

// The arm64 dumps, read with nothing but the dump (Debian's arm64 kallsyms
// has no data symbols: rcu_state is found through the code that uses it,
// symbols/datasyms_textref.go) and, where the -dbg package is unpacked,
// with its System.map too: both readings must find the same rcu_state.
func TestReadRealDumpArm64(t *testing.T) {
	testdata.EachArm64(t, testdata.GuestHangs, func(t *testing.T, d *testdata.Dump) {
		p, err := kwalk.Open(d.Path(testdata.FormatKdumpZlib), kwalk.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := checkState(t, p, d)
		if d.DebugRoot == "" {
			t.Logf("no -dbg package unpacked: rcu_state not compared with System.map")
			return
		}
		sysMap := filepath.Join(d.DebugRoot, "boot", "System.map-"+d.Truth.Release())
		if _, err := os.Stat(sysMap); err != nil {
			t.Fatal(err)
		}
		pm, err := kwalk.Open(d.Path(testdata.FormatKdumpZlib), kwalk.Options{SystemMap: sysMap})
		if err != nil {
			t.Fatal(err)
		}
		if sm := checkState(t, pm, d); sm.Addr != s.Addr {
			t.Errorf("rcu_state at %#x from the code, %#x from System.map", s.Addr, sm.Addr)
		}
	})
}

// checkState reads rcu_state and checks it against the dump's CPUs and
// the guest's record.
func checkState(t *testing.T, p *symbols.Program, d *testdata.Dump) *rcu.State {
	t.Helper()
	s, err := rcu.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Errors) > 0 {
		t.Errorf("errors: %v", s.Errors)
	}
	if s.GPState < 0 || s.GPState > 8 {
		t.Errorf("gp_state %d", s.GPState)
	}
	if s.Name != "rcu_preempt" && s.Name != "rcu_sched" {
		t.Errorf("name %q", s.Name)
	}
	cpus, err := p.PossibleCPUs()
	if err != nil {
		t.Fatal(err)
	}
	covered := map[int]bool{}
	leaves := 0
	for _, n := range s.Nodes {
		if !n.Leaf {
			continue
		}
		leaves++
		for c := n.GrpLo; c <= n.GrpHi; c++ {
			covered[c] = true
		}
	}
	for _, c := range cpus {
		if !covered[c] {
			t.Errorf("CPU %d in no leaf rcu_node (%d nodes, %d leaves)", c, len(s.Nodes), leaves)
		}
	}
	for _, c := range s.PendingCPUs() {
		if !covered[c] {
			t.Errorf("pending CPU %d outside the leaves", c)
		}
	}
	ref, err := sched.TaskRefAt(p, s.GPKthread)
	if err != nil {
		t.Fatalf("gp_kthread %#x: %v", s.GPKthread, err)
	}
	found := false
	for _, tk := range d.Truth.Tasks {
		if tk.TID == ref.PID {
			found = true
			if tk.Comm != s.Name || ref.Comm != s.Name {
				t.Errorf("gp_kthread pid %d is %q in the dump, %q in the record; rcu_state.name %q", ref.PID, ref.Comm, tk.Comm, s.Name)
			}
		}
	}
	if !found {
		t.Errorf("gp_kthread pid %d (%s) not in the record", ref.PID, ref.Comm)
	}
	return s
}
