package repl

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// Interactive output is held while it fits the screen, and streamed into
// the pager once it does not; a pager that quits early costs nothing.
func TestPagedWriter(t *testing.T) {
	for _, c := range []struct {
		name  string
		pager string
		lines int
		want  string
	}{
		{"fits the screen", "false", 2, "line 0\nline 1\n"},
		{"through the pager", "sed s/^/paged:/", 30, "paged:line 29\n"},
		{"pager quits early", "head -n 1", 5000, "line 0\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			s := &Session{Stdout: &out, Stderr: &errb, Pager: c.pager}
			w := &pagedWriter{s: s, rows: 10}
			for i := 0; i < c.lines; i++ {
				if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.finish(); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(out.String(), c.want) && out.String() != c.want {
				t.Errorf("output ends %q, want %q", tail(out.String()), c.want)
			}
			if c.name == "pager quits early" && out.String() != "line 0\n" {
				t.Errorf("output %q", tail(out.String()))
			}
		})
	}
}

func tail(s string) string {
	if len(s) > 80 {
		return "…" + s[len(s)-80:]
	}
	return s
}
