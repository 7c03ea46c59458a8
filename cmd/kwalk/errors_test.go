package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorsEscapeControlBytes: file names and header bytes reach the
// terminal escaped.
func TestErrorsEscapeControlBytes(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "vmcore")
	if err := os.WriteFile(garbage, []byte("\x1b]0;title\a\x1b[2J not a dump, just bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"/nonexistent/\x1b[2Jvmcore"}, `/nonexistent/\x1b[2Jvmcore: no such dump file`},
		{[]string{"sys", garbage}, `starts with "\x1b]0;title\a\x1b[2J`},
	} {
		r := runKwalk(t, nil, tc.args...)
		if strings.ContainsAny(r.stderr, "\x1b\a") || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("kwalk %q: stderr %q, want it to contain %q and no raw control bytes", tc.args, r.stderr, tc.want)
		}
	}
}
