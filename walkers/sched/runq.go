package sched

import (
	"fmt"
	"math/bits"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// RunqTask is a task on a run queue (or running).
type RunqTask struct {
	TaskRef
	Prio int `json:"prio"` // task->prio: 0-99 RT, 100-139 normal (120 is nice 0)
	// Entity is the struct sched_entity (CFS), sched_rt_entity (RT) or
	// sched_dl_entity (deadline) on the queue.
	Entity      uint64 `json:"entity"`
	Vruntime    uint64 `json:"vruntime,omitempty"`     // CFS: se.vruntime
	Deadline    uint64 `json:"deadline,omitempty"`     // CFS on EEVDF kernels (6.6+): se.deadline; DL: dl.deadline
	Vlag        int64  `json:"vlag,omitempty"`         // CFS on EEVDF kernels: se.vlag
	Delayed     bool   `json:"delayed,omitempty"`      // CFS 6.12+: se.sched_delayed, a sleeper left on the tree to spend its lag
	LastArrival uint64 `json:"last_arrival,omitempty"` // sched_info.last_arrival (rq clock ns)
	State       string `json:"state"`
}

// CFSGroup is a group scheduling entity's cfs_rq (its task group's queue
// on this CPU), with what is queued on it.
type CFSGroup struct {
	Entity    uint64     `json:"entity"` // the group's sched_entity on the parent queue
	CfsRq     uint64     `json:"cfs_rq"`
	TaskGroup uint64     `json:"task_group"`
	Name      string     `json:"name"` // the task group's cgroup path ("/" for the root)
	Vruntime  uint64     `json:"vruntime,omitempty"`
	Deadline  uint64     `json:"deadline,omitempty"`
	Throttled bool       `json:"throttled"`
	NrRunning int        `json:"nr_running"`
	Entries   []CFSEntry `json:"entries"`
}

// CFSEntry is one entity of a cfs_rq's tree, in vruntime (EEVDF: deadline
// tree) order: a task, or a group whose queue is Group.
type CFSEntry struct {
	Task  *RunqTask `json:"task,omitempty"`
	Group *CFSGroup `json:"group,omitempty"`
}

// RTQueue is the tasks of one RT priority of an rt_rq.
type RTQueue struct {
	Prio  int        `json:"prio"`
	Tasks []RunqTask `json:"tasks"`
}

// Runq is one CPU's struct rq.
type Runq struct {
	CPU       int       `json:"cpu"`
	Addr      uint64    `json:"addr"`
	Clock     uint64    `json:"clock"` // rq->clock, ns
	NrRunning int       `json:"nr_running"`
	Current   *RunqTask `json:"current"`
	Idle      bool      `json:"idle"` // current is the CPU's idle task
	// Stop is the CPU's stop-class task (migration/N) when it is queued
	// and not current: the highest class, kept in no queue.
	Stop *RunqTask `json:"stop,omitempty"`
	// CFS is the root cfs_rq (rq->cfs); group entities hold their queue.
	CFS     CFSGroup   `json:"cfs"`
	RTArray uint64     `json:"rt_prio_array"`
	RT      []RTQueue  `json:"rt"`
	DLRoot  uint64     `json:"dl_root"`
	DL      []RunqTask `json:"dl"`
	// DLServers are the deadline server entities (6.8+ rq->fair_server,
	// 6.12+ ext_server) queued on the deadline tree: they stand for the
	// CFS (or sched_ext) queue, not for a task.
	DLServers []string `json:"dl_servers,omitempty"`
	// Throttled names the throttled groups (cfs_rq->throttled) met.
	Throttled []string `json:"throttled,omitempty"`
	Errors    []string `json:"errors,omitempty"`
}

// Tasks returns every task queued on the run queue (CFS depth first,
// RT, DL), without the current one unless it is queued.
func (r *Runq) Tasks() []RunqTask {
	var out []RunqTask
	var walk func(g *CFSGroup)
	walk = func(g *CFSGroup) {
		for _, e := range g.Entries {
			if e.Task != nil {
				out = append(out, *e.Task)
			} else if e.Group != nil {
				walk(e.Group)
			}
		}
	}
	walk(&r.CFS)
	for _, q := range r.RT {
		out = append(out, q.Tasks...)
	}
	out = append(out, r.DL...)
	if r.Stop != nil {
		out = append(out, *r.Stop)
	}
	return out
}

// maxRunqEntries bounds one queue's walk; maxGroupDepth the nesting of
// task groups.
const (
	maxRunqEntries = 1 << 16
	maxGroupDepth  = 32
)

// runqLayout is the offsets the run-queue walk needs, found once.
type runqLayout struct {
	taskTyp             *symbols.Type
	seOff, rtOff, dlOff uint64 // task_struct.se, .rt, .dl
	runNodeOff          uint64 // sched_entity.run_node
	rtRunListOff        uint64 // sched_rt_entity.run_list
	dlRBOff             uint64 // sched_dl_entity.rb_node
	hasMyQ, hasDeadline bool
	hasVlag, hasDelayed bool
	hasRTMyQ            bool
}

func newRunqLayout(p *symbols.Program) (*runqLayout, error) {
	v, err := p.Memo(runqLayoutKey{}, func() (any, error) {
		l := &runqLayout{}
		t, err := p.Type("struct task_struct")
		if err != nil {
			return nil, err
		}
		l.taskTyp = t
		for _, f := range []struct {
			off  *uint64
			typ  string
			path string
		}{
			{&l.seOff, "struct task_struct", "se"}, {&l.rtOff, "struct task_struct", "rt"}, {&l.dlOff, "struct task_struct", "dl"},
			{&l.runNodeOff, "struct sched_entity", "run_node"}, {&l.rtRunListOff, "struct sched_rt_entity", "run_list"},
			{&l.dlRBOff, "struct sched_dl_entity", "rb_node"},
		} {
			if *f.off, err = p.OffsetOf(f.typ, f.path); err != nil {
				return nil, fmt.Errorf("run queues: %w", err)
			}
		}
		has := func(typ, m string) bool { _, err := p.OffsetOf(typ, m); return err == nil }
		l.hasMyQ = has("struct sched_entity", "my_q")          // CONFIG_FAIR_GROUP_SCHED
		l.hasDeadline = has("struct sched_entity", "deadline") // EEVDF, 6.6+ (kernel/sched/fair.c)
		l.hasVlag = has("struct sched_entity", "vlag")
		l.hasDelayed = has("struct sched_entity", "sched_delayed") // delayed dequeue, 6.12+
		l.hasRTMyQ = has("struct sched_rt_entity", "my_q")         // CONFIG_RT_GROUP_SCHED
		return l, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*runqLayout), nil
}

type runqLayoutKey struct{}

// Runqueues reads the run queue of each CPU in cpus (nil: the online
// CPUs). A queue that cannot be read whole is returned with Errors.
func Runqueues(p *symbols.Program, cpus []int) ([]Runq, error) {
	l, err := newRunqLayout(p)
	if err != nil {
		return nil, err
	}
	if cpus == nil {
		if cpus, err = p.OnlineCPUs(); err != nil || len(cpus) == 0 {
			n, nerr := NumCPUs(p)
			if nerr != nil {
				return nil, fmt.Errorf("run queues: no online CPU mask (%v) nor nr_cpu_ids: %w", err, nerr)
			}
			for c := 0; c < n; c++ {
				cpus = append(cpus, c)
			}
		}
	}
	out := make([]Runq, 0, len(cpus))
	for _, c := range cpus {
		out = append(out, readRunq(p, l, c))
	}
	return out, nil
}

func readRunq(p *symbols.Program, l *runqLayout, cpu int) Runq {
	r := Runq{CPU: cpu}
	bad := func(what string, err error) { r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", what, err)) }
	rq, err := Runqueue(p, cpu)
	if err != nil {
		bad("rq", err)
		return r
	}
	r.Addr = rq.Addr()
	r.Clock, _ = rq.MemberUint("clock")
	if v, err := rq.MemberUint("nr_running"); err == nil {
		r.NrRunning = int(v)
	}
	if cur, err := rq.MemberUint("curr"); err != nil {
		bad("curr", err)
	} else if cur != 0 {
		t := l.task(p, cur)
		r.Current = &t
		if idle, err := rq.MemberUint("idle"); err == nil && idle == cur {
			r.Idle = true
		}
		// The stop class (kernel/sched/stop_task.c) has one task per CPU,
		// rq->stop (migration/N), queued by its on_rq alone: in no tree.
		if stop, err := rq.MemberUint("stop"); err == nil && stop != 0 && stop != cur {
			if o, err := p.Object("struct task_struct", stop); err == nil {
				if onrq, err := o.MemberUint("on_rq"); err == nil && onrq == 1 { // TASK_ON_RQ_QUEUED
					t := l.task(p, stop)
					r.Stop = &t
				}
			}
		}
	}
	// CFS: rq->cfs, the root task group's queue (kernel/sched/sched.h).
	if cfs, err := rq.Member("cfs"); err != nil {
		bad("cfs", err)
	} else {
		r.CFS = l.cfsGroup(p, &r, cfs.Addr(), 0, 0)
	}
	// RT: rq->rt.active, a bitmap of the priorities queued and a list per
	// priority (kernel/sched/rt.c).
	if act, err := rq.Member("rt.active"); err != nil {
		bad("rt", err)
	} else {
		r.RTArray = act.Addr()
		if err := l.rtQueues(p, &r, act); err != nil {
			bad("rt", err)
		}
	}
	// Deadline: rq->dl.root, a tree in deadline order (kernel/sched/deadline.c).
	if root, err := rq.Member("dl.root"); err != nil {
		bad("dl", err)
	} else {
		r.DLRoot = root.Addr()
		servers := map[uint64]string{}
		for _, s := range []string{"fair_server", "ext_server"} {
			if m, err := rq.Member(s); err == nil {
				servers[m.Addr()] = s
			}
		}
		nodes, err := kmem.RBTreeNodes(p, root.Addr(), fmt.Sprintf("cpu %d dl.root", cpu), maxRunqEntries)
		if err != nil {
			bad("dl.root", err)
		}
		for _, n := range nodes {
			dl := n - l.dlRBOff
			if s, ok := servers[dl]; ok {
				r.DLServers = append(r.DLServers, s)
				continue
			}
			t := l.task(p, dl-l.dlOff)
			t.Entity = dl
			if o, err := p.Object("struct sched_dl_entity", dl); err == nil {
				t.Deadline, _ = o.MemberUint("deadline")
			}
			r.DL = append(r.DL, t)
		}
	}
	return r
}

// task reads the RunqTask of the task_struct at addr.
func (l *runqLayout) task(p *symbols.Program, addr uint64) RunqTask {
	t := RunqTask{}
	ref, err := TaskRefAt(p, addr)
	t.TaskRef = ref
	if err != nil {
		t.State = "?"
		return t
	}
	o := p.ObjectAt(l.taskTyp, addr)
	if v, err := o.MemberUint("prio"); err == nil {
		t.Prio = int(int32(v))
	}
	t.LastArrival, _ = o.MemberUint("sched_info.last_arrival")
	if tk, err := TaskByAddr(p, addr); err == nil {
		t.State = tk.State
	}
	return t
}

// cfsGroup reads the cfs_rq at addr and the entities on its tree, in
// order, descending into group entities.
func (l *runqLayout) cfsGroup(p *symbols.Program, r *Runq, addr, se uint64, depth int) CFSGroup {
	g := CFSGroup{Entity: se, CfsRq: addr, Entries: []CFSEntry{}}
	bad := func(err error) { r.Errors = append(r.Errors, fmt.Sprintf("cfs_rq %#x: %v", addr, err)) }
	rq, err := p.Object("struct cfs_rq", addr)
	if err != nil {
		bad(err)
		return g
	}
	// nr_running, renamed nr_queued in 6.15.
	for _, m := range []string{"nr_running", "nr_queued"} {
		if v, err := rq.MemberUint(m); err == nil {
			g.NrRunning = int(v)
			break
		}
	}
	if v, err := rq.MemberUint("throttled"); err == nil {
		g.Throttled = v != 0
	}
	g.TaskGroup, _ = rq.MemberUint("tg")
	g.Name = taskGroupName(p, g.TaskGroup)
	if g.Throttled {
		r.Throttled = append(r.Throttled, g.Name)
	}
	if depth > maxGroupDepth {
		bad(fmt.Errorf("task groups nested deeper than %d", maxGroupDepth))
		return g
	}
	tl, err := rq.Member("tasks_timeline")
	if err != nil {
		bad(err)
		return g
	}
	nodes, err := kmem.RBTreeNodes(p, tl.Addr(), fmt.Sprintf("cfs_rq %#x tasks_timeline", addr), maxRunqEntries)
	if err != nil {
		bad(err)
	}
	for _, n := range nodes {
		se := n - l.runNodeOff
		o, err := p.Object("struct sched_entity", se)
		if err != nil {
			bad(err)
			continue
		}
		var myQ uint64
		if l.hasMyQ {
			myQ, _ = o.MemberUint("my_q")
		}
		vr, _ := o.MemberUint("vruntime")
		var dl uint64
		if l.hasDeadline {
			dl, _ = o.MemberUint("deadline")
		}
		if myQ != 0 {
			sub := l.cfsGroup(p, r, myQ, se, depth+1)
			sub.Vruntime, sub.Deadline = vr, dl
			g.Entries = append(g.Entries, CFSEntry{Group: &sub})
			continue
		}
		t := l.task(p, se-l.seOff)
		t.Entity, t.Vruntime, t.Deadline = se, vr, dl
		if l.hasVlag {
			if v, err := o.MemberUint("vlag"); err == nil {
				t.Vlag = int64(v)
			}
		}
		if l.hasDelayed {
			if v, err := o.MemberUint("sched_delayed"); err == nil {
				t.Delayed = v != 0
			}
		}
		g.Entries = append(g.Entries, CFSEntry{Task: &t})
	}
	return g
}

// rtQueues reads the priority lists of an rt_prio_array whose bitmap bit
// is set (kernel/sched/rt.c pick_next_rt_entity).
func (l *runqLayout) rtQueues(p *symbols.Program, r *Runq, arr symbols.Object) error {
	qOff, err := p.OffsetOfType(arr.Type(), "queue")
	if err != nil {
		return err
	}
	lh, err := p.SizeOf("struct list_head")
	if err != nil {
		return err
	}
	const maxRTPrio = 100 // include/linux/sched/prio.h MAX_RT_PRIO
	for w := 0; w < (maxRTPrio+63)/64; w++ {
		word, err := p.ReadU64(arr.Addr() + uint64(w)*8)
		if err != nil {
			return err
		}
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			prio := w*64 + b
			if prio >= maxRTPrio {
				continue
			}
			head := arr.Addr() + qOff + uint64(prio)*lh
			nodes, err := kmem.ListHeadNodes(p, head, fmt.Sprintf("cpu %d rt queue %d", r.CPU, prio), maxRunqEntries)
			if err != nil {
				r.Errors = append(r.Errors, err.Error())
			}
			q := RTQueue{Prio: prio}
			for _, n := range nodes {
				rtse := n - l.rtRunListOff
				if l.hasRTMyQ {
					if o, err := p.Object("struct sched_rt_entity", rtse); err == nil {
						if mq, _ := o.MemberUint("my_q"); mq != 0 {
							r.Errors = append(r.Errors, fmt.Sprintf("rt group entity %#x not descended into", rtse))
							continue
						}
					}
				}
				t := l.task(p, rtse-l.rtOff)
				t.Entity = rtse
				q.Tasks = append(q.Tasks, t)
			}
			r.RT = append(r.RT, q)
		}
	}
	return nil
}

// taskGroupName is the cgroup path of a task group
// (tg->css.cgroup->kn, kernfs names up to the root); "/" for the root
// group, "" when it cannot be read.
func taskGroupName(p *symbols.Program, tg uint64) string {
	if tg == 0 {
		return "/"
	}
	o, err := p.Object("struct task_group", tg)
	if err != nil {
		return ""
	}
	kn, err := o.MemberUint("css.cgroup")
	if err == nil {
		var cg symbols.Object
		if cg, err = p.Object("struct cgroup", kn); err == nil {
			kn, err = cg.MemberUint("kn")
		}
	}
	if err != nil || kn == 0 {
		return ""
	}
	var parts []string
	for i := 0; kn != 0 && i < 64; i++ {
		n, err := p.Object("struct kernfs_node", kn)
		if err != nil {
			break
		}
		var parent uint64
		for _, m := range []string{"parent", "__parent"} { // __parent since 6.15
			if parent, err = n.MemberUint(m); err == nil {
				break
			}
		}
		if parent == 0 {
			break // the root's name is the hierarchy's, not part of the path
		}
		np, _ := n.MemberUint("name")
		s, _ := p.ReadString(np, 256)
		parts = append([]string{s}, parts...)
		kn = parent
	}
	path := "/"
	for i, s := range parts {
		if i > 0 {
			path += "/"
		}
		path += s
	}
	return path
}
