package repl

import (
	"context"
	"fmt"
	"sort"

	"github.com/kwalk/kwalk/symbols"
)

// Registry holds the commands a Session knows. Build one with NewRegistry,
// fill it with Builtins (or your own register functions), and hand it to
// NewSession. Registries are not safe for concurrent modification; fill
// them before use.
type Registry struct {
	byName map[string]*Command
	list   []*Command
	errs   []error
	tasks  TaskSource
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byName: make(map[string]*Command)}
}

// Add registers a command under its name and aliases. A name that is
// already taken is recorded as an error (see Err) and the new command is
// not reachable by it.
func (r *Registry) Add(c *Command) {
	if c == nil || c.Name == "" || c.Run == nil {
		r.errs = append(r.errs, fmt.Errorf("command %+v: needs a Name and a Run", c))
		return
	}
	r.list = append(r.list, c)
	for _, n := range append([]string{c.Name}, c.Aliases...) {
		if old, ok := r.byName[n]; ok {
			r.errs = append(r.errs, fmt.Errorf("command name %q registered twice (%s and %s)", n, old.Name, c.Name))
			continue
		}
		r.byName[n] = c
	}
}

// Err reports registration mistakes (duplicate names), nil if none.
func (r *Registry) Err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%d registration errors, first: %w", len(r.errs), r.errs[0])
}

// Lookup finds a command by name or alias.
func (r *Registry) Lookup(name string) (*Command, bool) {
	c, ok := r.byName[name]
	return c, ok
}

// Commands returns the registered commands sorted by name.
func (r *Registry) Commands() []*Command {
	out := append([]*Command(nil), r.list...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns every command name and alias, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TaskInfo is one task as set, foreach and pid completion see it.
type TaskInfo struct {
	PID   int
	Comm  string
	State string // crash's short state: RU, IN, UN, ST, TR, ZO, DE, ID, NE
	CPU   int
	// Kernel marks kernel threads (no mm).
	Kernel bool
	// Task is the struct task_struct.
	Task symbols.Object
}

// TaskSource lists every task (all threads) of a Program. The task walker
// registers one with SetTaskSource; until then a minimal built-in list walk
// is used (see tasks_fallback.go). When the task lists cannot be walked
// whole it returns the tasks it found with the error: callers that use
// them must say the list is incomplete.
type TaskSource func(ctx context.Context, prog *symbols.Program) ([]TaskInfo, error)

// SetTaskSource installs the task lister used by set, foreach and pid
// completion.
func (r *Registry) SetTaskSource(f TaskSource) { r.tasks = f }

// Tasks lists the tasks of prog with the registered task source.
func (r *Registry) Tasks(ctx context.Context, prog *symbols.Program) ([]TaskInfo, error) {
	if prog == nil {
		return nil, fmt.Errorf("no kernel opened")
	}
	if r.tasks != nil {
		return r.tasks(ctx, prog)
	}
	return walkerTasks(ctx, prog)
}

// NeedsProgram reports whether running line needs an opened kernel: false
// when every command in it is a NoProgram one (help, q) or unknown.
func (r *Registry) NeedsProgram(line string) bool {
	sts, err := splitStatements(line)
	if err != nil {
		return false
	}
	for _, st := range sts {
		if c, ok := r.Lookup(st.Words[0]); ok && !c.NoProgram {
			return true
		}
	}
	return false
}
