package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The stuck guest's helper commands: processes that wait in the kernel
// the way the scenarios need (stuck.go starts them).
//
//	hangfs lock PATH STEP...      take file locks in turn, then sleep holding them
//	hangfs sharedread PATH        two threads read one descriptor of PATH
//	hangfs benign LIST            threads asleep in benign system calls

func init() {
	// "hangfs lock" waits on its main thread, so that the role's pid is
	// the waiting thread: keep the main goroutine there (package runtime:
	// LockOSThread during initialization keeps main on the main thread).
	if len(os.Args) > 1 && os.Args[1] == "lock" {
		runtime.LockOSThread()
	}
}

// lockProgressPath is where "hangfs lock" (pid) writes how many of its
// locks it holds.
func lockProgressPath(pid int) string {
	return filepath.Join(stuckDir, "lock-"+strconv.Itoa(pid))
}

// lockProgress reads it: -1 when there is nothing yet.
func lockProgress(pid int) int {
	n, err := strconv.Atoi(strings.TrimSpace(readFile(lockProgressPath(pid))))
	if err != nil {
		return -1
	}
	return n
}

// lockStep is one lock "hangfs lock" takes: flock (flock(2) LOCK_EX),
// posix:START:LEN (fcntl F_SETLKW) or ofd:START:LEN (fcntl F_OFD_SETLKW),
// write locks; LEN 0 runs to the end of the file.
type lockStep struct {
	kind       string
	start, len int64
}

func parseLockStep(s string) (lockStep, error) {
	kind, rng, _ := strings.Cut(s, ":")
	st := lockStep{kind: kind}
	switch kind {
	case "flock":
		if rng != "" {
			return st, fmt.Errorf("lock step %q: flock takes no range", s)
		}
		return st, nil
	case "posix", "ofd":
		a, b, ok := strings.Cut(rng, ":")
		var err1, err2 error
		st.start, err1 = strconv.ParseInt(a, 10, 64)
		st.len, err2 = strconv.ParseInt(b, 10, 64)
		if !ok || err1 != nil || err2 != nil || st.start < 0 || st.len < 0 {
			return st, fmt.Errorf("lock step %q: want %s:START:LEN", s, kind)
		}
		return st, nil
	}
	return st, fmt.Errorf("lock step %q: unknown kind", s)
}

// take blocks until the lock is granted.
func (st lockStep) take(fd int) error {
	for {
		var err error
		switch st.kind {
		case "flock":
			err = unix.Flock(fd, unix.LOCK_EX)
		default:
			cmd := unix.F_SETLKW
			if st.kind == "ofd" {
				cmd = unix.F_OFD_SETLKW
			}
			fl := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: st.start, Len: st.len}
			err = unix.FcntlFlock(uintptr(fd), cmd, &fl)
		}
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// lockCmd opens path (creating it) and takes the steps' locks in order,
// each with a blocking call, writing the count held to lockProgressPath
// after each; then it sleeps holding them.
func lockCmd(path string, args []string) error {
	var steps []lockStep
	for _, a := range args {
		st, err := parseLockStep(a)
		if err != nil {
			return err
		}
		steps = append(steps, st)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("lock: open %s: %w", path, err)
	}
	progress := func(n int) error {
		p := lockProgressPath(os.Getpid())
		if err := os.WriteFile(p+".tmp", []byte(strconv.Itoa(n)), 0o644); err != nil {
			return err
		}
		return os.Rename(p+".tmp", p)
	}
	if err := progress(0); err != nil {
		return err
	}
	for i, st := range steps {
		if err := st.take(fd); err != nil {
			return fmt.Errorf("lock %s %s: %w", path, args[i], err)
		}
		if err := progress(i + 1); err != nil {
			return err
		}
	}
	sleepForever()
	return nil
}

// sharedRead reads one descriptor of path from two threads at once. On a
// regular file shared by the threads (file_count > 1), read(2) takes the
// file's f_pos_lock (fs/file.c fdget_pos): when the first READ is never
// answered, the other thread waits for that mutex.
func sharedRead(path string) error {
	// A raw descriptor: os.File would serialise the reads itself.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("sharedread: open %s: %w", path, err)
	}
	for range 2 {
		go func() {
			runtime.LockOSThread()
			buf := make([]byte, 4096)
			n, err := unix.Read(fd, buf)
			fmt.Fprintf(os.Stderr, "hangfs: sharedread %s returned %d, %v\n", path, n, err)
		}()
	}
	sleepForever()
	return nil
}

// benign starts threads asleep in system calls that are no hang, and
// writes "NAME TID SYSCALL" per thread to list once all are started (the
// child process it waits for as "child PID -1"). They are made with
// syscall.Syscall, not RawSyscall, so the runtime hands their P on and
// never preempts them with a signal.
func benign(list string) error {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil { // blocking, never written
		return err
	}
	r := uintptr(p[0])
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, p[0], &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p[0])}); err != nil {
		return err
	}
	sock := filepath.Join(filepath.Dir(list), "benign.sock")
	os.Remove(sock)
	ls, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(ls, &unix.SockaddrUnix{Name: sock}); err != nil {
		return err
	}
	if err := unix.Listen(ls, 1); err != nil {
		return err
	}
	child := exec.Command("sleep", "999999999")
	if err := child.Start(); err != nil {
		return err
	}
	// FUTEX_WAIT | FUTEX_PRIVATE_FLAG (include/uapi/linux/futex.h).
	const futexWaitPrivate = 0 | 128
	sleepers := []struct {
		name string
		nr   uintptr
		call func() (uintptr, uintptr, syscall.Errno)
	}{
		{"poll", sysPoll, func() (uintptr, uintptr, syscall.Errno) {
			fds := []unix.PollFd{{Fd: int32(p[0]), Events: unix.POLLIN}}
			return pollForever(fds)
		}},
		{"select", sysSelect, func() (uintptr, uintptr, syscall.Errno) {
			var set unix.FdSet
			set.Set(p[0])
			return selectForever(r+1, &set)
		}},
		{"epoll", sysEpollWait, func() (uintptr, uintptr, syscall.Errno) {
			var ev [1]unix.EpollEvent
			return epollWaitForever(ep, ev[:])
		}},
		{"pipe", unix.SYS_READ, func() (uintptr, uintptr, syscall.Errno) {
			var b [1]byte
			return syscall.Syscall(unix.SYS_READ, r, uintptr(unsafe.Pointer(&b[0])), 1)
		}},
		{"accept", unix.SYS_ACCEPT, func() (uintptr, uintptr, syscall.Errno) {
			return syscall.Syscall(unix.SYS_ACCEPT, uintptr(ls), 0, 0)
		}},
		{"wait4", unix.SYS_WAIT4, func() (uintptr, uintptr, syscall.Errno) {
			var status int32
			return syscall.Syscall6(unix.SYS_WAIT4, uintptr(child.Process.Pid), uintptr(unsafe.Pointer(&status)), 0, 0, 0, 0)
		}},
		{"nanosleep", unix.SYS_NANOSLEEP, func() (uintptr, uintptr, syscall.Errno) {
			ts := unix.Timespec{Sec: 1 << 30}
			return syscall.Syscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
		}},
		{"futex", unix.SYS_FUTEX, func() (uintptr, uintptr, syscall.Errno) {
			var word uint32 // FUTEX_WAIT while it is 0: nobody wakes it
			return syscall.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(&word)), futexWaitPrivate, 0, 0, 0, 0)
		}},
		{"sigsuspend", unix.SYS_RT_SIGSUSPEND, func() (uintptr, uintptr, syscall.Errno) {
			mask := ^uint64(0) // every signal blocked (but SIGKILL, SIGSTOP)
			return syscall.Syscall(unix.SYS_RT_SIGSUSPEND, uintptr(unsafe.Pointer(&mask)), 8, 0)
		}},
		{"pause", sysPause, pause},
	}
	tids := make(chan string)
	for _, sl := range sleepers {
		go func() {
			runtime.LockOSThread()
			tids <- fmt.Sprintf("%s %d %d\n", sl.name, unix.Gettid(), sl.nr)
			for {
				if _, _, errno := sl.call(); errno != unix.EINTR && errno != unix.EAGAIN {
					fmt.Fprintf(os.Stderr, "hangfs: benign %s returned: %v\n", sl.name, errno)
					time.Sleep(time.Second)
				}
			}
		}()
	}
	var b strings.Builder
	for range sleepers {
		b.WriteString(<-tids)
	}
	fmt.Fprintf(&b, "child %d -1\n", child.Process.Pid)
	if err := os.WriteFile(list+".tmp", []byte(b.String()), 0o644); err != nil {
		return err
	}
	if err := os.Rename(list+".tmp", list); err != nil {
		return err
	}
	sleepForever()
	return nil
}

func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}
