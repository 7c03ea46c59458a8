package repl

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
)

// pagedWriter is interactive output to a terminal: it holds the output
// while it fits the screen; once it does not, it starts the pager and
// streams the rest into it, so a long output (foreach over every task) is
// never held whole. A pager that quits early discards the rest, as a pipe
// to head does.
type pagedWriter struct {
	s     *Session
	rows  int
	buf   bytes.Buffer
	lines int
	// direct: write straight to the terminal (no size, or no pager).
	direct bool
	cmd    *exec.Cmd
	pipe   io.WriteCloser
}

func newPagedWriter(s *Session) *pagedWriter {
	_, rows := terminalSize(s.Stdout)
	return &pagedWriter{s: s, rows: rows, direct: rows <= 0}
}

func (w *pagedWriter) Write(p []byte) (int, error) {
	switch {
	case w.pipe != nil:
		w.pipe.Write(p) // the pager may have quit: discard
		return len(p), nil
	case w.direct:
		return w.s.Stdout.Write(p)
	}
	w.buf.Write(p)
	if w.lines += bytes.Count(p, []byte("\n")); w.lines < w.rows-1 {
		return len(p), nil
	}
	cmd := exec.Command("/bin/sh", "-c", w.s.Pager)
	cmd.Stdout, cmd.Stderr = w.s.Stdout, w.s.Stderr
	pipe, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		w.direct = true
		_, err := w.s.Stdout.Write(w.buf.Bytes())
		w.buf = bytes.Buffer{}
		return len(p), err
	}
	w.cmd, w.pipe = cmd, pipe
	w.pipe.Write(w.buf.Bytes())
	w.buf = bytes.Buffer{}
	return len(p), nil
}

// finish writes what is held, or ends the pager and waits for the user to
// leave it.
func (w *pagedWriter) finish() error {
	if w.pipe != nil {
		w.pipe.Close()
		var ee *exec.ExitError
		if err := w.cmd.Wait(); err != nil && !errors.As(err, &ee) {
			return err
		}
		return nil
	}
	if w.buf.Len() > 0 {
		_, err := w.s.Stdout.Write(w.buf.Bytes())
		return err
	}
	return nil
}
