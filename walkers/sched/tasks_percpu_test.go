package sched

import (
	"errors"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// The per-CPU wrappers answer as symbols.Program does, and PerCPUVar falls
// back to the caller's type name only for a variable of unknown type.
func TestPerCPUWrappers(t *testing.T) {
	const ncpu = 3
	k := walktest.NewSynthTaskKernel(ncpu, false)
	// A per-CPU variable kwalk's table of globals does not know.
	const counterSym = 0x2c000
	k.Syms.Add("synth_counter", counterSym, 8, 'D')
	for cpu := 0; cpu < ncpu; cpu++ {
		k.Mem.WriteU64(counterSym+k.PcpuOff[cpu], uint64(100+cpu))
	}
	p := k.Finish()

	if n, err := NumCPUs(p); err != nil || n != ncpu {
		t.Errorf("NumCPUs = %d, %v; want %d", n, err, ncpu)
	}
	for cpu := 0; cpu < ncpu; cpu++ {
		if off, err := PerCPUOffset(p, cpu); err != nil || off != k.PcpuOff[cpu] {
			t.Errorf("PerCPUOffset(%d) = %#x, %v; want %#x", cpu, off, err, k.PcpuOff[cpu])
		}
	}
	tests := []struct {
		name, typeName string
		cpu            int
		wantAddr       uint64
		wantErr        error
	}{
		{"runqueues", "", 1, k.Rqs[1], nil},          // typed from the table of globals
		{"runqueues", "struct rq", 2, k.Rqs[2], nil}, // the type name is not needed
		{"synth_counter", "unsigned long", 2, counterSym + k.PcpuOff[2], nil},
		{"synth_counter", "", 0, 0, symbols.ErrNoType}, // no type known, none given
		{"no_such_var", "unsigned long", 0, 0, symbols.ErrNoSymbol},
		{"runqueues", "", 10000, 0, nil}, // beyond NR_CPUS: an error
	}
	for _, tc := range tests {
		o, err := PerCPUVar(p, tc.name, tc.typeName, tc.cpu)
		switch {
		case tc.wantAddr == 0 && err == nil:
			t.Errorf("PerCPUVar(%s, %q, %d) = %#x, want an error", tc.name, tc.typeName, tc.cpu, o.Addr())
		case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
			t.Errorf("PerCPUVar(%s, %q, %d): %v, want %v", tc.name, tc.typeName, tc.cpu, err, tc.wantErr)
		case tc.wantAddr != 0 && (err != nil || o.Addr() != tc.wantAddr):
			t.Errorf("PerCPUVar(%s, %q, %d) = %#x, %v; want %#x", tc.name, tc.typeName, tc.cpu, o.Addr(), err, tc.wantAddr)
		}
	}
	if v, err := PerCPUVar(p, "synth_counter", "unsigned long", 1); err != nil {
		t.Error(err)
	} else if n, err := v.Uint(); err != nil || n != 101 {
		t.Errorf("cpu 1's synth_counter = %d, %v; want 101", n, err)
	}
}
