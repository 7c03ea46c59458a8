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

// FuzzExpr feeds expressions to the three evaluators (p's C-like objects,
// addresses, eval's arithmetic) on the synthetic kernel: an answer or an
// error, never a panic or a hang; hostile nesting is a usage error.
func FuzzExpr(f *testing.F) {
	for _, s := range []string{"init_task.comm", "*init_task.tasks.next", "&init_task.se", "((struct task_struct *)0xffff888000101000)->comm",
		"(struct list_head)0xffff888000100010", "init_task.parent->parent->pid", "init_task+0x10", "jiffies-8", "ffff888000101234 & ~0xfff",
		"(1 << 12 | 0xff) - -1", "1<<64", "init_task.tasks.next[2]", "runqueues:1", "(((init_task)))", "**&&init_task", "-~-~1 % 0"} {
		f.Add(s)
	}
	k := synth.New()
	f.Fuzz(func(t *testing.T, expr string) {
		if len(expr) > 4096 {
			return // long inputs only slow the minimizer
		}
		if _, err := evalObject(k.Prog, expr); err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
		_, _ = evalAddr(k.Prog, expr)
		a := &arith{prog: k.Prog, s: expr}
		_, _ = a.parse()
		if a.depth != 0 {
			t.Fatalf("eval depth %d after parsing", a.depth)
		}
	})
}

// FuzzStatements splits arbitrary lines into statements: no panic, and
// every statement has a command word, a non-empty pipe or redirection
// target when it has one.
func FuzzStatements(f *testing.F) {
	for _, s := range []string{"ps", "ps -m; bt 12", "ps | grep 'a;b'", "log >> 'my file'", "p init_task->comm > out",
		`sym "a\"b" \; c`, "eval (1 << 12 | 3) | cat", "ps >> ''", "; ;", "x 'unterminated", "a\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		sts, err := splitStatements(line)
		if err != nil {
			return
		}
		for _, st := range sts {
			if len(st.Words) == 0 {
				t.Fatalf("%q: a statement without words: %+v", line, st)
			}
			if st.Append && st.Redirect == "" {
				t.Fatalf("%q: >> without a file: %+v", line, st)
			}
			if st.Pipe != "" && strings.TrimSpace(st.Pipe) != st.Pipe {
				t.Fatalf("%q: pipe text not trimmed: %q", line, st.Pipe)
			}
		}
	})
}
