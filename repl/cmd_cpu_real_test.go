package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestCPUCommandsRealDumps runs runq, timer, timer -r, irq -a and sig on
// every generated dump: each gives its documented JSON (unknown fields
// rejected) with no warnings and text output, and sig 1 shows init's
// masks as the record's /proc/1/status does.
func TestCPUCommandsRealDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			needDataSymbols(t, p, "sparse_irqs|irq_desc_tree")
			var out, errb bytes.Buffer
			s := NewSession(p, NewDefaultRegistry(), &out, &errb)
			for _, tc := range []struct {
				line string
				into any
			}{
				{"runq -g -t", &RunqResult{}},
				{"timer", &TimerResult{}},
				{"timer -r", &HRTimerResult{}},
				{"irq -a", &IRQResult{}},
				{"sig -g 1", &SigResult{}},
			} {
				out.Reset()
				errb.Reset()
				start := time.Now()
				if st := s.Exec(context.Background(), tc.line+" --json"); st != ExitOK {
					t.Fatalf("%s: status %d: %s %s", tc.line, st, out.String(), errb.String())
				}
				took := time.Since(start)
				dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
				dec.DisallowUnknownFields()
				if err := dec.Decode(tc.into); err != nil {
					t.Errorf("%s: %v", tc.line, err)
				}
				var doc struct {
					Warnings []string `json:"warnings"`
				}
				if err := json.Unmarshal(out.Bytes(), &doc); err == nil && len(doc.Warnings) > 0 {
					t.Errorf("%s: warnings %v", tc.line, doc.Warnings)
				}
				out.Reset()
				if st := s.Exec(context.Background(), tc.line); st != ExitOK || out.Len() == 0 {
					t.Errorf("%s: status %d, %d bytes of text: %s", tc.line, st, out.Len(), errb.String())
				}
				t.Logf("%s: %v", tc.line, took)
			}
			// runq: one queue per online CPU, each with its current task.
			var rq RunqResult
			execJSON(t, s, &out, &errb, "runq", &rq)
			cpus, _ := p.OnlineCPUs()
			if len(rq.Runqueues) != len(cpus) {
				t.Errorf("%d run queues, %d online CPUs", len(rq.Runqueues), len(cpus))
			}
			for _, q := range rq.Runqueues {
				if q.Current == nil {
					t.Errorf("cpu %d: no current task", q.CPU)
				}
			}
			// sig 1 against the record.
			rec := d.Truth.Task(1)
			if rec == nil || !rec.HasSigMasks {
				t.Log("the record has no signal masks for pid 1")
				return
			}
			var sg SigResult
			execJSON(t, s, &out, &errb, "sig 1", &sg)
			if len(sg.Tasks) != 1 {
				t.Fatalf("sig 1: %d tasks", len(sg.Tasks))
			}
			g := sg.Tasks[0]
			for _, c := range []struct{ name, got, want string }{
				{"SigBlk", g.Blocked, sched.FormatSigset(rec.SigBlk)}, {"SigIgn", g.Ignored, sched.FormatSigset(rec.SigIgn)},
				{"SigCgt", g.Caught, sched.FormatSigset(rec.SigCgt)}, {"SigPnd", g.Private.Signal, sched.FormatSigset(rec.SigPnd)},
				{"ShdPnd", g.Shared.Signal, sched.FormatSigset(rec.ShdPnd)},
			} {
				if c.got != c.want {
					t.Errorf("sig 1: %s %s, record %s", c.name, c.got, c.want)
				}
			}
			if len(g.Actions) != 64 || !strings.HasPrefix(g.Actions[8].Name, "SIGKILL") {
				t.Errorf("sig 1: actions %d, [9] %+v", len(g.Actions), g.Actions)
			}
		})
	}
}
