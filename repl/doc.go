// Package repl is kwalk's command framework: the commands, the interactive
// session (readline, completion, pipes, paging, Ctrl-C) and batch mode all
// run through one Session over one Registry.
//
// # Adding a command
//
// One file per command group, repl/cmd_<group>.go, with a register function
// that adds the commands to a Registry; then one line in builtins.go's
// registrations list. A command returns a result value; the framework
// renders it as text (the value's WriteText method) or, with --json, as
// one line of JSON (encoding/json of the same value). So put the data in
// exported fields with json tags, and keep rendering out of Run:
//
//	// repl/cmd_uptime.go
//	func registerUptime(r *Registry) {
//		r.Add(&Command{
//			Name:    "uptime",
//			Summary: "time since boot",
//			Usage:   "uptime [-s]",
//			Help:    "Prints the time from boot to the crash, from jiffies.",
//			Flags:   []Flag{{Name: "s", Help: "print seconds only"}},
//			Examples: []string{"uptime", "uptime -s --json"},
//			Run: func(c *Call) (Result, error) {
//				j, err := c.Prog.Variable("jiffies_64")
//				if err != nil {
//					return nil, err
//				}
//				v, err := j.Uint()
//				if err != nil {
//					return nil, err
//				}
//				return Uptime{Jiffies: v, SecondsOnly: c.Bool("s")}, nil
//			},
//		})
//	}
//
//	// Uptime is the result of "uptime". JSON: {"jiffies": N}.
//	type Uptime struct {
//		Jiffies     uint64 `json:"jiffies"`
//		SecondsOnly bool   `json:"-"`
//	}
//
//	func (u Uptime) WriteText(w io.Writer) error {
//		_, err := fmt.Fprintf(w, "jiffies: %d\n", u.Jiffies)
//		return err
//	}
//
// What Run gets (see Call): c.Prog (the *symbols.Program), c.Task (the
// current task set by "set", or each task under "foreach" when the command
// has PerTask), c.Args (positional arguments, flags removed), c.Bool /
// c.String / c.Int for flags declared in Flags (flags may appear anywhere
// on the line; "--" ends them), c.Ctx (cancelled by Ctrl-C: check it in
// loops over kernel memory), c.Progress (a status line on a terminal for
// work that takes more than a second), and c.SetStatus (the batch exit
// status: 1 and 2 are reserved for a command's findings, see ExitFinding1).
// Return UsageErrorf(...) for a bad invocation: it maps to exit status 64.
//
// Conventions for results: addresses in JSON are strings "0xffff..."
// (use the Hex type); counts, pids and sizes are numbers; a list result is
// an object with a named array field, not a bare array, so it can grow.
//
// Warnings (a list that broke part way, a task that could not be read) are
// never written by WriteText: give the result a Warnings []string field
// (json "warnings") and a ResultWarnings method (the Warner interface), and
// the session writes them to stderr in text mode, "CMD: warning: ...",
// so a pipe gets the answer alone. Every JSON document also carries the
// dump's own warnings (a truncated file) in "warnings".
//
// A result that can be long (a row per task, per hit) is a *Stream: Run
// does the checks and returns it, and its Rows function produces the rows
// while the session writes them, so memory does not grow with the output
// (foreach on 10,000 tasks; search). See Stream for the JSON it makes.
//
// Other Command fields: PerTask marks a command that works on c.Task, so
// that "foreach" can run it per task (bt, files); NoProgram lets a command
// run without a kernel (help); RawArgs hands every word to Run unparsed
// (foreach); MoreHelp appends help text computed from the registry.
//
// Testing a command: repl/internal/synth builds a small synthetic kernel
// (memory, symbols, types, three tasks, one module); NewSession over its
// Program and Session.Exec("cmd args --json") give the output to check.
// TestBuiltinsHaveHelp requires a Summary, Usage, Help, an Example and
// help for every flag; TestJSONSchemas shows how to pin a JSON document
// to its Go type.
//
// Completion: set Command.Complete to offer candidates for an argument
// (c.Symbols(), c.Types(), c.Pids() are there to combine); the default
// completes symbol names and global member paths.
//
// Tasks: the task walker installs a TaskSource with
// Registry.SetTaskSource (in its register function); set, foreach and pid
// completion use it.
//
// # Batch JSON
//
// With --json every command writes exactly one JSON document on one line;
// a failed command writes {"command": NAME, "error": MESSAGE} instead. Several
// commands (kwalk -c 'ps; bt 1') therefore give JSON lines, one per command,
// in order. The schemas of the built-in commands are in schema.md.
package repl
