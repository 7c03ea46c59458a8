package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
)

// parkThreads starts n OS threads, each blocked reading a pipe nobody writes,
// then waits forever. When ready is not nil it is called once all n threads
// exist.
func parkThreads(n int, ready func()) error {
	debug.SetMaxThreads(n + 1000)
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		return fmt.Errorf("threads: pipe: %w", err)
	}
	for range n {
		go func() {
			runtime.LockOSThread()
			var b [1]byte
			for {
				// A blocking read(2) on a blocking pipe: the runtime hands
				// our P to a new thread, so every goroutine gets its own.
				syscall.Read(p[0], b[:])
			}
		}()
	}
	for threadCount() < n {
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "hangfs: %d threads parked\n", threadCount())
	if ready != nil {
		ready()
	}
	select {}
}

func threadCount() int {
	return len(numericDir("/proc/self/task"))
}
