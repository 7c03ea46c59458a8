package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The stuck guest's scenarios: waits other than the FUSE inode-lock chains
// of the hangs guest (testdata/guests.go describes each, with its roles).
// Each is staged with busybox where it has the tool (mke2fs, mount,
// fsfreeze, truncate, mkdir, dd, cat, sleep) and with hangfs's own
// commands otherwise (waiters.go: lock, sharedread, benign).

// stuckDir holds the scenarios' files: the loop device's image, the files
// locked, progress files of the helper commands, a unix socket.
const stuckDir = "/tmp/stuck"

// folioWaitFuncs are the functions a task waiting for a folio (page) lock
// sleeps in, by kernel version (mm/filemap.c).
var folioWaitFuncs = []string{"folio_wait_bit_common", "__folio_lock", "__folio_lock_killable",
	"folio_put_wait_locked", "wait_on_page_bit_common", "__lock_page", "__lock_page_killable"}

// fdgetPosFuncs are where a task waiting for a file's f_pos_lock stands
// in /proc/PID/stack: the function that called mutex_lock (fs/file.c
// __fdget_pos in 6.1, inlined into fdget_pos by 7.x). mutex_lock and
// __mutex_lock are __sched functions, which /proc/PID/stack leaves out
// (kernel/stacktrace.c stack_trace_save_tsk skips in_sched_functions).
var fdgetPosFuncs = []string{"__fdget_pos", "fdget_pos"}

func (s *stager) frozen() error {
	const mnt, img = "/mnt/frz", stuckDir + "/frz.img"
	for _, d := range []string{stuckDir, mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		return err
	}
	if err := os.Truncate(img, 8<<20); err != nil {
		return err
	}
	// busybox mount sets up a loop device for a regular file.
	for _, argv := range [][]string{
		{"mke2fs", "-F", img},
		{"mount", "-t", "ext2", img, mnt},
	} {
		if err := runQuiet(argv...); err != nil {
			return err
		}
	}
	if err := os.WriteFile(mnt+"/f", []byte("x\n"), 0o644); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(mnt, &st); err != nil {
		return err
	}
	s.meta = append(s.meta, "frozen.mount="+mnt, fmt.Sprintf("frozen.dev=%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)))
	if err := runQuiet("fsfreeze", "--freeze", mnt); err != nil {
		return err
	}
	for i, argv := range [][]string{
		{"sh", "-c", "echo x >> " + mnt + "/f"},
		{"truncate", "-s", "0", mnt + "/f"},
		{"mkdir", mnt + "/d"},
	} {
		name := fmt.Sprintf("frozen.writer%d", i+1)
		pid, err := start(argv[0], argv[1:]...)
		if err != nil {
			return err
		}
		s.addRole(name, pid)
		if err := waitStack(pid, "percpu_rwsem_wait"); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := waitState(pid, "D"); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func (s *stager) locks() error {
	if err := os.MkdirAll(stuckDir, 0o755); err != nil {
		return err
	}
	for _, l := range []struct {
		role, file string
		blocks     bool // the last step waits
		steps      []string
	}{
		{"locks.flock.holder", "flock", false, []string{"flock"}},
		{"locks.flock.waiter", "flock", true, []string{"flock"}},
		{"locks.posix.holder", "posix", false, []string{"posix:0:0"}},
		{"locks.posix.waiter", "posix", true, []string{"posix:0:0"}},
		{"locks.ofd.holder", "ofd", false, []string{"ofd:0:0"}},
		{"locks.ofd.waiter", "ofd", true, []string{"ofd:0:0"}},
		// c holds byte 0; b holds byte 1 and waits for byte 0; a waits
		// for byte 1. No cycle, so fcntl does not refuse with EDEADLK.
		{"locks.chain.c", "chain", false, []string{"posix:0:1"}},
		{"locks.chain.b", "chain", true, []string{"posix:1:1", "posix:0:1"}},
		{"locks.chain.a", "chain", true, []string{"posix:1:1"}},
	} {
		if _, err := s.lock(l.role, l.file, l.blocks, l.steps...); err != nil {
			return err
		}
	}
	return nil
}

func (s *stager) stopped() error {
	holder, err := s.lock("stopped.holder", "stopped", false, "flock")
	if err != nil {
		return err
	}
	if err := stop(holder); err != nil {
		return fmt.Errorf("stopped.holder: %w", err)
	}
	if _, err := s.lock("stopped.waiter", "stopped", true, "flock"); err != nil {
		return err
	}
	srv, err := s.server("/mnt/s", modePlain)
	if err != nil {
		return err
	}
	s.addRole("stopped.server", srv)
	// Stopped before the client asks: its LOOKUP stays pending, unread.
	if err := stop(srv); err != nil {
		return fmt.Errorf("stopped.server: %w", err)
	}
	client, err := start("cat", "/mnt/s/data")
	if err != nil {
		return err
	}
	s.addRole("stopped.client", client)
	if err := waitStack(client, "request_wait_answer"); err != nil {
		return fmt.Errorf("stopped.client: %w", err)
	}
	return nil
}

func (s *stager) folio() error {
	srv, err := s.server("/mnt/r", modeHangRead)
	if err != nil {
		return err
	}
	s.addRole("folio.server", srv)
	read := []string{"if=/mnt/r/data", "of=/dev/null", "bs=4096", "count=1"}
	r1, err := start("dd", read...)
	if err != nil {
		return err
	}
	s.addRole("folio.reader1", r1)
	// Synchronous readahead (no async_read): the READ is sent by the
	// reader, with the new folios locked until the answer.
	if err := waitStack(r1, "request_wait_answer"); err != nil {
		return fmt.Errorf("folio.reader1: %w", err)
	}
	r2, err := start("dd", read...)
	if err != nil {
		return err
	}
	s.addRole("folio.reader2", r2)
	err = poll(fmt.Sprintf("pid %d in D waiting for a folio lock in read", r2), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", r2))
		return err == nil && st.state == "D" && stackHasAny(r2, r2, folioWaitFuncs...) && stackHas(r2, r2, "vfs_read")
	})
	if err != nil {
		return fmt.Errorf("folio.reader2: %w", withWhere(err, r2))
	}
	return nil
}

func (s *stager) mutex() error {
	srv, err := s.server("/mnt/m", modeHangReadDirect)
	if err != nil {
		return err
	}
	s.addRole("mutex.server", srv)
	proc, err := start("hangfs", "sharedread", "/mnt/m/data")
	if err != nil {
		return err
	}
	s.addRole("mutex.proc", proc)
	var holder, waiter int
	err = poll(fmt.Sprintf("a thread of pid %d in READ, another waiting for the f_pos_lock", proc), func() bool {
		holder, waiter = 0, 0
		for _, tid := range numericDir(fmt.Sprintf("/proc/%d/task", proc)) {
			st, err := readStat(fmt.Sprintf("/proc/%d/task/%d/stat", proc, tid))
			switch {
			case err != nil:
			case stackHas(proc, tid, "request_wait_answer"):
				holder = tid
			case st.state == "D" && stackHasAny(proc, tid, fdgetPosFuncs...):
				waiter = tid
			}
		}
		return holder != 0 && waiter != 0
	})
	if err != nil {
		return withWhere(err, proc)
	}
	s.addRole("mutex.holder", holder)
	s.addRole("mutex.waiter", waiter)
	return nil
}

func (s *stager) benign() error {
	if err := os.MkdirAll(stuckDir, 0o755); err != nil {
		return err
	}
	list := stuckDir + "/benign"
	proc, err := start("hangfs", "benign", list)
	if err != nil {
		return err
	}
	s.addRole("benign.proc", proc)
	var (
		sleepers []benignSleeper
		lerr     error
	)
	err = poll("benign sleepers' list", func() bool {
		sleepers, lerr = readBenignList(list)
		return lerr == nil
	})
	if err != nil {
		return fmt.Errorf("%w (%v)", withWhere(err, proc), lerr)
	}
	for _, b := range sleepers {
		s.addRole("benign."+b.name, b.tid)
		pid := proc
		if b.nr < 0 {
			pid = b.tid // a process of its own (the child)
		}
		err := poll(fmt.Sprintf("benign.%s (tid %d) asleep in syscall %d", b.name, b.tid, b.nr), func() bool {
			st, err := readStat(fmt.Sprintf("/proc/%d/task/%d/stat", pid, b.tid))
			return err == nil && st.state == "S" && (b.nr < 0 || inSyscall(pid, b.tid, b.nr))
		})
		if err != nil {
			return withWhere(err, pid)
		}
	}
	return nil
}

// lock starts "hangfs lock /tmp/stuck/FILE STEP..." as role and waits until
// it holds its locks, or all but the last when that one blocks; then until
// the blocked one waits in the kernel (state S in flock or fcntl).
func (s *stager) lock(role, file string, blocks bool, steps ...string) (int, error) {
	if err := os.MkdirAll(stuckDir, 0o755); err != nil {
		return 0, err
	}
	pid, err := start("hangfs", append([]string{"lock", filepath.Join(stuckDir, file)}, steps...)...)
	if err != nil {
		return 0, err
	}
	s.addRole(role, pid)
	granted := len(steps)
	if blocks {
		granted--
	}
	err = poll(fmt.Sprintf("%s (pid %d) holding %d locks", role, pid, granted), func() bool {
		return lockProgress(pid) == granted
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", role, withWhere(err, pid))
	}
	if !blocks {
		return pid, nil
	}
	nr := unix.SYS_FCNTL
	if steps[len(steps)-1] == "flock" {
		nr = unix.SYS_FLOCK
	}
	err = poll(fmt.Sprintf("%s (pid %d) asleep in syscall %d", role, pid, nr), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
		return err == nil && st.state == "S" && inSyscall(pid, pid, nr)
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", role, withWhere(err, pid))
	}
	return pid, nil
}

// stop sends SIGSTOP to pid and waits until every thread is stopped.
func stop(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("SIGSTOP %d: %w", pid, err)
	}
	err := poll(fmt.Sprintf("every thread of pid %d stopped", pid), func() bool {
		tids := numericDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, tid := range tids {
			st, err := readStat(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
			if err != nil || st.state != "T" {
				return false
			}
		}
		return len(tids) > 0
	})
	return withWhere(err, pid)
}

// inSyscall reports whether thread tid of pid is blocked in system call nr
// (/proc/PID/task/TID/syscall starts with the number, fs/proc/base.c
// proc_pid_syscall).
func inSyscall(pid, tid, nr int) bool {
	f := strings.Fields(readFile(fmt.Sprintf("/proc/%d/task/%d/syscall", pid, tid)))
	return len(f) > 0 && f[0] == strconv.Itoa(nr)
}

func stackHasAny(pid, tid int, fns ...string) bool {
	for _, fn := range fns {
		if stackHas(pid, tid, fn) {
			return true
		}
	}
	return false
}

// runQuiet runs a command to completion, its output in the error.
func runQuiet(argv ...string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// benignSleeper is one line of the list "hangfs benign" writes: a thread
// (or, with nr -1, a process) and the system call it sleeps in.
type benignSleeper struct {
	name string
	tid  int
	nr   int
}

func readBenignList(path string) ([]benignSleeper, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []benignSleeper
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var b benignSleeper
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %d", &b.name, &b.tid, &b.nr); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, sc.Text(), err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty", path)
	}
	return out, sc.Err()
}
