package sched

import (
	"testing"

	"github.com/kwalk/kwalk/symbols/symtest"
)

// sigKernel is a synthetic kernel with one task whose sighand, pending
// sets and queue are what the test writes.
func sigKernel(t *testing.T) (*symtest.Kernel, uint64) {
	t.Helper()
	k := symtest.NewKernel()
	ty := k.Types
	sigset := ty.Add(symtest.Layout("sigset_t", symtest.M("sig", symtest.Array(k.U64, 1))))
	pending := ty.Add(symtest.Layout("sigpending", symtest.M("list", k.ListHead), symtest.M("signal", sigset)))
	siginfo := ty.Add(symtest.Layout("kernel_siginfo", symtest.M("si_signo", k.S32), symtest.M("si_errno", k.S32), symtest.M("si_code", k.S32)))
	ty.Add(symtest.Layout("sigqueue", symtest.M("list", k.ListHead), symtest.M("flags", k.S32), symtest.M("info", siginfo)))
	sa := ty.Add(symtest.Layout("sigaction", symtest.M("sa_handler", k.U64), symtest.M("sa_flags", k.U64),
		symtest.M("sa_restorer", k.U64), symtest.M("sa_mask", sigset)))
	ksa := ty.Add(symtest.Layout("k_sigaction", symtest.M("sa", sa)))
	sh := ty.Add(symtest.Layout("sighand_struct", symtest.M("count", k.U32), symtest.M("action", symtest.Array(ksa, 64))))
	sig := ty.Add(symtest.Layout("signal_struct", symtest.M("nr_threads", k.S32), symtest.M("shared_pending", pending)))
	ty.Add(symtest.Layout("task_struct", symtest.M("__state", k.U32), symtest.M("flags", k.U32), symtest.M("pid", k.S32), symtest.M("tgid", k.S32),
		symtest.M("comm", symtest.Array(k.Char, 16)), symtest.M("blocked", sigset), symtest.M("pending", pending),
		symtest.M("signal", symtest.Ptr(sig)), symtest.M("sighand", symtest.Ptr(sh))))
	task := k.NewObj("struct task_struct")
	k.Mem.WriteU32(task+k.Off("struct task_struct", "pid"), 42)
	k.Mem.WriteU32(task+k.Off("struct task_struct", "tgid"), 42)
	k.Mem.Write(task+k.Off("struct task_struct", "comm"), []byte("daemon\x00"))
	return k, task
}

func TestTaskSignals(t *testing.T) {
	k, task := sigKernel(t)
	off := func(typ, m string) uint64 { return k.Off(typ, m) }
	k.Mem.WriteU64(task+off("struct task_struct", "blocked"), 1<<(15-1)) // SIGTERM
	// Private pending: SIGUSR1 with a queued sigqueue.
	pend := task + off("struct task_struct", "pending")
	k.ListInit(pend)
	k.Mem.WriteU64(pend+off("struct sigpending", "signal"), 1<<(10-1))
	q := k.NewObj("struct sigqueue")
	k.Mem.WriteU32(q+off("struct sigqueue", "info")+off("struct kernel_siginfo", "si_signo"), 10)
	k.Mem.WriteU32(q+off("struct sigqueue", "info")+off("struct kernel_siginfo", "si_code"), 0xfffffffa) // SI_TKILL
	k.ListAddTail(pend, q)
	// Shared pending: empty set, empty list.
	sig := k.NewObj("struct signal_struct")
	k.Mem.WriteU32(sig, 3)
	k.ListInit(sig + off("struct signal_struct", "shared_pending"))
	k.Mem.WriteU64(task+off("struct task_struct", "signal"), sig)
	// Handlers: SIGINT ignored, SIGHUP caught with SA_RESTART|SA_RESTORER.
	sh := k.NewObj("struct sighand_struct")
	act := func(n int) uint64 {
		return sh + off("struct sighand_struct", "action") + uint64(n-1)*k.Size("struct k_sigaction")
	}
	k.Mem.WriteU64(act(2), SigIgn)
	k.Mem.WriteU64(act(1), 0x401000)
	k.Mem.WriteU64(act(1)+off("struct sigaction", "sa_flags"), 0x14000000)
	k.Mem.WriteU64(act(1)+off("struct sigaction", "sa_mask"), 1<<(2-1))
	k.Mem.WriteU64(task+off("struct task_struct", "sighand"), sh)
	p := k.Program()

	s, err := TaskSignals(p, task)
	if err != nil {
		t.Fatal(err)
	}
	if s.Task.PID != 42 || s.Task.Comm != "daemon" || s.NrThreads != 3 || s.Sighand != sh || s.Signal != sig {
		t.Errorf("task %+v nr_threads %d sighand %#x signal %#x", s.Task, s.NrThreads, s.Sighand, s.Signal)
	}
	if len(s.Errors) > 0 {
		t.Errorf("errors: %v", s.Errors)
	}
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"blocked", s.Blocked, 1 << 14}, {"private", s.Private.Signal, 1 << 9}, {"shared", s.Shared.Signal, 0},
		{"ignored", s.Ignored, 1 << 1}, {"caught", s.Caught, 1 << 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if len(s.Private.Queue) != 1 || s.Private.Queue[0].Signo != 10 || s.Private.Queue[0].Code != -6 || s.Private.Queue[0].Addr != q {
		t.Errorf("private queue %+v", s.Private.Queue)
	}
	if len(s.Shared.Queue) != 0 {
		t.Errorf("shared queue %+v", s.Shared.Queue)
	}
	if len(s.Actions) != 64 {
		t.Fatalf("%d actions", len(s.Actions))
	}
	tests := []struct {
		sig            int
		handler, flags string
		mask           uint64
	}{
		{1, "401000", "SA_RESTORER|SA_RESTART", 1 << 1},
		{2, "SIG_IGN", "", 0},
		{3, "SIG_DFL", "", 0},
	}
	for _, tc := range tests {
		a := s.Actions[tc.sig-1]
		if a.Sig != tc.sig || a.HandlerName() != tc.handler || SAFlagNames(a.Flags) != tc.flags || a.Mask != tc.mask || a.Addr != act(tc.sig) {
			t.Errorf("action %d: %+v (%s, %s)", tc.sig, a, a.HandlerName(), SAFlagNames(a.Flags))
		}
	}
}

// A task whose sighand points nowhere keeps what it could read and says
// what it could not; a cyclic pending list is an error, not a hang.
func TestTaskSignalsDamaged(t *testing.T) {
	k, task := sigKernel(t)
	pend := task + k.Off("struct task_struct", "pending")
	k.Mem.WriteU64(pend, pend+0x100) // next: a node pointing to itself, never back to the head
	k.Mem.WriteU64(pend+0x100, pend+0x100)
	k.Mem.WriteU64(task+k.Off("struct task_struct", "sighand"), 0xffff888000dead00)
	k.Mem.WriteU64(task+k.Off("struct task_struct", "blocked"), 1)
	s, err := TaskSignals(k.Program(), task)
	if err != nil {
		t.Fatal(err)
	}
	if s.Blocked != 1 || len(s.Errors) != 2 {
		t.Errorf("blocked %#x errors %q; want 1 and two errors (pending, sighand)", s.Blocked, s.Errors)
	}
}

func TestSAFlagNames(t *testing.T) {
	for _, tc := range []struct {
		flags uint64
		want  string
	}{
		{0, ""}, {0x04000000, "SA_RESTORER"}, {0x4, "SA_SIGINFO"}, {0x80000000 | 0x100000, "SA_RESETHAND|0x100000"},
	} {
		if got := SAFlagNames(tc.flags); got != tc.want {
			t.Errorf("SAFlagNames(%#x) = %q, want %q", tc.flags, got, tc.want)
		}
	}
}
