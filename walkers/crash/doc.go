// Package crash says why a dump was taken: the panic message and its
// cause from the kernel log, the panicking CPU (panic_cpu, crashing_cpu,
// the crash notes) and task, and for a hung-task panic the tasks the
// detector reported.
//
//	pi, err := crash.Panic(p) // nil, nil: the kernel did not panic (a dump taken from outside)
//	pi.Kind, pi.Message, pi.Cause, pi.CPU, pi.Task, pi.HungTasks
package crash
