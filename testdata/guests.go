// Package testdata finds the real kernel dumps made by the generator in
// testdata/gen and describes how each was made. Tests call Require (or
// Dumps) to get, per kernel and guest, the dump files in every format and the
// guest kernel's own record of its state (package truth).
//
// Generate the dumps with `go run ./testdata/gen` (or testdata/gen.sh) from
// the repository root; see testdata/README.md.
package testdata

// This file is the one place that pins what the dumps are made of: the
// Debian kernel packages (exact versions, for reproducible dumps) and the
// guests booted on them.

// Package is a Debian package at an exact version.
type Package struct {
	Name    string
	Version string
}

// Kernel is a Debian kernel whose packages carry vmlinuz and the modules.
type Kernel struct {
	ID       string // short name used in paths and filters: "6.1", "5.10", "6.12", "sid"
	Suite    string // Debian suite it comes from
	Packages []Package
	// Debug is the -dbg package (vmlinux and modules with DWARF, the real
	// System.map), fetched for DWARF tests when set; its usr/lib/debug/boot
	// and the fuse module's debug file are kept (see DebugRoot).
	Debug *Package `json:",omitempty"`
	// Kdump are the suite's kexec-tools and makedumpfile, for the kdump
	// guests (kdump.go); their shared libraries come from the same suite.
	Kdump []Package `json:",omitempty"`
}

// Kernels are the pinned kernels, the first is the one to try first. The
// generator fetches them with apt-get download; a version the mirror no longer
// has is reported by name, and can be overridden with the environment variable
// KWALK_KERNEL_<ID> (ID with '.' as '_', e.g. KWALK_KERNEL_6_1) set to a
// space-separated list of name=version.
var Kernels = []Kernel{
	{ID: "6.1", Suite: "bookworm", Packages: []Package{
		{"linux-image-6.1.0-50-cloud-amd64-unsigned", "6.1.176-1"},
	}, Debug: &Package{"linux-image-6.1.0-50-cloud-amd64-dbg", "6.1.176-1"},
		Kdump: []Package{{"kexec-tools", "1:2.0.25-3+deb12u3"}, {"makedumpfile", "1:1.7.2-1"}}},
	{ID: "5.10", Suite: "bullseye", Packages: []Package{
		{"linux-image-5.10.0-32-cloud-amd64-unsigned", "5.10.223-1"},
	}},
	{ID: "6.12", Suite: "trixie", Packages: []Package{
		{"linux-image-6.12.107+deb13-cloud-amd64-unsigned", "6.12.107-1"},
	}},
	{ID: "sid", Suite: "sid", Packages: []Package{
		{"linux-binary-unsigned-7.2.13+deb14-cloud-amd64", "7.2.13-1"},
		{"linux-modules-7.2.13+deb14-cloud-amd64", "7.2.13-1"},
	}, Kdump: []Package{{"kexec-tools", "1:2.0.32-3"}, {"makedumpfile", "1:1.7.8-1"}}},
}

// Scenario names: what a guest stages before it is dumped (the argument of
// the guest program "hangfs scenario", testdata/hangfs/scenario.go).
const (
	// ScenarioSquare: /mnt/w never answers WRITE. dd writes /mnt/w/data (holds
	// the inode lock, waits for the answer); truncate of the file waits for
	// the inode lock; rm of it holds the directory lock and waits for the
	// file's; touch /mnt/w/newfile waits for the directory lock.
	// Roles: square.server, square.dd, square.truncate, square.rm, square.touch.
	ScenarioSquare = "square"
	// ScenarioReenter: /mnt/c's WRITE handler truncates the same file through
	// its own mount while the writer holds the inode lock: a cycle.
	// Roles: reenter.server, reenter.dd.
	ScenarioReenter = "reenter"
	// ScenarioNetflix: in a new pid namespace a FUSE server holds a file of
	// its own mount /mnt/n on fd 0 (below /dev/fuse); the namespace's init
	// exits, the server is killed and its last thread blocks in fuse_flush
	// during exit (PF_EXITING, SIGKILL pending) while the init waits in
	// zap_pid_ns_processes. Roles: netflix.unshare, netflix.init, netflix.server.
	ScenarioNetflix = "netflix"
	// ScenarioIdle: nothing staged; nothing is stuck.
	ScenarioIdle = "idle"
	// ScenarioThreads: one process with many parked threads (role threads.proc).
	ScenarioThreads = "threads"

	// The stuck guest's scenarios (testdata/hangfs/stuck.go). Their roles
	// name the thread that plays the part: for a process the pid (its
	// main thread is the one that waits), for the threads of the mutex and
	// benign scenarios the tid (Record.Task finds either).

	// ScenarioFrozen: an ext2 file system on a loop device (a file in
	// /tmp) is mounted at /mnt/frz and frozen with busybox fsfreeze -f;
	// three writers block in sb_start_write/mnt_want_write
	// (percpu_rwsem_wait, state D): an "echo x >> /mnt/frz/f", a "truncate
	// -s 0 /mnt/frz/f" and a "mkdir /mnt/frz/d". No task holds the freeze
	// (fsfreeze has exited). Roles: frozen.writer1, frozen.writer2,
	// frozen.writer3; the record's meta frozen.mount and frozen.dev
	// (MAJOR:MINOR) name the mount.
	ScenarioFrozen = "frozen"
	// ScenarioLocks: file locks on files in /tmp/stuck, taken by "hangfs
	// lock" processes (holders sleep holding them, waiters sleep in state S
	// in the kernel's lock wait): flock (locks.flock.holder,
	// locks.flock.waiter on /tmp/stuck/flock), POSIX F_SETLKW
	// (locks.posix.holder, locks.posix.waiter on /tmp/stuck/posix), OFD
	// F_OFD_SETLKW (locks.ofd.holder, locks.ofd.waiter on /tmp/stuck/ofd),
	// and a POSIX chain on /tmp/stuck/chain: locks.chain.c holds byte 0,
	// locks.chain.b holds byte 1 and waits for byte 0, locks.chain.a waits
	// for byte 1. The record holds /proc/locks (Record.Locks).
	ScenarioLocks = "locks"
	// ScenarioStopped: stopped.holder holds a flock of /tmp/stuck/stopped
	// and is stopped with SIGSTOP (state T) while stopped.waiter waits for
	// it; stopped.server serves /mnt/s and is stopped (all its threads T)
	// before stopped.client ("cat /mnt/s/data") sends its LOOKUP, which
	// nobody reads.
	ScenarioStopped = "stopped"
	// ScenarioFolio: /mnt/r never answers READ and reads synchronously (no
	// FUSE async_read). folio.reader1 ("dd if=/mnt/r/data") waits for the
	// answer in request_wait_answer holding the lock of the page-cache
	// folio at offset 0, which folio.reader2 (the same dd) waits for (state
	// D, folio_wait_bit_common). Role folio.server.
	ScenarioFolio = "folio"
	// ScenarioMutex: /mnt/m never answers READ and opens files with
	// FOPEN_DIRECT_IO. Two threads of one process (mutex.proc) read the same
	// descriptor of /mnt/m/data: mutex.holder holds the file's f_pos_lock
	// (fdget_pos) and waits for the READ, mutex.waiter waits for the
	// f_pos_lock in mutex_lock (state D). /proc/PID/stack leaves out
	// __sched functions such as mutex_lock and __mutex_lock: the record
	// shows the waiter at their caller, __fdget_pos (6.1) or fdget_pos
	// (7.x). Roles mutex.server, mutex.proc, and the two threads' tids.
	ScenarioMutex = "mutex"
	// ScenarioBenign: sleepers that are not stuck and must never be
	// reported: threads of one process (benign.proc) in poll, select,
	// epoll_wait, read of an idle pipe, accept on a listening unix socket,
	// wait4 on a live child (benign.child, a busybox sleep), nanosleep, a
	// futex wait, rt_sigsuspend and pause. Roles benign.poll,
	// benign.select, benign.epoll, benign.pipe, benign.accept,
	// benign.wait4, benign.nanosleep, benign.futex, benign.sigsuspend,
	// benign.pause (tids), benign.proc, benign.child.
	ScenarioBenign = "benign"

	// The stuck2 guest's scenarios (testdata/hangfs/stuck2.go). Roles name
	// processes whose main thread is the one that waits (or holds).

	// ScenarioPIFutex: a PI futex (FUTEX_LOCK_PI, not private, on the
	// first word of /tmp/stuck/pifutex mapped shared by both, as a
	// process-shared pthread mutex with PTHREAD_PRIO_INHERIT):
	// pifutex.holder locks it and sleeps; pifutex.waiter blocks in
	// futex_lock_pi (state S) on the futex's rt_mutex, owned by the holder
	// (task_struct.pi_blocked_on).
	ScenarioPIFutex = "pifutex"
	// ScenarioVfork: vfork.parent vforks (clone CLONE_VM|CLONE_VFORK) and
	// its child vfork.child pauses with every signal blocked, neither
	// exec'ing nor exiting; the parent waits in wait_for_vfork_done
	// (state D; /proc shows kernel_clone, where it is inlined).
	ScenarioVfork = "vfork"
	// ScenarioCgroupFrozen: cgfrozen.holder holds a flock of
	// /tmp/stuck/cgfrozen and is frozen by the cgroup v2 freezer (cgroup2
	// mounted at /sys/fs/cgroup, the holder in its child kwalk-frozen,
	// cgroup.freeze 1: its threads sleep in S in do_freezer_trap);
	// cgfrozen.waiter waits for the lock. Meta cgfrozen.cgroup names the
	// cgroup, cgfrozen.events its cgroup.events ("populated 1 frozen 1").
	ScenarioCgroupFrozen = "cgfrozen"
	// ScenarioPtraced: ptraced.holder holds a flock of /tmp/stuck/ptraced;
	// ptraced.tracer attaches to each of its threads (PTRACE_SEIZE) and
	// stops them (PTRACE_INTERRUPT: state t); ptraced.waiter waits for the
	// lock.
	ScenarioPtraced = "ptraced"
	// ScenarioDMSuspended: a device-mapper linear device (dm name
	// kwalk-stuck) over a loop device holds an ext2 mounted at /mnt/dm; it
	// is suspended with noflush and without freezing the file system
	// (dmsetup suspend --noflush --nolockfs), so new bios are deferred and
	// never complete. dm.writer ("dd ... of=/mnt/dm/f conv=fsync") waits
	// in D for write-back of its page; dm.direct ("dd ... of=/mnt/dm/g
	// oflag=direct conv=notrunc") waits in D for its O_DIRECT bio; then,
	// with vm.dirty_bytes at 1 MiB, dm.throttled ("dd ... of=/mnt/dm/h
	// bs=64k count=64") is throttled in D in balance_dirty_pages, its dirty
	// pages never written. No task holds anything. Meta dm.name, dm.disk
	// (dm-N), dm.dev (MAJOR:MINOR), dm.suspended, dm.inflight
	// (/sys/block/dm-N/inflight), dm.mount, dm.loop, dm.loopdev and
	// dm.dirty_bytes name it.
	ScenarioDMSuspended = "dmsuspend"
	// ScenarioNBD: two network block devices (drivers/block/nbd.c) set up
	// by hangfs as nbd-client does (NBD_SET_SOCK, then NBD_DO_IT: the
	// client, nbd.client/nbdtcp.client, sleeps there in S for the
	// connection's life), each served by a child hangfs (nbd.server,
	// nbdtcp.server) that answers the partition scan and a first read.
	// nbd0 runs over a unix socketpair; its server is then stopped
	// (SIGSTOP) and nbd.reader ("dd if=/dev/nbd0 bs=4096 skip=768") waits
	// in D for its page's read. nbd1 runs over TCP on 127.0.0.1; its
	// server goes on reading requests but never answers again, and
	// nbdtcp.reader ("dd ... iflag=direct") waits in D for its bio; nbd1's
	// nr_requests is 4 (set before the stall), so three more O_DIRECT
	// readers (nbdtcp.fill1-3) take the other requests and a fourth
	// (nbdtcp.tagwait) waits in D for a tag (blk_mq_get_tag). Meta
	// nbd.dev, nbd.transport, nbd.pid (/sys/block/nbdN/pid), nbd.inflight
	// and the same for nbdtcp.
	ScenarioNBD = "nbd"

	// The stuck3 guest's scenarios (testdata/hangfs/stuck3.go).

	// ScenarioJbd2: an ext3 file system (made by the generator, mounted
	// as ext4 at /mnt/j) on a device-mapper linear device kwalk-jbd2 over
	// a loop device, suspended with noflush and nolockfs after /mnt/j/f
	// was written and synced. A chmod of the file joins the running
	// transaction without I/O; jbd2.fsync ("sync /mnt/j/f", fsync) waits
	// in jbd2_log_wait_commit (D) for the journal thread, jbd2.thread
	// (jbd2/dm-N-8), which waits in its commit for journal blocks the
	// suspended device holds. Meta jbd2.name, jbd2.disk, jbd2.dev,
	// jbd2.mount.
	ScenarioJbd2 = "jbd2"
	// ScenarioCoredump: coredump.dumper's thread coredump.blocker
	// overwrites and fsyncs /mnt/j/core (D, write-back held by the
	// suspended device, not interrupted by SIGKILL); the main thread
	// then takes SIGQUIT with its default action and dumps core
	// (fs/coredump.c do_coredump): it waits in coredump_wait (D) for
	// every other thread to reach exit, which the blocker never does.
	// Needs ScenarioJbd2 first.
	ScenarioCoredump = "coredump"
	// ScenarioMmapLock: mm.owner maps /mnt/q/data (a FUSE file whose
	// READ is never answered, server mm.server); mm.reader reads that
	// address through /proc/OWNER/mem and waits for the READ holding the
	// owner's mmap_lock for read (mm/memory.c __access_remote_vm); the
	// owner then calls mmap and waits to write-lock it (D), and mm.ps
	// ("cat /proc/OWNER/cmdline", as ps does) waits to read-lock it
	// behind the writer (D).
	ScenarioMmapLock = "mmaplock"
	// ScenarioSyncWB: /mnt/j/core's page, under write-back since the
	// coredump scenario, is written again (dirty and under write-back);
	// syncwb.sync ("sync") waits in wb_wait_for_completion (D) for the
	// WB_SYNC_ALL write-back work it queued on the device's bdi, which a
	// flusher kworker (syncwb.worker, in wb_workfn) runs and in which it
	// waits for the page's write-back (D). Needs ScenarioCoredump first.
	ScenarioSyncWB = "syncwb"
	// ScenarioLoopFuse: /mnt/l/data (a FUSE file whose READ is never
	// answered, server loop.server) is put on a loop device, and
	// loop.reader ("dd if=/dev/loopN iflag=direct") waits in D for its
	// bio; the loop device's worker (loop.worker: a kworker in
	// loop_workfn, the loopN kthread before 5.13) waits for the READ of
	// the backing file. loop.freezer ("echo 64 > .../queue/nr_requests")
	// then waits in D for the queue's freeze (blk_mq_freeze_queue_wait)
	// until the read ends, and loop.entrant (a second O_DIRECT dd) waits
	// in D to enter the frozen queue (blk_queue_enter). Meta loop.dev
	// names the device.
	ScenarioLoopFuse = "loopfuse"
	// ScenarioFuseInit: /mnt/ni is a FUSE mount whose server
	// (noinit.server, "hangfs noinit") holds /dev/fuse but never reads
	// it: INIT is never answered, and noinit.reader ("cat /mnt/ni/data")
	// waits in D in fuse_get_req on fuse_conn.blocked_waitq for its
	// LOOKUP to be allowed. Meta noinit.mount.
	ScenarioFuseInit = "fuseinit"
	// ScenarioFuseWB: /mnt/b is served by fusewb.server, which never
	// answers WRITE. fusewb.fsync ("hangfs mmapsync /mnt/b/data") dirties
	// the file's page through a shared mapping and calls fsync, which
	// holds the inode lock (fs/fuse/file.c fuse_fsync) while it waits for
	// the page's write-back WRITE (fuse_inode.page_waitq before 6.14,
	// PG_writeback since); fusewb.truncate (an ftruncate of the file,
	// opened before) waits in D for the inode lock.
	ScenarioFuseWB = "fusewb"
	// ScenarioNFS: the kernel's NFSv3 client mounts /mnt/nfs from
	// nfs.server ("hangfs nfsserve", go-nfs on 127.0.0.1, TCP, hard,
	// nolock, nocto, actimeo=3600). Three "hangfs nfsop" processes open
	// their file while it answers; the server is then stopped (SIGSTOP).
	// nfs.truncate (ftruncate of /mnt/nfs/data) waits in D for its
	// SETATTR call (net/sunrpc/sched.c rpc_wait_bit_killable) holding the
	// file's inode lock; nfs.truncate2 (ftruncate of the same file) waits
	// in D for that lock; nfs.folio (read of /mnt/nfs/big) waits in D for
	// the lock of the page its asynchronous READ fills; nfs.mkdir ("mkdir
	// /mnt/nfs/d") waits in D for a call of its own. Meta nfs.mount,
	// nfs.port.
	ScenarioNFS = "nfs"
	// ScenarioFuseLock: /mnt/pl is served by fuselock.server, which never
	// answers WRITE. fuselock.writer ("dd bs=100 count=1" into a new file)
	// waits for its WRITE with the page it wrote part of locked (fs/fuse/
	// file.c fuse_fill_write_pages keeps a folio that is not uptodate
	// locked until fuse_send_write_pages has the answer); fuselock.reader
	// ("cat /mnt/pl/data") waits in D for that folio's lock (the page-
	// cache invalidation of fuse_open, or the read).
	ScenarioFuseLock = "fuselock"

	// The kmod guest's scenario (testdata/hangfs/kmod.go).

	// ScenarioKmod: hangfs loads testdata/kmod/kwalk_hang.ko, built by the
	// generator against the guest kernel's headers, whose kernel threads
	// (each named by its role's comm) get stuck as kernel code does:
	// kmod.abba.a and kmod.abba.b take mutexes A and B in opposite orders
	// (D in __mutex_lock); kmod.kstop.stoppee waits for mutex A and
	// kmod.kstop.stopper waits in kthread_stop for it to exit;
	// kmod.holder holds mutex C, rw_semaphore R for read, rt_mutex T,
	// ww_mutex W and semaphore S and sleeps in S; kmod.rt.waiter waits for
	// T (rt_mutex_lock), kmod.rwsem.writer for R (down_write,
	// reader-owned), kmod.io.waiter for C (mutex_lock_io), kmod.ww.waiter
	// for W (ww_mutex_lock with an acquire context), kmod.sem.waiter for S
	// (down); kmod.flush.flusher waits in
	// flush_work for a work item of workqueue kwalk_wq that
	// kmod.flush.worker (a kworker) runs and in which it waits for C, and
	// kmod.cancel.canceller (cancel_work_sync) and kmod.wqflush.flusher
	// (flush_workqueue) wait for the same item; kmod.kwork.flusher waits in
	// kthread_flush_work for a work that kmod.kwork.worker (the kthread of
	// kthread_worker kwalk_kworker) runs and in which it waits for C; kmod.rcu.reader sleeps in S inside
	// rcu_read_lock (preemptible RCU: a blocked reader), so the grace
	// periods kmod.rcu.sync (synchronize_rcu) and kmod.rcu.exp
	// (synchronize_rcu_expedited) wait for never end; kmod.srcu.reader
	// sleeps inside srcu_read_lock(kwalk_srcu) and kmod.srcu.sync waits
	// in synchronize_srcu for that domain's grace period. Meta kmod.module,
	// kmod.workqueue.
	ScenarioKmod = "kmod"
	// ScenarioUfutex: /bin/ufutex (testdata/cprog/ufutex.c, built static
	// with the host's gcc and glibc) forks ufutex.flockholder, which holds
	// a flock of /tmp/ufutex.lock, and starts threads stuck behind glibc
	// pthread mutexes, each asleep (S) in a futex wait: ufutex.a and
	// ufutex.b lock M1 and M2 in opposite orders (ABBA), ufutex.c waits
	// for M1; ufutex.flockwait holds M3 and waits (S) for the flock, and
	// ufutex.d waits for M3. Benign: benign.ufutex.cond waits on a
	// condition variable, benign.ufutex.sleeper holds M4 in nanosleep and
	// benign.ufutex.contend waits for M4 (contention with a sleeping
	// owner, not a hang kwalk can tell). Roles name threads (TIDs);
	// ufutex.proc is the process.
	ScenarioUfutex = "ufutex"
)

// Guest kinds.
const (
	GuestHangs = "hangs" // square + reenter + netflix in one guest
	GuestIdle  = "idle"  // nothing stuck
	GuestScale = "scale" // ≥ 10,000 threads, nothing stuck
	GuestStuck = "stuck" // frozen + locks + stopped + folio + mutex + benign in one guest

	// kdump guests (kdump.go): square + frozen, the record, then a panic
	// by Trigger, saved by a kdump capture kernel.
	GuestKdumpHungTask = "kdump-hungtask"
	GuestKdumpSysrq    = "kdump-sysrq"
	GuestKdumpOops     = "kdump-oops"
	// GuestKdumpSoftLockup panics from the soft-lockup watchdog's
	// interrupt (TriggerSoftLockup; 6.1 only, like the kmod guest).
	GuestKdumpSoftLockup = "kdump-softlockup"
	// GuestStuck2: pifutex + vfork + cgfrozen + ptraced + dmsuspend + nbd in one guest.
	GuestStuck2 = "stuck2"
	// GuestKmod: kmod, the threads of a kernel module of the project's own.
	GuestKmod = "kmod"
	// GuestStuck3: jbd2 + coredump + syncwb + mmaplock + loopfuse + fuseinit + fusewb + nfs + fuselock in one guest.
	GuestStuck3 = "stuck3"
)

// Guest is one booted machine and what it stages. A dump is identified by
// (Kernel, Name).
type Guest struct {
	Name      string   // GuestHangs, GuestIdle, GuestScale, GuestStuck, GuestStuck2
	Kernel    string   // Kernel.ID
	Scenarios []string // run in this order
	Threads   int      // for ScenarioThreads
	// PagingLevels is 4 or 5: 5 boots with -cpu max (LA57), 4 with la57 off
	// in the CPU model. The generator checks the guest agrees.
	PagingLevels int
	MemoryMB     int
	CPUs         int
	// Modules are kernel modules the guest loads besides fuse and
	// qemu_fw_cfg (with their dependencies; none when built in).
	Modules []string `json:",omitempty"`
	// Trigger makes a kdump guest: after its record the guest panics by
	// this trigger (TriggerHungTask, TriggerSysrqC, TriggerOops) and a
	// capture kernel saves the dump. "" for the guests QEMU dumps.
	Trigger string `json:",omitempty"`
}

var hangs = []string{ScenarioSquare, ScenarioReenter, ScenarioNetflix, ScenarioMutex}

var stuck = []string{ScenarioFrozen, ScenarioLocks, ScenarioStopped, ScenarioFolio, ScenarioMutex, ScenarioBenign}

var kdumpHangs = []string{ScenarioSquare, ScenarioFrozen}

var stuck2 = []string{ScenarioPIFutex, ScenarioVfork, ScenarioCgroupFrozen, ScenarioPtraced, ScenarioDMSuspended, ScenarioNBD}

var stuck3 = []string{ScenarioJbd2, ScenarioCoredump, ScenarioSyncWB, ScenarioMmapLock, ScenarioLoopFuse, ScenarioFuseInit, ScenarioFuseWB, ScenarioNFS, ScenarioFuseLock}

// stuck3Ufutex adds the ufutex program (built with Debian's gcc for the
// guest's architecture, testdata/gen/cprog.go); 6.1 runs it in the kmod
// guest.
var stuck3Ufutex = append(append([]string(nil), stuck3...), ScenarioUfutex)

// stuck3Kmod adds the kmod scenario last (its blocked RCU reader stops every
// grace period): the module is built for trixie's and sid's kernels in a
// chroot of their suite with their own compiler (testdata/gen/kmod.go).
var stuck3Kmod = append(append([]string(nil), stuck3Ufutex...), ScenarioKmod)

// Guests is the generated matrix. 5.10's cloud config has no
// CONFIG_X86_5LEVEL, so its guest is 4-level.
var Guests = []Guest{
	{Name: GuestHangs, Kernel: "6.1", Scenarios: hangs, PagingLevels: 4, MemoryMB: 256, CPUs: 2},
	{Name: GuestIdle, Kernel: "6.1", Scenarios: []string{ScenarioIdle}, PagingLevels: 5, MemoryMB: 256, CPUs: 2},
	{Name: GuestScale, Kernel: "6.1", Scenarios: []string{ScenarioThreads}, Threads: 10000, PagingLevels: 4, MemoryMB: 1024, CPUs: 2},
	{Name: GuestHangs, Kernel: "5.10", Scenarios: hangs, PagingLevels: 4, MemoryMB: 256, CPUs: 2},
	{Name: GuestHangs, Kernel: "6.12", Scenarios: hangs, PagingLevels: 5, MemoryMB: 256, CPUs: 2},
	{Name: GuestHangs, Kernel: "sid", Scenarios: hangs, PagingLevels: 5, MemoryMB: 256, CPUs: 2},
	{Name: GuestIdle, Kernel: "sid", Scenarios: []string{ScenarioIdle}, PagingLevels: 4, MemoryMB: 256, CPUs: 2},
	{Name: GuestStuck, Kernel: "6.1", Scenarios: stuck, PagingLevels: 4, MemoryMB: 256, CPUs: 2, Modules: []string{"loop"}},
	{Name: GuestStuck, Kernel: "sid", Scenarios: stuck, PagingLevels: 5, MemoryMB: 256, CPUs: 2, Modules: []string{"loop"}},
	{Name: GuestKdumpHungTask, Kernel: "6.1", Scenarios: kdumpHangs, PagingLevels: 4, MemoryMB: 512, CPUs: 2, Modules: []string{"loop"}, Trigger: TriggerHungTask},
	{Name: GuestKdumpOops, Kernel: "6.1", Scenarios: kdumpHangs, PagingLevels: 5, MemoryMB: 512, CPUs: 2, Modules: []string{"loop"}, Trigger: TriggerOops},
	{Name: GuestKdumpSysrq, Kernel: "sid", Scenarios: kdumpHangs, PagingLevels: 5, MemoryMB: 512, CPUs: 2, Modules: []string{"loop"}, Trigger: TriggerSysrqC},
	{Name: GuestKdumpOops, Kernel: "sid", Scenarios: kdumpHangs, PagingLevels: 4, MemoryMB: 512, CPUs: 2, Modules: []string{"loop"}, Trigger: TriggerOops},
	{Name: GuestStuck2, Kernel: "6.1", Scenarios: stuck2, PagingLevels: 4, MemoryMB: 256, CPUs: 2, Modules: []string{"loop", "dm_mod", "nbd"}},
	{Name: GuestStuck2, Kernel: "sid", Scenarios: stuck2, PagingLevels: 5, MemoryMB: 256, CPUs: 2, Modules: []string{"loop", "dm_mod", "nbd"}},
	{Name: GuestStuck3, Kernel: "6.1", Scenarios: stuck3, PagingLevels: 4, MemoryMB: 256, CPUs: 2, Modules: []string{"loop", "dm_mod", "nfsv3"}},
	{Name: GuestStuck3, Kernel: "sid", Scenarios: stuck3Kmod, PagingLevels: 5, MemoryMB: 256, CPUs: 2, Modules: []string{"loop", "dm_mod", "nfsv3"}},
	// Debian stable's kernel (trixie) with every stuck scenario too.
	{Name: GuestStuck, Kernel: "6.12", Scenarios: stuck, PagingLevels: 4, MemoryMB: 256, CPUs: 2, Modules: []string{"loop"}},
	{Name: GuestStuck2, Kernel: "6.12", Scenarios: stuck2, PagingLevels: 4, MemoryMB: 256, CPUs: 2, Modules: []string{"loop", "dm_mod", "nbd"}},
	{Name: GuestStuck3, Kernel: "6.12", Scenarios: stuck3Kmod, PagingLevels: 4, MemoryMB: 256, CPUs: 2, Modules: []string{"loop", "dm_mod", "nfsv3"}},
	// 6.1's kmod guest keeps the module's threads apart from the stuck3
	// scenarios (6.12 and sid stage both in one guest).
	{Name: GuestKmod, Kernel: "6.1", Scenarios: []string{ScenarioUfutex, ScenarioKmod}, PagingLevels: 5, MemoryMB: 256, CPUs: 2},
	{Name: GuestKdumpSoftLockup, Kernel: "6.1", Scenarios: kdumpHangs, PagingLevels: 4, MemoryMB: 512, CPUs: 2, Modules: []string{"loop"}, Trigger: TriggerSoftLockup},
}

// KernelByID returns the pinned kernel with the given ID.
func KernelByID(id string) (Kernel, bool) {
	for _, k := range Kernels {
		if k.ID == id {
			return k, true
		}
	}
	return Kernel{}, false
}
