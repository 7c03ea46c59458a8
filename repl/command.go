package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/kwalk/kwalk/symbols"
)

// Command is one REPL/batch command. Fill it in a register function
// (func registerPs(r *Registry)) and add that function to the list in
// builtins.go.
type Command struct {
	// Name is what the user types ("struct"); Aliases are other spellings.
	Name    string
	Aliases []string
	// Summary is one line for the command list ("display a structure").
	Summary string
	// Usage is the synopsis without flags detail: "rd [-p] [-8|-16|-32|-64] ADDR [COUNT]".
	Usage string
	// Help is the full description, plain text, wrapped at ~76 columns.
	Help string
	// MoreHelp, when set, adds text to Help computed from the registry
	// (foreach lists the per-task commands).
	MoreHelp func(r *Registry) string
	// Flags lists every flag; "help CMD" documents them from here.
	Flags []Flag
	// Examples are full command lines, each shown by "help CMD".
	Examples []string
	// NoProgram marks commands that run without an opened kernel (help, q).
	NoProgram bool
	// PerTask marks commands that foreach can run for each task (bt, files).
	// Such a command reads the task to work on from Call.Task.
	PerTask bool
	// RawArgs passes every word after the command name in Args, unparsed
	// (foreach, which hands flags on to another command).
	RawArgs bool
	// Complete returns completions for the argument being typed (word) given
	// the words before it (args, command name excluded). Nil means the
	// default: symbol names.
	Complete func(c *Completion) []string
	// Run does the work. It returns a result that renders as text and as
	// JSON (see Result), or an error. Long loops check c.Ctx.Err().
	Run func(c *Call) (Result, error)
}

// Flag describes one flag. Flags are written -name or --name; a flag with an
// Arg takes a value (-o FILE, -o=FILE). Single-letter boolean flags may be
// given together only as separate words (-s -a), like crash.
type Flag struct {
	Name    string // without dashes: "p", "64", "offsets"
	Aliases []string
	Arg     string // value placeholder ("COUNT"); "" for a boolean flag
	Default string // default value of a flag with an Arg
	Help    string
}

// Result is what a command returns. The same value renders as text (for a
// human) and as JSON (encoding/json of the value itself; give its fields
// json tags and document the schema in the command's Help or schema.md).
type Result interface {
	WriteText(w io.Writer) error
}

// TextResult is a Result that is plain text; its JSON form is
// {"text": "..."}. Use it only for output with no structure worth keeping.
type TextResult struct {
	Text string `json:"text"`
}

// WriteText implements Result.
func (t TextResult) WriteText(w io.Writer) error {
	_, err := io.WriteString(w, t.Text)
	return err
}

// Call is everything a command's Run gets.
type Call struct {
	// Ctx is cancelled by Ctrl-C (interactive) or a signal (batch).
	Ctx context.Context
	// Prog is the kernel being analysed (nil only for NoProgram commands).
	Prog *symbols.Program
	// Session holds state that outlives the command (the current task).
	Session *Session
	// Task is the task the command should work on: the one "set" chose, or
	// for foreach, each task in turn. Invalid (IsValid false) if none.
	Task symbols.Object
	// Name is the command name as typed (an alias, maybe).
	Name string
	// Args are the positional arguments, flags removed.
	Args []string
	// JSON is true when the result will be rendered as JSON: a command
	// that streams text to Out must not do so then.
	JSON bool
	// Out receives streamed text output (prefer returning a Result).
	Out io.Writer

	cmd    *Command
	flags  map[string]string // set flags by canonical name
	status int
	prog   *progress
	// foreachTask: foreach runs the command for Task, one of many.
	foreachTask bool
}

// Bool reports whether boolean flag name was given.
func (c *Call) Bool(name string) bool {
	_, ok := c.flags[name]
	return ok
}

// IsSet reports whether flag name was given.
func (c *Call) IsSet(name string) bool { return c.Bool(name) }

// String returns the value of flag name, or its default.
func (c *Call) String(name string) string {
	if v, ok := c.flags[name]; ok {
		return v
	}
	for _, f := range c.cmd.Flags {
		if f.Name == name {
			return f.Default
		}
	}
	return ""
}

// Int returns the integer value of flag name (decimal or 0x hex).
func (c *Call) Int(name string) (int64, error) {
	s := c.String(name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return 0, UsageErrorf("-%s: %q is not a number", name, s)
	}
	return v, nil
}

// SetStatus sets the process exit status batch mode reports for this
// command (see ExitStatus* constants). Statuses 1 and 2 are the command's
// own findings (deadlock: 1 chains, 2 cycle).
func (c *Call) SetStatus(code int) { c.status = code }

// Progress shows a status line on stderr when the command has been running
// for more than a second and stderr is a terminal; it is a no-op otherwise.
// Call it as often as convenient: it is rate-limited.
func (c *Call) Progress(format string, args ...any) {
	if c.prog != nil {
		c.prog.update(fmt.Sprintf(format, args...))
	}
}

// Exit statuses of the kwalk process (also documented in "help").
const (
	ExitOK = 0
	// ExitFinding1 and ExitFinding2 are commands' own findings
	// (deadlock: 1 blocked chains, 2 a cycle).
	ExitFinding1 = 1
	ExitFinding2 = 2
	// ExitFailed: a command could not do its work (read errors, missing
	// types); deadlock's "could not analyse".
	ExitFailed = 3
	// ExitIncomplete: deadlock's analysis ran but could not read
	// everything (waitfor.DeadlockIncomplete).
	ExitIncomplete = 4
	// ExitUsage: bad command line, unknown command or flag.
	ExitUsage = 64
	// ExitNoInput: the dump or debug info could not be opened.
	ExitNoInput = 66
	// ExitInterrupted: a command was interrupted (SIGINT, 128+2).
	ExitInterrupted = 130
)

// UsageError is an error in how a command was invoked.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// UsageErrorf returns a *UsageError.
func UsageErrorf(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// NeedArgs returns a usage error unless c has between min and max
// positional arguments (max < 0: no limit).
func (c *Call) NeedArgs(min, max int) error {
	n := len(c.Args)
	if n < min || (max >= 0 && n > max) {
		return UsageErrorf("usage: %s", c.cmd.Usage)
	}
	return nil
}

func asUsage(err error, target **UsageError) bool { return errors.As(err, target) }
