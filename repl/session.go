package repl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/kwalk/kwalk/symbols"
)

// Session is one user's conversation with a kernel: the Program, the
// commands, the current task, and where output goes. Interactive mode and
// batch mode both run commands through Session.Exec.
type Session struct {
	Prog *symbols.Program
	Reg  *Registry
	// Task is the current context task ("set"), invalid when none is set.
	Task symbols.Object
	// JSON renders every result as JSON (one document per command, one line each).
	JSON bool
	// Stdout and Stderr receive output and diagnostics.
	Stdout, Stderr io.Writer
	// Interactive enables paging (only when stdout is a terminal). Progress
	// lines are shown whenever stderr is a terminal.
	Interactive bool
	// Pager is the pager command for long interactive output; "" disables
	// paging. NewSession sets "less -FRX" when less is installed.
	Pager string

	quit bool

	taskCache   []TaskInfo // for pid completion
	taskCacheAt time.Time
	symNames    []string // for symbol completion
	symNamesOf  *symbols.Program
}

// NewSession returns a session over prog (nil: only NoProgram commands
// work) writing to stdout/stderr.
func NewSession(prog *symbols.Program, reg *Registry, stdout, stderr io.Writer) *Session {
	s := &Session{Prog: prog, Reg: reg, Stdout: stdout, Stderr: stderr}
	if _, err := exec.LookPath("less"); err == nil {
		s.Pager = "less -FRX"
	}
	return s
}

// Quit reports whether a command (q, exit) asked to end the session.
func (s *Session) Quit() bool { return s.quit }

// Exec runs one input line (";"-separated commands, each with optional
// "| shell" or "> file") and returns the exit status: the highest status of
// its commands (see ExitOK and friends).
func (s *Session) Exec(ctx context.Context, line string) int {
	if sh, ok := strings.CutPrefix(strings.TrimSpace(line), "!"); ok {
		return s.shell(ctx, sh)
	}
	sts, err := splitStatements(line)
	if err != nil {
		s.reportError("", err)
		return ExitUsage
	}
	status := ExitOK
	for _, st := range sts {
		if ctx.Err() != nil || s.quit {
			break
		}
		if c := s.execStatement(ctx, st); c > status {
			status = c
		}
	}
	return status
}

// shell runs "!command" lines with /bin/sh, like crash's shell escape.
func (s *Session) shell(ctx context.Context, text string) int {
	if strings.TrimSpace(text) == "" {
		text = "${SHELL:-/bin/sh}"
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", text)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, s.Stdout, s.Stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			s.reportError("!", err)
			return ExitFailed
		}
	}
	return ExitOK
}

// RunWords runs one command given as words, output to Stdout (no shell
// parsing of the words: batch mode's "kwalk CMD VMCORE args...").
func (s *Session) RunWords(ctx context.Context, words []string) int {
	if len(words) == 0 {
		return ExitOK
	}
	return s.execStatement(ctx, statement{Words: words})
}

func (s *Session) execStatement(ctx context.Context, st statement) int {
	out, finish, err := s.openOutput(st)
	if err != nil {
		s.reportError(st.Words[0], err)
		return ExitUsage
	}
	status := s.runCommand(ctx, st.Words, out)
	if err := finish(); err != nil {
		s.reportError(st.Words[0], err)
		if status == ExitOK {
			status = ExitFailed
		}
	}
	return status
}

// openOutput returns where a statement's output goes, and a function that
// completes the output (waits for the pipe, runs the pager, closes the file).
func (s *Session) openOutput(st statement) (io.Writer, func() error, error) {
	switch {
	case st.Pipe != "":
		cmd := exec.Command("/bin/sh", "-c", st.Pipe)
		cmd.Stdout = s.Stdout
		cmd.Stderr = s.Stderr
		w, err := cmd.StdinPipe()
		if err != nil {
			return nil, nil, fmt.Errorf("pipe to %q: %w", st.Pipe, err)
		}
		if err := cmd.Start(); err != nil {
			return nil, nil, fmt.Errorf("pipe to %q: %w", st.Pipe, err)
		}
		// A reader that exits early (head) gives EPIPE; ignore write errors.
		return ignoreErrWriter{w}, func() error {
			w.Close()
			err := cmd.Wait()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return nil // grep finding nothing is not our failure
			}
			return err
		}, nil
	case st.Redirect != "":
		flag := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if st.Append {
			flag = os.O_WRONLY | os.O_CREATE | os.O_APPEND
		}
		f, err := os.OpenFile(st.Redirect, flag, 0o644)
		if err != nil {
			return nil, nil, fmt.Errorf("redirect: %w", err)
		}
		return f, f.Close, nil
	case s.Interactive && s.Pager != "" && isTerminal(s.Stdout):
		w := newPagedWriter(s)
		return w, w.finish, nil
	}
	return s.Stdout, func() error { return nil }, nil
}

// ctxWriter fails writes once ctx is cancelled, so rendering a long result
// stops at Ctrl-C.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (w ctxWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

type ignoreErrWriter struct{ w io.Writer }

func (w ignoreErrWriter) Write(p []byte) (int, error) {
	w.w.Write(p)
	return len(p), nil
}

// runCommand parses words, runs the command and renders its result to out.
func (s *Session) runCommand(ctx context.Context, words []string, out io.Writer) int {
	c, status := s.prepare(ctx, words, out)
	if c == nil {
		return status
	}
	return s.call(c, out)
}

// prepare looks the command up and parses its flags; on failure it reports
// the error and returns a nil Call and the status.
func (s *Session) prepare(ctx context.Context, words []string, out io.Writer) (*Call, int) {
	name := words[0]
	cmd, ok := s.Reg.Lookup(name)
	if !ok {
		asJSON := s.JSON
		for _, w := range words[1:] {
			asJSON = asJSON || w == "--json" || w == "-j"
		}
		name = abbreviate(name)
		s.reportErrorJSON(out, name, UsageErrorf("unknown command %q (\"help\" lists commands)", name), asJSON)
		return nil, ExitUsage
	}
	var flags map[string]string
	var args []string
	var js bool
	if cmd.RawArgs {
		for _, w := range words[1:] {
			if w == "--json" || w == "-j" {
				js = true
				continue
			}
			args = append(args, w)
		}
	} else {
		var err error
		if flags, args, js, err = parseArgs(cmd, words[1:]); err != nil {
			s.reportErrorTo(out, name, err)
			return nil, ExitUsage
		}
	}
	return &Call{
		Ctx: ctx, Prog: s.Prog, Session: s, Task: s.Task, Name: name, Args: args,
		JSON: s.JSON || js, Out: out, cmd: cmd, flags: flags,
	}, ExitOK
}

// call runs a prepared Call and renders its result.
func (s *Session) call(c *Call, out io.Writer) int {
	if s.Prog == nil && !c.cmd.NoProgram {
		s.reportErrorJSON(out, c.Name, errors.New("no kernel opened (give a vmcore, or run as root for /proc/kcore)"), c.JSON)
		return ExitNoInput
	}
	c.prog = newProgress(s.Stderr, true) // on a terminal only, batch too
	res, err := runSafely(c)
	c.prog.finish()
	if err != nil {
		if errors.Is(err, context.Canceled) || c.Ctx.Err() != nil {
			err = errors.New("interrupted")
			s.reportErrorJSON(out, c.Name, err, c.JSON)
			return ExitInterrupted
		}
		s.reportErrorJSON(out, c.Name, err, c.JSON)
		var ue *UsageError
		switch {
		case errors.As(err, &ue):
			return ExitUsage
		case c.status > ExitOK:
			return c.status
		}
		return ExitFailed
	}
	if res != nil {
		if err := s.render(ctxWriter{c.Ctx, out}, c, res); err != nil {
			if c.Ctx.Err() != nil {
				s.reportError(c.Name, errors.New("interrupted"))
				return ExitInterrupted
			}
			// A stream's rows failed part way (the rows written stay
			// written; a JSON document was closed with the error).
			s.reportError(c.Name, err)
			var ue *UsageError
			switch {
			case errors.As(err, &ue):
				return ExitUsage
			case c.status > ExitOK:
				return c.status
			}
			return ExitFailed
		}
	}
	return c.status
}

// runSafely runs the command, turning a panic in a command into an error so
// one bad command cannot end an interactive session.
func runSafely(c *Call) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error in %s: %v", c.cmd.Name, r)
		}
	}()
	res, err = c.cmd.Run(c)
	if err == nil && c.Ctx.Err() != nil {
		err = fmt.Errorf("interrupted")
	}
	return res, err
}

// render writes res to w as text, its warnings to stderr, or as one line
// of JSON carrying the dump's warnings; a Stream as its rows come.
func (s *Session) render(w io.Writer, c *Call, res Result) error {
	if st, ok := res.(*Stream); ok {
		_, err := st.render(w, s.Stderr, c.Name, c.JSON, s.dumpWarnings())
		return err
	}
	if c.JSON {
		b, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("encoding result as JSON: %w", err)
		}
		_, err = w.Write(append(addJSONWarnings(b, s.dumpWarnings()), '\n'))
		return err
	}
	if err := res.WriteText(w); err != nil {
		return err
	}
	writeWarnings(s.Stderr, c.Name, res)
	return nil
}

// errorDoc is the JSON document written for a failed command.
type errorDoc struct {
	Command string `json:"command"`
	Error   string `json:"error"`
}

func (s *Session) reportErrorTo(out io.Writer, name string, err error) {
	s.reportErrorJSON(out, name, err, s.JSON)
}

// reportErrorJSON reports err on stderr and, in JSON mode, as an error
// document on out so a JSON consumer sees one document per command.
func (s *Session) reportErrorJSON(out io.Writer, name string, err error, asJSON bool) {
	if asJSON && out != nil {
		b, _ := json.Marshal(errorDoc{Command: name, Error: err.Error()})
		out.Write(append(b, '\n'))
	}
	s.reportError(name, err)
}

func (s *Session) reportError(name string, err error) {
	msg := err.Error()
	if name != "" && !strings.HasPrefix(msg, name+":") {
		msg = name + ": " + msg
	}
	fmt.Fprintln(s.Stderr, Printable(msg))
}
