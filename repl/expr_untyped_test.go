package repl

import (
	"context"
	"strings"
	"testing"
)

// TestUntypedGlobals: a symbol kallsyms knows and no type source types
// can still be read under a cast or through its address, and "p NAME"
// says how (with its address and first word) instead of only failing.
func TestUntypedGlobals(t *testing.T) {
	for _, tc := range []struct {
		line   string
		status int
		want   string // in stdout (ExitOK) or stderr
	}{
		// ibt_func's first bytes: endbr64 (f3 0f 1e fa).
		{"p (unsigned int)ibt_func", ExitOK, "(unsigned int)ibt_func = 4196274163"},
		{"p *(unsigned int *)&ibt_func", ExitOK, "= 4196274163"},
		{"p &ibt_func", ExitOK, "&ibt_func = 0xffffffff81000300"},
		{"p ibt_func", ExitFailed, `type of global "ibt_func" unknown`},
		{"p ibt_func", ExitFailed, "p (TYPE)ibt_func"},
		{"p ibt_func.x", ExitFailed, "rd ibt_func"},
		{"p ibt_func[1]", ExitFailed, "it is at 0xffffffff81000300"},
		{"p *ibt_func", ExitFailed, "give it a type"},
		{"p no_such_symbol", ExitFailed, "no_such_symbol"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			s, out, errb, _ := newTestSession(t)
			st := s.Exec(context.Background(), tc.line)
			got := errb.String()
			if st == ExitOK {
				got = out.String()
			}
			if st != tc.status || !strings.Contains(got, tc.want) {
				t.Errorf("status %d (want %d), output %q lacks %q", st, tc.status, got, tc.want)
			}
		})
	}
}
