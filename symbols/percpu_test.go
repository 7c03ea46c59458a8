package symbols_test

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// perCPUKernel has a per-CPU "runqueues" (struct rq {int cpu}) with
// areas for 4 CPUs in __per_cpu_offset, of which nr_cpu_ids (when
// nrCPUIDs > 0) says the first nrCPUIDs are CPUs.
func perCPUKernel(t *testing.T, nrCPUIDs uint32) *symbols.Program {
	t.Helper()
	k := symtest.NewKernel()
	rq := k.Types.Add(symtest.Layout("rq", symtest.M("cpu", k.S32)))
	k.Types.AddVariable("runqueues", rq)
	const rqLink = 0x100 // link-time address in the per-CPU section
	k.Syms.Add("__per_cpu_start", 0, 0, 'D')
	k.Syms.Add("runqueues", rqLink, 8, 'D')
	k.Syms.Add("__per_cpu_end", 0x2000, 0, 'D')
	offsets := k.Alloc(4 * 8)
	k.Syms.Add("__per_cpu_offset", offsets, 32, 'D')
	for cpu := 0; cpu < 4; cpu++ {
		area := k.Alloc(0x2000)
		k.Mem.WriteU64(offsets+uint64(cpu)*8, area)
		k.Mem.WriteU32(area+rqLink, uint32(cpu))
	}
	if nrCPUIDs > 0 {
		n := k.Alloc(4)
		k.Mem.WriteU32(n, nrCPUIDs)
		k.Syms.Add("nr_cpu_ids", n, 4, 'D')
	}
	return k.Program()
}

// TestPerCPUBeyondNrCPUIDs: a CPU's copy of a per-CPU variable exists for
// CPUs below nr_cpu_ids only; past it the error gives the CPU count.
func TestPerCPUBeyondNrCPUIDs(t *testing.T) {
	tests := []struct {
		nrCPUIDs uint32 // 0: no nr_cpu_ids symbol
		cpu      int
		want     string // error substring, "" for success
	}{
		{2, 0, ""},
		{2, 1, ""},
		{2, 2, "no cpu 2: nr_cpu_ids is 2 (CPUs 0-1)"},
		{2, 3, "nr_cpu_ids is 2"},
		{4, 3, ""},
		{1, 1, "nr_cpu_ids is 1 (CPUs 0-0)"},
		{0, 3, ""}, // nr_cpu_ids unknown: the __per_cpu_offset entry is used
		{2, -1, "out of range"},
		{2, 9000, "out of range"},
	}
	for _, tc := range tests {
		p := perCPUKernel(t, tc.nrCPUIDs)
		o, err := p.PerCPUVariable("runqueues", tc.cpu)
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("nr_cpu_ids %d, cpu %d: error %v, want %q", tc.nrCPUIDs, tc.cpu, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("nr_cpu_ids %d, cpu %d: %v", tc.nrCPUIDs, tc.cpu, err)
			continue
		}
		if got, err := o.MemberUint("cpu"); err != nil || got != uint64(tc.cpu) {
			t.Errorf("nr_cpu_ids %d: per_cpu(runqueues, %d).cpu = %d, %v", tc.nrCPUIDs, tc.cpu, got, err)
		}
	}
}
