package repl

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

func TestPsParseCPURanges(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
		bad  bool
	}{
		{"0", []int{0}, false},
		{"3,1", []int{1, 3}, false},
		{"1-3,2,7", []int{1, 2, 3, 7}, false},
		{"3-1", nil, true},
		{"x", nil, true},
		{"-1", nil, true},
		{"0-9000", nil, true},
	} {
		got, err := parseCPURanges(c.in)
		if (err != nil) != c.bad || (!c.bad && !reflect.DeepEqual(got, c.want)) {
			t.Errorf("%q: %v %v, want %v (bad %v)", c.in, got, err, c.want, c.bad)
		}
	}
}

// TestPsStackPolicyArgsRealDumps checks ps -s, -Y, -a, -I, -H and -C on the
// generated x86_64 dumps of the hangs guest: KSTACKP against the switch
// frame bt unwinds from, -a's command names against the record's, -Y
// against what the kernel gives its own threads.
func TestPsStackPolicyArgsRealDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		if !strings.Contains(d.Name, "/hangs") || strings.HasPrefix(d.Name, "arm64") {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			var out, errb bytes.Buffer
			s := NewSession(p, NewDefaultRegistry(), &out, &errb)
			var ps PsResult
			execJSON(t, s, &out, &errb, "ps -s -I", &ps)
			retOff, err := p.OffsetOf("struct inactive_task_frame", "ret_addr")
			if err != nil {
				t.Skipf("no struct inactive_task_frame: %v", err)
			}
			checked := 0
			for _, r := range ps.Tasks {
				if r.Idle {
					t.Errorf("ps -I lists idle task %d", r.TID)
				}
				if r.OnCPU != (r.KStackP == nil) {
					t.Errorf("pid %d: on cpu %v, kstackp %v", r.TID, r.OnCPU, r.KStackP)
				}
				if r.State != "D" || r.KStackP == nil {
					continue
				}
				var bt btJSON
				execJSON(t, s, &out, &errb, fmt.Sprintf("bt %d", r.TID), &bt)
				if len(bt.Traces) != 1 || len(bt.Traces[0].Frames) == 0 {
					t.Errorf("bt %d: no frames", r.TID)
					continue
				}
				if want := fmt.Sprintf("%#x", uint64(*r.KStackP)+retOff); bt.Traces[0].Frames[0].SP != want {
					t.Errorf("pid %d: kstackp %#x + %d, first frame's slot %s", r.TID, uint64(*r.KStackP), retOff, bt.Traces[0].Frames[0].SP)
				}
				checked++
			}
			if checked == 0 {
				t.Errorf("no D task checked")
			}

			// -Y: the stopper threads are FIFO at prio 0 (kernel/stop_machine.c
			// sched_set_stop_task), normal tasks at 100-139.
			execJSON(t, s, &out, &errb, "ps -Y", &ps)
			migration := 0
			for _, r := range ps.Tasks {
				if r.Prio == nil {
					t.Fatalf("pid %d: no prio: %v", r.TID, r.Errors)
				}
				switch {
				case strings.HasPrefix(r.Comm, "migration/"):
					migration++
					if r.Policy != "FIFO" || *r.Prio != 0 {
						t.Errorf("%s: %s %d, want FIFO 0", r.Comm, r.Policy, *r.Prio)
					}
				case r.Policy == "NORMAL" && (*r.Prio < 100 || *r.Prio > 139):
					t.Errorf("%s (pid %d): NORMAL at prio %d", r.Comm, r.TID, *r.Prio)
				}
			}
			if migration == 0 {
				t.Errorf("no migration/N thread")
			}

			// -a: the command name of each recorded D-state leader is its
			// argv[0]'s base name (cut to comm's 15 characters), when the
			// dump holds the user pages.
			execJSON(t, s, &out, &errb, "ps -a -u", &ps)
			byTID := map[int]PsRow{}
			for _, r := range ps.Tasks {
				byTID[r.TID] = r
			}
			read := 0
			for _, w := range d.Truth.Tasks {
				r, ok := byTID[w.TID]
				if w.State != 'D' || w.TID != w.PID || !ok || len(r.Args) == 0 {
					continue
				}
				read++
				base := path.Base(r.Args[0])
				if len(base) > 15 {
					base = base[:15]
				}
				if base != w.Comm {
					t.Errorf("pid %d: argv %q, recorded comm %q", w.TID, r.Args, w.Comm)
				}
				if len(r.Env) == 0 {
					t.Errorf("pid %d: no environment", w.TID)
				}
			}
			if read == 0 {
				t.Logf("no D leader's command line readable in %s (user pages left out?)", d.Path)
			}

			// -H: no header; -C: only those CPUs, a block each.
			out.Reset()
			if st := s.Exec(context.Background(), "ps -H"); st != ExitOK || strings.Contains(out.String(), "PPID") {
				t.Errorf("ps -H: status %d, header printed", st)
			}
			execJSON(t, s, &out, &errb, "ps -m -C 0", &ps)
			for _, r := range ps.Tasks {
				if r.CPU != 0 {
					t.Errorf("ps -m -C 0 lists pid %d of cpu %d", r.TID, r.CPU)
				}
			}
			out.Reset()
			if st := s.Exec(context.Background(), "ps -C 0"); st != ExitUsage {
				t.Errorf("ps -C without -l/-m: status %d", st)
			}
		})
	}
}
