package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInterrupter drives the signal watcher with SIGUSR1 (caught, so it
// cannot kill the test): work that stops after the first signal is not cut
// short; work that does not is ended after the grace period, or at once
// by a second signal.
func TestInterrupter(t *testing.T) {
	tests := []struct {
		name      string
		signals   int
		stops     bool // the work notices the cancellation and ends
		grace     time.Duration
		wantExit  bool
		exitAfter time.Duration // upper bound
	}{
		{"work stops", 1, true, 5 * time.Second, false, 0},
		{"work does not stop: grace", 1, false, 200 * time.Millisecond, true, 4 * time.Second},
		{"second signal", 2, false, time.Hour, true, 4 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exited := make(chan int, 1)
			var errb bytes.Buffer
			ctx, in := catchSignals(context.Background(), &errb, func(code int) { exited <- code }, tc.grace, syscall.SIGUSR1)
			defer in.stop()
			start := time.Now()
			for i := 0; i < tc.signals; i++ {
				if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					select {
					case <-ctx.Done():
					case <-time.After(5 * time.Second):
						t.Fatal("the first signal did not cancel the context")
					}
				}
			}
			if tc.stops {
				in.stop()
				select {
				case code := <-exited:
					t.Fatalf("exit(%d) although the work stopped", code)
				case <-time.After(300 * time.Millisecond):
				}
			} else {
				select {
				case code := <-exited:
					if code != 128+int(syscall.SIGUSR1) {
						t.Errorf("exit(%d), want %d", code, 128+int(syscall.SIGUSR1))
					}
					if el := time.Since(start); el > tc.exitAfter {
						t.Errorf("exit after %v", el)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("no exit")
				}
			}
			if in.received() != syscall.SIGUSR1 {
				t.Errorf("received %v", in.received())
			}
		})
	}
}

// TestSignalEndsKwalk sends SIGTERM and SIGINT to kwalk while it waits
// where nothing checks for cancellation: in a script that sleeps, and in
// open(2) of a FIFO given with -i that no one writes. kwalk must exit with
// 128+signal within the grace period.
func TestSignalEndsKwalk(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "sleep.go")
	if err := os.WriteFile(script, []byte("package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Hour) }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "commands")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	type scenario struct {
		name string
		args []string
		sig  syscall.Signal
	}
	scenarios := []scenario{
		{"script, SIGTERM", []string{"run", script}, syscall.SIGTERM},
		{"script, SIGINT", []string{"run", script}, syscall.SIGINT},
	}
	if _, err := os.Stat(realDump); err == nil {
		scenarios = append(scenarios,
			scenario{"-i FIFO, SIGTERM", []string{"-i", fifo, realDump}, syscall.SIGTERM},
			scenario{"-i FIFO, SIGINT", []string{"-i", fifo, realDump}, syscall.SIGINT})
	} else {
		t.Logf("%s not present: the -i FIFO scenarios are skipped", realDump)
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			cmd := exec.Command(kwalkBinary(t), sc.args...)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			time.Sleep(time.Second)
			if err := cmd.Process.Signal(sc.sig); err != nil {
				t.Fatal(err)
			}
			sent := time.Now()
			select {
			case err := <-done:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 128+int(sc.sig) {
					t.Errorf("kwalk %q: %v, want exit status %d; stderr:\n%s", sc.args, err, 128+int(sc.sig), errb.String())
				}
				if el := time.Since(sent); el > signalGrace+3*time.Second {
					t.Errorf("exited %v after the signal", el)
				}
			case <-time.After(signalGrace + 10*time.Second):
				cmd.Process.Kill()
				t.Fatalf("kwalk %q still running after %v; stderr:\n%s", sc.args, sc.sig, errb.String())
			}
		})
	}
}

// TestSpecialDumpFiles: a FIFO given as the dump is refused at once, by
// name; with no dump and no /proc/kcore the error says how to name one.
func TestSpecialDumpFiles(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "vmcore")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan runResult, 1)
	go func() { done <- runKwalk(t, nil, "sys", fifo) }()
	select {
	case r := <-done:
		if r.status != 66 || !strings.Contains(r.stderr, fifo) || !strings.Contains(r.stderr, "FIFO") {
			t.Errorf("kwalk sys FIFO: status %d, stderr:\n%s", r.status, r.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("kwalk blocked on a FIFO dump")
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		t.Skip("/proc/kcore exists: the no-dump message is not reachable here")
	}
	r := runKwalk(t, nil, "sys")
	if r.status != 66 || !strings.Contains(r.stderr, "kwalk VMCORE [VMLINUX]") {
		t.Errorf("kwalk sys without /proc/kcore: status %d, stderr:\n%s", r.status, r.stderr)
	}
}
