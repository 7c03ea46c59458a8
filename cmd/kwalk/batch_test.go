package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const (
	realDump    = "/work/shared/vmcores/6.1-cloud/vmcore.kdump"
	realKernel  = "/work/shared/vmcores/6.1-cloud/KERNEL"
	realConsole = "/work/shared/vmcores/6.1-cloud/console.log"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// kwalkBinary builds cmd/kwalk once for the tests that run it.
func kwalkBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kwalk-test-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "kwalk")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = errors.New(string(out))
		}
	})
	if binErr != nil {
		t.Fatalf("building kwalk: %v", binErr)
	}
	return binPath
}

type runResult struct {
	stdout, stderr string
	status         int
}

func runKwalk(t *testing.T, env []string, args ...string) runResult {
	t.Helper()
	cmd := exec.Command(kwalkBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	st := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		st = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return runResult{out.String(), errb.String(), st}
}

// TestBatchNoDump covers what runs without a kernel: help, version, usage errors.
func TestBatchNoDump(t *testing.T) {
	tests := []struct {
		args   []string
		status int
		stdout string
		stderr string
	}{
		{[]string{"--version"}, 0, "kwalk ", ""},
		{[]string{"-h"}, 0, "exit status:", ""},
		{[]string{"help"}, 0, "struct", ""},
		{[]string{"help", "rd"}, 0, "EXAMPLES", ""},
		{[]string{"help", "nosuch"}, 64, "", "no command"},
		{[]string{"--frobnicate"}, 64, "", "unknown flag"},
		{[]string{"/nonexistent/vmcore"}, 64, "", "no such dump file"},
		{[]string{"-c", "sys", "/nonexistent/vmcore"}, 64, "", "no such dump file"},
		{[]string{"sys", "--vmlinux"}, 64, "", "needs a value"},
		{[]string{"-c", "help q; help sys"}, 0, "leave kwalk", ""},
	}
	for _, tc := range tests {
		r := runKwalk(t, nil, tc.args...)
		if r.status != tc.status || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("kwalk %q: status %d (want %d)\nstdout: %s\nstderr: %s", tc.args, r.status, tc.status, r.stdout, r.stderr)
		}
	}
	// help --json is one JSON document.
	r := runKwalk(t, nil, "help", "rd", "--json")
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc["name"] != "rd" {
		t.Errorf("help rd --json: %v: %s", err, r.stdout)
	}
}

// needRealDump skips unless the shared dump exists and kwalk can open it.
func needRealDump(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(realDump); err != nil {
		t.Skipf("SKIP: %s not present", realDump)
	}
	r := runKwalk(t, nil, "sys", realDump)
	if r.status == 66 {
		t.Skipf("SKIP: kwalk cannot open %s yet: %s", realDump, strings.TrimSpace(r.stderr))
	}
}

func kernelRelease(t *testing.T) string {
	b, err := os.ReadFile(realKernel)
	if err != nil {
		t.Skipf("SKIP: %s: %v", realKernel, err)
	}
	f := strings.Fields(string(b))
	return f[len(f)-1]
}

// truthTasks returns comm by pid from the guest's own record.
func truthTasks(t *testing.T) map[int]string {
	f, err := os.Open(realConsole)
	if err != nil {
		t.Skipf("SKIP: %s: %v", realConsole, err)
	}
	defer f.Close()
	out := map[int]string{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasSuffix(l, "KWALK-TRUTH-BEGIN"):
			in = true
		case strings.HasSuffix(l, "KWALK-TRUTH-END"):
			in = false
		case in && strings.HasPrefix(l, "task tid="):
			var tid, pid int
			var comm string
			for _, kv := range strings.Fields(l)[1:] {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "tid":
					tid = atoiOr(v)
				case "pid":
					pid = atoiOr(v)
				case "comm":
					comm = v
				}
			}
			_ = pid
			out[tid] = comm
		}
	}
	return out
}

func atoiOr(s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func TestBatchRealDump(t *testing.T) {
	needRealDump(t)
	rel := kernelRelease(t)
	truth := truthTasks(t)

	r := runKwalk(t, nil, "sys", realDump)
	if r.status != 0 || !strings.Contains(r.stdout, "RELEASE: "+rel) {
		t.Errorf("sys: status %d\n%s%s", r.status, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "\x1b") {
		t.Errorf("escape sequences in non-terminal output: %q", r.stdout)
	}
	// BLOCKED counts the tasks the guest recorded in state D.
	if d := truthStateCount(t, "D"); d > 0 && !strings.Contains(r.stdout, fmt.Sprintf("BLOCKED: %d in uninterruptible sleep", d)) {
		t.Errorf("sys: want BLOCKED: %d (the guest's D tasks):\n%s", d, r.stdout)
	}
	r = runKwalk(t, nil, "p", realDump, "init_task.comm")
	if r.status != 0 || !strings.Contains(r.stdout, `"swapper/0"`) {
		t.Errorf("p: status %d\n%s%s", r.status, r.stdout, r.stderr)
	}
	// -c with --json: JSON lines, one document per command.
	r = runKwalk(t, nil, "--json", "-c", "sys; p jiffies; nosuch", realDump)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || r.status != 64 {
		t.Fatalf("-c --json: status %d, %d lines:\n%s", r.status, len(lines), r.stdout)
	}
	var sys struct {
		Release string `json:"release"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &sys); err != nil || sys.Release != rel {
		t.Errorf("sys JSON %s: %v", lines[0], err)
	}
	var e struct{ Command, Error string }
	if err := json.Unmarshal([]byte(lines[2]), &e); err != nil || e.Command != "nosuch" {
		t.Errorf("error JSON %s: %v", lines[2], err)
	}
	// set PID shows the comm the guest recorded for it.
	r = runKwalk(t, nil, "set", realDump, "1")
	if r.status != 0 || !strings.Contains(r.stdout, `COMMAND: "`+truth[1]+`"`) {
		t.Errorf("set 1: want comm %q: %s%s", truth[1], r.stdout, r.stderr)
	}
	// Piping through the shell: every line ps shows for hangfs, as many as
	// the guest recorded threads named hangfs.
	want := 0
	for _, c := range truth {
		if c == "hangfs" {
			want++
		}
	}
	r = runKwalk(t, nil, "-c", "ps | grep -c hangfs", realDump)
	if strings.TrimSpace(r.stdout) != itoaT(want) {
		t.Errorf("ps | grep -c hangfs = %q, the guest recorded %d hangfs threads (stderr %s)", r.stdout, want, r.stderr)
	}
	// Redirection and -i.
	dir := t.TempDir()
	cmds := filepath.Join(dir, "cmds")
	out := filepath.Join(dir, "out")
	os.WriteFile(cmds, []byte("# comment\np init_task.comm > "+out+"\np init_task.pid >> "+out+"\n"), 0o644)
	r = runKwalk(t, nil, "-i", cmds, realDump)
	b, _ := os.ReadFile(out)
	if r.status != 0 || !strings.Contains(string(b), "swapper/0") || !strings.Contains(string(b), "init_task.pid = 0") || r.stdout != "" {
		t.Errorf("-i with redirects: status %d, file %q, stdout %q, stderr %q", r.status, b, r.stdout, r.stderr)
	}
	// Commands on stdin when it is not a terminal: no prompt, no banner.
	cmd := exec.Command(kwalkBinary(t), realDump)
	cmd.Stdin = strings.NewReader("p init_task.comm\np init_task.pid\n")
	b, err := cmd.Output()
	if err != nil || string(b) != "init_task.comm = \"swapper/0\"\ninit_task.pid = 0\n" {
		t.Errorf("commands from stdin: %v: %q", err, b)
	}
	// Statuses: unreadable memory fails the command (3); a bad flag is 64.
	if r = runKwalk(t, nil, "rd", realDump, "0"); r.status != 3 {
		t.Errorf("rd 0: status %d, want 3: %s", r.status, r.stderr)
	}
	if r = runKwalk(t, nil, "rd", realDump, "-z", "jiffies"); r.status != 64 {
		t.Errorf("rd -z: status %d, want 64", r.status)
	}
}

func itoaT(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestRunScript interprets Go scripts against the real dump.
func TestRunScript(t *testing.T) {
	needRealDump(t)
	truth := truthTasks(t)
	want := 0
	for _, c := range truth {
		if strings.Contains(c, "hangfs") {
			want++
		}
	}
	r := runKwalk(t, nil, "run", "testdata/tasks_script.go", realDump, "hangfs")
	if r.status != 0 || !strings.Contains(r.stdout, "init_task.comm=swapper/0\n") || !strings.Contains(r.stdout, "tasks="+itoaT(want)+"\n") {
		t.Errorf("tasks_script: status %d, want %d hangfs tasks:\n%s%s", r.status, want, r.stdout, r.stderr)
	}
	p := runKwalk(t, nil, "p", realDump, "jiffies")
	r = runKwalk(t, nil, "run", "testdata/plain_script.go", realDump)
	j := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(p.stdout), "jiffies = "))
	if r.status != 0 || strings.TrimSpace(r.stdout) != "jiffies="+j {
		t.Errorf("plain_script: status %d, %q, p jiffies says %q: %s", r.status, r.stdout, j, r.stderr)
	}
	// Errors: a missing script, a script that does not compile, a Main error.
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.go")
	os.WriteFile(bad, []byte("package main\nfunc main() { undefined() }\n"), 0o644)
	failing := filepath.Join(dir, "fail.go")
	os.WriteFile(failing, []byte("package main\nimport (\"errors\"; \"github.com/kwalk/kwalk/symbols\")\nfunc Main(p *symbols.Program, a []string) error { return errors.New(\"boom\") }\n"), 0o644)
	for _, tc := range []struct {
		script string
		status int
		stderr string
	}{
		{filepath.Join(dir, "none.go"), 66, "no such file"},
		{bad, 3, "undefined"},
		{failing, 3, "boom"},
	} {
		r := runKwalk(t, nil, "run", tc.script, realDump)
		if r.status != tc.status || !strings.Contains(r.stderr, tc.stderr) {
			t.Errorf("run %s: status %d (want %d), stderr %q", tc.script, r.status, tc.status, r.stderr)
		}
	}
}

// debugVmlinux is where the dump generator keeps the 6.1 dump's debug vmlinux.
const debugVmlinux = "/root/.cache/kwalk-debug/root/usr/lib/debug/boot/vmlinux-6.1.0-50-cloud-amd64"

// TestDisSourceLines checks dis -l with the DWARF vmlinux: the first line
// of schedule is in kernel/sched/core.c.
func TestDisSourceLines(t *testing.T) {
	needRealDump(t)
	if _, err := os.Stat(debugVmlinux); err != nil {
		t.Skipf("SKIP: debug vmlinux %s not present", debugVmlinux)
	}
	r := runKwalk(t, nil, "dis", realDump, "--vmlinux", debugVmlinux, "-l", "schedule", "4")
	lines := strings.Split(r.stdout, "\n")
	if r.status != 0 || !strings.HasPrefix(lines[0], "kernel/sched/core.c: ") || !strings.Contains(r.stdout, "<schedule>:") {
		t.Errorf("dis -l: status %d\n%s%s", r.status, r.stdout, r.stderr)
	}
	// Without DWARF, -l says what is missing.
	r = runKwalk(t, nil, "dis", realDump, "-l", "schedule")
	if r.status != 3 || !strings.Contains(r.stderr, "no line information") {
		t.Errorf("dis -l without DWARF: status %d, %s", r.status, r.stderr)
	}
}

// truthStateCount counts the threads the guest recorded in /proc state st.
func truthStateCount(t *testing.T, st string) int {
	b, err := os.ReadFile(realConsole)
	if err != nil {
		t.Skipf("SKIP: %s: %v", realConsole, err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "task tid=") && strings.Contains(l, " state="+st+" ") {
			n++
		}
	}
	return n
}
