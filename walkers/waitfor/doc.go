// Package waitfor builds the wait-for graph of a kernel: for every blocked
// task, what it waits on, who holds that, and how surely (Waits); and from
// those edges the deadlock report: cycles, chains and their root causes,
// with the fix a user would run (Deadlock).
//
//	ws, warnings, err := waitfor.Waits(p)
//	rep, err := waitfor.Deadlock(p) // rep.Cycles, rep.Chains (each with its Root)
//
// The analysis knows the kernel's waiting primitives only through the
// registry of wait kinds (Kinds, registry.go; the model and how to add a
// kind: package waitkind). The graph itself (graph.go: strongly connected
// components, chains, longest paths) reads no kernel memory; the prose of
// the report (roots, hop lines, remedies) is apart from it (report.go).
package waitfor
