package waitfor

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols/symtest"
)

const (
	symKthreadFlushFn = 0xffffffff81003000
	symMyKworkFn      = 0xffffffff81003100
)

// TestKthreadFlushWait: a task in kthread_flush_work waits for the
// kthread_worker's kthread, which runs the work ahead of the flush
// (kernel/kthread.c); a completion on the stack that is no flush's stays
// a plain completion wait.
func TestKthreadFlushWait(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fn       uint64 // the flush work's function
		running  bool   // the worker runs my_kwork_fn
		queued   bool   // the flush is on the worker's work_list
		kind     string
		note     string
		certain  bool
		rootKind string
	}{
		{"behind a running work", symKthreadFlushFn, true, true, WaitKthreadFlush, "my_worker (pid 60) runs work my_kwork_fn and has not finished it", true, RootWorkNotFinishing},
		{"worker idle", symKthreadFlushFn, false, true, WaitKthreadFlush, "runs no work", true, RootWorkNotFinishing},
		{"flush not queued", symKthreadFlushFn, true, false, WaitKthreadFlush, "not on the worker's work_list", false, RootWorkNotFinishing},
		{"not a flush", symMyKworkFn, true, true, "completion", "", false, RootNoWaker},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newKindScene(t, false)
			ty := s.Types
			lh, ptr := ty.Get("struct list_head"), ty.Ptr(nil)
			kw := ty.Struct("kthread_work", 40, symtest.F("node", lh, 0), symtest.F("func", ptr, 16),
				symtest.F("worker", ptr, 24), symtest.F("canceling", ty.Get("int"), 32))
			ty.Struct("kthread_flush_work", 72, symtest.F("work", kw, 0), symtest.F("done", ty.Get("struct completion"), 40))
			ty.Struct("kthread_worker", 56, symtest.F("flags", ty.Get("unsigned int"), 0), symtest.F("work_list", lh, 8),
				symtest.F("delayed_work_list", lh, 24), symtest.F("task", ptr, 40), symtest.F("current_work", ptr, 48))
			s.sym("kthread_flush_work_fn", symKthreadFlushFn)
			s.sym("my_kwork_fn", symMyKworkFn)
			wtask, _ := s.kthread(60, "my_worker", "S", false)
			worker := s.Alloc(56)
			s.Mem.WriteU64(worker+40, wtask)
			cur := s.Alloc(40)
			s.Mem.WriteU64(cur+16, symMyKworkFn)
			s.Mem.WriteU64(cur+24, worker)
			if tc.running {
				s.Mem.WriteU64(worker+48, cur)
			}
			flusher, st := s.task(61, "flusher", "D", "__schedule", "schedule_timeout", "wait_for_completion", "kthread_flush_work", "my_fn")
			fwork := st + 0x3c00
			s.Mem.WriteU64(fwork+16, tc.fn)
			s.Mem.WriteU64(fwork+24, worker)
			s.List(fwork + 40 + 16) // done.wait.task_list
			if tc.queued {
				s.List(worker+8, fwork)
			} else {
				s.List(worker + 8)
			}
			s.swaitWaiter(flusher, st, 0x3e00, fwork+40)
			_, ws, cs := s.run()
			w := waitOfPID(ws, 61)
			if w == nil {
				t.Fatalf("no wait for the flusher: %+v", ws)
			}
			if w.Kind != tc.kind || !strings.Contains(w.Note, tc.note) {
				t.Fatalf("wait %s note %q, want %s with %q", w.Kind, w.Note, tc.kind, tc.note)
			}
			if tc.kind == WaitKthreadFlush {
				if len(w.Holders) != 1 || w.Holders[0].Task.PID != 60 || w.Holders[0].Certain != tc.certain || w.Certain != tc.certain {
					t.Errorf("holders %+v, wait certain %v; want pid 60, certain %v", w.Holders, w.Certain, tc.certain)
				}
				if w.Object.Addr != fwork {
					t.Errorf("object %+v, want the kthread_flush_work at %#x", w.Object, fwork)
				}
			}
			c := chainOfPID(cs, 61)
			if c == nil || c.Root.Kind != tc.rootKind {
				t.Fatalf("chain %+v, want root %s", c, tc.rootKind)
			}
			if tc.rootKind == RootWorkNotFinishing && !strings.Contains(strings.Join(c.Remedy, "\n"), "bt 60") == tc.certain {
				t.Errorf("remedies %q", c.Remedy)
			}
			t.Logf("%s", strings.Join(c.Story, "\n"))
		})
	}
}
