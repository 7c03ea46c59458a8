// Package timers walks the kernel's per-CPU timers: the timer wheels
// (timer_bases: struct timer_list in the hashed wheel of each base,
// kernel/time/timer.c) and the high-resolution timers (hrtimer_bases:
// each clock base's timerqueue, an rb-tree in expiry order,
// kernel/time/hrtimer.c).
//
//	ws, err := timers.Wheels(p, nil)   // each online CPU's timer bases
//	hs, err := timers.HRTimers(p, nil) // each online CPU's hrtimer clock bases
//	now, ok := timers.MonotonicNow(p)  // CLOCK_MONOTONIC at the last tick
//
// Expiries of the wheels are in jiffies; those of hrtimers in the clock
// base's nanoseconds (CLOCK_MONOTONIC plus the base's offset).
package timers
