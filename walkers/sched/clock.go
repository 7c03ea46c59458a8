package sched

import "github.com/kwalk/kwalk/symbols"

// MonotonicNow is CLOCK_MONOTONIC at the last timekeeping update before
// the dump (kernel/time/timekeeping.c: tk_core.timekeeper.tkr_mono.base;
// 6.13+ timekeeper_data[0], struct tk_data): within a tick of the time
// the dump was taken. Request start times, hrtimer expiries and ages are
// read against it. ok is false when the timekeeper cannot be read.
func MonotonicNow(p *symbols.Program) (int64, bool) {
	addr, err := p.Symbol("tk_core")
	if err != nil {
		if addr, err = p.Symbol("timekeeper_data"); err != nil {
			return 0, false
		}
	}
	tt, err := p.Type("struct timekeeper")
	if err != nil {
		return 0, false
	}
	// The timekeeper follows the wrapper's seqcount: struct tk_data names
	// it (6.13+); before, tk_core is an anonymous struct { seq; timekeeper }.
	off := uint64(8)
	if o, err := p.OffsetOf("struct tk_data", "timekeeper"); err == nil {
		off = o
	} else if sz, err := p.SizeOf("seqcount_raw_spinlock_t"); err == nil {
		off = (sz + 7) &^ 7
	}
	base, err := p.ObjectAt(tt, addr+off).MemberUint("tkr_mono.base")
	if err != nil || int64(base) <= 0 {
		return 0, false
	}
	return int64(base), true
}
