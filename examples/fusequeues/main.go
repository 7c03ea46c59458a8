// Command fusequeues prints every FUSE connection of a kernel dump with its
// state, its request queues, the tasks waiting on each request and the
// server tasks that should answer them:
//
//	go run ./examples/fusequeues vmcore
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/walkers/waitfor"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fusequeues VMCORE")
		os.Exit(2)
	}
	prog, err := kwalk.Open(os.Args[1], kwalk.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	conns, warnings, err := waitfor.FuseConnections(prog)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "warning:", w)
	}
	for _, c := range conns {
		var mps []string
		for _, m := range c.Mounts {
			mps = append(mps, m.MountPoints...)
		}
		if c.TypesFree {
			// No FUSE types (a kernel without module BTF): the connection
			// and its servers are known, its state and queues are not.
			fmt.Printf("connection %d %s state unknown (no FUSE types)\n", c.ID, strings.Join(mps, ","))
		} else {
			fmt.Printf("connection %d %s connected=%v aborted=%v waiting=%d\n",
				c.ID, strings.Join(mps, ","), c.Connected, c.Aborted, c.NumWaiting)
		}
		for _, r := range c.Requests {
			fmt.Printf("  %-10s #%d %s nodeid=%d %s flags=%s\n", r.Queue, r.Unique, r.Op, r.NodeID, r.Path, strings.Join(r.Flags, "|"))
			for _, w := range r.Waiters {
				fmt.Printf("    waiter: pid %d %s\n", w.PID, w.Comm)
			}
		}
		for _, s := range c.Servers {
			fmt.Printf("  server: pid %d %s [%s] fd %d\n", s.Task.PID, s.Task.Comm, s.State, s.FD)
		}
		fmt.Printf("  remedy: %s\n", c.Remedy)
	}
}
