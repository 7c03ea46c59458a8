package repl

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestStructCrashFlags: struct -l from a member's address back to the
// object, struct -r's raw words, whatis struct X and whatis -o.
func TestStructCrashFlags(t *testing.T) {
	s, out, errb, _ := newTestSession(t)
	run := func(line string) string {
		t.Helper()
		out.Reset()
		errb.Reset()
		if st := s.Exec(context.Background(), line); st != ExitOK {
			t.Fatalf("%s: status %d: %s", line, st, errb.String())
		}
		return out.String()
	}
	tasks := strings.TrimSpace(run("p &init_task.tasks"))
	addr := tasks[strings.LastIndex(tasks, " ")+1:]
	want := run("struct task_struct.comm init_task")
	off, err := s.Prog.OffsetOf("struct task_struct", "tasks")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		line string
		want string
	}{
		{"struct -l task_struct.tasks task_struct.comm " + addr, want},
		{fmt.Sprintf("struct -l %d task_struct.comm %s", off, addr), want},
	} {
		if got := run(tc.line); got != tc.want {
			t.Errorf("%s:\n%s\nwant\n%s", tc.line, got, tc.want)
		}
	}
	raw := run("struct -r list_head " + addr)
	if lines := strings.Split(strings.TrimSpace(raw), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], strings.TrimPrefix(addr, "0x")+":  ") || len(strings.Fields(lines[0])) != 3 {
		t.Errorf("struct -r list_head: %q", raw)
	}
	for _, tc := range []struct{ line, want string }{
		{"whatis struct list_head", "struct list_head {"},
		{"whatis -o struct list_head", "[0x8] struct list_head *prev;"},
		{"whatis -o list_head", "[0x8]"},
	} {
		if got := run(tc.line); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q lacks %q", tc.line, got, tc.want)
		}
	}
	for _, line := range []string{"whatis foo bar", "struct -l nodot task_struct 0x1000"} {
		if st := s.Exec(context.Background(), line); st != ExitUsage {
			t.Errorf("%s: status %d, want usage error", line, st)
		}
	}
}
