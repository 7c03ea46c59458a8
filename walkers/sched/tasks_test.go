package sched

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/walktest"
)

func TestStateLetter(t *testing.T) {
	for _, c := range []struct {
		state, exit uint64
		want, crash string
	}{
		{0, 0, "R", "RU"},
		{TaskInterruptible, 0, "S", "IN"},
		{TaskUninterruptible, 0, "D", "UN"},
		{TaskKillable, 0, "D", "UN"},
		{TaskIdle, 0, "I", "ID"},
		{TaskWakekill | TaskStopped, 0, "T", "ST"},
		{TaskTraced, 0, "t", "TR"},
		{0, ExitZombie, "Z", "ZO"},
		{TaskDead, ExitDead, "X", "DE"},
		{TaskParked, 0, "P", "PA"},
		{TaskFrozen | TaskInterruptible, 0, "D", "UN"},
		{TaskRTLockWait, 0, "D", "UN"},
		{TaskInterruptible | TaskFreezable, 0, "S", "IN"},
	} {
		if got := StateLetter(c.state, c.exit); got != c.want {
			t.Errorf("StateLetter(%#x, %#x) = %q, want %q", c.state, c.exit, got, c.want)
		}
		if got := CrashState(c.state, c.exit); got != c.crash {
			t.Errorf("CrashState(%#x, %#x) = %q, want %q", c.state, c.exit, got, c.crash)
		}
	}
	if got := StateNames(TaskKillable); got != "TASK_UNINTERRUPTIBLE|TASK_WAKEKILL" {
		t.Errorf("StateNames(TASK_KILLABLE) = %q", got)
	}
	if got := FlagNames(PFExiting | PFSignaled | 0x40000000); got != "PF_EXITING|PF_SIGNALED|0x40000000" {
		t.Errorf("FlagNames = %q", got)
	}
}

func byPID(ts []Task) map[int]Task {
	m := make(map[int]Task)
	for _, t := range ts {
		if !t.Idle {
			m[t.PID] = t
		}
	}
	return m
}

func TestTasksSynthetic(t *testing.T) {
	for _, v := range []struct {
		name                 string
		legacy, noThreadNode bool
	}{
		{"6.1-layout", false, false},
		{"5.10-layout", true, false},
		{"thread_group-only", true, true},
	} {
		legacy := v.legacy
		t.Run(v.name, func(t *testing.T) {
			k := walktest.NewSynthTaskKernel(2, legacy)
			init := k.AddProcess(1, k.InitTask, "init", TaskInterruptible, 0)
			kthreadd := k.AddProcess(2, k.InitTask, "kthreadd", TaskInterruptible, PFKthread)
			k.AddProcess(3, kthreadd, "rcu_gp", TaskIdle, PFKthread|PFWQWorker)
			srv := k.AddProcess(100, init, "server", TaskInterruptible, 0, 1)
			thr := k.AddThread(srv, 101, "server", TaskKillable, 2)
			dying := k.AddThread(srv, 102, "server", TaskUninterruptible, 3)
			k.Mem.WriteU32(dying+k.Off("struct task_struct", "flags"), PFExiting)
			k.Mem.WriteU64(dying+k.Off("struct task_struct", "pending.signal"), 1<<8) // SIGKILL
			sig, _ := k.Program().ReadU64(srv + k.Off("struct task_struct", "signal"))
			k.Mem.WriteU64(sig+k.Off("struct signal_struct", "shared_pending.signal"), 1<<14) // SIGTERM
			k.SetCPU(thr, 1)
			k.Mem.WriteU64(thr+k.Off("struct task_struct", "sched_info.last_arrival"), 101_000_000_000-5_500_000_000)
			zombie := k.AddProcess(200, init, "zombie", 0, 0)
			k.Mem.WriteU32(zombie+k.Off("struct task_struct", "exit_state"), ExitZombie)
			p := k.Finish()
			if v.noThreadNode {
				// A kernel whose threads are only on the thread_group ring.
				tt := k.Types.Get("struct task_struct")
				for i := range tt.Members {
					if tt.Members[i].Name == "thread_node" {
						tt.Members[i].Name = "thread_node_absent"
					}
				}
			}

			ts, err := Tasks(p)
			if err != nil {
				t.Fatalf("Tasks: %v", err)
			}
			if len(ts) != 9 {
				t.Fatalf("got %d tasks, want 9 (2 idle + 7)", len(ts))
			}
			if !ts[0].Idle || ts[0].CPU != 0 || ts[0].Comm != "swapper/0" || !ts[1].Idle || ts[1].CPU != 1 || ts[1].Comm != "swapper/1" {
				t.Errorf("idle tasks: %+v %+v", ts[0], ts[1])
			}
			m := byPID(ts)
			want := map[int]struct {
				tgid, ppid int
				state      string
				ns         int
			}{
				1: {1, 0, "S", 1}, 2: {2, 0, "S", 2}, 3: {3, 2, "I", 3}, 100: {100, 1, "S", 1},
				101: {100, 1, "D", 2}, 102: {100, 1, "D", 3}, 200: {200, 1, "Z", 200},
			}
			for pid, w := range want {
				got, ok := m[pid]
				if !ok {
					t.Errorf("pid %d missing", pid)
					continue
				}
				if got.TGID != w.tgid || got.PPID != w.ppid || got.State != w.state || got.NSPID() != w.ns || len(got.Errors) > 0 {
					t.Errorf("pid %d: tgid %d ppid %d state %s nspid %d errors %v; want %+v", pid, got.TGID, got.PPID, got.State, got.NSPID(), got.Errors, w)
				}
			}
			if !m[101].Killable() || m[102].Killable() {
				t.Errorf("killable: 101 %v 102 %v", m[101].Killable(), m[102].Killable())
			}
			if !m[102].Exiting() || !m[102].FatalSignalPending() || m[101].FatalSignalPending() {
				t.Errorf("102 exiting %v fatal %v; 101 fatal %v", m[102].Exiting(), m[102].FatalSignalPending(), m[101].FatalSignalPending())
			}
			if got := FormatSigset(m[101].ShdPnd); got != "0000000000004000" {
				t.Errorf("ShdPnd = %s", got)
			}
			if !m[2].Kthread() || m[1].Kthread() {
				t.Errorf("kthread flags wrong")
			}
			if !m[101].HasSinceRan || m[101].SinceRan != 5500*time.Millisecond || m[101].CPU != 1 {
				t.Errorf("pid 101: cpu %d since ran %v (%v)", m[101].CPU, m[101].SinceRan, m[101].HasSinceRan)
			}

			for _, pid := range []int{1, 101, 200} {
				tk, err := TaskByPID(p, pid)
				if err != nil || tk.PID != pid {
					t.Errorf("TaskByPID(%d) = %d, %v", pid, tk.PID, err)
				}
			}
			if _, err := TaskByPID(p, 4242); err == nil {
				t.Errorf("TaskByPID(4242) found a task")
			}
			if tk, err := TaskByAddr(p, thr); err != nil || tk.PID != 101 || tk.PPID != 1 {
				t.Errorf("TaskByAddr = %+v, %v", tk, err)
			}
		})
	}
}

func TestTaskByPIDTwoLevelIDR(t *testing.T) {
	k := walktest.NewSynthTaskKernel(1, false)
	var last uint64
	for pid := 1; pid <= 300; pid += 7 {
		last = k.AddProcess(pid, k.InitTask, "p", TaskInterruptible, 0)
	}
	p := k.Finish()
	tk, err := TaskByPID(p, 295)
	if err != nil || tk.Addr != last {
		t.Fatalf("TaskByPID(295) = %#x, %v; want %#x", tk.Addr, err, last)
	}
	es, err := kmem.IDREntries(mustVar(t, p, "init_pid_ns").mustMember(t, "idr"))
	if err != nil || len(es) != 43 {
		t.Fatalf("IDREntries: %d entries, %v", len(es), err)
	}
}

type objT struct{ symbols.Object }

func mustVar(t *testing.T, p *symbols.Program, name string) objT {
	t.Helper()
	o, err := p.Variable(name)
	if err != nil {
		t.Fatal(err)
	}
	return objT{o}
}

func (o objT) mustMember(t *testing.T, path string) symbols.Object {
	t.Helper()
	m, err := o.Member(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTasksCorruptLists(t *testing.T) {
	cases := []struct {
		name     string
		corrupt  func(k *walktest.SynthTaskKernel, procs []uint64)
		wantErr  []error
		wantName string // in the error
		minTasks int
	}{
		{
			name: "cycle",
			corrupt: func(k *walktest.SynthTaskKernel, procs []uint64) {
				// p3.tasks.next → p2.tasks, and p2.prev → p3: a loop
				// that never returns to init_task.tasks.
				o := k.Off("struct task_struct", "tasks")
				k.Mem.WriteU64(procs[2]+o, procs[1]+o)
				k.Mem.WriteU64(procs[1]+o+8, procs[2]+o)
			},
			wantErr:  []error{symbols.ErrCycle, kmem.ErrListCorrupt},
			wantName: "init_task.tasks",
			minTasks: 2,
		},
		{
			name: "garbage pointer",
			corrupt: func(k *walktest.SynthTaskKernel, procs []uint64) {
				k.Mem.WriteU64(procs[1]+k.Off("struct task_struct", "tasks"), 0xffff888077770000)
			},
			wantName: "init_task.tasks",
			minTasks: 3,
		},
		{
			name: "NULL next",
			corrupt: func(k *walktest.SynthTaskKernel, procs []uint64) {
				k.Mem.WriteU64(procs[0]+k.Off("struct task_struct", "tasks"), 0)
			},
			wantErr:  []error{kmem.ErrListCorrupt},
			wantName: "init_task.tasks",
			minTasks: 2,
		},
		{
			name: "unreadable signal_struct",
			corrupt: func(k *walktest.SynthTaskKernel, procs []uint64) {
				k.Mem.WriteU64(procs[1]+k.Off("struct task_struct", "signal"), 0xffff888066660000)
			},
			wantName: "signal",
			minTasks: 5,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := walktest.NewSynthTaskKernel(1, false)
			var procs []uint64
			for pid := 1; pid <= 4; pid++ {
				procs = append(procs, k.AddProcess(pid, k.InitTask, "p", TaskInterruptible, 0))
			}
			p := k.Finish()
			c.corrupt(k, procs)
			ts, err := Tasks(p)
			if err == nil {
				t.Fatalf("no error; %d tasks", len(ts))
			}
			if !strings.Contains(err.Error(), c.wantName) {
				t.Errorf("error %q does not name %q", err, c.wantName)
			}
			if len(c.wantErr) > 0 {
				ok := false
				for _, w := range c.wantErr {
					ok = ok || errors.Is(err, w)
				}
				if !ok {
					t.Errorf("error %v is none of %v", err, c.wantErr)
				}
			}
			if len(ts) < c.minTasks {
				t.Errorf("got %d tasks, want at least %d kept", len(ts), c.minTasks)
			}
		})
	}
}

func TestTaskUnreadable(t *testing.T) {
	k := walktest.NewSynthTaskKernel(1, false)
	a := k.AddProcess(1, k.InitTask, "init", TaskInterruptible, 0)
	b := k.AddProcess(2, k.InitTask, "two", TaskInterruptible, 0)
	p := k.Finish()
	// Corrupt task 2's shared signal pointer only: the task stays, with an error.
	k.Mem.WriteU64(b+k.Off("struct task_struct", "signal"), 0)
	ts, err := Tasks(p)
	if err != nil {
		t.Fatalf("Tasks: %v", err)
	}
	if m := byPID(ts); m[1].Addr != a || m[2].Comm != "two" {
		t.Errorf("tasks: %+v", ts)
	}
}
