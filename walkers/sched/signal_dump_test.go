package sched

import (
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestTaskSignalsMatchGuestRecord reads the signal state of every task of
// each generated dump and compares it with /proc/PID/status as the guest
// printed it: SigPnd, ShdPnd, SigBlk, SigIgn and SigCgt, exactly.
func TestTaskSignalsMatchGuestRecord(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			needDataSymbols(t, p)
			ts, err := Tasks(p)
			if err != nil {
				t.Errorf("Tasks: %v", err)
			}
			addr := map[int]uint64{}
			for _, tk := range ts {
				if !tk.Idle {
					addr[tk.PID] = tk.Addr
				}
			}
			recorder := walktest.RecorderPID(d.Truth)
			checked := 0
			for _, want := range d.Truth.Tasks {
				if !want.HasSigMasks || want.PID == recorder {
					continue
				}
				a, ok := addr[want.TID]
				if !ok {
					continue // TestTasksMatchGuestRecord reports it
				}
				s, err := TaskSignals(p, a)
				if err != nil {
					t.Errorf("tid %d: %v", want.TID, err)
					continue
				}
				if len(s.Errors) > 0 {
					t.Errorf("tid %d: %v", want.TID, s.Errors)
				}
				checked++
				for _, c := range []struct {
					name      string
					got, want uint64
				}{
					{"SigPnd", s.Private.Signal, want.SigPnd}, {"ShdPnd", s.Shared.Signal, want.ShdPnd},
					{"SigBlk", s.Blocked, want.SigBlk}, {"SigIgn", s.Ignored, want.SigIgn}, {"SigCgt", s.Caught, want.SigCgt},
				} {
					if c.got != c.want {
						t.Errorf("tid %d (%s): %s %s, record %s", want.TID, want.Comm, c.name, FormatSigset(c.got), FormatSigset(c.want))
					}
				}
				if len(s.Actions) != 64 {
					t.Errorf("tid %d: %d actions", want.TID, len(s.Actions))
				}
				if q := len(s.Private.Queue); q > 0 && s.Private.Signal == 0 {
					t.Errorf("tid %d: %d queued signals, none pending", want.TID, q)
				}
			}
			if checked == 0 {
				t.Skip("the record has no signal masks (an older record)")
			}
			t.Logf("%d tasks' signal masks match the record", checked)
		})
	}
}

// needDataSymbols skips a real-dump test whose kallsyms has no data
// symbols (a kernel without CONFIG_KALLSYMS_ALL, such as Debian's arm64
// ones, opened without its System.map): the per-CPU and global variables
// these walkers start from cannot be found.
func needDataSymbols(t *testing.T, p *symbols.Program) {
	t.Helper()
	if _, err := p.Symbol("init_task"); err != nil {
		t.Skipf("SKIP: no data symbols in the dump's kallsyms (CONFIG_KALLSYMS_ALL off; give --system-map): %v", err)
	}
}
