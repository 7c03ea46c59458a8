package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The stuck2 guest's helper commands (stuck2.go starts them):
//
//	hangfs pifutex PATH hold|wait   lock the PI futex at the start of PATH (shared mapping)
//	hangfs vfork                    vfork a child that pauses before it would exec
//	hangfs ptrace PID               keep every thread of PID in a ptrace stop

func init() {
	// Each of these waits or traces from its main thread, so that the
	// role's pid is the thread: keep the main goroutine there.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "pifutex", "vfork", "ptrace":
			runtime.LockOSThread()
		}
	}
}

// writeProgress writes n to lockProgressPath of this process (what the
// stager polls with lockProgress).
func writeProgress(n int) error {
	p := lockProgressPath(os.Getpid())
	if err := os.WriteFile(p+".tmp", []byte(strconv.Itoa(n)), 0o644); err != nil {
		return err
	}
	return os.Rename(p+".tmp", p)
}

// futexLockPI is FUTEX_LOCK_PI (include/uapi/linux/futex.h), used without
// FUTEX_PRIVATE_FLAG: the word is in a shared file mapping, so the futex
// key is the file's (kernel/futex/core.c get_futex_key), as for a
// process-shared pthread mutex with PTHREAD_PRIO_INHERIT.
const futexLockPI = 6

// piFutex maps the first page of path (created with "hold") and locks the
// PI futex in its first word: "hold" takes it (the word becomes the
// thread's tid) and sleeps holding it; "wait" blocks in the kernel
// (kernel/futex/pi.c futex_lock_pi: an rt_mutex owned by the holder,
// task_struct.pi_blocked_on set).
func piFutex(path, mode string) error {
	flags := unix.O_RDWR | unix.O_CLOEXEC
	if mode == "hold" {
		flags |= unix.O_CREAT
	} else if mode != "wait" {
		return fmt.Errorf("pifutex: mode %q, want hold or wait", mode)
	}
	fd, err := unix.Open(path, flags, 0o644)
	if err != nil {
		return fmt.Errorf("pifutex: open %s: %w", path, err)
	}
	if mode == "hold" {
		if err := unix.Ftruncate(fd, 4096); err != nil {
			return fmt.Errorf("pifutex: %s: %w", path, err)
		}
	}
	mem, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("pifutex: mmap %s: %w", path, err)
	}
	word := uintptr(unsafe.Pointer(&mem[0]))
	for {
		// syscall.Syscall, not RawSyscall: the runtime hands the P on
		// while the thread sleeps in the kernel.
		_, _, errno := syscall.Syscall6(unix.SYS_FUTEX, word, futexLockPI, 0, 0, 0, 0)
		if errno == 0 {
			break
		}
		if errno != unix.EINTR && errno != unix.EAGAIN {
			return fmt.Errorf("pifutex: FUTEX_LOCK_PI %s (%s): %w", path, mode, errno)
		}
	}
	if mode == "wait" {
		return errors.New("pifutex: FUTEX_LOCK_PI returned: the holder let go")
	}
	if err := writeProgress(1); err != nil {
		return err
	}
	sleepForever()
	return nil
}

// vforkCmd vforks: the child (sharing the memory) pauses forever with
// every signal blocked and neither execs nor exits, so the parent waits
// in wait_for_vfork_done (kernel/fork.c, state D) for good.
func vforkCmd() error {
	// The runtime believes this thread runs Go code while it waits in
	// the kernel for good: a garbage collection (forced every two
	// minutes) would wait forever to stop it. There is nothing to collect.
	debug.SetGCPercent(-1)
	all, old := ^uint64(0), uint64(0)
	pid, errno := vforkPause(&all, &old)
	if errno != 0 {
		return fmt.Errorf("vfork: %w", syscall.Errno(errno))
	}
	return fmt.Errorf("vfork: child %d let its parent go", pid)
}

// ptraceCmd attaches to every thread of pid with PTRACE_SEIZE and stops
// each with PTRACE_INTERRUPT (a ptrace trap stop: state t), collects the
// stops with wait4, and stays alive as their tracer: they stay stopped
// until it detaches or exits (kernel/ptrace.c).
func ptraceCmd(pid int) error {
	seized := map[int]bool{}
	for round := 0; ; round++ {
		if round > 16 {
			return fmt.Errorf("ptrace %d: threads keep appearing", pid)
		}
		added := false
		for _, tid := range numericDir(fmt.Sprintf("/proc/%d/task", pid)) {
			if seized[tid] {
				continue
			}
			if err := ptraceReq(unix.PTRACE_SEIZE, tid); err != nil {
				return err
			}
			if err := ptraceReq(unix.PTRACE_INTERRUPT, tid); err != nil {
				return err
			}
			var ws unix.WaitStatus
			for {
				_, err := unix.Wait4(tid, &ws, unix.WALL, nil)
				if err == nil {
					break
				}
				if err != unix.EINTR {
					return fmt.Errorf("ptrace: wait4 %d: %w", tid, err)
				}
			}
			if !ws.Stopped() {
				return fmt.Errorf("ptrace: thread %d not stopped: status %#x", tid, uint32(ws))
			}
			seized[tid], added = true, true
		}
		if !added {
			break
		}
	}
	if len(seized) == 0 {
		return fmt.Errorf("ptrace: no threads in /proc/%d/task", pid)
	}
	if err := writeProgress(1); err != nil {
		return err
	}
	sleepForever()
	return nil
}

func ptraceReq(req, tid int) error {
	if _, _, errno := syscall.Syscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), 0, 0, 0, 0); errno != 0 {
		return fmt.Errorf("ptrace(%#x, %d): %w", req, tid, errno)
	}
	return nil
}
