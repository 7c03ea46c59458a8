package testdata

// WaitEdge is one "Waiter waits for Holder" fact that a scenario stages, by
// role (truth.Record.Roles gives the pids). Tests of a wait-for graph check
// that they find these edges; the record shows each waiter blocked.
type WaitEdge struct {
	Waiter string // role of the waiting task (for a server: one of its threads)
	// Holder is the role of the task it waits for, "" when no task holds
	// what it waits on (a file system frozen by a process that has exited).
	Holder string
	Via    string // what it waits on
}

// Edges returns the wait-for edges scenario sc stages (nil for scenarios
// without hangs). The resource names use the scenario's paths.
func Edges(sc string) []WaitEdge {
	switch sc {
	case ScenarioSquare:
		// fuse_file_write_iter (fs/fuse/file.c) holds the file's i_rwsem
		// across the WRITE request; do_truncate (fs/open.c) and vfs_unlink
		// (fs/namei.c) take the file's; do_unlinkat holds the directory's,
		// which the lookup of /mnt/w/newfile needs (fs/namei.c lookup_slow).
		return []WaitEdge{
			{"square.dd", "square.server", "answer to FUSE WRITE on /mnt/w/data"},
			{"square.truncate", "square.dd", "inode lock of /mnt/w/data"},
			{"square.rm", "square.dd", "inode lock of /mnt/w/data"},
			{"square.touch", "square.rm", "inode lock of directory /mnt/w"},
		}
	case ScenarioReenter:
		return []WaitEdge{
			{"reenter.dd", "reenter.server", "answer to FUSE WRITE on /mnt/c/data"},
			{"reenter.server", "reenter.dd", "inode lock of /mnt/c/data"},
		}
	case ScenarioNetflix:
		// kernel/pid_namespace.c zap_pid_ns_processes waits for every task
		// of the namespace; the server's last thread waits in fuse_flush
		// for a FLUSH only the server itself could answer.
		return []WaitEdge{
			{"netflix.init", "netflix.server", "exit of the pid namespace's tasks"},
			{"netflix.server", "netflix.server", "answer to FUSE FLUSH on /mnt/n/held"},
		}
	case ScenarioFrozen:
		// fs/super.c freeze_super leaves the superblock's s_writers
		// percpu_rw_semaphores write-held with no owner task; writers
		// wait in percpu_rwsem_wait (kernel/locking/percpu-rwsem.c)
		// from sb_start_write/mnt_want_write until FITHAW.
		return []WaitEdge{
			{"frozen.writer1", "", "freeze of /mnt/frz (echo x >> /mnt/frz/f)"},
			{"frozen.writer2", "", "freeze of /mnt/frz (truncate -s 0 /mnt/frz/f)"},
			{"frozen.writer3", "", "freeze of /mnt/frz (mkdir /mnt/frz/d)"},
		}
	case ScenarioLocks:
		// fs/locks.c: a blocked request waits on the lock it conflicts
		// with (its blocker); for POSIX locks the owner is the holder's
		// files_struct, for flock and OFD locks its open file.
		return []WaitEdge{
			{"locks.flock.waiter", "locks.flock.holder", "flock of /tmp/stuck/flock"},
			{"locks.posix.waiter", "locks.posix.holder", "POSIX lock of /tmp/stuck/posix (whole file)"},
			{"locks.ofd.waiter", "locks.ofd.holder", "OFD lock of /tmp/stuck/ofd (whole file)"},
			{"locks.chain.b", "locks.chain.c", "POSIX lock of /tmp/stuck/chain byte 0"},
			{"locks.chain.a", "locks.chain.b", "POSIX lock of /tmp/stuck/chain byte 1"},
		}
	case ScenarioStopped:
		return []WaitEdge{
			{"stopped.waiter", "stopped.holder", "flock of /tmp/stuck/stopped (holder stopped)"},
			{"stopped.client", "stopped.server", "answer to FUSE LOOKUP of data in /mnt/s (server stopped)"},
		}
	case ScenarioFolio:
		// Without async_read, fuse_readahead (fs/fuse/file.c) sends the
		// READ from the reader with the new folios locked; a second
		// reader of the same offset waits for the folio lock.
		return []WaitEdge{
			{"folio.reader1", "folio.server", "answer to FUSE READ of /mnt/r/data"},
			{"folio.reader2", "folio.reader1", "lock of the page-cache folio at offset 0 of /mnt/r/data"},
		}
	case ScenarioMutex:
		// fs/file.c fdget_pos holds the file's f_pos_lock across read(2)
		// when the file is shared (file_count > 1).
		return []WaitEdge{
			{"mutex.holder", "mutex.server", "answer to FUSE READ of /mnt/m/data"},
			{"mutex.waiter", "mutex.holder", "f_pos_lock of the open file /mnt/m/data"},
		}
	case ScenarioPIFutex:
		// kernel/futex/pi.c futex_lock_pi: the waiter blocks on the
		// futex_pi_state's rt_mutex, whose owner is the holder.
		return []WaitEdge{
			{"pifutex.waiter", "pifutex.holder", "PI futex in /tmp/stuck/pifutex (its rt_mutex)"},
		}
	case ScenarioVfork:
		// kernel/fork.c: the parent waits for the child's exec or exit
		// (child->vfork_done is the completion on the parent's stack).
		return []WaitEdge{
			{"vfork.parent", "vfork.child", "exec or exit of its vfork child"},
		}
	case ScenarioCgroupFrozen:
		return []WaitEdge{
			{"cgfrozen.waiter", "cgfrozen.holder", "flock of /tmp/stuck/cgfrozen (holder frozen by its cgroup)"},
		}
	case ScenarioPtraced:
		return []WaitEdge{
			{"ptraced.waiter", "ptraced.holder", "flock of /tmp/stuck/ptraced (holder in a ptrace stop)"},
		}
	case ScenarioDMSuspended:
		// drivers/md/dm.c: a suspended device queues new bios on
		// md->deferred; nothing completes them until it is resumed. No
		// task holds the device.
		return []WaitEdge{
			{"dm.writer", "", "write-back of /mnt/dm/f on the suspended dm device kwalk-stuck"},
			{"dm.direct", "", "O_DIRECT write of /mnt/dm/g on the suspended dm device kwalk-stuck"},
			{"dm.throttled", "", "write of /mnt/dm/h throttled (balance_dirty_pages) behind the suspended dm device kwalk-stuck"},
		}
	case ScenarioNBD:
		// drivers/block/nbd.c sends each request over the device's socket;
		// only the server at the other end completes it with its reply.
		return []WaitEdge{
			{"nbd.reader", "nbd.server", "read of /dev/nbd0, whose server is stopped"},
			{"nbdtcp.reader", "nbdtcp.server", "O_DIRECT read of /dev/nbd1, whose server does not answer"},
			{"nbdtcp.tagwait", "nbdtcp.server", "a request tag of /dev/nbd1, all held by requests its server does not answer"},
		}
	case ScenarioJbd2:
		// fs/jbd2/journal.c jbd2_log_wait_commit waits for the journal's
		// thread (journal_t.j_task) to commit; fs/jbd2/commit.c waits for
		// the journal blocks it wrote, which the suspended device holds.
		return []WaitEdge{
			{"jbd2.fsync", "jbd2.thread", "commit of the journal of /mnt/j"},
			{"jbd2.thread", "", "journal I/O on the suspended dm device kwalk-jbd2"},
		}
	case ScenarioCoredump:
		// fs/coredump.c coredump_wait: the dumper waits until every other
		// thread of its mm has reached exit (core_state.nr_threads).
		return []WaitEdge{
			{"coredump.dumper", "coredump.blocker", "core dump: exit of the other threads"},
			{"coredump.blocker", "", "write-back of /mnt/j/core on the suspended dm device kwalk-jbd2"},
		}
	case ScenarioSyncWB:
		// fs/fs-writeback.c: sync_inodes_sb waits for the bdi's write-back
		// work, run by a flusher kworker (wb_workfn) waiting for the page.
		return []WaitEdge{
			{"syncwb.sync", "syncwb.worker", "write-back work of the bdi of dm kwalk-jbd2"},
			{"syncwb.worker", "", "write-back of /mnt/j/core on the suspended dm device kwalk-jbd2"},
		}
	case ScenarioLoopFuse:
		// drivers/block/loop.c: the device's I/O is done by its worker,
		// which reads the backing file through FUSE.
		return []WaitEdge{
			{"loop.reader", "loop.worker", "O_DIRECT read of the loop device over /mnt/l/data"},
			{"loop.worker", "loop.server", "answer to FUSE READ on /mnt/l/data"},
			// block/blk-mq.c: a freeze waits for the requests in flight;
			// block/blk-core.c blk_queue_enter waits for the freeze.
			{"loop.freezer", "loop.worker", "freeze of the loop device's queue (its read in flight)"},
			{"loop.entrant", "loop.freezer", "the loop device's frozen queue"},
		}
	case ScenarioMmapLock:
		// The owner's mmap_lock is read-held by the reader (a hint: the
		// kernel records only the last reader) and waited for by the
		// owner's mmap (write) and ps (read, behind the writer).
		return []WaitEdge{
			{"mm.reader", "mm.server", "answer to FUSE READ on /mnt/q/data"},
			{"mm.owner", "mm.reader", "mmap_lock of mm.owner (read-held)"},
			{"mm.ps", "mm.reader", "mmap_lock of mm.owner (read-held, writer queued)"},
		}
	case ScenarioFuseInit:
		// fs/fuse/dev.c fuse_get_req: until INIT is answered every new
		// request waits on fc->blocked_waitq; only the server can answer.
		return []WaitEdge{
			{"noinit.reader", "noinit.server", "answer to FUSE INIT on /mnt/ni"},
		}
	case ScenarioFuseWB:
		// fs/fuse/file.c fuse_fsync holds the inode lock while it waits
		// for the WRITE of the page it wrote back.
		return []WaitEdge{
			{"fusewb.fsync", "fusewb.server", "answer to the write-back FUSE WRITE of /mnt/b/data"},
			{"fusewb.truncate", "fusewb.fsync", "inode lock of /mnt/b/data"},
		}
	case ScenarioFuseLock:
		// fs/fuse/file.c fuse_perform_write: a partly written folio
		// stays locked until its WRITE is answered; the reader waits
		// for that lock.
		return []WaitEdge{
			{"fuselock.writer", "fuselock.server", "answer to FUSE WRITE on /mnt/pl/data"},
			{"fuselock.reader", "fuselock.writer", "lock of the folio of /mnt/pl/data at offset 0"},
		}
	case ScenarioNFS:
		// net/sunrpc/sched.c: a synchronous RPC waits for the server's
		// reply; fs/open.c do_truncate holds the inode lock across the
		// SETATTR; fs/nfs/read.c: a page stays locked until its READ's
		// reply.
		return []WaitEdge{
			{"nfs.truncate", "nfs.server", "answer to NFS SETATTR of /mnt/nfs/data (server stopped)"},
			{"nfs.truncate2", "nfs.truncate", "inode lock of /mnt/nfs/data"},
			{"nfs.folio", "nfs.server", "page of /mnt/nfs/big locked for its READ call"},
			{"nfs.mkdir", "nfs.server", "answer to an NFS call of mkdir /mnt/nfs/d"},
		}
	case ScenarioUfutex:
		// testdata/cprog/ufutex.c: glibc pthread mutexes (a waiter's
		// futex word is __lock, the owner's TID is __owner); flock
		// (fs/locks.c).
		return []WaitEdge{
			{"ufutex.a", "ufutex.b", "pthread mutex M2"},
			{"ufutex.b", "ufutex.a", "pthread mutex M1"},
			{"ufutex.c", "ufutex.a", "pthread mutex M1"},
			{"ufutex.flockwait", "ufutex.flockholder", "flock of /tmp/ufutex.lock"},
			{"ufutex.d", "ufutex.flockwait", "pthread mutex M3"},
		}
	case ScenarioKmod:
		// testdata/kmod/kwalk_hang.c. A mutex, an rt_mutex and a writer-
		// or reader-held rw_semaphore and a ww_mutex wait for their owner
		// (the reader of a reader-owned one is a hint); kthread_stop
		// waits for the thread's exit; flush_work, cancel_work_sync and
		// flush_workqueue for the worker running the item,
		// kthread_flush_work for the kthread_worker's kthread;
		// synchronize_rcu(_expedited) for the grace period a reader
		// blocked in its read-side critical section holds up.
		return []WaitEdge{
			{"kmod.abba.a", "kmod.abba.b", "mutex kwalk_mutex_b"},
			{"kmod.abba.b", "kmod.abba.a", "mutex kwalk_mutex_a"},
			{"kmod.kstop.stoppee", "kmod.abba.a", "mutex kwalk_mutex_a"},
			{"kmod.kstop.stopper", "kmod.kstop.stoppee", "exit of kthread kwalk_stoppee (kthread_stop)"},
			{"kmod.rt.waiter", "kmod.holder", "rt_mutex kwalk_rtmutex"},
			{"kmod.rwsem.writer", "kmod.holder", "rw_semaphore kwalk_rwsem (read-held)"},
			{"kmod.io.waiter", "kmod.holder", "mutex kwalk_mutex_c (mutex_lock_io)"},
			{"kmod.ww.waiter", "kmod.holder", "ww_mutex kwalk_ww"},
			// A semaphore records no holder; newer kernels with
			// CONFIG_DETECT_HUNG_TASK_BLOCKER keep its last taker
			// (kwalk's hint, checked by the waitfor tests).
			{"kmod.sem.waiter", "", "semaphore kwalk_sem"},
			{"kmod.flush.flusher", "kmod.flush.worker", "work item kwalk_work_fn of workqueue kwalk_wq"},
			{"kmod.cancel.canceller", "kmod.flush.worker", "work item kwalk_work_fn (cancel_work_sync)"},
			{"kmod.wqflush.flusher", "kmod.flush.worker", "workqueue kwalk_wq (flush_workqueue)"},
			{"kmod.kwork.flusher", "kmod.kwork.worker", "work kwalk_kwork_fn of kthread_worker kwalk_kworker (kthread_flush_work)"},
			{"kmod.kwork.worker", "kmod.holder", "mutex kwalk_mutex_c"},
			{"kmod.flush.worker", "kmod.holder", "mutex kwalk_mutex_c"},
			{"kmod.rcu.sync", "kmod.rcu.reader", "RCU grace period"},
			{"kmod.rcu.exp", "kmod.rcu.reader", "expedited RCU grace period"},
			// SRCU does not record its readers: the wait is reported,
			// with its domain, and no holder.
			{"kmod.srcu.sync", "", "SRCU grace period of kwalk_srcu"},
		}
	}
	return nil
}

// Edges returns the wait-for edges of every scenario the dump's guest staged.
func (d *Dump) Edges() []WaitEdge {
	var out []WaitEdge
	for _, sc := range d.Guest.Scenarios {
		out = append(out, Edges(sc)...)
	}
	return out
}
