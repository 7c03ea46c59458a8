package repl

import (
	"bytes"
	"context"
	"testing"
)

func TestRealDumpScratch(t *testing.T) {
	prog := openRealDump(t)
	var out, errb bytes.Buffer
	s := NewSession(prog, NewDefaultRegistry(), &out, &errb)
	for _, line := range []string{"sys", "p jiffies", "p init_task.comm", "rd -s init_task 4", "rd -a linux_banner", "sym schedule", "dis schedule 6", "struct -o list_head", "struct task_struct.comm,pid,__state,se.vruntime init_task", "mod", "set 1", "whatis init_task", "foreach UN task -R comm,pid", "p init_uts_ns.name"} {
		out.Reset()
		errb.Reset()
		st := s.Exec(context.Background(), line)
		t.Logf("%s -> %d\n%s%s", line, st, out.String(), errb.String())
	}
}
