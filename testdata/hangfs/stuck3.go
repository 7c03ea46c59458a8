package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The stuck3 guest's scenarios: a journalled file system whose journal
// commit cannot finish, a core dump that waits for a thread that cannot
// exit, and a process's mmap_lock held by a reader of its memory whose
// page fault waits for a FUSE READ. testdata/guests.go describes each
// with its roles; the helper commands are in stuck3_cmds.go.

const (
	jbd2Name  = "kwalk-jbd2"
	jbd2Mount = "/mnt/j"
	// jbd2Image is the ext3 image the generator puts in the initramfs
	// (busybox's mke2fs makes no journal).
	jbd2Image = "/stuck3/ext3.img"
	coreFile  = jbd2Mount + "/core"
)

// jbd2WaitFuncs are where a task waiting for a journal commit stands in
// /proc/PID/stack (fs/jbd2/journal.c jbd2_log_wait_commit, from
// jbd2_complete_transaction in ext4_sync_file's fsync); jbd2CommitFuncs
// where the journal thread waits for its buffers' I/O (fs/jbd2/commit.c
// jbd2_journal_commit_transaction, fs/buffer.c __wait_on_buffer) or its
// data's write-back.
var (
	jbd2WaitFuncs   = []string{"jbd2_log_wait_commit"}
	jbd2CommitFuncs = []string{"jbd2_journal_commit_transaction"}
)

// jbd2 puts the ext3 image on a loop device under a device-mapper linear
// device, mounts it as ext4 at /mnt/j, writes and syncs a file, then
// suspends the device (noflush, nolockfs) and changes the file's mode:
// the change joins the running transaction without I/O. fsync of the
// file (busybox sync FILE) then waits for the commit, and the journal
// thread jbd2/dm-N-8 waits for its journal blocks, held on the suspended
// device.
func (s *stager) jbd2() error {
	img := filepath.Join(stuckDir, "ext3.img")
	for _, d := range []string{stuckDir, jbd2Mount} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	b, err := os.ReadFile(jbd2Image)
	if err != nil {
		return err
	}
	if err := os.WriteFile(img, b, 0o644); err != nil {
		return err
	}
	disk, dev, ctl, err := dmLinearOverLoop(jbd2Name, img, uint64(len(b)))
	if err != nil {
		return err
	}
	defer unix.Close(ctl)
	node := "/dev/" + disk
	file := jbd2Mount + "/f"
	for _, argv := range [][]string{
		{"mount", "-t", "ext4", "-o", "data=ordered,noinit_itable,commit=600", node, jbd2Mount},
		{"dd", "if=/dev/zero", "of=" + file, "bs=4096", "count=1", "conv=fsync"},
		// The coredump scenario's blocker overwrites this file's block:
		// no allocation, no metadata read, only write-back to wait for.
		{"dd", "if=/dev/zero", "of=" + coreFile, "bs=4096", "count=1", "conv=fsync"},
		{"sync"},
	} {
		if err := runQuiet(argv...); err != nil {
			return err
		}
	}
	if err := dmSuspend(ctl, jbd2Name, true, unix.DM_NOFLUSH_FLAG|unix.DM_SKIP_LOCKFS_FLAG); err != nil {
		return err
	}
	if err := os.Chmod(file, 0o600); err != nil {
		return err
	}
	pid, err := start("sync", file)
	if err != nil {
		return err
	}
	s.addRole("jbd2.fsync", pid)
	err = poll(fmt.Sprintf("jbd2.fsync (pid %d) in D waiting for the commit", pid), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
		return err == nil && st.state == "D" && stackHasAny(pid, pid, jbd2WaitFuncs...)
	})
	if err != nil {
		return fmt.Errorf("jbd2.fsync: %w", withWhere(err, pid))
	}
	thread := fmt.Sprintf("jbd2/%s-8", disk)
	jt := 0
	err = poll(thread+" in D in its commit", func() bool {
		jt = kthreadNamed(thread)
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", jt))
		return jt > 0 && err == nil && st.state == "D" && stackHasAny(jt, jt, jbd2CommitFuncs...)
	})
	if err != nil {
		return fmt.Errorf("jbd2 thread: %w", withWhere(err, jt))
	}
	s.addRole("jbd2.thread", jt)
	s.meta = append(s.meta, "jbd2.name="+jbd2Name, "jbd2.disk="+disk,
		fmt.Sprintf("jbd2.dev=%d:%d", unix.Major(dev), unix.Minor(dev)), "jbd2.mount="+jbd2Mount)
	return nil
}

// kthreadNamed returns the pid of the task named comm, 0 if none.
func kthreadNamed(comm string) int {
	for _, pid := range numericDir("/proc") {
		if strings.TrimSpace(readFile(fmt.Sprintf("/proc/%d/comm", pid))) == comm {
			return pid
		}
	}
	return 0
}

// dmLinearOverLoop puts img on a loop device under a new device-mapper
// linear device called name and returns its disk name (dm-N), device
// number and the open control file (the caller closes it).
func dmLinearOverLoop(name, img string, size uint64) (string, uint64, int, error) {
	loop, err := loopAttach(img)
	if err != nil {
		return "", 0, -1, err
	}
	var st unix.Stat_t
	if err := unix.Stat(loop, &st); err != nil {
		return "", 0, -1, err
	}
	loopDev := fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	ctl, err := unix.Open("/dev/mapper/control", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", 0, -1, fmt.Errorf("device-mapper control: %w", err)
	}
	dev, err := dmCreate(ctl, name)
	if err == nil {
		err = dmLoadLinear(ctl, name, size/512, loopDev)
	}
	if err == nil {
		err = dmSuspend(ctl, name, false, 0) // resume: the loaded table goes live
	}
	if err != nil {
		unix.Close(ctl)
		return "", 0, -1, err
	}
	disk := fmt.Sprintf("dm-%d", unix.Minor(dev))
	node := "/dev/" + disk
	if err := poll(node+" present", func() bool { _, err := os.Stat(node); return err == nil }); err != nil {
		unix.Close(ctl)
		return "", 0, -1, err
	}
	return disk, dev, ctl, nil
}

// coredump starts "hangfs coredump /mnt/j/core": a thread of it writes
// and fsyncs a file of the suspended device (state D, write-back that
// never ends, which SIGKILL does not interrupt), then its main thread
// takes SIGQUIT with the default action: the kernel starts a core dump
// (fs/coredump.c do_coredump), kills the other threads and waits in
// coredump_wait for all of them to reach exit — the blocked one never
// does.
func (s *stager) coredump() error {
	pid, err := start("hangfs", "coredump", coreFile)
	if err != nil {
		return err
	}
	s.addRole("coredump.dumper", pid)
	blocker := 0
	err = poll(fmt.Sprintf("pid %d: a thread in D, the main thread dumping core", pid), func() bool {
		blocker = lockProgress(pid)
		if blocker <= 0 {
			return false
		}
		st, err1 := readStat(fmt.Sprintf("/proc/%d/task/%d/stat", pid, pid))
		bt, err2 := readStat(fmt.Sprintf("/proc/%d/task/%d/stat", pid, blocker))
		return err1 == nil && err2 == nil && st.state == "D" && bt.state == "D" &&
			stackHasAny(pid, pid, "do_coredump", "vfs_coredump", "coredump_wait")
	})
	if err != nil {
		return fmt.Errorf("coredump: %w", withWhere(err, pid))
	}
	s.addRole("coredump.blocker", blocker)
	return nil
}

// syncwb redirties /mnt/j/core's page, still under write-back (the
// coredump scenario's), and runs sync: sync_inodes_sb queues a
// WB_SYNC_ALL write-back work for the device's bdi and waits for it in
// wb_wait_for_completion (fs/fs-writeback.c); the flusher kworker running
// it (wb_workfn) waits in ext4_writepages for the page's write-back,
// which the suspended device holds.
func (s *stager) syncwb() error {
	if err := runQuiet("dd", "if=/dev/zero", "of="+coreFile, "bs=4096", "count=1", "conv=notrunc"); err != nil {
		return err
	}
	pid, err := start("sync")
	if err != nil {
		return err
	}
	s.addRole("syncwb.sync", pid)
	if err := poll(fmt.Sprintf("syncwb.sync (pid %d) in D waiting for write-back work", pid), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
		return err == nil && st.state == "D" && stackHasAny(pid, pid, "wb_wait_for_completion", "sync_inodes_sb")
	}); err != nil {
		return fmt.Errorf("syncwb.sync: %w", withWhere(err, pid))
	}
	worker := 0
	if err := poll("a flusher kworker in D in wb_workfn", func() bool {
		worker = 0
		for _, p := range numericDir("/proc") {
			st, err := readStat(fmt.Sprintf("/proc/%d/stat", p))
			if err == nil && st.state == "D" && stackHas(p, p, "wb_workfn") {
				worker = p
			}
		}
		return worker != 0
	}); err != nil {
		return err
	}
	s.addRole("syncwb.worker", worker)
	return nil
}

// loopfuse puts /mnt/l/data, a FUSE file whose READ is never answered,
// on a loop device and reads the device with O_DIRECT: the reader waits
// in D for its bio; the loop device's worker (a kworker running
// loop_workfn, or the "loopN" kthread before 5.13) reads the backing
// file and waits for the READ (drivers/block/loop.c lo_read_simple).
func (s *stager) loopfuse() error {
	srv, err := s.server("/mnt/l", modeHangRead)
	if err != nil {
		return err
	}
	s.addRole("loop.server", srv)
	loop, err := loopAttach("/mnt/l/data")
	if err != nil {
		return err
	}
	// No request timeout during the guest's life: blk-mq's timeout work
	// (block/blk-mq.c blk_mq_timeout_work) would otherwise wake every 30
	// s for the stuck read and sleep in synchronize_rcu in a kworker, in
	// D, at any moment between the record and the dump.
	// 7.x makes the attribute read-only for a driver without a timeout
	// handler (loop's): nothing to change there.
	timeout := "/sys/block/" + filepath.Base(loop) + "/queue/io_timeout"
	if err := os.WriteFile(timeout, []byte("3600000"), 0o644); err != nil && !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("loopfuse: %w", err)
	}
	reader, err := start("dd", "if="+loop, "of=/dev/null", "bs=4096", "count=1", "iflag=direct")
	if err != nil {
		return err
	}
	s.addRole("loop.reader", reader)
	if err := poll(fmt.Sprintf("loop.reader (pid %d) in D reading %s", reader, loop), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", reader))
		return err == nil && st.state == "D"
	}); err != nil {
		return fmt.Errorf("loop.reader: %w", withWhere(err, reader))
	}
	worker := 0
	if err := poll("the loop worker waiting for the FUSE READ", func() bool {
		worker = 0
		for _, p := range numericDir("/proc") {
			if stackHas(p, p, "request_wait_answer") && stackHasAny(p, p, "loop_process_work", "loop_workfn", "loop_rootcg_workfn", "loop_queue_work", "lo_read_simple", "do_req_filebacked") {
				worker = p
			}
		}
		return worker != 0
	}); err != nil {
		return err
	}
	s.addRole("loop.worker", worker)
	// Changing nr_requests freezes the queue (block/blk-mq.c
	// blk_mq_update_nr_requests): the writer waits for the read in
	// flight to end; I/O started after it waits for the freeze to end.
	dev := filepath.Base(loop)
	freezer, err := start("sh", "-c", "echo 64 > /sys/block/"+dev+"/queue/nr_requests")
	if err != nil {
		return err
	}
	s.addRole("loop.freezer", freezer)
	if err := poll(fmt.Sprintf("loop.freezer (pid %d) in D freezing %s's queue", freezer, dev), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", freezer))
		return err == nil && st.state == "D" && stackHasAny(freezer, freezer, "blk_mq_freeze_queue_wait", "blk_mq_update_nr_requests", "queue_requests_store")
	}); err != nil {
		return fmt.Errorf("loop.freezer: %w", withWhere(err, freezer))
	}
	entrant, err := start("dd", "if="+loop, "of=/dev/null", "bs=4096", "count=1", "skip=8", "iflag=direct")
	if err != nil {
		return err
	}
	s.addRole("loop.entrant", entrant)
	if err := poll(fmt.Sprintf("loop.entrant (pid %d) in D waiting for the frozen queue", entrant), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", entrant))
		return err == nil && st.state == "D" && stackHasAny(entrant, entrant, "blk_queue_enter", "__bio_queue_enter", "bio_queue_enter", "__submit_bio", "submit_bio_noacct")
	}); err != nil {
		return fmt.Errorf("loop.entrant: %w", withWhere(err, entrant))
	}
	s.meta = append(s.meta, "loop.dev="+dev)
	return nil
}

// mmaplock: mm.owner maps /mnt/q/data, whose READ is never answered;
// mm.reader reads that address through /proc/OWNER/mem: get_user_pages
// faults the page in holding the owner's mmap_lock for read, without
// the retry that would drop it (mm/memory.c __access_remote_vm), and
// waits for the READ. The owner then calls mmap and waits to write-lock
// its mmap_lock (mm.owner, D); mm.ps ("cat /proc/OWNER/cmdline", what ps
// does) waits to read-lock it behind the writer (D).
func (s *stager) mmaplock() error {
	srv, err := s.server("/mnt/q", modeHangRead)
	if err != nil {
		return err
	}
	s.addRole("mm.server", srv)
	owner, err := start("hangfs", "mmapowner", "/mnt/q/data")
	if err != nil {
		return err
	}
	s.addRole("mm.owner", owner)
	s.noMaps = map[int]bool{owner: true}
	var addr int
	if err := poll(fmt.Sprintf("pid %d mapped /mnt/q/data", owner), func() bool {
		addr = lockProgress(owner)
		return addr > 0
	}); err != nil {
		return withWhere(err, owner)
	}
	reader, err := start("hangfs", "peek", strconv.Itoa(owner), strconv.Itoa(addr))
	if err != nil {
		return err
	}
	s.addRole("mm.reader", reader)
	if err := waitStack(reader, "request_wait_answer"); err != nil {
		return fmt.Errorf("mm.reader: %w", err)
	}
	if err := os.WriteFile(mmapGoPath(owner), nil, 0o644); err != nil {
		return err
	}
	if err := poll(fmt.Sprintf("mm.owner (pid %d) in D in mmap", owner), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/task/%d/stat", owner, owner))
		return err == nil && st.state == "D" && stackHasAny(owner, owner, "vm_mmap_pgoff", "do_mmap", "ksys_mmap_pgoff")
	}); err != nil {
		return fmt.Errorf("mm.owner: %w", withWhere(err, owner))
	}
	ps, err := start("cat", fmt.Sprintf("/proc/%d/cmdline", owner))
	if err != nil {
		return err
	}
	s.addRole("mm.ps", ps)
	if err := poll(fmt.Sprintf("mm.ps (pid %d) in D reading the owner's memory", ps), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", ps))
		return err == nil && st.state == "D" && stackHasAny(ps, ps, "get_mm_cmdline", "proc_pid_cmdline_read", "access_remote_vm", "__access_remote_vm")
	}); err != nil {
		return fmt.Errorf("mm.ps: %w", withWhere(err, ps))
	}
	time.Sleep(100 * time.Millisecond)
	return nil
}

// mmapGoPath is the file whose creation tells "hangfs mmapowner" to call
// mmap.
func mmapGoPath(pid int) string { return lockProgressPath(pid) + ".go" }
