package waitfor

import (
	"fmt"
	"strings"
	"time"

	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/rcu"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// Kind names of waits for RCU.
const (
	// WaitRCUGracePeriod: synchronize_rcu (and rcu_barrier) waits for a
	// normal grace period (and the callbacks after it).
	WaitRCUGracePeriod = "rcu-grace-period"
	// WaitRCUExpedited: synchronize_rcu_expedited waits for an expedited
	// grace period.
	WaitRCUExpedited = "rcu-expedited"
)

// RootRCUStall is the root kind of a chain ending at an RCU grace period
// that does not end (or does not start).
const RootRCUStall = "rcu-grace-period-stalled"

// RCUGracePeriodWait: synchronize_rcu → wait_rcu_gp → __wait_rcu_gp
// (kernel/rcu/update.c) queues the rcu_head of a struct rcu_synchronize on
// its stack with func wakeme_after_rcu (6.9+ synchronize_rcu_normal, when
// rcu_normal_wake_from_gp is set, pushes it on rcu_state.srs_next instead,
// kernel/rcu/tree.c) and sleeps on its completion until a full grace
// period has passed. rcu_barrier sleeps on rcu_state.barrier_completion.
// The grace period waits for every CPU to pass a quiescent state and, on
// preemptible-RCU kernels, for the readers preempted inside a read-side
// critical section: those hold the wait (package rcu reads them).
var RCUGracePeriodWait = &waitkind.Kind{
	Name: WaitRCUGracePeriod,
	Verb: "waits for",
	Frames: waitkind.NewFrames("synchronize_rcu", "synchronize_rcu_normal", "wait_rcu_gp", "__wait_rcu_gp",
		"_wait_rcu_gp", "rcu_barrier"),
	Waiter:   locking.CompletionWait.Waiter,
	Decode:   decodeRCUGracePeriod,
	Classify: classifyRCU,
	Remedies: rcuRemedies,
}

// RCUExpeditedWait: synchronize_rcu_expedited (kernel/rcu/tree_exp.h)
// sleeps in wait_event on one of the rcu_nodes' exp_wq[] queues until
// the expedited grace period it needs has ended; the CPUs in the leaves'
// expmask and the readers from exp_tasks hold it.
var RCUExpeditedWait = &waitkind.Kind{
	Name:     WaitRCUExpedited,
	Verb:     "waits for",
	Frames:   waitkind.NewFrames("synchronize_rcu_expedited", "synchronize_sched_expedited"),
	Waiter:   locking.WaitEntryShape(),
	Decode:   decodeRCUExpedited,
	Classify: classifyRCU,
	Remedies: rcuRemedies,
}

// RCUExpeditedDriverWait: the expedited grace period's driver — a
// workqueue worker in rcu_exp_wait_wake (or the caller of
// synchronize_rcu_expedited itself, early in boot) — sleeps in
// synchronize_rcu_expedited_wait (…_wait_once since 6.x) on
// rcu_state.expedited_wq until the CPUs and readers of the expedited grace
// period have reported (kernel/rcu/tree_exp.h). They hold it, as they hold
// the callers of synchronize_rcu_expedited.
var RCUExpeditedDriverWait = &waitkind.Kind{
	Name: WaitRCUExpedited,
	Verb: "waits for",
	Frames: waitkind.NewFrames("synchronize_rcu_expedited_wait_once", "synchronize_rcu_expedited_wait",
		"rcu_exp_wait_wake", "wait_rcu_exp_gp"),
	Waiter:   locking.SwaitWait.Waiter,
	Decode:   decodeRCUExpeditedDriver,
	Classify: classifyRCU,
	Remedies: rcuRemedies,
}

type rcuStateKey struct{}

// rcuState reads rcu_state once per analysis (nil when it cannot be).
func (a *waitAnalysis) rcuState() *rcu.State {
	return a.Memo(rcuStateKey{}, func() any {
		s, err := rcu.Read(a.p)
		if err != nil {
			a.Warn(fmt.Sprintf("rcu: %v", err))
			return (*rcu.State)(nil)
		}
		for _, e := range s.Errors {
			a.Warn("rcu: " + e)
		}
		return s
	}).(*rcu.State)
}

var rcuNormalFrames = waitkind.NewFrames("synchronize_rcu_normal")

func decodeRCUGracePeriod(c waitkind.Context, t *sched.Task, f waitkind.Found) (TaskWait, bool) {
	a := c.(*waitAnalysis)
	p := a.p
	coff, err := p.OffsetOf("struct completion", "wait")
	s := a.rcuState()
	if err != nil || s == nil {
		return locking.CompletionWait.Decode(c, t, f)
	}
	comp := f.Object - coff
	w := TaskWait{Task: c.Blocked(t), Kind: WaitRCUGracePeriod, Certain: true}
	barrier := comp == s.BarrierCompletion
	if barrier {
		w.How = "swait_queue on the task's stack, linked into rcu_state.barrier_completion (kernel/rcu/tree.c rcu_barrier)"
	} else {
		// A struct rcu_synchronize on the task's own stack whose rcu_head
		// is wakeme_after_rcu's, or synchronize_rcu_normal's (no func set).
		stack, base := c.Stack(t)
		rsOff, err := p.OffsetOf("struct rcu_synchronize", "completion")
		if err != nil || stack == nil || comp < base+rsOff || comp >= base+uint64(len(stack)) {
			return locking.CompletionWait.Decode(c, t, f)
		}
		rs := comp - rsOff
		fnOff, _ := p.OffsetOf("struct rcu_synchronize", "head.func")
		fn, _ := p.ReadU64(rs + fnOff)
		switch {
		case a.symbolAt(fn) == "wakeme_after_rcu":
			w.How = "swait_queue on the task's stack, linked into the completion of its struct rcu_synchronize, whose rcu_head is queued with wakeme_after_rcu (kernel/rcu/update.c __wait_rcu_gp)"
		case a.HasFrame(t, rcuNormalFrames):
			w.How = "swait_queue on the task's stack, linked into the completion of its struct rcu_synchronize (frame synchronize_rcu_normal: the GP kthread completes it, kernel/rcu/tree.c)"
		default:
			return locking.CompletionWait.Decode(c, t, f)
		}
	}
	name := s.Name
	if name == "" {
		name = "rcu"
	}
	w.Object = WaitObject{Type: "rcu_state", Addr: s.Addr, What: fmt.Sprintf("an RCU grace period (%s)", name)}
	if barrier {
		w.Object.What = fmt.Sprintf("rcu_barrier: the RCU callbacks queued on every CPU (%s, barrier_cpu_count %d)", name, s.BarrierCount)
	}
	sentence := rcuHolders(a, s, false, &w)
	if barrier {
		sentence = "rcu_barrier waits for the callbacks of every CPU, which wait for grace periods: " + sentence
	}
	w.Note = sentence
	return w, true
}

func decodeRCUExpedited(c waitkind.Context, t *sched.Task, f waitkind.Found) (TaskWait, bool) {
	a := c.(*waitAnalysis)
	s := a.rcuState()
	if s == nil {
		return locking.WaitQueueWait.Decode(c, t, f)
	}
	node, ok := s.ExpWaitQueueNode(f.Object)
	if !ok {
		return locking.WaitQueueWait.Decode(c, t, f)
	}
	w := TaskWait{Task: c.Blocked(t), Kind: WaitRCUExpedited, Certain: true,
		How: fmt.Sprintf("wait_queue_entry on the task's stack, linked into rcu_node %d's exp_wq (kernel/rcu/tree_exp.h synchronize_rcu_expedited)", node)}
	w.Object = WaitObject{Type: "rcu_state", Addr: s.Addr, What: fmt.Sprintf("an expedited RCU grace period (%s)", s.Name)}
	w.Note = rcuHolders(a, s, true, &w)
	return w, true
}

func decodeRCUExpeditedDriver(c waitkind.Context, t *sched.Task, f waitkind.Found) (TaskWait, bool) {
	a := c.(*waitAnalysis)
	s := a.rcuState()
	if s == nil || s.ExpeditedWQ == 0 || f.Object != s.ExpeditedWQ {
		return locking.SwaitWait.Decode(c, t, f)
	}
	w := TaskWait{Task: c.Blocked(t), Kind: WaitRCUExpedited, Certain: true,
		How: "swait_queue on the task's stack, linked into rcu_state.expedited_wq: it drives the expedited grace period and waits for its CPUs and readers (kernel/rcu/tree_exp.h synchronize_rcu_expedited_wait)"}
	w.Object = WaitObject{Type: "rcu_state", Addr: s.Addr, What: fmt.Sprintf("an expedited RCU grace period (%s), which it drives", s.Name)}
	w.Note = rcuHolders(a, s, true, &w)
	return w, true
}

// rcuHolders adds to w what the grace period (expedited or not) waits
// for, and returns one sentence saying it (the root summary when the
// chain ends here).
func rcuHolders(a *waitAnalysis, s *rcu.State, exp bool, w *TaskWait) string {
	if len(s.Errors) > 0 {
		// The blockers rest on what could be read of the tree.
		w.Certain = false
		w.Error = appendErr(w.Error, "rcu_state read in part: "+strings.Join(s.Errors, "; "))
	}
	var head string
	inProgress := s.InProgress
	readers, cpus := s.BlockingReaders(), s.PendingCPUs()
	if exp {
		inProgress = s.ExpInProgress
		readers, cpus = s.ExpBlockingReaders(), s.ExpPendingCPUs()
		head = fmt.Sprintf("expedited RCU grace period (expedited_sequence %d)", int64(s.ExpSeq))
	} else {
		head = fmt.Sprintf("RCU grace period g=%d", s.GP)
	}
	kt := a.Ref(s.GPKthread)
	if !inProgress {
		if exp {
			return fmt.Sprintf("no expedited RCU grace period is in progress (expedited_sequence %d): the one it needs has not started", int64(s.ExpSeq))
		}
		gpk := "the grace-period kthread"
		if s.GPKthread != 0 {
			gpk += " " + taskName(kt)
		}
		return fmt.Sprintf("no RCU grace period is in progress (last g=%d, %s): %s has not started the one it needs, or the callbacks after it have not been invoked",
			s.GP, rcu.GPStateName(s.GPState), gpk)
	}
	if !exp {
		if s.HasAge {
			head += fmt.Sprintf(" has lasted %s", s.Age.Round(time.Second))
		} else {
			head += " is in progress"
		}
		head += " (" + rcu.GPStateName(s.GPState) + ")"
	} else {
		head += " is in progress"
	}
	var why []string
	for _, r := range readers {
		ref := a.Ref(r.Task)
		w.Holders = append(w.Holders, Holder{Task: ref, Certain: true,
			How: fmt.Sprintf("preempted inside an RCU read-side critical section that blocks the grace period (rcu_node %d blkd_tasks, from %s)", r.Node, map[bool]string{false: "gp_tasks", true: "exp_tasks"}[exp])})
		why = append(why, fmt.Sprintf("reader %s was preempted inside rcu_read_lock() and has not left it", taskName(ref)))
	}
	for _, cpu := range cpus {
		cur, idle, err := rcu.CPUCurrent(a.p, cpu)
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("CPU %d has not passed a quiescent state (its current task could not be read: %v)", cpu, err))
		case idle || cur == 0:
			why = append(why, fmt.Sprintf("CPU %d (idle) has not passed a quiescent state", cpu))
		default:
			ref := a.Ref(cur)
			w.Holders = append(w.Holders, Holder{Task: ref, Certain: false,
				How: fmt.Sprintf("current task of CPU %d, which has not passed a quiescent state for the grace period (leaf rcu_node %s)", cpu, map[bool]string{false: "qsmask", true: "expmask"}[exp])})
			why = append(why, fmt.Sprintf("CPU %d (running %s) has not passed a quiescent state", cpu, taskName(ref)))
		}
	}
	if len(w.Holders) == 0 && !exp && s.GPKthread != 0 {
		how := fmt.Sprintf("the grace-period kthread (%s): no CPU or reader is recorded as blocking the grace period", rcu.GPStateName(s.GPState))
		if len(why) > 0 {
			how = fmt.Sprintf("the grace-period kthread (%s): it reports the quiescent states of idle CPUs (force_quiescent_state)", rcu.GPStateName(s.GPState))
		} else {
			why = append(why, fmt.Sprintf("no CPU or reader blocks it; the grace-period kthread %s has not ended it", taskName(kt)))
		}
		w.Holders = append(w.Holders, Holder{Task: kt, Certain: false, How: how})
	}
	if len(why) == 0 {
		return head + ": nothing recorded blocks it"
	}
	return head + ": " + strings.Join(why, "; ")
}

func classifyRCU(w *TaskWait, r *Root) bool {
	if (w.Kind != WaitRCUGracePeriod && w.Kind != WaitRCUExpedited) || w.Note == "" {
		return false
	}
	r.Kind = RootRCUStall
	r.Summary = w.Note
	certain := len(r.Holders) > 0
	for _, h := range r.Holders {
		certain = certain && h.Certain
	}
	r.Certain = r.Certain && certain
	return true
}

func rcuRemedies(r *Root) []string {
	if r.Kind != RootRCUStall {
		return nil
	}
	out := []string{"dmesg | grep -A20 'rcu.*stall'  # the kernel's RCU stall warnings name the same CPUs and tasks"}
	for _, h := range r.Holders {
		out = append(out, fmt.Sprintf("look at %s (bt %d): it keeps the grace period from ending", taskName(h.Task), h.Task.PID))
	}
	return out
}
