package repl

import (
	"context"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
)

func registerPs(r *Registry) {
	r.SetTaskSource(walkerTasks)
	r.Add(&Command{
		Name:    "ps",
		Summary: "list tasks (threads) with state, CPU and command",
		Usage:   "ps [-k|-u] [-G] [-I] [-A] [-x] [-y POLICY] [--state STATES] [--comm GLOB] [-s] [-H] [--tgid] [-m|-l [-C CPUS]|-p|-c|-t|-g|-r|-S|-Y|-a] [PID|TASK|COMM]...",
		Help: `Lists every task, threads included, like crash: the per-CPU idle tasks
(swapper/N, PID 0), then by PID. ">" marks a task running on a CPU.
%MEM, VSZ and RSS (KB) are those of the task's mm, as /proc/PID/status.
ST is the /proc state letter: R running, S sleeping, D uninterruptible,
T stopped, t traced, Z zombie, X dead, P parked, I idle. Kernel threads'
names are in brackets. Arguments select tasks by PID, task_struct address
or command name (a glob); several arguments select their union.

Filters (any together): -k kernel threads, -u user tasks, -G thread-group
leaders, -I no idle tasks (swapper/N), -A the task each CPU's runqueue was
running (rq->curr), -x exiting tasks, -y POLICY scheduling policies
(NORMAL FIFO RR BATCH IDLE DEADLINE or numbers, comma-separated), --state
STATES (letters D, DZ or crash's names UN,ZO), --comm GLOB.

-s shows the KSTACKP column instead of TASK, as crash: the kernel stack
pointer saved at the task's last switch (thread.sp on x86_64,
thread.cpu_context.sp on arm64), "--" for a task running on a CPU, whose
saved value is stale. -H leaves out the header line.

Views, one at a time, as crash shows them (each task as "PID: ... TASK:
... CPU: ... COMMAND: ..."):
  -m  time since each task last ran (sched_info.last_arrival against its
      CPU's runqueue clock) as "[days hh:mm:ss.mmm] [ST]", most recent first
  -l  the raw last_arrival timestamp (ns of its CPU's rq clock), most
      recent first
  -p  the parental hierarchy: real_parent links from swapper/0 down to
      each task
  -c  the children of each task (tasks whose real_parent it is)
  -t  run time (uptime less start_boottime), start time (ns after boot)
      and the user and system time charged to the thread (ns)
  -g  tasks by thread group: the leader, then its other threads
  -r  the thread group's resource limits (signal->rlim)
  -S  how many of the selected tasks are in each state (RU, IN, UN, ...)
  -Y  the scheduling policy and priority (task->prio: 0-99 real-time,
      100-139 normal, 120 being nice 0) of each task, in the table
  -a  the command line and environment of user tasks, read from their
      memory (mm->arg_start..arg_end, env_start..env_end); dumps that
      leave out user pages (makedumpfile -d 31) cannot show them and say so
-C CPUS with -l or -m lists the tasks of each of these CPUs in a block
(comma-separated, ranges "0-3", or "a"/"all").
Before crash's flags came in, --tgid was -t, --comm was -c and --state
was -s.

JSON: {"tasks": [{"pid", "tid", "tgid", "ppid", "ns_pids", "cpu", "task"
(address string), "state" (letter), "crash_state", "raw_state",
"state_names" (TASK_* bits: tells TASK_KILLABLE and TASK_NOLOAD), "exit_state",
"flags" (hex string), "flag_names", "comm", "name", "kthread", "exiting",
"on_cpu", "idle", "since_ran_ns" (absent when unknown), "rss_kb", "vsz_kb",
"mem_percent" (of _totalram_pages), "sig_pnd", "shd_pnd"
(16 hex digits like /proc), "last_arrival" (-l), "policy" (-y),
"kstackp" (-s, absent for running tasks), "prio" (-Y), "args", "env"
(-a: strings), "times" (-t: {"start_time_ns", "start_boottime_ns", "utime_ns",
"stime_ns", "run_time_ns"}), "rlimits" (-r: [{"name", "cur", "max"}],
18446744073709551615 for unlimited), "errors"}], "groups" (-p, -c, -g:
[{"task": row, "ancestors": [rows, swapper/0 first], "children": [rows],
"threads": [rows]}]), "summary" (-S: {"RU": n, ...}), "warnings": [...]}.
In text mode the warnings and each task's errors go to stderr, not into
the table.`,
		Flags: []Flag{
			{Name: "m", Help: "show the time since each task last ran, most recent first"},
			{Name: "l", Help: "show each task's last_arrival timestamp (ns), most recent first"},
			{Name: "p", Help: "show the parental hierarchy of each task"},
			{Name: "c", Help: "show the children of each task"},
			{Name: "t", Help: "show run time, start time and user/system time"},
			{Name: "g", Help: "show tasks by thread group: leader, then its threads"},
			{Name: "r", Help: "show the resource limits"},
			{Name: "S", Help: "show how many tasks are in each state"},
			{Name: "A", Help: "only the task running on each CPU (rq->curr)"},
			{Name: "y", Arg: "POLICY", Help: "only tasks with these scheduling policies (NORMAL,FIFO,RR,BATCH,IDLE,DEADLINE or numbers)"},
			{Name: "G", Help: "only thread-group leaders (processes)"},
			{Name: "k", Help: "only kernel threads"},
			{Name: "u", Help: "only user tasks"},
			{Name: "x", Help: "only exiting tasks (PF_EXITING)"},
			{Name: "I", Help: "leave out the idle tasks (swapper/N)"},
			{Name: "state", Arg: "STATES", Help: "only tasks in these states: letters (D, S, DZ) or crash names (UN,ZO) (was -s)"},
			{Name: "s", Help: "show the saved kernel stack pointer (KSTACKP) instead of the task address"},
			{Name: "H", Help: "no header line"},
			{Name: "Y", Help: "show each task's scheduling policy and priority"},
			{Name: "a", Help: "show the command line and environment of user tasks"},
			{Name: "C", Arg: "CPUS", Help: "with -l or -m: the tasks of these CPUs, a block per CPU"},
			{Name: "comm", Arg: "GLOB", Help: "only tasks whose command matches GLOB (was -c)"},
			{Name: "tgid", Help: "show the thread-group id (TGID) column (was -t)"},
		},
		Examples: []string{"ps", "ps --state D", "ps -us", "ps -Y -I", "ps -a hangfs", "ps -m -C 0", "ps -m", "ps -G -u --tgid", "ps --comm 'kworker*'", "ps 1 hangfs",
			"ps -p 1234", "ps -c 1", "ps -g 1234", "ps -t 1", "ps -r 1", "ps -S", "ps -A", "ps -y FIFO", "ps -l", "ps --json --state D"},
		Complete: func(c *Completion) []string { return c.Pids() },
		Run:      runPs,
	})
}

// walkerTasks is the registry's task source: sched.Tasks. When the lists
// cannot be walked whole, the tasks found come with the error.
func walkerTasks(ctx context.Context, prog *symbols.Program) ([]TaskInfo, error) {
	ts, err := sched.TasksContext(ctx, prog)
	if len(ts) == 0 && err != nil {
		return nil, err
	}
	out := make([]TaskInfo, 0, len(ts))
	for _, t := range ts {
		out = append(out, taskInfoOf(t))
	}
	return out, err
}

// PsRow is one task of "ps".
type PsRow struct {
	PID        int     `json:"pid"`
	TID        int     `json:"tid"`
	TGID       int     `json:"tgid"`
	PPID       int     `json:"ppid"`
	NSPIDs     []int   `json:"ns_pids,omitempty"`
	CPU        int     `json:"cpu"`
	Task       Hex     `json:"task"`
	State      string  `json:"state"`
	CrashState string  `json:"crash_state"`
	RawState   Hex     `json:"raw_state"`
	StateNames string  `json:"state_names"` // "TASK_UNINTERRUPTIBLE|TASK_WAKEKILL" (killable), "...|TASK_NOLOAD" (idle)
	ExitState  Hex     `json:"exit_state"`
	Flags      Hex     `json:"flags"`
	FlagNames  string  `json:"flag_names"`
	Comm       string  `json:"comm"`
	Name       string  `json:"name"`
	Kthread    bool    `json:"kthread"`
	Exiting    bool    `json:"exiting"`
	OnCPU      bool    `json:"on_cpu"`
	Idle       bool    `json:"idle"`
	SinceRanNs *int64  `json:"since_ran_ns,omitempty"` // absent when unknown
	RSSKB      uint64  `json:"rss_kb"`
	VSZKB      uint64  `json:"vsz_kb"`
	MemPercent float64 `json:"mem_percent"`
	SigPnd     string  `json:"sig_pnd"`
	ShdPnd     string  `json:"shd_pnd"`
	// LastArrival is sched_info.last_arrival (-l).
	LastArrival *uint64 `json:"last_arrival,omitempty"`
	// Policy is the scheduling policy's name (-y, -Y).
	Policy string `json:"policy,omitempty"`
	// KStackP (-s) is the kernel stack pointer saved at the last switch;
	// absent for a task running on a CPU.
	KStackP *Hex `json:"kstackp,omitempty"`
	// Prio (-Y) is task->prio.
	Prio *int `json:"prio,omitempty"`
	// Args and Env (-a) are the command line and environment strings.
	Args    []string       `json:"args,omitempty"`
	Env     []string       `json:"env,omitempty"`
	Times   *PsTimes       `json:"times,omitempty"`
	Rlimits []sched.Rlimit `json:"rlimits,omitempty"`
	Errors  []string       `json:"errors,omitempty"`
}

// PsResult is the result of "ps".
type PsResult struct {
	Tasks []PsRow `json:"tasks"`
	// Groups are the hierarchies of -p, -c and -g, one per task shown.
	Groups []PsGroup `json:"groups,omitempty"`
	// Summary counts the tasks by crash state (-S).
	Summary  map[string]int `json:"summary,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`

	lastRan  bool
	showTGID bool
	view     string // "l", "p", "c", "t", "g", "r", "S", "Y", "a" or ""
	kstackp  bool   // -s: KSTACKP instead of TASK
	noHeader bool   // -H
	perCPU   []int  // -C: the CPUs of -l/-m's blocks
}

func psRow(t sched.Task) PsRow {
	r := PsRow{
		PID: t.TGID, TID: t.PID, TGID: t.TGID, PPID: t.PPID, NSPIDs: t.NSPIDs, CPU: t.CPU,
		Task: Hex(t.Addr), State: t.State, CrashState: t.CrashState(), RawState: Hex(t.RawState),
		StateNames: sched.StateNames(t.RawState),
		ExitState:  Hex(t.ExitState), Flags: Hex(t.Flags), FlagNames: sched.FlagNames(t.Flags),
		Comm: t.Comm, Name: t.Name, Kthread: t.Kthread(), Exiting: t.Exiting(), OnCPU: t.OnCPU, Idle: t.Idle,
		SigPnd: sched.FormatSigset(t.SigPnd), ShdPnd: sched.FormatSigset(t.ShdPnd),
		Errors: t.Errors,
	}
	if t.HasSinceRan {
		ns := int64(t.SinceRan)
		r.SinceRanNs = &ns
	}
	return r
}

func runPs(c *Call) (Result, error) {
	if c.Bool("k") && c.Bool("u") {
		return nil, UsageErrorf("ps: -k and -u exclude each other")
	}
	states, err := parseStates(c.String("state"))
	if err != nil {
		return nil, err
	}
	ts, werr := sched.TasksContext(c.Ctx, c.Prog)
	if len(ts) == 0 && werr != nil {
		return nil, werr
	}
	view, err := psView(c)
	if err != nil {
		return nil, err
	}
	var policies map[int]bool
	if c.IsSet("y") {
		if policies, err = parsePolicies(c.String("y")); err != nil {
			return nil, err
		}
	}
	var active map[uint64]bool
	if c.Bool("A") {
		cur, aerr := sched.ActiveTasks(c.Prog)
		if len(cur) == 0 && aerr != nil {
			return nil, aerr
		}
		active = map[uint64]bool{}
		for _, a := range cur {
			active[a] = true
		}
		if aerr != nil {
			werr = joinErr(werr, aerr)
		}
	}
	res := &PsResult{lastRan: view == "m", showTGID: c.Bool("tgid"), view: view, kstackp: c.Bool("s"), noHeader: c.Bool("H")}
	if res.perCPU, err = psCPUBlocks(c, view); err != nil { // cmd_ps_crash.go
		return nil, err
	}
	var cpuSet map[int]bool
	if res.perCPU != nil {
		cpuSet = map[int]bool{}
		for _, cpu := range res.perCPU {
			cpuSet[cpu] = true
		}
	}
	var sel []sched.Task
	// Memory columns like crash: threads share their process's mm.
	pageKB := sched.PageSize(c.Prog) / 1024
	totalPages, _ := sched.TotalRAMPages(c.Prog)
	memByTGID := map[int]sched.TaskMem{}
	if werr != nil {
		res.Warnings = append(res.Warnings, strings.Split(werr.Error(), "\n")...)
	}
	glob := c.String("comm")
	for _, t := range ts {
		if err := c.Ctx.Err(); err != nil {
			return nil, err
		}
		switch {
		case c.Bool("G") && !t.IsLeader() && !t.Idle,
			c.Bool("k") && !(t.Kthread() || t.Idle),
			c.Bool("u") && (t.Kthread() || t.Idle),
			c.Bool("x") && !t.Exiting(),
			c.Bool("I") && t.Idle,
			cpuSet != nil && !cpuSet[t.CPU],
			states != nil && !states[t.State],
			glob != "" && !psGlobMatch(glob, t.Comm, t.Name),
			len(c.Args) > 0 && !psSelected(c.Args, t),
			active != nil && !active[t.Addr]:
			continue
		}
		row := psRow(t)
		if c.Bool("s") {
			psKStackP(&row, t) // cmd_ps_crash.go
		}
		if policies != nil {
			pol, err := t.Policy()
			if err != nil {
				return nil, err
			}
			if !policies[pol] {
				continue
			}
			row.Policy = sched.PolicyName(pol)
		}
		if !t.Kthread() && !t.Idle {
			m, ok := memByTGID[t.TGID]
			if !ok {
				var err error
				if m, err = sched.TaskMemory(c.Prog, t); err != nil {
					row.Errors = append(row.Errors, "memory: "+err.Error())
				}
				memByTGID[t.TGID] = m
			}
			row.RSSKB, row.VSZKB = m.RSSPages*pageKB, m.VMPages*pageKB
			if totalPages > 0 {
				row.MemPercent = float64(m.RSSPages) * 100 / float64(totalPages)
			}
		}
		res.Tasks = append(res.Tasks, row)
		sel = append(sel, t)
	}
	if active != nil {
		// By CPU, as crash lists them.
		sort.SliceStable(res.Tasks, func(i, j int) bool { return res.Tasks[i].CPU < res.Tasks[j].CPU })
	}
	if err := psFillView(c, res, ts, sel); err != nil {
		return nil, err
	}
	if res.lastRan {
		sort.SliceStable(res.Tasks, func(i, j int) bool {
			a, b := res.Tasks[i].SinceRanNs, res.Tasks[j].SinceRanNs
			if (a == nil) != (b == nil) {
				return a != nil
			}
			return a != nil && *a < *b
		})
	}
	return res, nil
}

// parseStates reads "-s D", "-s DZ", "-s UN,ZO" into a set of /proc letters.
func parseStates(s string) (map[string]bool, error) {
	if s == "" {
		return nil, nil
	}
	crash := map[string]string{"RU": "R", "IN": "S", "UN": "D", "ST": "T", "TR": "t", "DE": "X", "ZO": "Z", "PA": "P", "ID": "I"}
	set := make(map[string]bool)
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		if l, ok := crash[strings.ToUpper(part)]; ok && len(part) == 2 {
			set[l] = true
			continue
		}
		for _, ch := range part {
			if !strings.ContainsRune("RSDTtXZPI", ch) {
				return nil, UsageErrorf("ps --state: unknown state %q (use R S D T t X Z P I or RU IN UN ST TR DE ZO PA ID)", string(ch))
			}
			set[string(ch)] = true
		}
	}
	return set, nil
}

func psGlobMatch(glob string, names ...string) bool {
	for _, n := range names {
		if ok, _ := path.Match(glob, n); ok {
			return true
		}
	}
	return false
}

// psSelected reports whether t matches one of the arguments: a PID, a
// task address (hex) or a command glob.
func psSelected(args []string, t sched.Task) bool {
	for _, a := range args {
		if n, err := strconv.ParseInt(a, 10, 64); err == nil {
			if int64(t.PID) == n {
				return true
			}
			continue
		}
		if v, err := strconv.ParseUint(strings.TrimPrefix(a, "0x"), 16, 64); err == nil && v > 0xffff {
			if v == t.Addr {
				return true
			}
			continue
		}
		if psGlobMatch(a, t.Comm, t.Name) {
			return true
		}
	}
	return false
}

// psCommName is how ps prints a command: kernel threads in brackets.
func psCommName(r PsRow) string {
	if r.Kthread || r.Idle {
		return "[" + r.Comm + "]"
	}
	return r.Comm
}

// WriteText implements Result.
func (r *PsResult) WriteText(w io.Writer) error {
	var b strings.Builder
	switch {
	case r.perCPU != nil:
		r.writeCPUBlocks(&b) // cmd_ps_crash.go
	case r.view == "Y" || r.view == "a":
		r.writeCrashView(&b) // cmd_ps_crash.go
	case r.view != "" && r.view != "m":
		r.writeView(&b)
	case r.lastRan:
		for _, t := range r.Tasks {
			writeSinceRanLine(&b, t)
		}
	default:
		col := "        TASK        "
		if r.kstackp {
			col = "      KSTACKP       "
		}
		switch {
		case r.noHeader:
		case r.showTGID:
			fmt.Fprintf(&b, "   PID    TGID    PPID  CPU%sST  %%MEM      VSZ      RSS  COMM\n", col)
		default:
			fmt.Fprintf(&b, "   PID    PPID  CPU%sST  %%MEM      VSZ      RSS  COMM\n", col)
		}
		for _, t := range r.Tasks {
			mark := " "
			if t.OnCPU {
				mark = ">"
			}
			mem := fmt.Sprintf("%4.1f %8d %8d", t.MemPercent, t.VSZKB, t.RSSKB)
			ptr := r.pointer(t) // cmd_ps_crash.go
			if r.showTGID {
				fmt.Fprintf(&b, "%s%6d  %6d  %6d  %3d  %s  %s   %s  %s\n", mark, t.TID, t.TGID, t.PPID, t.CPU, ptr, t.State, mem, psCommName(t))
			} else {
				fmt.Fprintf(&b, "%s%6d  %6d  %3d  %s  %s   %s  %s\n", mark, t.TID, t.PPID, t.CPU, ptr, t.State, mem, psCommName(t))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ResultWarnings implements Warner: each task's errors and the walk's go
// to stderr, never into the table.
func (r *PsResult) ResultWarnings() []string {
	var out []string
	for _, t := range r.Tasks {
		for _, e := range t.Errors {
			out = append(out, fmt.Sprintf("pid %d (%#x): %s", t.TID, uint64(t.Task), e))
		}
	}
	return append(out, r.Warnings...)
}

// formatSinceRan renders nanoseconds like crash's ps -m: "  0 04:32:10.123"
// (days, then hh:mm:ss.mmm); "  - --:--:--.---" when unknown.
func formatSinceRan(ns *int64) string {
	if ns == nil || *ns < 0 {
		return "  - --:--:--.---"
	}
	d := time.Duration(*ns)
	days := int64(d / (24 * time.Hour))
	d -= time.Duration(days) * 24 * time.Hour
	h := int64(d / time.Hour)
	d -= time.Duration(h) * time.Hour
	m := int64(d / time.Minute)
	d -= time.Duration(m) * time.Minute
	s := int64(d / time.Second)
	d -= time.Duration(s) * time.Second
	return fmt.Sprintf("%3d %02d:%02d:%02d.%03d", days, h, m, s, int64(d/time.Millisecond))
}

// maxTasks bounds a pid given on the command line (pid_max is at most 4M,
// include/linux/threads.h PID_MAX_LIMIT).
const maxTasks = 1 << 22

// taskInfo describes the task_struct t for set, foreach and the prompt.
// What the task walker cannot read is left at its zero value.
func taskInfo(t symbols.Object) TaskInfo {
	st, err := sched.TaskFromObject(t)
	if err != nil {
		ti := TaskInfo{Task: t, CPU: -1}
		if v, err := t.MemberUint("pid"); err == nil {
			ti.PID = int(int32(v))
		}
		ti.Comm, _ = t.MemberString("comm")
		return ti
	}
	return taskInfoOf(st)
}

func taskInfoOf(t sched.Task) TaskInfo {
	return TaskInfo{PID: t.PID, Comm: t.Comm, State: t.CrashState(), CPU: t.CPU, Kernel: t.Kthread() || t.Idle, Task: t.Obj}
}
