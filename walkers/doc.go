// Package walkers is the root of kwalk's walkers: each subpackage turns the
// kernel memory of one subsystem into plain Go values. A walker is a
// function of a *symbols.Program (and objects in it); rendering lives in
// package repl. Every loop over kernel memory is bounded and cycle-checked,
// and errors name the address and the member path that led there.
//
// The packages, lowest first (a package imports only packages listed
// before it, never one after):
//
//	kmem     typed reads shared by all: list/hlist/rbtree/xarray/idr iterators,
//	         member helpers (atomics, field layouts), kernel-pointer checks
//	sched    tasks, states, pids, per-CPU data, run queues, signals, TaskRef
//	irq      interrupt descriptors: chips, actions, per-CPU counts, affinity
//	timers   timer wheels and hrtimers per CPU
//	workqueue worker pools, their pending work and the work each busy
//	         worker runs
//	printk   the kernel log ring buffer
//	vfs      open files, fd tables, dentry and inode paths, mounts, superblocks
//	block    disks, block devices, bios, device-mapper devices
//	net      network devices, sockets (of a task's open files)
//	mm       pages and folios, zones, vm counters, the memory summary,
//	         SLUB caches, vmalloc areas, swap, a task's VMAs, what an
//	         address is
//	unwind   registers, ORC and frame-pointer unwinding, stack words,
//	         syscall decoding, DWARF frame variables
//	crash    why the dump was taken: the panic, its cause, CPU and task,
//	         the hung tasks the detector reported
//	waitkind the wait-kind model: a Kind per way of being stuck, and the
//	         values of the wait-for graph (TaskWait, Holder, Root)
//	locking  mutex, rw_semaphore, semaphore, completion, wait queues, folios,
//	         each with its wait kind
//	fuse     FUSE connections, requests, servers (typed, and type-free for
//	         kernels without module BTF)
//	waitfor  the wait-for graph: what every blocked task waits on, who holds
//	         it, and the deadlock report (cycles, chains, root causes)
//
// A new subsystem gets its own package at the level of what it reads; a
// new way of being stuck is a wait kind (package waitkind, "Adding a wait
// kind"). walktest holds the synthetic kernels and real-dump helpers the
// packages' tests share.
package walkers
