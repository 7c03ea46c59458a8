package repl

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"two\nlines\tand a tab", "two\nlines\tand a tab"},
		{"x86\r64", `x86\r64`},
		{"\x1b[2Jcleared", `\x1b[2Jcleared`},
		{"bell\a", `bell\a`},
		{"nul\x00", `nul\x00`},
		{"bad utf-8 \xff\xfe", `bad utf-8 \xff\xfe`},
		{"ünïcode ok", "ünïcode ok"},
		{"del\x7f", `del\x7f`},
		{"\u202eright-to-left override", `\u202eright-to-left override`},
	} {
		if got := Printable(tc.in); got != tc.want {
			t.Errorf("Printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestErrorsEscaped: a command error carrying raw bytes from a dump
// reaches stderr escaped.
func TestErrorsEscaped(t *testing.T) {
	s, _, errb, _ := newTestSession(t)
	s.Reg.Add(&Command{Name: "garbage", Summary: "s", Usage: "garbage", Help: "h", Examples: []string{"garbage"},
		Run: func(c *Call) (Result, error) { return nil, errors.New("release \x1b]0;pwned\a from the header") }})
	s.Exec(context.Background(), "garbage")
	if got := errb.String(); strings.ContainsAny(got, "\x1b\a") || !strings.Contains(got, `\x1b]0;pwned\a`) {
		t.Errorf("stderr %q", got)
	}
}
