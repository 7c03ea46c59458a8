package repl

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/repl/internal/synth"
	"github.com/kwalk/kwalk/symbols"
)

// FuzzExec runs arbitrary command lines against the synthetic kernel:
// no panics (runSafely would hide them, so the test checks stderr), no hangs.
func FuzzExec(f *testing.F) {
	for _, s := range []string{"p init_task.comm", "rd -64 jiffies 4", "struct task_struct.se init_task", "p ((struct task_struct *)0x10)->comm",
		"sym 'a;b' | cat", "dis do_exit 3", "foreach UN task -R pid", "p *(struct list_head *)init_task.tasks.next", "x > /dev/null"} {
		f.Add(s)
	}
	k := synth.New()
	f.Fuzz(func(t *testing.T, line string) {
		if len(line) > 200 || strings.HasPrefix(strings.TrimSpace(line), "!") {
			return // "!" runs a shell command
		}
		for _, st := range mustStatements(line) {
			if st.Pipe != "" || st.Redirect != "" {
				return // do not run shell commands or write files
			}
		}
		s := NewSession(k.Prog, NewDefaultRegistry(), io.Discard, io.Discard)
		s.Reg.SetTaskSource(nil)
		var errb captureWriter
		s.Stderr = &errb
		s.Exec(context.Background(), line)
		if errb.internal {
			t.Fatalf("%q: internal error (a panic in a command)", line)
		}
	})
}

func mustStatements(line string) []statement {
	st, _ := splitStatements(line)
	return st
}

type captureWriter struct{ internal bool }

func (w *captureWriter) Write(p []byte) (int, error) {
	if contains(p, "internal error") {
		w.internal = true
	}
	return len(p), nil
}

func contains(p []byte, s string) bool {
	for i := 0; i+len(s) <= len(p); i++ {
		if string(p[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}

// TestDecodeInconsistentTypes decodes types that claim more than the
// object holds: no panic, the excess is reported as omitted.
func TestDecodeInconsistentTypes(t *testing.T) {
	k := synth.New()
	char := &symbols.Type{Kind: symbols.KindInt, Name: "char", Size: 1, Encoding: symbols.IntChar}
	u64 := &symbols.Type{Kind: symbols.KindInt, Name: "u64", Size: 8}
	d := decoder{prog: k.Prog}
	for _, ty := range []*symbols.Type{
		{Kind: symbols.KindArray, Elem: u64, Len: 100, Size: 16},
		{Kind: symbols.KindArray, Elem: char, Len: 100, Size: 16},
		{Kind: symbols.KindStruct, Size: 8, Members: []symbols.Member{{Name: "far", Type: u64, Offset: 1 << 40}}},
	} {
		n := d.decode("", ty, make([]byte, 16), 0, 0, 0)
		_ = n.WriteText(io.Discard)
	}
}
