package waitfor

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// WaitKthreadFlush is TaskWait.Kind of a task waiting for a kthread_worker
// (kernel/kthread.c) to run a flush work queued behind the work it flushes.
const WaitKthreadFlush = "kthread-flush"

// KthreadFlushWait: kthread_flush_work and kthread_flush_worker
// (kernel/kthread.c; kthread_cancel_work_sync and
// kthread_cancel_delayed_work_sync flush a running work the same way,
// kthread_destroy_worker flushes the worker) put a struct
// kthread_flush_work on their stack — a struct kthread_work whose func is
// kthread_flush_work_fn, then the completion done — queue it on the
// worker's work_list, right after the flushed work (or first, when that
// work is the worker's current_work; last for a whole-worker flush), and
// sleep in wait_for_completion(&fwork.done). The worker's kthread
// (kthread_worker.task) runs its works one by one and completes the flush
// when it reaches it: it holds the wait.
var KthreadFlushWait = &waitkind.Kind{
	Name: WaitKthreadFlush,
	Verb: "waits for",
	Frames: waitkind.NewFrames("kthread_flush_work", "kthread_flush_worker", "__kthread_cancel_work_sync",
		"kthread_cancel_work_sync", "kthread_cancel_delayed_work_sync", "kthread_destroy_worker"),
	Waiter:   locking.CompletionWait.Waiter,
	Decode:   decodeKthreadFlush,
	Classify: classifyKthreadFlush,
	Remedies: flushRemedies,
}

// maxKthreadWorks bounds the walk of a kthread_worker's work_list.
const maxKthreadWorks = 4096

// kthreadFlushDone is the offset of done in struct kthread_flush_work: the
// type is local to kernel/kthread.c (in BTF, which keeps every type of the
// kernel's DWARF); without it, done follows the struct kthread_work,
// 8-byte aligned.
func kthreadFlushDone(p *symbols.Program) (uint64, bool) {
	if off, err := p.OffsetOf("struct kthread_flush_work", "done"); err == nil {
		return off, true
	}
	t, err := p.Type("struct kthread_work")
	if err != nil || t.Resolve().Size == 0 {
		return 0, false
	}
	return (t.Resolve().Size + 7) &^ 7, true
}

func decodeKthreadFlush(c waitkind.Context, t *sched.Task, f waitkind.Found) (TaskWait, bool) {
	a := c.(*waitAnalysis)
	p := a.p
	coff, err := p.OffsetOf("struct completion", "wait")
	doneOff, ok := kthreadFlushDone(p)
	if err != nil || !ok || f.Object < coff+doneOff {
		return locking.CompletionWait.Decode(c, t, f)
	}
	fwork := f.Object - coff - doneOff // its struct kthread_work is first
	wo, err := p.Object("struct kthread_work", fwork)
	if err != nil {
		return locking.CompletionWait.Decode(c, t, f)
	}
	// The check that this completion is a flush's: the work's function.
	fn, err := wo.MemberUint("func")
	if err != nil || a.symbolAt(fn) != "kthread_flush_work_fn" {
		return locking.CompletionWait.Decode(c, t, f)
	}
	w := TaskWait{Task: c.Blocked(t), Kind: WaitKthreadFlush, Certain: true,
		How: "swait_queue on the task's stack, linked into the done completion of a struct kthread_flush_work whose work runs kthread_flush_work_fn (kernel/kthread.c kthread_flush_work)"}
	w.Object = WaitObject{Type: "kthread_flush_work", Addr: fwork, What: "a kthread_worker's work"}
	worker, err := wo.MemberUint("worker")
	if err != nil || worker == 0 {
		w.Certain = false
		w.Error = fmt.Sprintf("the flush's kthread_work.worker: %v", errOrZero(err))
		return w, true
	}
	ko, err := p.Object("struct kthread_worker", worker)
	if err != nil {
		w.Certain = false
		w.Error = err.Error()
		return w, true
	}
	task, err := ko.MemberUint("task")
	if err != nil || task == 0 {
		w.Certain = false
		w.Error = fmt.Sprintf("kthread_worker %#x has no task: %v", worker, errOrZero(err))
		return w, true
	}
	ref := c.Ref(task)
	cur, _ := ko.MemberUint("current_work")
	ahead, queued, listErr := kthreadWorksAhead(p, ko, fwork)
	switch {
	case cur == fwork:
		w.Object.State = "running"
		w.Object.What = fmt.Sprintf("kthread_worker of %s, running the flush itself", taskName(ref))
		w.Holders = []Holder{{Task: ref, Certain: true, How: "kthread_worker.task, running the flush work itself: the flush is completing"}}
		return w, true
	case cur != 0:
		curFn := "a work"
		if co, err := p.Object("struct kthread_work", cur); err == nil {
			if v, err := co.MemberUint("func"); err == nil {
				curFn = "work " + a.funcName(v)
			}
		}
		w.Object.State = "running"
		w.Object.What = fmt.Sprintf("%s, running on kthread_worker %s", curFn, taskName(ref))
		w.Note = fmt.Sprintf("%s runs %s and has not finished it; %s waits for its flush", taskName(ref), curFn, taskName(w.Task.TaskRef))
	default:
		w.Object.State = "queued"
		w.Object.What = fmt.Sprintf("kthread_worker %s, running no work", taskName(ref))
		w.Note = fmt.Sprintf("%s runs no work, yet the flush %s waits for is not done", taskName(ref), taskName(w.Task.TaskRef))
	}
	if queued && ahead > 0 {
		w.Note += fmt.Sprintf(" (%d more work item(s) ahead of the flush on its work_list)", ahead)
	} else if listErr != nil {
		w.Certain = false
		w.Note += fmt.Sprintf(" (the worker's work_list could not be read: %v)", listErr)
	} else if !queued {
		w.Certain = false
		w.Note += " (the flush is not on the worker's work_list)"
	}
	w.Holders = []Holder{{Task: ref, Certain: queued,
		How: "kthread_worker.task: the worker's kthread runs the works queued ahead of the flush, then the flush"}}
	return w, true
}

// kthreadWorksAhead counts the works on the worker's work_list before the
// flush (kthread_work.node), and whether the flush is there; err when the
// list could not be read to its end or the flush.
func kthreadWorksAhead(p *symbols.Program, ko symbols.Object, fwork uint64) (int, bool, error) {
	headOff, err := p.OffsetOf("struct kthread_worker", "work_list")
	if err != nil {
		return 0, false, err
	}
	nodeOff, err := p.OffsetOf("struct kthread_work", "node")
	if err != nil {
		return 0, false, err
	}
	head := ko.Addr() + headOff
	cur, err := p.ReadU64(head)
	for n := 0; n < maxKthreadWorks; n++ {
		switch {
		case err != nil:
			return 0, false, err
		case cur == head:
			return 0, false, nil
		case cur == 0:
			return 0, false, fmt.Errorf("a NULL link after %d works", n)
		case cur == fwork+nodeOff:
			return n, true, nil
		}
		cur, err = p.ReadU64(cur)
	}
	return 0, false, fmt.Errorf("longer than %d works", maxKthreadWorks)
}

func errOrZero(err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("NULL")
}

func classifyKthreadFlush(w *TaskWait, r *Root) bool {
	if w.Kind != WaitKthreadFlush || w.Object.State == "" {
		return false
	}
	r.Kind = RootWorkNotFinishing
	if w.Note != "" {
		r.Summary = w.Note + " (kernel/kthread.c kthread_flush_work)"
	} else {
		r.Summary = fmt.Sprintf("%s waits for %s (kernel/kthread.c kthread_flush_work)", taskName(w.Task.TaskRef), w.Object.What)
	}
	certain := false
	for _, h := range r.Holders {
		certain = certain || h.Certain
	}
	if len(r.Holders) > 0 {
		r.Certain = r.Certain && certain
	}
	return true
}
