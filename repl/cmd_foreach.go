package repl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/walkers/sched"
)

func registerForeach(r *Registry) {
	r.Add(&Command{
		Name:    "foreach",
		Summary: "run a per-task command for every task, or the tasks that match filters",
		Usage:   "foreach [PID|TASK-ADDR|COMM|STATE|kernel|user]... COMMAND [ARGS]",
		Help: `Runs COMMAND once per task with that task as its context. COMMAND is any
per-task command (bt, task, ...; listed below). Filters
before it select tasks; a task matching any filter is included (none: all
tasks):
  PID          decimal pid
  TASK-ADDR    task_struct address in hex (0x optional, 8+ digits)
  STATE        crash state: RU IN UN ST TR ZO DE ID
  kernel, user kernel threads, user tasks
  COMM         command name, a glob ("kworker*"); quote names that look
               like the above
Arguments after COMMAND are COMMAND's own.

Each task's output is written as soon as it is produced (10,000 tasks are
never held in memory at once); warnings go to stderr.

JSON: {"command","tasks":[{"pid","comm","task","cpu","result","error"}],
"warnings"}, result being COMMAND's own JSON document.`,
		RawArgs: true,
		MoreHelp: func(r *Registry) string {
			return "Per-task commands: " + strings.Join(perTaskNames(r), ", ") + "."
		},
		Examples: []string{"foreach bt", "foreach UN bt", "foreach hangfs bt", "foreach 1 42 task -R comm"},
		Complete: func(c *Completion) []string {
			var out []string
			for _, cmd := range c.Session.Reg.Commands() {
				if cmd.PerTask {
					out = append(out, cmd.Name)
				}
			}
			return append(append(out, sched.CrashStates()...), "kernel", "user")
		},
		Run: runForeach,
	})
}

// ForeachResult is the result of foreach (see its help for the JSON).
type ForeachResult struct {
	Command  string         `json:"command"`
	Tasks    []ForeachEntry `json:"tasks"`
	Warnings []string       `json:"warnings,omitempty"`
}

// ForeachEntry is one task's run in ForeachResult.
type ForeachEntry struct {
	PID    int    `json:"pid"`
	Comm   string `json:"comm"`
	Task   Hex    `json:"task"`
	CPU    int    `json:"cpu"`
	Result Result `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

// TaskHeaderer is implemented by results that print their own crash-style
// task header (bt), so foreach does not print a second one.
type TaskHeaderer interface {
	HasTaskHeader() bool
}

// WriteText implements Result: a crash-style header per task, then the
// command's output.
func (f ForeachResult) WriteText(w io.Writer) error {
	for _, e := range f.Tasks {
		if err := (foreachRow{e, f.Command}).WriteText(w); err != nil {
			return err
		}
	}
	return nil
}

// foreachRow is one task's run, as foreach streams it.
type foreachRow struct {
	ForeachEntry
	command string
}

// MarshalJSON is the entry's.
func (r foreachRow) MarshalJSON() ([]byte, error) { return json.Marshal(r.ForeachEntry) }

// WriteText writes the task header (unless the result has its own), the
// command's output or error, and a blank line.
func (r foreachRow) WriteText(w io.Writer) error {
	e := r.ForeachEntry
	th, ok := e.Result.(TaskHeaderer)
	if ok && th.HasTaskHeader() && e.Error == "" {
		// A result that prints its own header and, for this task,
		// nothing at all (bt -R of a task that does not pass through
		// the reference) leaves no blank line either.
		var b bytes.Buffer
		if err := e.Result.WriteText(&b); err != nil {
			return err
		}
		if b.Len() == 0 {
			return nil
		}
		b.WriteByte('\n')
		_, err := w.Write(b.Bytes())
		return err
	}
	if !ok || !th.HasTaskHeader() {
		if _, err := fmt.Fprintf(w, "PID: %-7d TASK: %x  CPU: %-3d COMMAND: %q\n", e.PID, uint64(e.Task), e.CPU, e.Comm); err != nil {
			return err
		}
	}
	if e.Error != "" {
		if _, err := fmt.Fprintf(w, "%s: %s\n", r.command, e.Error); err != nil {
			return err
		}
	} else if e.Result != nil {
		if err := e.Result.WriteText(w); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w)
	return err
}

// ResultWarnings implements Warner: the task's command's warnings.
func (r foreachRow) ResultWarnings() []string {
	wr, ok := r.Result.(Warner)
	if !ok {
		return nil
	}
	var out []string
	for _, m := range wr.ResultWarnings() {
		out = append(out, fmt.Sprintf("pid %d: %s", r.PID, m))
	}
	return out
}

// foreachTail ends foreach's JSON document.
type foreachTail struct {
	Warnings []string `json:"warnings,omitempty"`
}

// ResultWarnings implements Warner.
func (t foreachTail) ResultWarnings() []string { return t.Warnings }

type taskFilter struct {
	pids   map[int]bool
	addrs  map[uint64]bool
	states map[string]bool
	comms  []string
	kernel bool
	user   bool
}

func (f *taskFilter) empty() bool {
	return len(f.pids) == 0 && len(f.addrs) == 0 && len(f.states) == 0 && len(f.comms) == 0 && !f.kernel && !f.user
}

func (f *taskFilter) match(t TaskInfo) bool {
	if f.empty() {
		return true
	}
	if f.pids[t.PID] || f.addrs[t.Task.Addr()] || f.states[t.State] || f.kernel && t.Kernel || f.user && !t.Kernel {
		return true
	}
	for _, g := range f.comms {
		if commGlobMatch(g, t.Comm) {
			return true
		}
	}
	return false
}

// commGlobMatch is path.Match where '*' also matches '/' ("swap*" matches
// "swapper/0", "kworker/*" matches "kworker/0:1").
func commGlobMatch(pattern, name string) bool {
	const slash = "\x00"
	ok, _ := path.Match(strings.ReplaceAll(pattern, "/", slash), strings.ReplaceAll(name, "/", slash))
	return ok
}

var crashStates = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range sched.CrashStates() {
		m[s] = true
	}
	return m
}()

// parseTaskFilter parses foreach's filter words.
func parseTaskFilter(words []string) taskFilter {
	f := taskFilter{pids: map[int]bool{}, addrs: map[uint64]bool{}, states: map[string]bool{}}
	for _, w := range words {
		switch {
		case crashStates[w]:
			f.states[w] = true
		case w == "kernel":
			f.kernel = true
		case w == "user":
			f.user = true
		case isDecimalDigits(w) && len(w) < 8:
			n, _ := strconv.Atoi(w)
			f.pids[n] = true
		case isHexAddr(w):
			v, _ := strconv.ParseUint(strings.TrimPrefix(w, "0x"), 16, 64)
			f.addrs[v] = true
		default:
			f.comms = append(f.comms, w)
		}
	}
	return f
}

func isHexAddr(w string) bool {
	h := strings.TrimPrefix(w, "0x")
	if len(h) < 8 || len(h) > 16 {
		return false
	}
	_, err := strconv.ParseUint(h, 16, 64)
	return err == nil
}

func runForeach(c *Call) (Result, error) {
	split := -1
	for i, w := range c.Args {
		if cmd, ok := c.Session.Reg.Lookup(w); ok && cmd.PerTask {
			split = i
			break
		}
	}
	if split < 0 {
		return nil, UsageErrorf("no per-task command given (one of: %s)", strings.Join(perTaskNames(c.Session.Reg), ", "))
	}
	filter := parseTaskFilter(c.Args[:split])
	sub := c.Args[split:]
	tasks, err := c.Session.Reg.Tasks(c.Ctx, c.Prog)
	if err != nil && len(tasks) == 0 {
		return nil, err
	}
	var tail foreachTail
	if err != nil {
		// Tasks past a break in the list are not run.
		tail.Warnings = append(tail.Warnings, "the task list could not be walked whole: "+err.Error())
	}
	// The command line is checked once, before any output.
	if sc, _ := c.Session.prepare(c.Ctx, sub, io.Discard); sc == nil {
		return nil, UsageErrorf("foreach: bad command %q", strings.Join(sub, " "))
	}
	command := strings.Join(sub, " ")
	head := struct {
		Command string `json:"command"`
	}{command}
	return &Stream{Head: head, Field: "tasks", Rows: func(emit func(Result) error) (any, error) {
		status := ExitOK
		defer func() { c.SetStatus(status) }()
		for i, t := range tasks {
			if err := c.Ctx.Err(); err != nil {
				return nil, err
			}
			if !filter.match(t) {
				continue
			}
			c.Progress("foreach: task %d of %d (pid %d)", i+1, len(tasks), t.PID)
			sc, st := c.Session.prepare(c.Ctx, sub, c.Out)
			if sc == nil {
				return nil, UsageErrorf("foreach: bad command %q", command)
			}
			sc.Task = t.Task
			sc.foreachTask = true
			sc.JSON = c.JSON
			sc.prog = c.prog
			r, rerr := runSafely(sc)
			e := ForeachEntry{PID: t.PID, Comm: t.Comm, Task: Hex(t.Task.Addr()), CPU: t.CPU, Result: r}
			if rerr != nil {
				e.Error = rerr.Error()
				st = ExitFailed
				var ue *UsageError
				if asUsage(rerr, &ue) {
					return nil, rerr
				}
			}
			status = max(status, st, sc.status)
			if err := emit(foreachRow{e, command}); err != nil {
				return nil, err
			}
		}
		return tail, nil
	}}, nil
}

func perTaskNames(r *Registry) []string {
	var names []string
	for _, cmd := range r.Commands() {
		if cmd.PerTask {
			names = append(names, cmd.Name)
		}
	}
	return names
}
