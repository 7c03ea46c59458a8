package repl

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/crash"
)

func registerSet(r *Registry) {
	r.Add(&Command{
		Name:    "set",
		Summary: "show or set the current task context",
		Usage:   "set [PID|TASK-ADDR | -c CPU | -p]",
		Help: `Without an argument, shows the current context: the task that per-task
commands (bt, files, task...) use when given none. With a pid or a task
address (hex task_struct address), makes that task current; with -c CPU,
the task running on that CPU (its runqueue's curr); with -p, the task that
panicked (panic_cpu's current task, as "sys" shows it). At startup the
context is the panicking task of a dump taken after a panic, else the task
running on the first busy CPU (else CPU 0's idle task).

JSON: {"pid","comm","task","cpu","state"} of the current task.`,
		Flags:    []Flag{{Name: "c", Arg: "CPU", Help: "the task running on CPU"}, {Name: "p", Help: "the task that panicked"}},
		Examples: []string{"set", "set 1", "set ffff888003a1c000", "set -c 1", "set -p"},
		Complete: func(c *Completion) []string { return c.Pids() },
		Run:      runSet,
	})
	r.Add(&Command{
		Name:    "task",
		Summary: "print the task_struct of the current task or of PIDs/addresses",
		Usage:   "task [-R MEMBER[,MEMBER...]] [PID|TASK-ADDR]...",
		Help: `Prints the whole task_struct of the current context task (see set), or of
each task given by pid or address; -R prints only the listed members.

JSON: an object as struct prints, or {"objects":[...]} for several.`,
		Flags:    []Flag{{Name: "R", Arg: "MEMBERS", Help: "only these comma-separated members (paths allowed)"}, {Name: "x", Help: "print integers in hex"}},
		Examples: []string{"task", "task 1", "task -R comm,pid,__state 1 42"},
		PerTask:  true,
		Complete: func(c *Completion) []string { return c.Pids() },
		Run:      runTask,
	})
}

// TaskContext is the result of set (see its help for the JSON).
type TaskContext struct {
	PID   int    `json:"pid"`
	Comm  string `json:"comm"`
	Task  Hex    `json:"task"`
	CPU   int    `json:"cpu"`
	State string `json:"state"`
}

// WriteText implements Result, crash's layout.
func (t TaskContext) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "    PID: %d\nCOMMAND: %q\n   TASK: %x\n    CPU: %d\n  STATE: %s\n", t.PID, t.Comm, uint64(t.Task), t.CPU, stateLong(t.State))
	return err
}

func stateLong(s string) string {
	m := map[string]string{"RU": "TASK_RUNNING", "IN": "TASK_INTERRUPTIBLE", "UN": "TASK_UNINTERRUPTIBLE",
		"ST": "TASK_STOPPED", "TR": "TASK_TRACED", "ZO": "EXIT_ZOMBIE", "DE": "EXIT_DEAD", "ID": "TASK_IDLE", "WA": "TASK_WAKING"}
	if l, ok := m[s]; ok {
		return l + " (" + s + ")"
	}
	return s
}

func runSet(c *Call) (Result, error) {
	if err := c.NeedArgs(0, 1); err != nil {
		return nil, err
	}
	if c.Bool("p") {
		if len(c.Args) != 0 {
			return nil, UsageErrorf("usage: set -p")
		}
		t, err := panicTask(c.Prog)
		if err != nil {
			return nil, err
		}
		c.Session.Task = t
		return taskContext(taskInfo(t)), nil
	}
	if c.IsSet("c") {
		cpu, err := c.Int("c")
		if err != nil || len(c.Args) != 0 {
			return nil, UsageErrorf("usage: set -c CPU")
		}
		t, err := runningTask(c.Prog, int(cpu))
		if err != nil {
			return nil, err
		}
		c.Session.Task = t
		return taskContext(taskInfo(t)), nil
	}
	if len(c.Args) == 1 {
		ti, err := findTask(c.Ctx, c.Session, c.Args[0])
		if err != nil {
			return nil, err
		}
		c.Session.Task = ti.Task
		return taskContext(ti), nil
	}
	if !c.Session.Task.IsValid() {
		return nil, fmt.Errorf("no current task: \"set PID\" chooses one")
	}
	return taskContext(taskInfo(c.Session.Task)), nil
}

func taskContext(ti TaskInfo) TaskContext {
	return TaskContext{PID: ti.PID, Comm: ti.Comm, Task: Hex(ti.Task.Addr()), CPU: ti.CPU, State: ti.State}
}

// findTask finds a task by pid (decimal) or task_struct address (hex,
// 0x optional; an address is anything that does not parse as a pid
// below 2^22, PID_MAX_LIMIT).
func findTask(ctx context.Context, s *Session, arg string) (TaskInfo, error) {
	tasks, err := s.Reg.Tasks(ctx, s.Prog)
	if err != nil && len(tasks) == 0 {
		return TaskInfo{}, err
	}
	if pid, perr := strconv.Atoi(arg); perr == nil && pid >= 0 && pid < maxTasks {
		for _, t := range tasks {
			if t.PID == pid {
				return t, nil
			}
		}
		if err != nil {
			return TaskInfo{}, fmt.Errorf("no task with pid %d among the %d tasks listed; the task list could not be walked whole, the task may be past the break: %w", pid, len(tasks), err)
		}
		return TaskInfo{}, fmt.Errorf("no task with pid %d (%d tasks listed)", pid, len(tasks))
	}
	addr, aerr := evalAddr(s.Prog, arg)
	if aerr != nil {
		return TaskInfo{}, UsageErrorf("%s: neither a pid nor a task address", arg)
	}
	for _, t := range tasks {
		if t.Task.Addr() == addr {
			return t, nil
		}
	}
	// Not in the list (exited, or the list is damaged): trust the address
	// if a task_struct can be there, and can be read.
	if addr < minKernelAddr {
		return TaskInfo{}, fmt.Errorf("%s: %#x is not a kernel address (task_structs are at %#x and above) and no listed task is there", arg, addr, uint64(minKernelAddr))
	}
	o, err := s.Prog.Object("struct task_struct", addr)
	if err != nil {
		return TaskInfo{}, err
	}
	if _, err := o.Read(); err != nil {
		return TaskInfo{}, fmt.Errorf("%s: no listed task at %#x, and no task_struct can be read there: %w", arg, addr, err)
	}
	return taskInfo(o), nil
}

// minKernelAddr is the lowest x86_64 kernel address: the start of the
// kernel half with 5-level paging, below the 4-level one (0xffff800000000000;
// Documentation/arch/x86/x86_64/mm.rst). No task_struct is below.
const minKernelAddr = 0xff00000000000000

// argTasks returns the tasks the command's arguments name (pids, task
// addresses, comms: see findTask), or the current task when there are none.
func argTasks(c *Call) ([]symbols.Object, error) {
	var tasks []symbols.Object
	for _, a := range c.Args {
		ti, err := findTask(c.Ctx, c.Session, a)
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, ti.Task)
	}
	if len(tasks) == 0 {
		if !c.Task.IsValid() {
			return nil, fmt.Errorf("no current task: give a pid or \"set PID\" first")
		}
		tasks = []symbols.Object{c.Task}
	}
	return tasks, nil
}

func runTask(c *Call) (Result, error) {
	tasks, err := argTasks(c)
	if err != nil {
		return nil, err
	}
	var list ObjectList
	members := strings.TrimSpace(c.String("R"))
	for _, t := range tasks {
		or, err := objectAt(c, t.Type(), t.Addr(), members, false)
		if err != nil {
			return nil, err
		}
		list.Objects = append(list.Objects, or)
	}
	if len(list.Objects) == 1 {
		return list.Objects[0], nil
	}
	return list, nil
}

// panicTask is the task that panicked (package crash: panic_cpu and the
// crash notes), for set -p and the default context.
func panicTask(p *symbols.Program) (symbols.Object, error) {
	pi, err := crash.Panic(p)
	if err != nil {
		return symbols.Object{}, err
	}
	if pi == nil {
		return symbols.Object{}, fmt.Errorf("the kernel did not panic (no panic in its log): no panic task")
	}
	if pi.Task == nil {
		return symbols.Object{}, fmt.Errorf("%s: the panicking CPU or its task is not known", pi.Message)
	}
	return p.Object("struct task_struct", pi.Task.Addr)
}
