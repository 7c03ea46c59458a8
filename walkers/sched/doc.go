// Package sched walks tasks and per-CPU scheduler state.
//
//	ts, err := sched.Tasks(p)        // every thread + per-CPU idle tasks; err joins non-fatal problems
//	t, err := sched.TaskByPID(p, 42) // init_pid_ns idr lookup
//	t, err := sched.TaskByAddr(p, a) // or TaskFromObject(obj)
//	t.State, t.Exiting(), t.Kthread(), t.FatalSignalPending(), t.SinceRan, t.NSPIDs
//
// A Task whose fields could not all be read carries Errors; the rest of the
// listing is unaffected. Task states are decoded in one place
// (StateLetter, StateNames, CrashState). Per-CPU helpers: NumCPUs,
// PerCPUOffset, PerCPUVar, Runqueue, RunqueueClock. TaskRef / TaskRefAt
// name a task briefly wherever another walker points at one.
package sched
