// Package walkers turns kernel memory into answers: tasks, stacks, open
// files and paths, mounts, the kernel log, locks, FUSE connections and the
// wait-for graph. A walker is a function of a *symbols.Program (and objects
// in it) returning plain Go values; rendering lives in package repl.
//
// Every loop over kernel memory is bounded and cycle-checked (see iter*.go),
// and errors name the address and the member path that led there.
package walkers
