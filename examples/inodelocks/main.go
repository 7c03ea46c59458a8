// Command inodelocks finds every inode lock (i_rwsem) that has waiters in a
// kernel dump and prints who holds it and who waits, in queue order:
//
//	go run ./examples/inodelocks vmcore
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/walkers/waitfor"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: inodelocks VMCORE")
		os.Exit(2)
	}
	prog, err := kwalk.Open(os.Args[1], kwalk.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	waits, warnings, err := waitfor.Waits(prog)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	byLock := make(map[uint64][]waitfor.TaskWait)
	var locks []uint64
	for _, w := range waits {
		if !strings.Contains(w.Object.What, "i_rwsem") {
			continue
		}
		if _, seen := byLock[w.Object.Addr]; !seen {
			locks = append(locks, w.Object.Addr)
		}
		byLock[w.Object.Addr] = append(byLock[w.Object.Addr], w)
	}
	sort.Slice(locks, func(i, j int) bool { return locks[i] < locks[j] })
	for _, addr := range locks {
		ws := byLock[addr]
		sort.Slice(ws, func(i, j int) bool { return ws[i].Position < ws[j].Position })
		fmt.Printf("%s [%s %#x]\n", ws[0].Object.What, ws[0].Object.Type, addr)
		for _, h := range ws[0].Holders {
			certainty := "certain"
			if !h.Certain {
				certainty = "hint"
			}
			fmt.Printf("  held by pid %d %s (%s, %s)\n", h.Task.PID, h.Task.Comm, h.How, certainty)
		}
		for _, w := range ws {
			fmt.Printf("  waiter %d: pid %d %s [%s] %s\n", w.Position, w.Task.PID, w.Task.Comm, w.Task.State, w.Kind)
		}
	}
}
