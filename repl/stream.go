package repl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Stream is a Result produced while it is written. A command whose answer
// is a long list (foreach over 10,000 tasks, search, list, struct COUNT)
// returns a Stream instead of holding every row: each row is written as it
// comes, as text or as one element of the array Field of the command's one
// JSON document, and then dropped, so memory does not grow with the rows.
//
//	{ Head's members, "Field": [row, row, …], Tail's members, "warnings": […] }
//
// Rows runs while the session writes the output, after Run returned: it
// calls emit for each row in order and returns the tail (a value with
// json tags whose members end the document, or nil); a tail that is a
// Result is written after the rows in text mode. When emit fails (the
// reader went away, Ctrl-C) Rows must stop and return that error. Rows
// that are Warners have their warnings written to stderr in text mode as
// they come; a tail that is a Warner has them at the end, and in JSON its
// ResultWarnings are the document's "warnings".
type Stream struct {
	Head  any
	Field string
	Rows  func(emit func(row Result) error) (tail any, err error)
}

// WriteText implements Result (without the session: warnings of rows are
// dropped; the session renders streams itself).
func (s *Stream) WriteText(w io.Writer) error {
	_, err := s.render(w, nil, "", false, nil)
	return err
}

// errStreamed marks an error met after a stream's JSON document was
// begun: the document was closed with the error in it, so the session
// must not write another one.
type errStreamed struct{ err error }

func (e errStreamed) Error() string { return e.err.Error() }
func (e errStreamed) Unwrap() error { return e.err }

// render writes the stream to w as text or JSON; rows' warnings go to
// stderr (text mode) prefixed by name. extra are warnings every JSON
// document carries (the dump's own). It returns whether any row was
// written.
func (s *Stream) render(w io.Writer, stderr io.Writer, name string, asJSON bool, extra []string) (int, error) {
	if !asJSON {
		n := 0
		tail, err := s.Rows(func(row Result) error {
			n++
			if err := row.WriteText(w); err != nil {
				return err
			}
			if stderr != nil {
				writeWarnings(stderr, name, row)
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		if t, ok := tail.(Result); ok {
			if err := t.WriteText(w); err != nil {
				return n, err
			}
		}
		if stderr != nil {
			writeWarnings(stderr, name, tail)
		}
		return n, nil
	}
	head := []byte("{}")
	if s.Head != nil {
		var err error
		if head, err = json.Marshal(s.Head); err != nil {
			return 0, fmt.Errorf("encoding result as JSON: %w", err)
		}
	}
	var b bytes.Buffer
	b.Write(head[:len(head)-1])
	if len(head) > 2 {
		b.WriteByte(',')
	}
	b.WriteString(strconv.Quote(s.Field) + ":[")
	if _, err := w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	n := 0
	tail, err := s.Rows(func(row Result) error {
		js, err := json.Marshal(row)
		if err != nil {
			return fmt.Errorf("encoding result as JSON: %w", err)
		}
		if n > 0 {
			js = append([]byte{','}, js...)
		}
		n++
		_, err = w.Write(js)
		return err
	})
	var rest []byte
	if err == nil && tail != nil {
		if rest, err = json.Marshal(tail); err == nil && (len(rest) < 2 || rest[0] != '{') {
			err = fmt.Errorf("stream tail %T is not a JSON object", tail)
		}
	}
	if err != nil {
		if errors.Is(err, io.ErrClosedPipe) {
			return n, err
		}
		// Close the document, with the error in it.
		msg, _ := json.Marshal(err.Error())
		rest = []byte(`{"error":` + string(msg) + `}`)
		err = errStreamed{err}
	}
	if rest == nil {
		rest = []byte("{}")
	}
	warns := extra
	if t, ok := tail.(Warner); ok {
		warns = append(append([]string(nil), extra...), t.ResultWarnings()...)
	}
	rest = addJSONWarnings(rest, warns)
	b.Reset()
	b.WriteByte(']')
	if len(rest) > 2 {
		b.WriteByte(',')
		b.Write(rest[1 : len(rest)-1])
	}
	b.WriteString("}\n")
	if _, werr := w.Write(b.Bytes()); werr != nil && err == nil {
		err = werr
	}
	return n, err
}
