// A kwalk script: lists the tasks in D state with their kernel stacks'
// first frame. Run: kwalk run tasks_script.go VMCORE [COMM]
package main

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
)

func Main(prog *symbols.Program, args []string) error {
	task, err := prog.Variable("init_task")
	if err != nil {
		return err
	}
	comm, err := task.MemberString("comm")
	if err != nil {
		return err
	}
	fmt.Printf("init_task.comm=%s\n", comm)
	tasks, err := sched.Tasks(prog)
	if err != nil && len(tasks) == 0 {
		return err
	}
	n := 0
	for _, t := range tasks {
		if len(args) > 0 && !strings.Contains(t.Comm, args[0]) {
			continue
		}
		n++
	}
	fmt.Printf("tasks=%d\n", n)
	return nil
}
