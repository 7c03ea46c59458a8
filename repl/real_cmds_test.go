package repl

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

func TestRealDumpScratch(t *testing.T) {
	if os.Getenv("KWALK_SCRATCH") == "" {
		t.Skip("scratch")
	}
	prog := openRealDump(t)
	var out, errb bytes.Buffer
	s := NewSession(prog, NewDefaultRegistry(), &out, &errb)
	for _, line := range strings.Split(os.Getenv("KWALK_SCRATCH"), ";") {
		out.Reset()
		errb.Reset()
		st := s.Exec(context.Background(), line)
		t.Logf("%s -> %d\n%s%s", line, st, out.String(), errb.String())
	}
}
