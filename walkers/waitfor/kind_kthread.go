package waitfor

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// WaitKthreadStop is TaskWait.Kind of a task in kthread_stop waiting for
// the kthread it stops to exit.
const WaitKthreadStop = "kthread-stop"

// RootKthreadNotStopping is the root kind of a chain ending at a kthread
// asked to stop that does not return from its thread function.
const RootKthreadNotStopping = "kthread-not-stopping"

// KthreadStopWait: kthread_stop (kernel/kthread.c; kthread_stop_put since
// 6.6) sets KTHREAD_SHOULD_STOP in the kthread's struct kthread, wakes it
// and sleeps in wait_for_completion(&kthread->exited) until the kthread
// returns from its thread function (or calls kthread_exit). struct
// kthread is the kthread's task_struct.worker_private (5.17+) or its
// set_child_tid slot (before): the kthread whose struct kthread holds the
// completion holds the wait.
var KthreadStopWait = &waitkind.Kind{
	Name:     WaitKthreadStop,
	Verb:     "waits for the exit of",
	Frames:   waitkind.NewFrames("kthread_stop", "kthread_stop_put"),
	Waiter:   locking.CompletionWait.Waiter,
	Decode:   decodeKthreadStop,
	Classify: classifyKthreadStop,
	Remedies: kthreadStopRemedies,
}

type kthreadIndexKey struct{}

// kthreadByExited maps the address of each kthread's kthread->exited
// completion to its task, built once per analysis.
func kthreadByExited(c waitkind.Context) map[uint64]uint64 {
	return c.Memo(kthreadIndexKey{}, func() any {
		p := c.Prog()
		out := map[uint64]uint64{}
		exOff, err := p.OffsetOf("struct kthread", "exited")
		if err != nil {
			return out
		}
		for _, t := range c.Tasks() {
			if !t.Kthread() || t.Idle {
				continue
			}
			if kt, err := kthreadOf(p, &t); err == nil && kt != 0 {
				out[kt+exOff] = t.Addr
			}
		}
		return out
	}).(map[uint64]uint64)
}

// kthreadOf returns a kthread's struct kthread: task_struct.worker_private
// since 5.17, the set_child_tid slot before (kernel/kthread.c to_kthread).
func kthreadOf(p *symbols.Program, t *sched.Task) (uint64, error) {
	field := "set_child_tid"
	if t.Obj.Type().HasMember("worker_private") {
		field = "worker_private"
	}
	v, err := t.Obj.MemberUint(field)
	if err != nil {
		return 0, fmt.Errorf("task %#x: %w", t.Addr, err)
	}
	return v, nil
}

func decodeKthreadStop(c waitkind.Context, t *sched.Task, f waitkind.Found) (TaskWait, bool) {
	p := c.Prog()
	coff, err := p.OffsetOf("struct completion", "wait")
	if err != nil {
		return locking.CompletionWait.Decode(c, t, f)
	}
	comp := f.Object - coff
	kt := kthreadByExited(c)[comp]
	if kt == 0 {
		w, ok := locking.CompletionWait.Decode(c, t, f)
		w.Note = appendErr(w.Note, "in kthread_stop, but no kthread's struct kthread has this completion as exited")
		return w, ok
	}
	k := c.TaskAt(kt)
	ref := c.Ref(kt)
	w := TaskWait{Task: c.Blocked(t), Kind: WaitKthreadStop, Certain: true,
		How: "swait_queue on the task's stack, linked into kthread->exited of the kthread it stops (kernel/kthread.c kthread_stop)"}
	w.Object = WaitObject{Type: "kthread", Addr: comp, What: fmt.Sprintf("kthread %s (pid %d), which it stops", ref.Comm, ref.PID)}
	w.Holders = []Holder{{Task: ref, Certain: true,
		How: fmt.Sprintf("kthread_stop of %s (pid %d): it has to see kthread_should_stop() and return", ref.Comm, ref.PID)}}
	// KTHREAD_SHOULD_STOP is a bit of kthread->flags (enum KTHREAD_BITS,
	// kernel/kthread.c): set by kthread_stop before it sleeps.
	exOff, _ := p.OffsetOf("struct kthread", "exited")
	if ko, err := p.Object("struct kthread", comp-exOff); err == nil {
		if et, err := p.Type("enum KTHREAD_BITS"); err == nil {
			if bit, ok := et.EnumValue("KTHREAD_SHOULD_STOP"); ok {
				if fl, err := ko.MemberUint("flags"); err == nil && fl&(1<<uint(bit)) == 0 {
					w.Note = appendErr(w.Note, "KTHREAD_SHOULD_STOP is not set in its struct kthread")
				}
			}
		}
	}
	if k != nil && (k.State == "Z" || k.State == "X") {
		w.Note = appendErr(w.Note, fmt.Sprintf("the kthread is in state %s, yet its exited completion is not done", k.State))
	}
	return w, true
}

func classifyKthreadStop(w *TaskWait, r *Root) bool {
	if w.Kind != WaitKthreadStop || len(r.Holders) == 0 {
		return false
	}
	r.Kind = RootKthreadNotStopping
	r.Summary = fmt.Sprintf("kthread %s was asked to stop by %s and has not returned from its thread function: it has to see kthread_should_stop() (kernel/kthread.c kthread_stop)",
		taskName(r.Holders[0].Task), taskName(w.Task.TaskRef))
	for _, h := range r.Holders {
		r.Certain = r.Certain && h.Certain
	}
	return true
}

func kthreadStopRemedies(r *Root) []string {
	if r.Kind != RootKthreadNotStopping {
		return nil
	}
	var out []string
	for _, h := range r.Holders {
		out = append(out, fmt.Sprintf("look at %s (bt %d): its thread function must check kthread_should_stop() where it sleeps or loops", taskName(h.Task), h.Task.PID))
	}
	return out
}
