package repl

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kwalk/kwalk/walkers/sched"
)

// ps's crash views (-l -p -c -t -g -r -S): what each adds to the rows and
// how it is printed.

// PsTimes is a task's times for ps -t, in nanoseconds.
type PsTimes struct {
	sched.TaskTimes
	// RunTimeNs is the uptime (CLOCK_BOOTTIME at the last tick) less
	// start_boottime; absent when the timekeeper cannot be read.
	RunTimeNs *uint64 `json:"run_time_ns,omitempty"`
}

// PsGroup is one task of ps -p, -c or -g with the tasks the view relates
// it to.
type PsGroup struct {
	Task PsRow `json:"task"`
	// Ancestors (-p) run from the root (swapper/0) to the task's parent.
	Ancestors []PsRow `json:"ancestors,omitempty"`
	// Children (-c) are the tasks whose real_parent is the task.
	Children []PsRow `json:"children,omitempty"`
	// Threads (-g) are the other threads of the group whose leader is Task.
	Threads []PsRow `json:"threads,omitempty"`
}

// psViews are ps's view flags, which exclude each other.
var psViews = []string{"m", "l", "p", "c", "t", "g", "r", "S", "Y", "a"}

func psView(c *Call) (string, error) {
	view := ""
	for _, v := range psViews {
		if c.Bool(v) {
			if view != "" {
				return "", UsageErrorf("ps: -%s and -%s exclude each other", view, v)
			}
			view = v
		}
	}
	return view, nil
}

// parsePolicies reads -y: policy names or numbers, comma-separated.
func parsePolicies(s string) (map[int]bool, error) {
	out := map[int]bool{}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		v, err := sched.ParsePolicy(part)
		if err != nil {
			return nil, UsageErrorf("ps -y: %v", err)
		}
		out[v] = true
	}
	if len(out) == 0 {
		return nil, UsageErrorf("ps -y: no policy given")
	}
	return out, nil
}

func joinErr(a, b error) error {
	if a == nil {
		return b
	}
	return errors.Join(a, b)
}

// psFillView adds what res.view needs: sel are the selected tasks (in
// res.Tasks order), all every task.
func psFillView(c *Call, res *PsResult, all, sel []sched.Task) error {
	switch res.view {
	case "l":
		for i, t := range sel {
			v := t.LastArrival
			res.Tasks[i].LastArrival = &v
		}
		sort.SliceStable(res.Tasks, func(i, j int) bool {
			return *res.Tasks[i].LastArrival > *res.Tasks[j].LastArrival
		})
	case "t":
		// staleClock is how far the dump's uptime (the timekeeper as of
		// its last update) may lag a task's start time before the start
		// is taken for wrong rather than recent.
		const staleClock = 2 * uint64(time.Second)
		tk, tkOK := readTimekeeper(c.Prog)
		for i, t := range sel {
			tt, err := t.Times()
			if err != nil {
				res.Tasks[i].Errors = append(res.Tasks[i].Errors, "times: "+err.Error())
				continue
			}
			pt := &PsTimes{TaskTimes: tt}
			if up := uint64(tk.uptime); tkOK && up >= tt.StartBootNs {
				run := up - tt.StartBootNs
				pt.RunTimeNs = &run
			} else if tkOK && tt.StartBootNs-up <= staleClock {
				// Started after the timekeeper's last update (it is
				// brought forward at ticks; an idle CPU skips them): it
				// has run for less than the clock's lag.
				run := uint64(0)
				pt.RunTimeNs = &run
			}
			res.Tasks[i].Times = pt
		}
	case "r":
		// Threads share their group's signal_struct, and so its limits.
		type lims struct {
			rl  []sched.Rlimit
			err error
		}
		byGroup := map[int]lims{}
		for i, t := range sel {
			l, ok := byGroup[t.TGID]
			if !ok || t.Idle {
				l.rl, l.err = t.Rlimits()
				byGroup[t.TGID] = l
			}
			rl, err := l.rl, l.err
			if err != nil {
				res.Tasks[i].Errors = append(res.Tasks[i].Errors, "rlimits: "+err.Error())
			}
			res.Tasks[i].Rlimits = rl
		}
	case "S":
		res.Summary = map[string]int{}
		for _, r := range res.Tasks {
			res.Summary[r.CrashState]++
		}
	case "p", "c", "g":
		return psFillGroups(c, res, all, sel)
	case "Y", "a":
		return psFillCrashView(c, res, sel) // cmd_ps_crash.go
	}
	return nil
}

// psFillGroups builds the -p, -c and -g hierarchies from real_parent and
// tgid.
func psFillGroups(c *Call, res *PsResult, all, sel []sched.Task) error {
	byAddr := make(map[uint64]int, len(all))
	for i, t := range all {
		byAddr[t.Addr] = i
	}
	rowOf := func(i int) PsRow { return psRow(all[i]) }
	parents := make([]uint64, len(all))
	var perr error
	if res.view != "g" {
		for i, t := range all {
			if i%1024 == 0 {
				if err := c.Ctx.Err(); err != nil {
					return err
				}
			}
			if t.Idle {
				continue
			}
			p, err := t.Parent()
			if err != nil {
				perr = joinErr(perr, err)
				continue
			}
			parents[i] = p
		}
		if perr != nil {
			res.Warnings = append(res.Warnings, "real_parent: "+perr.Error())
		}
	}
	var children map[uint64][]int
	if res.view == "c" {
		children = map[uint64][]int{}
		for i, p := range parents {
			if p != 0 {
				children[p] = append(children[p], i)
			}
		}
	}
	var threads map[int][]int
	if res.view == "g" {
		threads = map[int][]int{}
		for i, t := range all {
			if !t.Idle {
				threads[t.TGID] = append(threads[t.TGID], i)
			}
		}
	}
	seenGroup := map[int]bool{}
	for k, t := range sel {
		g := PsGroup{Task: res.Tasks[k]}
		switch res.view {
		case "p":
			// From the task up, bounded by the number of tasks (a cycle in
			// damaged memory ends the walk).
			cur, ok := byAddr[t.Addr]
			for n := 0; ok && n <= len(all); n++ {
				p := parents[cur]
				if p == 0 {
					break
				}
				if cur, ok = byAddr[p]; !ok {
					g.Task.Errors = append(g.Task.Errors, fmt.Sprintf("parent %#x is not in the task list", p))
					break
				}
				g.Ancestors = append(g.Ancestors, rowOf(cur))
			}
			for i, j := 0, len(g.Ancestors)-1; i < j; i, j = i+1, j-1 {
				g.Ancestors[i], g.Ancestors[j] = g.Ancestors[j], g.Ancestors[i]
			}
		case "c":
			for _, i := range children[t.Addr] {
				g.Children = append(g.Children, rowOf(i))
			}
		case "g":
			if t.Idle {
				break
			}
			if seenGroup[t.TGID] {
				continue
			}
			seenGroup[t.TGID] = true
			members := threads[t.TGID]
			leader := -1
			for _, i := range members {
				if all[i].IsLeader() {
					leader = i
				}
			}
			if leader >= 0 {
				g.Task = rowOf(leader)
			}
			for _, i := range members {
				if i != leader {
					g.Threads = append(g.Threads, rowOf(i))
				}
			}
		}
		res.Groups = append(res.Groups, g)
	}
	return nil
}

// psTaskLine is crash's one-line task header.
func psTaskLine(r PsRow) string {
	return fmt.Sprintf("PID: %-6d TASK: %016x  CPU: %-3s COMMAND: %q", r.TID, uint64(r.Task), psCPU(r.CPU), r.Comm)
}

func psCPU(cpu int) string {
	if cpu < 0 {
		return "-"
	}
	return strconv.Itoa(cpu)
}

// formatRunTime renders a duration like crash's convert_time: "hh:mm:ss",
// with "N days, " before it past a day.
func formatRunTime(ns uint64) string {
	d := time.Duration(ns)
	days := int64(d / (24 * time.Hour))
	d -= time.Duration(days) * 24 * time.Hour
	s := fmt.Sprintf("%02d:%02d:%02d", int64(d/time.Hour), int64(d/time.Minute)%60, int64(d/time.Second)%60)
	if days > 0 {
		s = fmt.Sprintf("%d days, %s", days, s)
	}
	return s
}

func formatRlim(v uint64) string {
	if v == sched.RlimInfinity {
		return "(unlimited)"
	}
	return strconv.FormatUint(v, 10)
}

// writeView prints the -l -p -c -t -g -r -S views.
func (r *PsResult) writeView(b *strings.Builder) {
	switch r.view {
	case "S":
		for _, st := range sched.CrashStates() {
			if n := r.Summary[st]; n > 0 {
				fmt.Fprintf(b, "  %s: %d\n", st, n)
			}
		}
		// States crash has no name for, should any appear.
		var other []string
		for st := range r.Summary {
			if !strings.Contains(" "+strings.Join(sched.CrashStates(), " ")+" ", " "+st+" ") {
				other = append(other, st)
			}
		}
		sort.Strings(other)
		for _, st := range other {
			fmt.Fprintf(b, "  %s: %d\n", st, r.Summary[st])
		}
	case "l":
		width := 1
		for _, t := range r.Tasks {
			if t.LastArrival != nil {
				width = max(width, len(strconv.FormatUint(*t.LastArrival, 10)))
			}
		}
		for _, t := range r.Tasks {
			fmt.Fprintf(b, "[%*d] [%s]  %s\n", width, *t.LastArrival, t.CrashState, psTaskLine(t))
		}
	case "t":
		for i, t := range r.Tasks {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(psTaskLine(t) + "\n")
			if t.Times == nil {
				b.WriteString("    (times unreadable)\n")
				continue
			}
			run := "(unknown)"
			if t.Times.RunTimeNs != nil {
				run = formatRunTime(*t.Times.RunTimeNs)
			}
			fmt.Fprintf(b, "    RUN TIME: %s\n  START TIME: %d\n       UTIME: %d\n       STIME: %d\n",
				run, t.Times.StartBootNs, t.Times.UtimeNs, t.Times.StimeNs)
		}
	case "r":
		for i, t := range r.Tasks {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(psTaskLine(t) + "\n")
			if len(t.Rlimits) == 0 {
				b.WriteString("    (resource limits unreadable)\n")
				continue
			}
			b.WriteString("     RLIMIT     CURRENT       MAXIMUM\n")
			for _, l := range t.Rlimits {
				fmt.Fprintf(b, "%11s   %-13s %s\n", l.Name, formatRlim(l.Cur), formatRlim(l.Max))
			}
		}
	case "p", "c", "g":
		for i, g := range r.Groups {
			if i > 0 {
				b.WriteByte('\n')
			}
			switch r.view {
			case "p":
				for d, a := range g.Ancestors {
					b.WriteString(strings.Repeat(" ", d) + psTaskLine(a) + "\n")
				}
				b.WriteString(strings.Repeat(" ", len(g.Ancestors)) + psTaskLine(g.Task) + "\n")
			case "c":
				b.WriteString(psTaskLine(g.Task) + "\n")
				if len(g.Children) == 0 {
					b.WriteString("  (no children)\n")
				}
				for _, ch := range g.Children {
					b.WriteString("  " + psTaskLine(ch) + "\n")
				}
			case "g":
				b.WriteString(psTaskLine(g.Task) + "\n")
				for _, th := range g.Threads {
					b.WriteString("  " + psTaskLine(th) + "\n")
				}
			}
		}
	}
}
