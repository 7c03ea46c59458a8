package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/testdata"
)

// TestGeneratedDumps runs the core commands on every generated dump (each
// kernel the generator covers) and checks them against the guest's record.
func TestGeneratedDumps(t *testing.T) {
	dumps := testdata.Require(t, testdata.Filter{Guest: "hangs"})
	for _, d := range dumps {
		t.Run(d.ID(), func(t *testing.T) {
			path := d.Path(testdata.FormatKdumpZlib)
			if path == "" {
				fs := d.Formats()
				if len(fs) == 0 {
					t.Skipf("SKIP: %s has no dump file", d.ID())
				}
				path = d.Path(fs[0])
			}
			prog, err := kwalk.Open(path, kwalk.Options{})
			if err != nil {
				t.Fatalf("opening %s: %v", path, err)
			}
			run := func(line string) (string, int) {
				var out, errb bytes.Buffer
				s := NewSession(prog, NewDefaultRegistry(), &out, &errb)
				st := s.Exec(context.Background(), line)
				if errb.Len() > 0 {
					t.Logf("%s: stderr: %s", line, errb.String())
				}
				return out.String(), st
			}
			// sys: release and blocked tasks as the guest recorded them.
			out, st := run("sys --json")
			var si SysInfo
			if err := json.Unmarshal([]byte(out), &si); err != nil || st != ExitOK {
				t.Fatalf("sys: status %d, %v: %s", st, err, out)
			}
			if rel := d.Truth.Meta["release"]; rel != "" && si.Release != rel {
				t.Errorf("sys release %q, the guest says %q", si.Release, rel)
			}
			blocked := 0
			for _, task := range d.Truth.Tasks {
				if task.State == 'D' {
					blocked++
				}
			}
			if si.Blocked != blocked {
				t.Errorf("sys blocked_tasks %d, the guest recorded %d in D", si.Blocked, blocked)
			}
			if si.UptimeSeconds == nil || *si.UptimeSeconds <= 0 {
				t.Errorf("sys: no uptime")
			}
			// set PID finds each recorded user task with its name.
			checked := 0
			for _, task := range d.Truth.Tasks {
				if task.TID <= 1 || len(task.Stack) == 0 || checked >= 5 {
					continue
				}
				checked++
				out, st := run(fmt.Sprintf("set %d --json", task.TID))
				var tc TaskContext
				if err := json.Unmarshal([]byte(out), &tc); err != nil || st != ExitOK {
					t.Errorf("set %d: status %d: %s", task.TID, st, out)
					continue
				}
				if !strings.HasPrefix(task.Comm, tc.Comm) || tc.Comm == "" {
					t.Errorf("set %d: comm %q, the guest says %q", task.TID, tc.Comm, task.Comm)
				}
			}
			for _, tc := range []struct{ line, want string }{
				{"p init_task.comm", `"swapper/0"`},
				{"dis schedule 4", "<schedule+0x"},
				{"vtop init_task", "2M"},
				{"search -s _sdata -e _edata -c 2 init_task", "(init_"},
				{"mod qemu_fw_cfg", "qemu_fw_cfg"},
				{"list -H -o task_struct.tasks init_task.tasks -c 3", "\n"},
			} {
				out, st := run(tc.line)
				if st != ExitOK || !strings.Contains(out, tc.want) {
					t.Errorf("%s: status %d, want %q in:\n%s", tc.line, st, tc.want, out)
				}
				if strings.Contains(out, "(bad)") {
					t.Errorf("%s: undecoded instructions:\n%s", tc.line, out)
				}
			}
		})
	}
}
