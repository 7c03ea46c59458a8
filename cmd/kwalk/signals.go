package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// signalGrace is how long kwalk waits, after a signal cancelled the work,
// for the work to stop by itself before exiting anyway.
const signalGrace = 2 * time.Second

// interrupter ends kwalk on a signal at any point: while a command runs
// (the first signal cancels its context, so it stops at its next check and
// reports "interrupted") and while nothing checks a context (open(2) of a
// FIFO named with -i, loading debug info): when the work has not ended
// within the grace period, or at a second signal, kwalk exits with
// 128+signal.
type interrupter struct {
	sigc   chan os.Signal
	cancel context.CancelFunc
	done   chan struct{}
	exit   func(code int)
	stderr io.Writer

	stopOnce sync.Once
	mu       sync.Mutex
	sig      syscall.Signal // the first signal received, 0 before
}

// catchSignals returns a context cancelled by the first of sigs and the
// interrupter watching them; stop it when the work is over. exit ends the
// process (os.Exit; tests pass their own).
func catchSignals(parent context.Context, stderr io.Writer, exit func(int), grace time.Duration, sigs ...os.Signal) (context.Context, *interrupter) {
	ctx, cancel := context.WithCancel(parent)
	in := &interrupter{sigc: make(chan os.Signal, 2), cancel: cancel, done: make(chan struct{}), exit: exit, stderr: stderr}
	signal.Notify(in.sigc, sigs...)
	go in.watch(grace)
	return ctx, in
}

func (in *interrupter) watch(grace time.Duration) {
	var sig os.Signal
	select {
	case sig = <-in.sigc:
	case <-in.done:
		return
	}
	s, _ := sig.(syscall.Signal)
	in.mu.Lock()
	in.sig = s
	in.mu.Unlock()
	in.cancel()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-in.done:
		return
	case <-in.sigc:
	case <-t.C:
	}
	fmt.Fprintf(in.stderr, "kwalk: %v\n", sig)
	in.exit(128 + int(s))
}

// received returns the signal that cancelled the work, 0 if none.
func (in *interrupter) received() syscall.Signal {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.sig
}

// stop ends the watch: the work is over. It may be called more than once.
func (in *interrupter) stop() {
	in.stopOnce.Do(func() {
		signal.Stop(in.sigc)
		close(in.done)
		in.cancel()
	})
}
