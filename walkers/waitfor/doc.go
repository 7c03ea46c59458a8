// Package waitfor builds the wait-for graph of a kernel: for every blocked
// task, what it waits on, who holds that, and how surely (Waits); and from
// those edges the deadlock report: cycles, chains and their root causes,
// with the fix a user would run (Deadlock).
//
//	ws, warnings, err := waitfor.Waits(p)
//	rep, err := waitfor.Deadlock(p) // rep.Cycles, rep.Chains, rep.Roots
package waitfor
