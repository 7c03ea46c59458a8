package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestPsCrashViews runs ps's crash flags on a synthetic kernel of each
// layout: init (1) and kthreadd (2) children of swapper/0, migration/0 (3,
// SCHED_FIFO), a server process (100) with threads 101 and 102, a child
// 300 forked by thread 101, and a zombie (200).
func TestPsCrashViews(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		k := walktest.NewSynthTaskKernel(2, legacy)
		off := func(m string) uint64 { return k.Off("struct task_struct", m) }
		init := k.AddProcess(1, k.InitTask, "init", sched.TaskInterruptible, 0)
		kthreadd := k.AddProcess(2, k.InitTask, "kthreadd", sched.TaskInterruptible, sched.PFKthread)
		mig := k.AddProcess(3, kthreadd, "migration/0", sched.TaskInterruptible, sched.PFKthread)
		k.Mem.WriteU32(mig+off("policy"), 1)
		srv := k.AddProcess(100, init, "server", sched.TaskInterruptible, 0)
		thr := k.AddThread(srv, 101, "server", sched.TaskUninterruptible)
		k.AddThread(srv, 102, "server", sched.TaskInterruptible)
		k.AddProcess(300, thr, "child", sched.TaskInterruptible, 0)
		zombie := k.AddProcess(200, init, "zombie", 0, 0)
		k.Mem.WriteU32(zombie+k.Off("struct task_struct", "exit_state"), sched.ExitZombie)
		k.Mem.WriteU64(srv+off("sched_info.last_arrival"), 90_000_000_000)
		k.Mem.WriteU64(thr+off("sched_info.last_arrival"), 95_000_000_000)
		k.Mem.WriteU64(init+off("start_boottime"), 2_000_000_000)
		k.Mem.WriteU64(init+off("utime"), 7_000_000)
		k.Mem.WriteU64(init+off("stime"), 9_000_000)
		sig, _ := k.Program().ReadU64(init + off("signal"))
		rlim := sig + k.Off("struct signal_struct", "rlim")
		for i := uint64(0); i < 16; i++ {
			k.Mem.WriteU64(rlim+16*i, ^uint64(0))
			k.Mem.WriteU64(rlim+16*i+8, ^uint64(0))
		}
		k.Mem.WriteU64(rlim+16*7, 1024) // NOFILE
		k.Mem.WriteU64(rlim+16*7+8, 4096)
		k.Mem.WriteU64(k.Rqs[0]+k.Off("struct rq", "curr"), srv)
		k.Mem.WriteU64(k.Rqs[1]+k.Off("struct rq", "curr"), thr)
		k.SetCPU(thr, 1)
		p := k.Finish()
		var out, errb bytes.Buffer
		s := NewSession(p, NewDefaultRegistry(), &out, &errb)
		run := func(line string) string {
			out.Reset()
			errb.Reset()
			if st := s.Exec(context.Background(), line); st != ExitOK {
				t.Fatalf("legacy %v: %s: status %d: %s", legacy, line, st, errb.String())
			}
			return out.String()
		}
		for _, tc := range []struct {
			line string
			want []string // in this order
			not  []string
		}{
			// A thread's real_parent is its leader's (CLONE_THREAD): 101 hangs off init.
			{"ps -p 300", []string{"PID: 0 ", "\n PID: 1 ", "\n  PID: 101 ", "\n   PID: 300 "}, []string{"PID: 100 "}},
			{"ps -c 1", []string{"PID: 1 ", "\n  PID: 100 ", "\n  PID: 101 ", "\n  PID: 102 ", "\n  PID: 200 "}, []string{"PID: 300"}},
			{"ps -c 101", []string{"PID: 101 ", "\n  PID: 300 "}, nil},
			{"ps -c 300", []string{"PID: 300 ", "(no children)"}, nil},
			{"ps -g 102", []string{"PID: 100 ", "\n  PID: 101 ", "\n  PID: 102 "}, []string{"PID: 1 "}},
			{"ps -S", []string{"  RU: 2\n", "  IN: 6\n", "  UN: 1\n", "  ZO: 1\n"}, nil},
			{"ps -A", []string{" 100 ", " 101 "}, []string{" 102 ", "swapper"}},
			{"ps -y FIFO", []string{"migration/0"}, []string{"kthreadd"}},
			{"ps -y 0 -u", []string{"init", "server"}, []string{"migration"}},
			{"ps -l 100 101", []string{"[95000000000] [UN]  PID: 101 ", "[90000000000] [IN]  PID: 100 "}, nil},
			{"ps -t 1", []string{"PID: 1 ", "START TIME: 2000000000", "UTIME: 7000000", "STIME: 9000000"}, nil},
			{"ps -r 1", []string{"RLIMIT     CURRENT       MAXIMUM", "        CPU   (unlimited)   (unlimited)", "     NOFILE   1024          4096"}, nil},
			{"ps --comm 'serv*' --tgid", []string{"TGID", " 101     100 "}, []string{"init"}},
		} {
			got := run(tc.line)
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("legacy %v: %s: %q missing (in order) from:\n%s", legacy, tc.line, w, got)
					break
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tc.not {
				if strings.Contains(got, w) {
					t.Errorf("legacy %v: %s: has %q:\n%s", legacy, tc.line, w, got)
				}
			}
		}
		// JSON: the same answers, structured.
		var doc PsResult
		if err := json.Unmarshal([]byte(run("ps -p 300 --json")), &doc); err != nil || len(doc.Groups) != 1 {
			t.Fatalf("ps -p --json: %v %+v", err, doc)
		}
		var chain []int
		for _, a := range doc.Groups[0].Ancestors {
			chain = append(chain, a.TID)
		}
		if g := doc.Groups[0]; g.Task.TID != 300 || len(chain) != 3 || chain[0] != 0 || chain[2] != 101 {
			t.Errorf("ps -p 300 --json: task %d ancestors %v", g.Task.TID, chain)
		}
		doc = PsResult{}
		if err := json.Unmarshal([]byte(run("ps -S --json")), &doc); err != nil || doc.Summary["UN"] != 1 || doc.Summary["ZO"] != 1 {
			t.Errorf("ps -S --json: %v %+v", err, doc.Summary)
		}
		doc = PsResult{}
		if err := json.Unmarshal([]byte(run("ps -r 1 --json")), &doc); err != nil || len(doc.Tasks) != 1 || len(doc.Tasks[0].Rlimits) != 16 ||
			doc.Tasks[0].Rlimits[7] != (sched.Rlimit{Name: "NOFILE", Cur: 1024, Max: 4096}) {
			t.Errorf("ps -r 1 --json: %v %+v", err, doc.Tasks)
		}
		// Usage errors.
		for _, line := range []string{"ps -p -c", "ps -y BOGUS", "ps -k -u"} {
			if st := s.Exec(context.Background(), line); st != ExitUsage {
				t.Errorf("%s: status %d, want usage error", line, st)
			}
		}
	}
}
