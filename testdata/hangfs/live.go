package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Live runs: after the record, the guest runs kwalk (copied into the
// initramfs as /bin/kwalk) against its own running kernel, with no dump
// argument, each run framed on the console:
//
//	KWALK-LIVE-BEGIN deadlock --json
//	<stdout and stderr>
//	KWALK-LIVE-END deadlock --json rc=2
//
// They come after KWALK-TRUTH-END so kwalk is no task of the record, and
// before KWALK-SCENARIO-READY so the host dumps only after they finished
// (each kwalk has exited and been reaped by then).
const (
	liveBinary  = "/bin/kwalk"
	liveBegin   = "KWALK-LIVE-BEGIN"
	liveEnd     = "KWALK-LIVE-END"
	liveNote    = "KWALK-LIVE-NOTE"
	liveTimeout = 3 * time.Minute
	liveMaxOut  = 4 << 20           // bytes of output kept per run
	liveDir     = "/tmp/kwalk-live" // kwalk's working directory, empty
)

// liveCommands are the kwalk runs. The scale guest (the threads scenario)
// has none: there its 10,000-thread process was gone by the time the first
// live kwalk printed its task count, and from the dump (likely killed for
// memory by the OOM killer, unconfirmed: the console is quiet by then), and
// the dump exists for those threads.
func liveCommands(scenarios string) [][]string {
	if strings.Contains(scenarios, scThreads) {
		return nil
	}
	return [][]string{{"sys"}, {"ps"}, {"deadlock"}, {"deadlock", "--json"}}
}

// runLive runs the live commands and prints their framed output.
func runLive(scenarios string) {
	cmds := liveCommands(scenarios)
	if len(cmds) == 0 {
		fmt.Printf("%s skipped for scenarios %s\n", liveNote, scenarios)
		return
	}
	if _, err := os.Stat(liveBinary); err != nil {
		fmt.Printf("%s no %s: %v\n", liveNote, liveBinary, err)
		return
	}
	for _, p := range []string{"/proc/kcore", "/sys/kernel/btf/vmlinux"} {
		if _, err := os.Stat(p); err != nil {
			fmt.Printf("%s absent %s: %v\n", liveNote, p, err)
		} else {
			fmt.Printf("%s present %s\n", liveNote, p)
		}
	}
	if err := os.MkdirAll(liveDir, 0o755); err != nil {
		fmt.Printf("%s mkdir %s: %v\n", liveNote, liveDir, err)
	}
	for _, args := range cmds {
		name := strings.Join(args, " ")
		out, rc, dur := runLiveOne(args)
		fmt.Printf("%s %s\n", liveBegin, name)
		os.Stdout.Write(out)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			fmt.Println()
		}
		fmt.Printf("%s %s rc=%d ms=%d\n", liveEnd, name, rc, dur.Milliseconds())
	}
}

// runLiveOne runs kwalk ARGS with a time limit; rc is -1 when it could not
// run or was killed.
func runLiveOne(args []string) ([]byte, int, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	defer cancel()
	var buf limitedBuffer
	buf.max = liveMaxOut
	cmd := exec.CommandContext(ctx, liveBinary, args...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	// kwalk takes its first argument for a dump when a file of that name
	// exists ("sys" from / is /sys): run it where nothing does.
	cmd.Dir = liveDir
	cmd.Env = append(os.Environ(), "TERM=dumb", "NO_COLOR=1")
	t0 := time.Now()
	err := cmd.Run()
	dur := time.Since(t0)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return buf.Bytes(), 0, dur
	case ctx.Err() != nil:
		fmt.Fprintf(&buf, "\n%s killed after %s\n", liveNote, liveTimeout)
		return buf.Bytes(), -1, dur
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return buf.Bytes(), ee.ExitCode(), dur
	default:
		fmt.Fprintf(&buf, "\n%s run %s: %v\n", liveNote, liveBinary, err)
		return buf.Bytes(), -1, dur
	}
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	bytes.Buffer
	max       int
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		if !b.truncated {
			b.truncated = true
			b.Buffer.WriteString("\n" + liveNote + " output truncated\n")
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
