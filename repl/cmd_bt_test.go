package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/walkers/sched"
)

// runBtLine runs one command line on the real dump and returns its output.
func runBtLine(t *testing.T, line string) string {
	t.Helper()
	prog := openRealDump(t)
	var out, errb bytes.Buffer
	s := NewSession(prog, NewDefaultRegistry(), &out, &errb)
	if st := s.Exec(context.Background(), line); st != ExitOK {
		t.Fatalf("%s: status %d: %s%s", line, st, out.String(), errb.String())
	}
	return out.String()
}

// pidOf finds a task of the dump by command name (the staged hangs have
// one rm and one truncate).
func pidOf(t *testing.T, comm string) int {
	t.Helper()
	tasks, err := sched.Tasks(openRealDump(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.Comm == comm {
			return task.PID
		}
	}
	t.Skipf("SKIP: no %q task in the dump", comm)
	return 0
}

func TestBtRealDumpSyscalls(t *testing.T) {
	for _, c := range []struct {
		comm    string
		frames  []string // in order, a subsequence of the trace
		syscall *regexp.Regexp
	}{
		{"rm", []string{"vfs_unlink+", "do_unlinkat+", "do_syscall_64+", "entry_SYSCALL_64_after_hwframe+"},
			regexp.MustCompile(`SYSCALL: unlink(at)?\((AT_FDCWD, )?"/mnt/w/[^"]+"`)},
		{"truncate", []string{"do_truncate+", "do_sys_ftruncate+"},
			regexp.MustCompile(`SYSCALL: ftruncate\(3</mnt/w/data>, `)},
		{"touch", []string{"filename_lookup+", "do_utimes+"},
			regexp.MustCompile(`SYSCALL: utimensat\(AT_FDCWD, "/mnt/w/newfile"`)},
	} {
		t.Run(c.comm, func(t *testing.T) {
			pid := pidOf(t, c.comm)
			out := runBtLine(t, fmt.Sprintf("bt %d", pid))
			if !strings.HasPrefix(out, fmt.Sprintf("PID: %-7d TASK: ", pid)) || !strings.Contains(out, fmt.Sprintf("COMMAND: %q", c.comm)) {
				t.Errorf("header:\n%s", out)
			}
			rest := out
			for _, f := range c.frames {
				i := strings.Index(rest, "] "+f)
				if i < 0 {
					t.Fatalf("frame %s missing (or out of order) in\n%s", f, out)
				}
				rest = rest[i:]
			}
			if !c.syscall.MatchString(out) {
				t.Errorf("syscall line does not match %v:\n%s", c.syscall, out)
			}
			if !strings.Contains(out, "ORIG_RAX: ") || strings.Contains(out, "unwind stopped") {
				t.Errorf("user registers or clean end missing:\n%s", out)
			}
		})
	}
}

func TestBtRealDumpJSONAndFlags(t *testing.T) {
	pid := pidOf(t, "dd")
	out := runBtLine(t, fmt.Sprintf("bt --json %d", pid))
	var res struct {
		Traces []struct {
			PID    int `json:"pid"`
			Frames []struct {
				Symbol string `json:"symbol"`
				Module string `json:"module"`
				SP     string `json:"sp"`
			} `json:"frames"`
			Syscall *struct {
				Name string `json:"name"`
				Text string `json:"text"`
			} `json:"syscall"`
			Error string `json:"error"`
		} `json:"traces"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(res.Traces) != 1 || res.Traces[0].PID != pid || len(res.Traces[0].Frames) < 5 || res.Traces[0].Error != "" {
		t.Fatalf("unexpected JSON: %s", out)
	}
	if sc := res.Traces[0].Syscall; sc == nil || sc.Name != "write" {
		t.Errorf("syscall: %+v", sc)
	}
	// bt -f prints stack words under the frames; bt -a one trace per CPU.
	if f := runBtLine(t, fmt.Sprintf("bt -f %d", pid)); !regexp.MustCompile(`\n    [0-9a-f]{16}: [0-9a-f]{16}`).MatchString(f) {
		t.Errorf("bt -f shows no stack words:\n%s", f)
	}
	all := runBtLine(t, "bt -a")
	if n := strings.Count(all, "PID: "); n != len(openRealDump(t).Dump.CPUs()) {
		t.Errorf("bt -a printed %d traces:\n%s", n, all)
	}
	if !strings.Contains(all, "#0 [0000000000000000] ") {
		t.Errorf("bt -a: first frame of a running task should come from registers:\n%s", all)
	}
}
