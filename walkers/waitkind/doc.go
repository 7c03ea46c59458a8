// Package waitkind is the model of the ways a task can be blocked. A Kind
// holds everything about one kernel waiting primitive — how a waiting task
// is recognised, which frames mark it, how its object is named, who holds
// it and how surely, the verb used in reports and the remedies — and the
// wait-for graph (package waitfor) knows primitives only through their
// Kind values. The values the graph is made of (TaskWait, WaitObject,
// Holder, Root) are defined here so that kinds can build them.
//
// # Adding a wait kind
//
// One file (or a section of the walker file of the primitive's subsystem:
// locking/mutex.go holds both Mutex and MutexWait) and one line in
// waitfor.Kinds:
//
//	// FileLockWait: a task in flock(2)/fcntl(F_SETLKW) sleeps on its own
//	// file_lock's wait queue (fs/locks.c); fl_blocker names the lock it waits for.
//	var FileLockWait = &waitkind.Kind{
//		Name:          "file-lock",
//		Verb:          "waits for",
//		Frames:        waitkind.NewFrames("locks_lock_inode_wait", "flock_lock_inode_wait", "do_lock_file_wait"),
//		Interruptible: true, // it sleeps in S and is still stuck
//		Detect:        detectFileLock,
//	}
//
// Recognition, in the order the analysis tries it:
//   - Detect(c, t): anything the kind can see — a frame (c.HasFrame), a
//     structure found from the task, an index built from kernel lists.
//   - BlockerTypes / BlockedOn: the hung-task blocker fields of 6.16+
//     kernels name the lock; Decode is called with Found.Object set.
//   - Waiter: a waiter structure on the task's stack, linked into the
//     object's list (verified both ways, its task member the task).
//     Several kinds may share a waiter type (a wait_queue_entry): the one
//     whose WakeFunc the entry has wins, then one whose Frames the task is
//     in, then the one with neither (the generic wait queue).
//
// Decode(c, t, found) reads the object, checks it (a lock with a waiters
// flag, the task in its queue) and fills TaskWait: the object's Type, Addr
// and What ("i_rwsem of inode 12 /mnt/w/data"), the Holders with How and
// Certain, a Note for what the holders do not say. Return false for a
// stale waiter. Certain is false for guesses; an answer resting on memory
// that could not be read says so in Error and is never certain.
//
// Frames are compared modulo compiler suffixes (BaseName): list the
// function names as in the kernel source. Interruptible marks kinds whose
// waiters sleep in S (lock slowpaths, file locks): a task in S is looked
// at only when one of those frames is near the top of its stack, so that
// thousands of tasks sleeping in poll or futex_wait cost nothing.
//
// Classify(w, r) names the root cause of a chain that ends at a wait of
// this kind (r.Kind, r.Summary, r.Certain) when the generic causes (a
// holder that is not blocked, an object nobody owns: NoOwner) do not say
// enough; Remedies lists what a user would run. Feature-detect kernel
// differences from the types (c.Prog().Type, HasMember) and name the
// kernel source file in a comment. Every kind has a table-driven test on
// a synthetic image (walktest) and an edge in a generated dump
// (testdata/edges.go) checked against the guest's own record.
package waitkind
