// Command testsummary runs go test and ends its output with one line saying
// how many tests skipped, and how to make the real dumps most of them need:
//
//	go run ./testdata/testsummary ./...             # instead of go test ./...
//	go run ./testdata/testsummary -run TestPs ./repl
//
// Its arguments are go test's. It runs "go test -json ARGS" and writes what
// plain go test would as the events arrive (an ok line per package; the
// output of failed tests; everything with -v), then the summary. Its exit
// status is go test's. The go test runner has no hook across packages, so
// the count is taken from the JSON events, which cached packages replay too.
package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"syscall"
)

// generateCommand makes the dumps (testdata.GenerateCommand; not imported,
// so that this command builds alone).
const generateCommand = "go run ./testdata/gen"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	cmd := exec.Command("go", append([]string{"test", "-json"}, args...)...)
	cmd.Stdin = os.Stdin
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 1
	}
	// Ctrl-C reaches go test through the terminal's process group; this
	// process waits for it to end and reports what ran.
	signal.Ignore(os.Interrupt, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "testsummary:", err)
		return 1
	}
	verbose := slices.ContainsFunc(args, func(a string) bool {
		return a == "-v" || a == "-test.v" || a == "-v=true" || a == "-test.v=true"
	})
	s := newSummarizer(stdout, stderr, verbose)
	readErr := s.read(out)
	waitErr := cmd.Wait()
	if readErr != nil {
		fmt.Fprintln(stderr, "testsummary: reading go test -json:", readErr)
	}
	s.finish()
	code := 0
	if waitErr != nil {
		code = 1
		if ee, ok := waitErr.(*exec.ExitError); ok && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
	}
	if code == 0 && readErr != nil {
		code = 1
	}
	return code
}
