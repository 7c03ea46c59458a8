package workqueue_test

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/walktest"
	"github.com/kwalk/kwalk/walkers/workqueue"
)

// The pools' workers are the guest's kworkers, and the busy ones are
// those the record shows in process_one_work.
func TestPoolsAgainstRecords(t *testing.T) {
	for _, d := range testdata.Require(t, testdata.Filter{Format: testdata.FormatKdumpZlib}) {
		t.Run(d.ID(), func(t *testing.T) {
			p := walktest.OpenReal(t, testdata.RealDump{Path: d.Path(testdata.FormatKdumpZlib)})
			pools, err := workqueue.Pools(p)
			if err != nil {
				t.Fatal(err)
			}
			workers, idle := 0, 0
			for _, pl := range pools {
				if pl.BH {
					continue // its worker is no task
				}
				workers += pl.NrWorkers
				idle += pl.NrIdle
				if pl.NrIdle > pl.NrWorkers {
					t.Errorf("pool %d: %d idle of %d workers", pl.ID, pl.NrIdle, pl.NrWorkers)
				}
			}
			kworkers, inWork := 0, map[int]bool{}
			for i := range d.Truth.Tasks {
				tk := &d.Truth.Tasks[i]
				// Rescuers are not pool workers (6.9+ names them
				// kworker/R-WQ, earlier kernels after the workqueue:
				// "nbd1-recv"), though one running a work item
				// (rescuer_thread → process_one_work: nbd's recv_work) is
				// on the pool's busy hash while it does.
				if tk.InStack("process_one_work") {
					inWork[tk.TID] = true
				}
				if !strings.HasPrefix(tk.Comm, "kworker/") {
					continue
				}
				if !strings.HasPrefix(tk.Comm, "kworker/R-") {
					kworkers++
				}
			}
			// A pool's manager starts and reaps idle workers at any time: one
			// or two may come or go between the record and the dump.
			if d := workers - kworkers; d < -2 || d > 2 {
				t.Errorf("pools count %d workers, the record %d kworkers", workers, kworkers)
			}
			busy := map[int]bool{}
			for _, pl := range pools {
				for _, w := range pl.Busy {
					ref, err := sched.TaskRefAt(p, w.Task)
					if err != nil {
						t.Errorf("busy worker %#x: task %#x: %v", w.Addr, w.Task, err)
						continue
					}
					busy[ref.PID] = true
					if w.CurrentFunc == 0 || w.CurrentWork == 0 {
						t.Errorf("busy worker %d runs no work", ref.PID)
					}
				}
			}
			// A worker can finish its work between the record and the
			// dump: only one the record shows working yet the dump shows
			// idle with others also idle is tolerated, never the reverse.
			for tid := range busy {
				if !inWork[tid] {
					t.Errorf("worker %d busy in the dump, not in process_one_work in the record", tid)
				}
			}
			t.Logf("%d pools, %d workers (%d idle), %d busy", len(pools), workers, idle, len(busy))
		})
	}
}

// The workqueues list decodes on every dump: the system workqueues are
// on it, every busy worker's work was queued through a pool_workqueue of
// one of them, and on the guests where nothing is stuck no flush is in
// progress.
func TestWorkqueuesReal(t *testing.T) {
	for _, d := range testdata.Require(t, testdata.Filter{Format: testdata.FormatKdumpZlib}) {
		t.Run(d.ID(), func(t *testing.T) {
			p := walktest.OpenReal(t, testdata.RealDump{Path: d.Path(testdata.FormatKdumpZlib)})
			wqs, err := workqueue.Workqueues(p)
			if err != nil {
				t.Fatal(err)
			}
			byAddr := map[uint64]workqueue.Workqueue{}
			names := map[string]bool{}
			for _, wq := range wqs {
				byAddr[wq.Addr] = wq
				names[wq.Name] = true
				if wq.Name == "" {
					t.Errorf("workqueue %#x has no name", wq.Addr)
				}
				if n, err := workqueue.InFlight(p, wq.Addr, wq.FlushColor); err != nil || n < 0 {
					t.Errorf("workqueue %s: in flight %d: %v", wq.Name, n, err)
				}
				if (d.Guest.Name == testdata.GuestIdle || d.Guest.Name == testdata.GuestScale) && wq.FirstFlusher != 0 {
					t.Errorf("workqueue %s: a flush in progress on a guest where nothing is stuck", wq.Name)
				}
			}
			for _, n := range []string{"events", "events_unbound", "events_freezable"} {
				if !names[n] {
					t.Errorf("no workqueue %q among %d", n, len(wqs))
				}
			}
			pools, err := workqueue.Pools(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, pl := range pools {
				for _, w := range pl.Busy {
					wq, err := workqueue.PwqWorkqueue(p, w.CurrentPwq)
					if err != nil {
						t.Errorf("busy worker %#x: pwq %#x: %v", w.Addr, w.CurrentPwq, err)
					} else if _, ok := byAddr[wq]; !ok {
						t.Errorf("busy worker %#x runs work of %#x, on no workqueues list", w.Addr, wq)
					}
				}
			}
			t.Logf("%d workqueues", len(wqs))
		})
	}
}
