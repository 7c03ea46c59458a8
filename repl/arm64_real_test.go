package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/testdata/truth"
)

// TestARM64Dump runs sys, ps, bt and log on the aarch64 guest's dumps
// (QEMU's ELF and kdump-compressed) and checks them against the guest's
// record. Debian's arm64 kallsyms has no data symbols, so the -dbg
// package's System.map is given.
func TestARM64Dump(t *testing.T) {
	d := testdata.RequireArm64(t, "arm64-6.1", "hangs")
	if d.DebugRoot == "" {
		t.Skipf("SKIP: no -dbg package unpacked for %s (%s)", d.ID(), testdata.GenerateCommand)
	}
	rel := d.Truth.Release()
	sysMap := filepath.Join(d.DebugRoot, "boot", "System.map-"+rel)
	if _, err := os.Stat(sysMap); err != nil {
		t.Fatal(err)
	}
	for _, f := range []testdata.Format{testdata.FormatELF, testdata.FormatKdumpZlib} {
		path := d.Path(f)
		if path == "" {
			t.Errorf("%s has no %s dump", d.ID(), f)
			continue
		}
		t.Run(string(f), func(t *testing.T) {
			prog, err := kwalk.Open(path, kwalk.Options{SystemMap: sysMap})
			if err != nil {
				t.Fatalf("opening %s: %v", path, err)
			}
			run := func(line string) string {
				t.Helper()
				var out, errb bytes.Buffer
				s := NewSession(prog, NewDefaultRegistry(), &out, &errb)
				if st := s.Exec(context.Background(), line); st != ExitOK {
					t.Fatalf("%s: status %d: %s%s", line, st, out.String(), errb.String())
				}
				return out.String()
			}
			checkARM64Sys(t, d.Truth, run("sys --json"))
			checkARM64Ps(t, d.Truth, run("ps --json"))
			checkARM64Bt(t, d.Truth, run)
			checkARM64Log(t, d.Console, d.Dir, run("log"))
		})
	}
}

func checkARM64Sys(t *testing.T, rec *truth.Record, out string) {
	var si SysInfo
	if err := json.Unmarshal([]byte(out), &si); err != nil {
		t.Fatalf("sys: %v: %s", err, out)
	}
	if si.Release != rec.Release() {
		t.Errorf("sys release %q, the guest says %q", si.Release, rec.Release())
	}
	if si.Machine != "aarch64" {
		t.Errorf("sys machine %q, want aarch64", si.Machine)
	}
	blocked := 0
	for _, task := range rec.Tasks {
		if task.State == 'D' {
			blocked++
		}
	}
	if si.Blocked != blocked {
		t.Errorf("sys blocked %d, the guest recorded %d in D", si.Blocked, blocked)
	}
}

// checkARM64Ps: every recorded task is listed with its comm, parent and
// state; the dump holds no task the record lacks but kernel threads and
// the idle tasks.
func checkARM64Ps(t *testing.T, rec *truth.Record, out string) {
	var ps PsResult
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		t.Fatalf("ps: %v", err)
	}
	byTID := map[int]PsRow{}
	for _, r := range ps.Tasks {
		if r.PID != 0 {
			byTID[r.TID] = r
		}
	}
	for _, task := range rec.Tasks {
		r, ok := byTID[task.TID]
		if !ok {
			t.Errorf("ps: recorded task %d (%s) missing", task.TID, task.Comm)
			continue
		}
		if !strings.HasPrefix(task.Comm, r.Comm) || r.Comm == "" {
			t.Errorf("ps: task %d comm %q, the guest says %q", task.TID, r.Comm, task.Comm)
		}
		if task.PPID >= 0 && r.PPID != task.PPID {
			t.Errorf("ps: task %d ppid %d, the guest says %d", task.TID, r.PPID, task.PPID)
		}
		if task.State == 'D' && r.State != "D" {
			t.Errorf("ps: task %d state %s, the guest says D", task.TID, r.State)
		}
	}
}

// checkARM64Bt: the stack of every task the guest recorded in D is, frame
// by frame (function and offset), in kwalk's unwind, in order.
// /proc/PID/stack leaves out the scheduler's functions, which kwalk shows.
func checkARM64Bt(t *testing.T, rec *truth.Record, run func(string) string) {
	n := 0
	for _, task := range rec.Tasks {
		if task.State != 'D' || len(task.Stack) == 0 {
			continue
		}
		n++
		var bt BtResult
		if err := json.Unmarshal([]byte(run(fmt.Sprintf("bt %d --json", task.TID))), &bt); err != nil || len(bt.Traces) != 1 {
			t.Errorf("bt %d: %v", task.TID, err)
			continue
		}
		tr := bt.Traces[0]
		if tr.Error != "" {
			t.Errorf("bt %d: %s", task.TID, tr.Error)
		}
		j := 0
		for _, f := range tr.Frames {
			if j < len(task.Stack) && f.Symbol == task.Stack[j].Func && uint64(f.Offset) == task.Stack[j].Offset {
				j++
			}
		}
		if j != len(task.Stack) {
			var got []string
			for _, f := range tr.Frames {
				got = append(got, fmt.Sprintf("%s+%#x", f.Symbol, uint64(f.Offset)))
			}
			t.Errorf("bt %d (%s): recorded frame %d %s+%#x not found in order in %v", task.TID, task.Comm, j,
				task.Stack[j].Func, task.Stack[j].Offset, got)
		}
		if task.PID == task.TID && task.State == 'D' && tr.UserRegs == nil {
			t.Errorf("bt %d: the unwind did not reach the entry from user space", task.TID)
		}
	}
	if n == 0 {
		t.Error("the record has no task in D")
	}
}

// kernelLine is a console line the kernel printed: "[    1.234567] text".
var kernelLine = regexp.MustCompile(`^\[ *[0-9]+\.[0-9]{6}\] `)

// checkARM64Log: every kernel message the guest's console printed is in
// the log read from the dump, in the same order.
func checkARM64Log(t *testing.T, console, dir, out string) {
	b, err := os.ReadFile(filepath.Join(dir, console))
	if err != nil {
		t.Fatal(err)
	}
	logLines := strings.Split(out, "\n")
	j, n := 0, 0
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if !kernelLine.MatchString(line) {
			continue
		}
		n++
		for j < len(logLines) && logLines[j] != line {
			j++
		}
		if j == len(logLines) {
			t.Errorf("log: console line %q not found in order in the dump's log", line)
			return
		}
	}
	if n < 50 {
		t.Errorf("log: only %d kernel lines on the console", n)
	}
}
