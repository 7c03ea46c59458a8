// Package walkers turns kernel memory into answers: tasks, stacks, open
// files and paths, mounts, the kernel log, locks, FUSE connections and the
// wait-for graph. A walker is a function of a *symbols.Program (and objects
// in it) returning plain Go values; rendering lives in package repl.
//
// Every loop over kernel memory is bounded and cycle-checked, and errors
// name the address and the member path that led there.
//
// # Tasks
//
//	ts, err := walkers.Tasks(p)        // every thread + per-CPU idle tasks; err joins non-fatal problems
//	t, err := walkers.TaskByPID(p, 42) // init_pid_ns idr lookup
//	t, err := walkers.TaskByAddr(p, a) // or TaskFromObject(obj)
//	t.State, t.Exiting(), t.Kthread(), t.FatalSignalPending(), t.SinceRan, t.NSPIDs
//
// A Task whose fields could not all be read carries Errors; the rest of
// the listing is unaffected. Per-CPU helpers: NumCPUs, PerCPUOffset,
// PerCPUVar, Runqueue, RunqueueClock.
//
// # Files, paths, mounts
//
//	files, err := walkers.Files(p, t)          // fd table: path, inode, type, fs, /dev/fuse
//	path, err := walkers.FilePath(p, fileAddr) // like /proc/PID/fd: "pipe:[1]", " (deleted)"
//	path, err := walkers.DentryPath(p, vfsmountAddr, dentryAddr)
//	path, err := walkers.InodePath(p, inodeAddr)
//	sb, err := walkers.InodeSuper(p, inodeAddr) // fs type, s_id, s_dev
//	isFuse, err := walkers.IsFuseDevice(p, fileAddr)
//	ms, err := walkers.Mounts(p)               // init's mount namespace, mountinfo-like
//	slots, err := walkers.FDTable(p, filesStructAddr)
//
// # Kernel log
//
//	recs, err := walkers.Log(p) // printk ring buffer records, oldest first; r.Line() is dmesg's
//
// # Iterators (iter*.go)
//
// ListHeadNodes / ListEntries (struct list_head, prev-checked), HlistNodes,
// XArrayEntries / XArrayLoad (struct xarray, also radix trees), IDREntries /
// IDRFind (struct idr) and RBTreeNodes (struct rb_root, in order). Each is
// bounded, detects cycles (symbols.ErrCycle) and corrupt links
// (ErrListCorrupt), and names the head it was given in errors.
package walkers
