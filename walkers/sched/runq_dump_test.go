package sched

import (
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestRunqueuesMatchTasks reads every CPU's run queue on each generated
// dump and checks it against the dump's tasks and the guest's record:
// each running task (state R, as the task list decodes it) is its CPU's
// current task or queued on its CPU; every queued task is R (or a delayed
// sleeper, 6.12+) and on that CPU; the queues hold rq->nr_running tasks;
// and each task the record shows running that is still running in the
// dump is found.
func TestRunqueuesMatchTasks(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			needDataSymbols(t, p)
			qs, err := Runqueues(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			ts, err := Tasks(p)
			if err != nil {
				t.Errorf("Tasks: %v", err)
			}
			where := map[uint64]int{} // task → CPU whose queue or current it is
			for _, q := range qs {
				for _, e := range q.Errors {
					t.Errorf("cpu %d: %s", q.CPU, e)
				}
				if q.Current == nil {
					t.Errorf("cpu %d: no current task", q.CPU)
					continue
				}
				n := 0
				if !q.Idle {
					where[q.Current.Addr] = q.CPU
					n++
				}
				for _, rt := range q.Tasks() {
					if rt.Delayed {
						n++ // counted in nr_running until dequeued
						continue
					}
					if c, dup := where[rt.Addr]; dup && c != q.CPU {
						t.Errorf("pid %d queued on cpu %d and %d", rt.PID, c, q.CPU)
					}
					where[rt.Addr] = q.CPU
					n++
					if rt.State != "R" {
						t.Errorf("cpu %d: queued pid %d (%s) is in state %s", q.CPU, rt.PID, rt.Comm, rt.State)
					}
				}
				if n != q.NrRunning {
					t.Errorf("cpu %d: %d tasks running or queued, nr_running %d", q.CPU, n, q.NrRunning)
				}
			}
			running := 0
			byPID := map[int]Task{}
			for _, tk := range ts {
				if tk.Idle {
					continue
				}
				byPID[tk.PID] = tk
				if tk.State != "R" {
					continue
				}
				if tk.RawState&TaskWaking != 0 {
					// A wake-up in flight (kernel/sched/core.c
					// ttwu_queue_wakelist): /proc says R, but the task
					// waits on its CPU's wake list, on no queue yet.
					t.Logf("pid %d (%s) is TASK_WAKING: not queued yet", tk.PID, tk.Comm)
					continue
				}
				running++
				c, ok := where[tk.Addr]
				switch {
				case !ok:
					t.Errorf("pid %d (%s) is running on cpu %d but on no run queue", tk.PID, tk.Comm, tk.CPU)
				case c != tk.CPU:
					t.Errorf("pid %d (%s): task cpu %d, queued on cpu %d", tk.PID, tk.Comm, tk.CPU, c)
				}
			}
			recorded := 0
			for _, want := range d.Truth.Tasks {
				if want.State != 'R' || want.PID == walktest.RecorderPID(d.Truth) {
					continue
				}
				tk, ok := byPID[want.TID]
				if !ok || tk.State != "R" {
					continue // it has run on since the record
				}
				recorded++
				if _, ok := where[tk.Addr]; !ok {
					t.Errorf("pid %d (%s), running in the record and the dump, is on no run queue", want.TID, want.Comm)
				}
			}
			t.Logf("%d CPUs, %d running tasks found on their queues, %d of them running in the record", len(qs), running, recorded)
		})
	}
}
