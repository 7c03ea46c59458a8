package sched

import (
	"sort"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

func TestTasksMatchGuestRecord(t *testing.T) {
	for _, d := range testdata.RealDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			ts, err := Tasks(p)
			if err != nil {
				t.Errorf("Tasks: %v", err)
			}
			byTID := make(map[int]Task)
			idle := 0
			for _, tk := range ts {
				if tk.Idle {
					idle++
					continue
				}
				if _, dup := byTID[tk.PID]; dup {
					t.Errorf("tid %d listed twice", tk.PID)
				}
				byTID[tk.PID] = tk
				if len(tk.Errors) > 0 {
					t.Errorf("tid %d %s: errors %v", tk.PID, tk.Comm, tk.Errors)
				}
			}
			if n, err := NumCPUs(p); err != nil || idle != n {
				t.Errorf("%d idle tasks, %d CPUs (%v)", idle, n, err)
			}
			matched, stateDiff := 0, 0
			for _, want := range d.Truth.Tasks {
				got, ok := byTID[want.TID]
				if want.PID == walktest.RecorderPID(d.Truth) {
					// The recorder may exit or change after printing.
					if !ok {
						t.Logf("tid %d (%s, recorder) gone", want.TID, want.Comm)
					}
					continue
				}
				if !ok {
					t.Errorf("tid %d (%s) of the record not found", want.TID, want.Comm)
					continue
				}
				matched++
				if got.TGID != want.PID {
					t.Errorf("tid %d: tgid %d, record %d", want.TID, got.TGID, want.PID)
				}
				if got.Flags&PFWQWorker != 0 {
					// /proc shows a workqueue worker as comm plus "-desc" of
					// its last work item, which changes as it runs.
					if !strings.HasPrefix(want.Comm, got.Comm) || !strings.HasPrefix(got.Name, got.Comm) {
						t.Errorf("tid %d: worker comm %q name %q, record %q", want.TID, got.Comm, got.Name, want.Comm)
					} else if got.Name != want.Comm {
						t.Logf("tid %d: worker name %q, record %q (ran other work since)", want.TID, got.Name, want.Comm)
					}
				} else {
					if !want.CommMatches(got.Comm) {
						t.Errorf("tid %d: comm %q, record %q", want.TID, got.Comm, want.Comm)
					}
					if got.Name != want.Comm {
						t.Errorf("tid %d: /proc name %q, record %q", want.TID, got.Name, want.Comm)
					}
				}
				if got.State != string(want.State) {
					// Only tasks that run can change between the record and
					// the dump; a hung task must not. After the record of
					// the soft-lockup guest one CPU spins with preemption
					// disabled: work that needs that CPU (a per-CPU work
					// item a kworker flushes) blocks in D.
					// The throttled writer of a suspended device wakes every
					// 200 ms to re-check (mm/page-writeback.c): R or D.
					spinning := d.Generated != nil && d.Generated.Guest.Trigger == testdata.TriggerSoftLockup
					pacing := d.Truth.Varies(want.TID)
					if !pacing && (want.State == 'D' || (got.State == "D" && !spinning)) {
						t.Errorf("tid %d %s: state %s, record %c", want.TID, got.Comm, got.State, want.State)
					} else {
						stateDiff++
						t.Logf("tid %d %s: state %s, record %c (changed after the record?)", want.TID, got.Comm, got.State, want.State)
					}
				}
				if got.SigPnd != want.SigPnd || got.ShdPnd != want.ShdPnd {
					t.Errorf("tid %d: SigPnd %s ShdPnd %s, record %016x %016x", want.TID, FormatSigset(got.SigPnd), FormatSigset(got.ShdPnd), want.SigPnd, want.ShdPnd)
				}
				if want.PPID >= 0 && got.PPID != want.PPID {
					t.Errorf("tid %d: ppid %d, record %d", want.TID, got.PPID, want.PPID)
				}
				if want.HasFlags && got.Flags != want.Flags {
					t.Errorf("tid %d: flags %#x, record %#x", want.TID, got.Flags, want.Flags)
				}
			}
			var extra []int
			for tid := range byTID {
				if d.Truth.Task(tid) == nil {
					extra = append(extra, tid)
				}
			}
			sort.Ints(extra)
			for _, tid := range extra {
				if !walktest.RecorderTask(d.Truth, tid) {
					t.Errorf("tid %d (%s) is in the dump but not in the record", tid, byTID[tid].Comm)
				} else {
					t.Logf("tid %d (%s): not in the record (started after it)", tid, byTID[tid].Comm)
				}
			}
			if stateDiff > len(d.Truth.Tasks)/10 {
				t.Errorf("%d of %d tasks changed state", stateDiff, len(d.Truth.Tasks))
			}
			t.Logf("%d tasks (%d idle), %d of %d recorded threads matched", len(ts), idle, matched, len(d.Truth.Tasks))

			// TaskByPID agrees with the list.
			for _, want := range d.Truth.Tasks {
				if _, ok := byTID[want.TID]; !ok {
					continue
				}
				got, err := TaskByPID(p, want.TID)
				if err != nil || got.Addr != byTID[want.TID].Addr {
					t.Errorf("TaskByPID(%d) = %#x, %v; list has %#x", want.TID, got.Addr, err, byTID[want.TID].Addr)
				}
			}
		})
	}
}

func TestTaskMemoryRealDump(t *testing.T) {
	for _, d := range testdata.RealDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			total, err := TotalRAMPages(p)
			if err != nil || total == 0 {
				t.Fatalf("TotalRAMPages = %d, %v", total, err)
			}
			// The guests have a few hundred MB.
			if mb := total * PageSize(p) >> 20; mb < 64 || mb > 64<<10 {
				t.Errorf("total RAM %d MB", mb)
			}
			ts, _ := Tasks(p)
			users := 0
			for _, tk := range ts {
				m, err := TaskMemory(p, tk)
				if err != nil {
					t.Errorf("pid %d: %v", tk.PID, err)
					continue
				}
				if tk.Kthread() || tk.Idle {
					if m.RSSPages != 0 || m.VMPages != 0 {
						t.Errorf("kernel thread %d has memory %+v", tk.PID, m)
					}
					continue
				}
				if tk.ExitState != 0 || tk.Exiting() {
					continue // its mm may be gone
				}
				users++
				if m.RSSPages == 0 || m.VMPages < m.RSSPages || m.RSSPages > total {
					t.Errorf("pid %d %s: rss %d vm %d pages (total %d)", tk.PID, tk.Comm, m.RSSPages, m.VMPages, total)
				}
			}
			if users == 0 {
				t.Errorf("no user task")
			}
		})
	}
}

// TestRunqueueCurrRealDump checks on_cpu, the CPU field and the rq clock
// against the runqueues: each CPU's rq->curr is on that CPU, and no task
// last ran after its CPU's clock.
func TestRunqueueCurrRealDump(t *testing.T) {
	for _, d := range testdata.RealDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			ts, _ := Tasks(p)
			byAddr := map[uint64]Task{}
			for _, tk := range ts {
				byAddr[tk.Addr] = tk
			}
			cpus, err := p.PossibleCPUs()
			if err != nil {
				t.Fatal(err)
			}
			for _, cpu := range cpus {
				rq, err := Runqueue(p, cpu)
				if err != nil {
					t.Fatal(err)
				}
				curr, err := rq.MemberUint("curr")
				if err != nil {
					t.Fatal(err)
				}
				tk, ok := byAddr[curr]
				if !ok {
					t.Errorf("cpu %d: rq->curr %#x not in the task list", cpu, curr)
					continue
				}
				if tk.CPU != cpu || (!tk.Idle && !tk.OnCPU) {
					t.Errorf("cpu %d: rq->curr is pid %d %s on cpu %d, on_cpu %v", cpu, tk.PID, tk.Comm, tk.CPU, tk.OnCPU)
				}
			}
			known := 0
			for _, tk := range ts {
				if tk.HasSinceRan {
					known++
				}
			}
			if known < len(ts)/2 {
				t.Errorf("time since last ran known for %d of %d tasks", known, len(ts))
			}
		})
	}
}
