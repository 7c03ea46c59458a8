// Package examples_test builds the example programs and runs them against
// real dumps, checking what they print against the guest's own record.
package examples_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/testdata/truth"
)

// build compiles the examples once into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./blocked", "./fusequeues", "./inodelocks")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build examples: %v\n%s", err, out)
	}
	return dir
}

func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return string(out)
}

// recorder reports whether the task is part of the guest's recording
// machinery, which ran on between the record and the dump: the process
// "meta recorder=PID" names and its children, or (the shared dump's record
// has no meta lines) the ps and cat that printed it.
func recorder(rec *truth.Record, task *truth.Task) bool {
	if pid, err := strconv.Atoi(rec.Meta["recorder"]); err == nil {
		return task.PID == pid || task.PPID == pid
	}
	return task.Comm == "ps" || task.Comm == "cat"
}

func TestExamples(t *testing.T) {
	bin := build(t)
	for _, d := range testdata.RealDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			// Every task the guest saw in D state is listed, with its pid.
			out := run(t, filepath.Join(bin, "blocked"), "-min", "0", d.Path)
			for i := range d.Truth.Tasks {
				task := &d.Truth.Tasks[i]
				if task.State != 'D' || recorder(d.Truth, task) {
					continue
				}
				if !regexp.MustCompile(fmt.Sprintf(`(?m)^PID %d \S+ \[D\]`, task.TID)).MatchString(out) {
					t.Errorf("blocked: D task %d (%s) missing from:\n%s", task.TID, task.Comm, out)
				}
			}

			// Every FUSE connection of the guest is listed with its
			// waiting count (/sys/fs/fuse/connections/N/waiting).
			out = run(t, filepath.Join(bin, "fusequeues"), d.Path)
			for _, c := range d.Truth.FuseConn {
				want := fmt.Sprintf(`(?m)^connection %d (.* waiting=%d|.* state unknown \(no FUSE types\))$`, c.Dev, c.Waiting)
				if !regexp.MustCompile(want).MatchString(out) {
					t.Errorf("fusequeues: want connection %d waiting=%d in:\n%s", c.Dev, c.Waiting, out)
				}
			}

			// Each task whose /proc stack shows it in an rwsem slow path
			// is a waiter of some inode lock.
			out = run(t, filepath.Join(bin, "inodelocks"), d.Path)
			for i := range d.Truth.Tasks {
				task := &d.Truth.Tasks[i]
				if task.State != 'D' || !(task.InStack("rwsem_down_write_slowpath") || task.InStack("rwsem_down_read_slowpath")) {
					continue
				}
				if !regexp.MustCompile(fmt.Sprintf(`(?m)^  waiter \d+: pid %d `, task.TID)).MatchString(out) {
					t.Errorf("inodelocks: rwsem waiter %d (%s) missing from:\n%s", task.TID, task.Comm, out)
				}
			}
		})
	}
}

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("go"); err != nil {
		fmt.Fprintln(os.Stderr, "SKIP: no go command to build the examples")
		os.Exit(0)
	}
	os.Exit(m.Run())
}
