package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The stuck2 guest's scenarios (testdata/guests.go describes each, with
// its roles): a PI futex, a vfork parent, a lock holder frozen by the
// cgroup v2 freezer, a lock holder stopped under ptrace, and writers of a
// suspended device-mapper device. Helpers "hangfs pifutex", "vfork" and
// "ptrace" are in stuck2_cmds.go, the device-mapper ioctls in dm.go.

// cgroupRoot is where the stuck2 guest mounts the cgroup v2 hierarchy,
// cgFrozenDir the child cgroup it freezes.
const (
	cgroupRoot  = "/sys/fs/cgroup"
	cgFrozenDir = cgroupRoot + "/kwalk-frozen"
)

// vforkWaitFuncs are where a vfork parent stands in /proc/PID/stack:
// kernel/fork.c wait_for_vfork_done, which the compiler may inline into
// kernel_clone.
var vforkWaitFuncs = []string{"wait_for_vfork_done", "kernel_clone"}

func (s *stager) pifutex() error {
	path := filepath.Join(stuckDir, "pifutex")
	if err := os.MkdirAll(stuckDir, 0o755); err != nil {
		return err
	}
	holder, err := start("hangfs", "pifutex", path, "hold")
	if err != nil {
		return err
	}
	s.addRole("pifutex.holder", holder)
	err = poll(fmt.Sprintf("pifutex.holder (pid %d) holding the PI futex", holder), func() bool {
		return lockProgress(holder) == 1
	})
	if err != nil {
		return withWhere(err, holder)
	}
	waiter, err := start("hangfs", "pifutex", path, "wait")
	if err != nil {
		return err
	}
	s.addRole("pifutex.waiter", waiter)
	err = poll(fmt.Sprintf("pifutex.waiter (pid %d) asleep in FUTEX_LOCK_PI", waiter), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", waiter))
		return err == nil && st.state == "S" && inSyscall(waiter, waiter, unix.SYS_FUTEX) && stackHas(waiter, waiter, "futex_lock_pi")
	})
	return withWhere(err, waiter)
}

func (s *stager) vfork() error {
	parent, err := start("hangfs", "vfork")
	if err != nil {
		return err
	}
	s.addRole("vfork.parent", parent)
	var child int
	err = poll(fmt.Sprintf("vfork parent %d in D with its child paused", parent), func() bool {
		if child == 0 {
			child = childNamed(parent, "hangfs")
		}
		if child == 0 {
			return false
		}
		pst, err1 := readStat(fmt.Sprintf("/proc/%d/stat", parent))
		cst, err2 := readStat(fmt.Sprintf("/proc/%d/stat", child))
		return err1 == nil && err2 == nil && pst.state == "D" && stackHasAny(parent, parent, vforkWaitFuncs...) &&
			cst.state == "S" && inSyscall(child, child, sysPause)
	})
	if err != nil {
		return withWhere(err, parent)
	}
	s.addRole("vfork.child", child)
	return nil
}

func (s *stager) cgfrozen() error {
	if err := os.MkdirAll(cgroupRoot, 0o755); err != nil {
		return err
	}
	if !strings.Contains(readFile("/proc/mounts"), " "+cgroupRoot+" cgroup2 ") {
		if err := unix.Mount("cgroup2", cgroupRoot, "cgroup2", 0, ""); err != nil {
			return fmt.Errorf("mount cgroup2 on %s: %w", cgroupRoot, err)
		}
	}
	if err := os.Mkdir(cgFrozenDir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	holder, err := s.lock("cgfrozen.holder", "cgfrozen", false, "flock")
	if err != nil {
		return err
	}
	if err := os.WriteFile(cgFrozenDir+"/cgroup.procs", []byte(strconv.Itoa(holder)), 0o644); err != nil {
		return fmt.Errorf("cgfrozen.holder: move %d into %s: %w", holder, cgFrozenDir, err)
	}
	if err := os.WriteFile(cgFrozenDir+"/cgroup.freeze", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("freeze %s: %w", cgFrozenDir, err)
	}
	// cgroup.events says "frozen 1" once every task of it is frozen
	// (kernel/cgroup/freezer.c cgroup_update_frozen).
	err = poll(cgFrozenDir+" frozen", func() bool {
		return strings.Contains(readFile(cgFrozenDir+"/cgroup.events"), "frozen 1")
	})
	if err != nil {
		return withWhere(err, holder)
	}
	s.meta = append(s.meta, "cgfrozen.cgroup="+cgFrozenDir,
		"cgfrozen.events="+strings.Join(strings.Fields(readFile(cgFrozenDir+"/cgroup.events")), " "))
	_, err = s.lock("cgfrozen.waiter", "cgfrozen", true, "flock")
	return err
}

func (s *stager) ptraced() error {
	holder, err := s.lock("ptraced.holder", "ptraced", false, "flock")
	if err != nil {
		return err
	}
	tracer, err := start("hangfs", "ptrace", strconv.Itoa(holder))
	if err != nil {
		return err
	}
	s.addRole("ptraced.tracer", tracer)
	// The tracer writes its progress once every thread of the holder is
	// in a ptrace stop (state t, "tracing stop").
	err = poll(fmt.Sprintf("every thread of ptraced.holder (pid %d) in a ptrace stop", holder), func() bool {
		if lockProgress(tracer) != 1 {
			return false
		}
		tids := numericDir(fmt.Sprintf("/proc/%d/task", holder))
		for _, tid := range tids {
			st, err := readStat(fmt.Sprintf("/proc/%d/task/%d/stat", holder, tid))
			if err != nil || st.state != "t" {
				return false
			}
		}
		return len(tids) > 0
	})
	if err != nil {
		return withWhere(withWhere(err, holder), tracer) // the holder's threads, then the tracer's
	}
	_, err = s.lock("ptraced.waiter", "ptraced", true, "flock")
	return err
}

// dmName is the device-mapper device the dmsuspend scenario creates.
const (
	dmName  = "kwalk-stuck"
	dmMount = "/mnt/dm"
)

// dmFsyncFuncs are where a writer whose fsync waits for write-back stands
// in /proc/PID/stack (mm/filemap.c, mm/page-writeback.c, fs/buffer.c);
// dmDirectFuncs where an O_DIRECT writer waits for its bio (fs/iomap/
// direct-io.c).
var (
	dmFsyncFuncs  = []string{"folio_wait_writeback", "folio_wait_bit_common", "__filemap_fdatawait_range", "wait_on_page_writeback", "__wait_on_buffer", "submit_bio_wait"}
	dmDirectFuncs = []string{"__iomap_dio_rw", "iomap_dio_rw"}
)

func (s *stager) dmsuspend() error {
	img := filepath.Join(stuckDir, "dm.img")
	for _, d := range []string{stuckDir, dmMount} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		return err
	}
	const size = 16 << 20
	if err := os.Truncate(img, size); err != nil {
		return err
	}
	loop, err := loopAttach(img)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(loop, &st); err != nil {
		return err
	}
	loopDev := fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	ctl, err := unix.Open("/dev/mapper/control", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("device-mapper control: %w", err)
	}
	defer unix.Close(ctl)
	dev, err := dmCreate(ctl, dmName)
	if err != nil {
		return err
	}
	if err := dmLoadLinear(ctl, dmName, size/512, loopDev); err != nil {
		return err
	}
	if err := dmSuspend(ctl, dmName, false, 0); err != nil { // resume: the loaded table goes live
		return err
	}
	disk := fmt.Sprintf("dm-%d", unix.Minor(dev))
	node := "/dev/" + disk
	if err := poll(node+" present", func() bool { _, err := os.Stat(node); return err == nil }); err != nil {
		return err
	}
	for _, argv := range [][]string{
		{"mke2fs", "-F", node},
		// No ext4lazyinit thread: it zeroes inode tables and prefetches
		// block bitmaps after the mount, then exits (a task of the
		// record gone from the dump).
		{"mount", "-t", "ext2", "-o", "noinit_itable,no_prefetch_block_bitmaps", node, dmMount},
		// The O_DIRECT writer overwrites blocks the file already has
		// (ext4 writes an ext2 file's new blocks through the page cache).
		{"dd", "if=/dev/zero", "of=" + dmMount + "/g", "bs=4096", "count=1", "conv=fsync"},
		{"sync"},
	} {
		if err := runQuiet(argv...); err != nil {
			return err
		}
	}
	// Suspend without flushing what is queued and without freezing the
	// file system (dmsetup suspend --noflush --nolockfs): new bios are
	// kept on the device's deferred list and never complete.
	if err := dmSuspend(ctl, dmName, true, unix.DM_NOFLUSH_FLAG|unix.DM_SKIP_LOCKFS_FLAG); err != nil {
		return err
	}
	sysDM := "/sys/block/" + disk + "/dm/"
	if got := strings.TrimSpace(readFile(sysDM + "suspended")); got != "1" {
		return fmt.Errorf("%s suspended = %q after DM_DEV_SUSPEND", disk, got)
	}
	for _, w := range []struct {
		role  string
		argv  []string
		funcs []string
	}{
		{"dm.writer", []string{"dd", "if=/dev/zero", "of=" + dmMount + "/f", "bs=4096", "count=1", "conv=fsync"}, dmFsyncFuncs},
		{"dm.direct", []string{"dd", "if=/dev/zero", "of=" + dmMount + "/g", "bs=4096", "count=1", "oflag=direct", "conv=notrunc"}, dmDirectFuncs},
	} {
		pid, err := start(w.argv[0], w.argv[1:]...)
		if err != nil {
			return err
		}
		s.addRole(w.role, pid)
		err = poll(fmt.Sprintf("%s (pid %d) in D waiting for I/O", w.role, pid), func() bool {
			st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
			return err == nil && st.state == "D" && stackHasAny(pid, pid, w.funcs...)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", w.role, withWhere(err, pid))
		}
	}
	// A buffered writer that dirties more than the dirty limit is
	// throttled (mm/page-writeback.c balance_dirty_pages) until write-back
	// brings the dirty pages down, which it never does on a suspended
	// device. A small limit (what an administrator sets with
	// vm.dirty_bytes) makes a 4 MiB write enough on this small guest.
	for _, kv := range [][2]string{{"dirty_background_bytes", "262144"}, {"dirty_bytes", "1048576"}} {
		if err := os.WriteFile("/proc/sys/vm/"+kv[0], []byte(kv[1]), 0o644); err != nil {
			return fmt.Errorf("vm.%s: %w", kv[0], err)
		}
	}
	pid, err := start("dd", "if=/dev/zero", "of="+dmMount+"/h", "bs=65536", "count=64")
	if err != nil {
		return err
	}
	s.addRole("dm.throttled", pid)
	err = poll(fmt.Sprintf("dm.throttled (pid %d) in D, throttled", pid), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
		return err == nil && st.state == "D" && stackHasAny(pid, pid, "balance_dirty_pages")
	})
	if err != nil {
		return fmt.Errorf("dm.throttled: %w", withWhere(err, pid))
	}
	// Let queued bios settle, then record what sysfs says of the device.
	time.Sleep(200 * time.Millisecond)
	s.meta = append(s.meta, "dm.name="+dmName, "dm.disk="+disk,
		fmt.Sprintf("dm.dev=%d:%d", unix.Major(dev), unix.Minor(dev)),
		"dm.uuid="+strings.TrimSpace(readFile(sysDM+"uuid")),
		"dm.sysname="+strings.TrimSpace(readFile(sysDM+"name")),
		"dm.suspended="+strings.TrimSpace(readFile(sysDM+"suspended")),
		"dm.inflight="+strings.Join(strings.Fields(readFile("/sys/block/"+disk+"/inflight")), " "),
		"dm.mount="+dmMount, "dm.loop="+filepath.Base(loop), "dm.loopdev="+loopDev,
		"dm.dirty_bytes="+strings.TrimSpace(readFile("/proc/sys/vm/dirty_bytes")))
	return nil
}

// loopAttach puts file on a free loop device (drivers/block/loop.c:
// LOOP_CTL_GET_FREE on /dev/loop-control, LOOP_SET_FD) and returns its
// node.
func loopAttach(file string) (string, error) {
	ctl, err := unix.Open("/dev/loop-control", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("loop-control: %w", err)
	}
	defer unix.Close(ctl)
	n, err := unix.IoctlRetInt(ctl, unix.LOOP_CTL_GET_FREE)
	if err != nil {
		return "", fmt.Errorf("LOOP_CTL_GET_FREE: %w", err)
	}
	node := fmt.Sprintf("/dev/loop%d", n)
	if err := poll(node+" present", func() bool { _, err := os.Stat(node); return err == nil }); err != nil {
		return "", err
	}
	lfd, err := unix.Open(node, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(lfd)
	ffd, err := unix.Open(file, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(ffd)
	if err := unix.IoctlSetInt(lfd, unix.LOOP_SET_FD, ffd); err != nil {
		return "", fmt.Errorf("LOOP_SET_FD %s %s: %w", node, file, err)
	}
	return node, nil
}
