// Command blocked lists the tasks of a kernel dump that have not run for at
// least a given time and sit in the kernel in uninterruptible (D) sleep, or
// in any sleep with -all, each with the system call it is in:
//
//	go run ./examples/blocked -min 10m vmcore
//	  PID 114 rm [D] blocked for 4h32m: unlink("/mnt/w/data")
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
)

func main() {
	min := flag.Duration("min", 10*time.Minute, "report tasks that have not run for at least this long")
	all := flag.Bool("all", false, "report every sleeping task, not only D")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: blocked [-min DURATION] [-all] VMCORE")
		os.Exit(2)
	}
	prog, err := kwalk.Open(flag.Arg(0), kwalk.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tasks, err := sched.Tasks(prog)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].SinceRan > tasks[j].SinceRan })
	for _, t := range tasks {
		if t.Idle || !t.HasSinceRan || t.SinceRan < *min {
			continue
		}
		if t.State != "D" && !(*all && t.State == "S") {
			continue
		}
		line := fmt.Sprintf("PID %d %s [%s] blocked for %s", t.PID, t.Comm, t.State, t.SinceRan.Round(time.Second))
		if tr, err := unwind.Stack(prog, t.Obj); err == nil {
			sc, err := unwind.DecodeSyscall(prog, t.Obj, tr, unwind.SyscallOptions{FDPath: unwind.TaskFDPath})
			switch {
			case err != nil:
				line += ": syscall: " + err.Error()
			case sc != nil:
				line += ": " + sc.String()
			default:
				line += ": (kernel thread)"
			}
		}
		fmt.Println(line)
	}
}
