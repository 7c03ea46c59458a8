package repl

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/walkers/sched"
)

func registerRunq(r *Registry) {
	r.Add(&Command{
		Name:    "runq",
		Summary: "per-CPU run queues: current task, CFS, RT and deadline queues",
		Usage:   "runq [-t] [-g] [-c CPU[,CPU...]]",
		Help: `Shows the run queue (struct rq) of each online CPU, like crash's runq: the
current task, the RT priority array (rq->rt.active: one list per priority
queued), the CFS tree (rq->cfs.tasks_timeline) in order, and the deadline
tree (rq->dl.root). Each task is shown as [PRIO] PID, task_struct and
command; CFS tasks with their vruntime and, on EEVDF kernels (6.6+), their
virtual deadline. A group scheduling entity is descended into and its
tasks are indented under the group's cgroup path; a throttled group
(cfs_rq->throttled) is marked THROTTLED and named at the end. On 6.12+ a
task left on the tree by delayed dequeue (se.sched_delayed: asleep, its
lag not yet spent) is marked DELAYED. Deadline server entities (6.8+
rq->fair_server) are named as such.

-t shows timestamps: each CPU's rq->clock and each task's
sched_info.last_arrival (the rq clock, ns, when it last started running).
-g shows the task-group hierarchy: each group's task_group and cfs_rq
addresses and its number of runnable entities. -c limits to CPUs.

JSON: {"runqueues": [{"cpu", "rq", "clock", "nr_running", "current"
(task), "idle", "cfs": group, "rt_prio_array", "rt": [{"prio", "tasks":
[task]}], "dl_root", "dl": [task], "dl_servers", "throttled": [group
paths], "errors"}]}; a group is {"entity", "cfs_rq", "task_group",
"name", "vruntime", "deadline", "throttled", "nr_running", "entries":
[{"task"} or {"group"}]}; a task is {"task", "pid", "tgid", "comm",
"prio", "state", "entity", "vruntime", "deadline", "vlag", "delayed",
"last_arrival"}. Times (clock, vruntime, deadline, last_arrival) are
nanosecond numbers.`,
		Flags: []Flag{
			{Name: "t", Help: "timestamps: rq clock and each task's last arrival"},
			{Name: "g", Help: "the task-group hierarchy with addresses"},
			{Name: "c", Arg: "CPUS", Help: "only these CPUs (comma-separated)"},
		},
		Examples: []string{"runq", "runq -t", "runq -g", "runq -c 1", "runq --json"},
		Run:      runRunq,
	})
}

// RunqResult is the result of "runq".
type RunqResult struct {
	Runqueues []RunqRow `json:"runqueues"`

	qs                 []sched.Runq
	timestamps, groups bool
}

// RunqRow is one CPU's run queue of "runq".
type RunqRow struct {
	CPU         int           `json:"cpu"`
	Rq          Hex           `json:"rq"`
	Clock       uint64        `json:"clock"`
	NrRunning   int           `json:"nr_running"`
	Current     *RunqTaskRow  `json:"current,omitempty"`
	Idle        bool          `json:"idle"`
	CFS         RunqGroupRow  `json:"cfs"`
	RTPrioArray Hex           `json:"rt_prio_array"`
	RT          []RunqRTRow   `json:"rt"`
	DLRoot      Hex           `json:"dl_root"`
	DL          []RunqTaskRow `json:"dl"`
	DLServers   []string      `json:"dl_servers,omitempty"`
	Throttled   []string      `json:"throttled,omitempty"`
	Errors      []string      `json:"errors,omitempty"`
}

// RunqTaskRow is a task of "runq".
type RunqTaskRow struct {
	Task        Hex    `json:"task"`
	PID         int    `json:"pid"`
	TGID        int    `json:"tgid"`
	Comm        string `json:"comm"`
	Prio        int    `json:"prio"`
	State       string `json:"state"`
	Entity      Hex    `json:"entity,omitempty"`
	Vruntime    uint64 `json:"vruntime,omitempty"`
	Deadline    uint64 `json:"deadline,omitempty"`
	Vlag        int64  `json:"vlag,omitempty"`
	Delayed     bool   `json:"delayed,omitempty"`
	LastArrival uint64 `json:"last_arrival,omitempty"`
}

// RunqGroupRow is a cfs_rq of "runq": the root one or a task group's.
type RunqGroupRow struct {
	Entity    Hex            `json:"entity,omitempty"`
	CfsRq     Hex            `json:"cfs_rq"`
	TaskGroup Hex            `json:"task_group"`
	Name      string         `json:"name"`
	Vruntime  uint64         `json:"vruntime,omitempty"`
	Deadline  uint64         `json:"deadline,omitempty"`
	Throttled bool           `json:"throttled"`
	NrRunning int            `json:"nr_running"`
	Entries   []RunqEntryRow `json:"entries"`
}

// RunqEntryRow is one entity of a cfs_rq: a task or a group.
type RunqEntryRow struct {
	Task  *RunqTaskRow  `json:"task,omitempty"`
	Group *RunqGroupRow `json:"group,omitempty"`
}

// RunqRTRow is one RT priority's list.
type RunqRTRow struct {
	Prio  int           `json:"prio"`
	Tasks []RunqTaskRow `json:"tasks"`
}

func runqTaskRow(t sched.RunqTask) RunqTaskRow {
	return RunqTaskRow{Task: Hex(t.Addr), PID: t.PID, TGID: t.TGID, Comm: t.Comm, Prio: t.Prio, State: t.State, Entity: Hex(t.Entity),
		Vruntime: t.Vruntime, Deadline: t.Deadline, Vlag: t.Vlag, Delayed: t.Delayed, LastArrival: t.LastArrival}
}

func runqGroupRow(g *sched.CFSGroup) RunqGroupRow {
	r := RunqGroupRow{Entity: Hex(g.Entity), CfsRq: Hex(g.CfsRq), TaskGroup: Hex(g.TaskGroup), Name: g.Name, Vruntime: g.Vruntime,
		Deadline: g.Deadline, Throttled: g.Throttled, NrRunning: g.NrRunning, Entries: []RunqEntryRow{}}
	for _, e := range g.Entries {
		switch {
		case e.Task != nil:
			t := runqTaskRow(*e.Task)
			r.Entries = append(r.Entries, RunqEntryRow{Task: &t})
		case e.Group != nil:
			sub := runqGroupRow(e.Group)
			r.Entries = append(r.Entries, RunqEntryRow{Group: &sub})
		}
	}
	return r
}

func runqRow(q *sched.Runq) RunqRow {
	r := RunqRow{CPU: q.CPU, Rq: Hex(q.Addr), Clock: q.Clock, NrRunning: q.NrRunning, Idle: q.Idle, CFS: runqGroupRow(&q.CFS),
		RTPrioArray: Hex(q.RTArray), RT: []RunqRTRow{}, DLRoot: Hex(q.DLRoot), DL: []RunqTaskRow{}, DLServers: q.DLServers,
		Throttled: q.Throttled, Errors: q.Errors}
	if q.Current != nil {
		t := runqTaskRow(*q.Current)
		r.Current = &t
	}
	for _, rt := range q.RT {
		row := RunqRTRow{Prio: rt.Prio, Tasks: []RunqTaskRow{}}
		for _, t := range rt.Tasks {
			row.Tasks = append(row.Tasks, runqTaskRow(t))
		}
		r.RT = append(r.RT, row)
	}
	for _, t := range q.DL {
		r.DL = append(r.DL, runqTaskRow(t))
	}
	return r
}

// ResultWarnings implements Warner.
func (r *RunqResult) ResultWarnings() []string {
	var out []string
	for _, q := range r.qs {
		for _, e := range q.Errors {
			out = append(out, fmt.Sprintf("cpu %d: %s", q.CPU, e))
		}
	}
	return out
}

func runRunq(c *Call) (Result, error) {
	if err := c.NeedArgs(0, 0); err != nil {
		return nil, err
	}
	var cpus []int
	if s := c.String("c"); s != "" {
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				return nil, UsageErrorf("runq -c: %q is not a CPU", f)
			}
			cpus = append(cpus, n)
		}
	}
	qs, err := sched.Runqueues(c.Prog, cpus)
	if err != nil {
		return nil, err
	}
	res := &RunqResult{Runqueues: []RunqRow{}, qs: qs, timestamps: c.Bool("t"), groups: c.Bool("g")}
	for i := range qs {
		res.Runqueues = append(res.Runqueues, runqRow(&qs[i]))
	}
	return res, nil
}

// WriteText implements Result.
func (r *RunqResult) WriteText(w io.Writer) error {
	for i, q := range r.qs {
		var b strings.Builder
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "CPU %d RUNQUEUE: %x", q.CPU, q.Addr)
		if r.timestamps {
			fmt.Fprintf(&b, "  CLOCK: %d", q.Clock)
		}
		b.WriteString("\n")
		if q.Current != nil {
			fmt.Fprintf(&b, "  CURRENT: %s\n", r.taskText(*q.Current, q.Clock))
		}
		fmt.Fprintf(&b, "  RT PRIO_ARRAY: %x\n", q.RTArray)
		if len(q.RT) == 0 {
			b.WriteString("     [no tasks queued]\n")
		}
		for _, rq := range q.RT {
			for _, t := range rq.Tasks {
				fmt.Fprintf(&b, "     %s\n", r.taskText(t, q.Clock))
			}
		}
		fmt.Fprintf(&b, "  CFS RB_ROOT: %x", q.CFS.CfsRq)
		if r.groups {
			fmt.Fprintf(&b, "  TASK_GROUP: %x  NR_RUNNING: %d", q.CFS.TaskGroup, q.CFS.NrRunning)
		}
		b.WriteString("\n")
		if len(q.CFS.Entries) == 0 {
			b.WriteString("     [no tasks queued]\n")
		}
		r.cfsText(&b, &q.CFS, q.Clock, "     ")
		if q.DLRoot != 0 {
			fmt.Fprintf(&b, "  DL RB_ROOT: %x\n", q.DLRoot)
			if len(q.DL) == 0 && len(q.DLServers) == 0 {
				b.WriteString("     [no tasks queued]\n")
			}
			for _, s := range q.DLServers {
				fmt.Fprintf(&b, "     [%s]\n", s)
			}
			for _, t := range q.DL {
				fmt.Fprintf(&b, "     %s  DEADLINE: %d\n", r.taskText(t, q.Clock), t.Deadline)
			}
		}
		if len(q.Throttled) > 0 {
			fmt.Fprintf(&b, "  THROTTLED: %s\n", strings.Join(q.Throttled, ", "))
		}
		for _, e := range q.Errors {
			fmt.Fprintf(&b, "  (could not read %s)\n", e)
		}
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}

func (r *RunqResult) cfsText(b *strings.Builder, g *sched.CFSGroup, clock uint64, indent string) {
	for _, e := range g.Entries {
		if t := e.Task; t != nil {
			fmt.Fprintf(b, "%s%s  VRUNTIME: %d", indent, r.taskText(*t, clock), t.Vruntime)
			if t.Deadline != 0 {
				fmt.Fprintf(b, "  DEADLINE: %d", t.Deadline)
			}
			if t.Delayed {
				b.WriteString("  DELAYED")
			}
			b.WriteString("\n")
			continue
		}
		sub := e.Group
		if sub == nil {
			continue
		}
		fmt.Fprintf(b, "%sGROUP: %s", indent, sub.Name)
		if r.groups {
			fmt.Fprintf(b, "  TASK_GROUP: %x  CFS_RQ: %x  SE: %x  NR_RUNNING: %d", sub.TaskGroup, sub.CfsRq, sub.Entity, sub.NrRunning)
		}
		if sub.Throttled {
			b.WriteString("  THROTTLED")
		}
		b.WriteString("\n")
		r.cfsText(b, sub, clock, indent+"   ")
	}
}

func (r *RunqResult) taskText(t sched.RunqTask, clock uint64) string {
	s := fmt.Sprintf("[%3d] PID: %-6d TASK: %016x  COMMAND: %q", t.Prio, t.PID, t.Addr, t.Comm)
	if r.timestamps && t.LastArrival != 0 {
		s = fmt.Sprintf("[%d] ", t.LastArrival) + s
	}
	return s
}
