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
// record. Debian's arm64 kallsyms has no data symbols (no
// CONFIG_KALLSYMS_ALL): each dump is read twice, with nothing but the dump
// (the data symbols are found from VMCOREINFO, the export table, BTF and
// memory; symbols/datasyms.go) and with the -dbg package's System.map, and
// both readings must pass the checks and give the same answers.
func TestARM64Dump(t *testing.T) {
	testdata.EachArm64(t, testdata.GuestHangs, func(t *testing.T, d *testdata.Dump) {
		sysMap := ""
		if d.DebugRoot != "" {
			sysMap = filepath.Join(d.DebugRoot, "boot", "System.map-"+d.Truth.Release())
			if _, err := os.Stat(sysMap); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range []testdata.Format{testdata.FormatELF, testdata.FormatKdumpZlib} {
			path := d.Path(f)
			if path == "" {
				t.Errorf("%s has no %s dump", d.ID(), f)
				continue
			}
			t.Run(string(f), func(t *testing.T) {
				zero := arm64Answers(t, path, kwalk.Options{}, d)
				if sysMap == "" {
					t.Logf("no -dbg package unpacked for %s (%s): the zero-config answers are checked against the record only", d.ID(), testdata.GenerateCommand)
					return
				}
				withMap := arm64Answers(t, path, kwalk.Options{SystemMap: sysMap}, d)
				for _, k := range []string{"sys", "ps", "bt", "log"} {
					if zero[k] == "" {
						t.Errorf("%s: no output to compare", k)
					}
					if zero[k] != withMap[k] {
						t.Errorf("%s without System.map differs from %s with it:\n%s", k, k, firstDiff(zero[k], withMap[k]))
					}
				}
			})
		}
	})
}

// arm64Answers opens the dump with opts, checks sys, ps, bt and log against
// the record and returns their outputs (sys without its symbols and types
// sources, which name what was given) for comparison.
func arm64Answers(t *testing.T, path string, opts kwalk.Options, d *testdata.Dump) map[string]string {
	t.Helper()
	name := "zero-config"
	if opts.SystemMap != "" {
		name = "system-map"
	}
	out := map[string]string{}
	t.Run(name, func(t *testing.T) {
		prog, err := kwalk.Open(path, opts)
		if err != nil {
			t.Fatalf("opening %s: %v", path, err)
		}
		t.Cleanup(func() { prog.Dump.Close() })
		var bts strings.Builder
		run := func(line string) string {
			t.Helper()
			var o, errb bytes.Buffer
			s := NewSession(prog, NewDefaultRegistry(), &o, &errb)
			if st := s.Exec(context.Background(), line); st != ExitOK {
				t.Fatalf("%s: status %d: %s%s", line, st, o.String(), errb.String())
			}
			if strings.HasPrefix(line, "bt ") {
				bts.WriteString(o.String())
			}
			return o.String()
		}
		sys := run("sys --json")
		checkARM64Sys(t, d.Truth, sys)
		out["sys"] = sysWithoutSources(t, sys)
		out["ps"] = run("ps --json")
		checkARM64Ps(t, d.Truth, out["ps"])
		checkARM64Bt(t, d.Truth, run)
		out["bt"] = bts.String()
		out["log"] = run("log")
		checkARM64Log(t, d.Console, d.Dir, out["log"])
		// The IRQ and device tables start at static variables a text-only
		// kallsyms lacks (found from the code that uses them).
		out["irq"] = run("irq -s")
		out["dev"] = run("dev")
		out["dis"] = run("dis irq_to_desc")
		// User memory through a process's page tables: init's executable
		// starts with the ELF magic, and its arguments are readable.
		if init := d.Truth.Task(1); init != nil {
			for _, m := range init.Maps {
				f := strings.Fields(m)
				if len(f) >= 6 && f[2] == "00000000" && strings.HasPrefix(f[5], "/") {
					start, _, _ := strings.Cut(f[0], "-")
					out["rd -u"] = run("set 1; rd -u -8 " + start + " 4")
					if !strings.Contains(out["rd -u"], "7f 45 4c 46") {
						t.Errorf("rd -u of %s in pid 1: %q, want the ELF magic", start, out["rd -u"])
					}
					break
				}
			}
		}
		// The memory map and the slab caches (vmemmap and slab_caches,
		// found in the dump): init's task_struct is a slab object.
		out["kmem -s"] = run("kmem -s")
		if !regexp.MustCompile(`(?m) task_struct$`).MatchString(out["kmem -s"]) {
			t.Errorf("kmem -s: no task_struct cache:\n%.2000s", out["kmem -s"])
		}
		var ps1 PsResult
		if err := json.Unmarshal([]byte(run("ps --json 1")), &ps1); err == nil && len(ps1.Tasks) == 1 {
			out["kmem task"] = run(fmt.Sprintf("kmem %#x", uint64(ps1.Tasks[0].Task)))
			if !strings.Contains(out["kmem task"], "task_struct") {
				t.Errorf("kmem of init's task_struct: %q", out["kmem task"])
			}
		}
		out["swap"] = run("swap")
		out["ps -a"] = run("ps -a 1")
		if strings.Contains(out["ps -a"], "ARG: (none)") {
			t.Errorf("ps -a 1: no arguments read:\n%s", out["ps -a"])
		}
		if !regexp.MustCompile(`bl 0x[0-9a-f]+ <(radix_tree_lookup|mtree_load)>`).MatchString(out["dis"]) || !strings.Contains(out["dis"], "adrp x") {
			t.Errorf("dis irq_to_desc: no adrp, or no call of radix_tree_lookup or mtree_load:\n%s", out["dis"])
		}
	})
	return out
}

// sysWithoutSources re-encodes sys --json without the fields that name the
// symbol and type sources.
func sysWithoutSources(t *testing.T, out string) string {
	var si SysInfo
	if err := json.Unmarshal([]byte(out), &si); err != nil {
		t.Fatalf("sys: %v: %s", err, out)
	}
	si.Symbols, si.Types = "", ""
	b, err := json.MarshalIndent(si, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// firstDiff shows the first line where a and b differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  without: %s\n  with:    %s", i+1, x, y)
		}
	}
	return "(equal)"
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
	n, syscalls := 0, 0
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
		// The system call: the recorded stack's __arm64_sys_NAME frame.
		for _, f := range task.Stack {
			if name, ok := strings.CutPrefix(f.Func, "__arm64_sys_"); ok {
				syscalls++
				if tr.Syscall == nil || tr.Syscall.Name != name {
					t.Errorf("bt %d: syscall %+v, the recorded stack is in %s", task.TID, tr.Syscall, f.Func)
				}
				break
			}
		}
	}
	if n == 0 {
		t.Error("the record has no task in D")
	}
	if syscalls == 0 {
		t.Error("no recorded D stack is in a system call")
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
