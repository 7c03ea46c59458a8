package repl_test

import (
	"context"
	"os"

	"github.com/kwalk/kwalk/repl"
	"github.com/kwalk/kwalk/repl/internal/synth"
)

// Running kwalk commands from Go: a Session over a Program (here a
// synthetic kernel; kwalk.Open gives a real one) and a Registry.
func ExampleSession_Exec() {
	prog := synth.New().Prog
	s := repl.NewSession(prog, repl.NewDefaultRegistry(), os.Stdout, os.Stderr)
	ctx := context.Background()
	s.Exec(ctx, "p init_task.comm")
	s.Exec(ctx, "struct task_struct.pid,se.vruntime ffff888000101000")
	s.Exec(ctx, "sym do_exit --json")
	// Output:
	// init_task.comm = "swapper/0"
	//   pid = 42,
	//   se.vruntime = 3000,
	// {"symbols":[{"name":"do_exit","address":"0xffffffff81000100","type":"T","size":64}]}
}
