package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The stuck3 guest's helper commands (stuck3.go starts them):
//
//	hangfs coredump FILE     a thread blocks in fsync of FILE; the main thread dumps core
//	hangfs mmapowner FILE    map FILE, write its address as progress, mmap again when told
//	hangfs peek PID ADDR     read a byte of PID's memory at ADDR through /proc/PID/mem

func init() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "coredump", "mmapowner", "peek", "mmapsync", "fileop":
			runtime.LockOSThread()
		}
	}
}

// coredumpCmd: a locked thread overwrites and fsyncs FILE (on a
// suspended device: it waits for write-back in D) and writes its tid as
// progress; the main thread then resets SIGQUIT to its default action
// (core) behind the Go runtime's back and sends it to itself.
func coredumpCmd(file string) error {
	tids := make(chan int, 1)
	go func() {
		runtime.LockOSThread()
		tids <- unix.Gettid()
		fd, err := unix.Open(file, unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			fmt.Fprintf(os.Stderr, "hangfs coredump: %v\n", err)
			return
		}
		buf := make([]byte, 4096)
		for i := range buf {
			buf[i] = 'c'
		}
		unix.Pwrite(fd, buf, 0)
		unix.Fsync(fd) // never returns
	}()
	tid := <-tids
	self := os.Getpid()
	for {
		st, err := readStat(fmt.Sprintf("/proc/%d/task/%d/stat", self, tid))
		if err != nil {
			return err
		}
		if st.state == "D" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if err := writeProgress(tid); err != nil {
		return err
	}
	// struct kernel_sigaction (include/linux/signal_types.h, x86_64
	// rt_sigaction): handler, flags, restorer, mask; all zero is SIG_DFL.
	var sa [4]uint64
	if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGQUIT), uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0); errno != 0 {
		return fmt.Errorf("rt_sigaction SIGQUIT: %w", errno)
	}
	var set unix.Sigset_t
	set.Val[0] = 1 << (uint(unix.SIGQUIT) - 1)
	unix.PthreadSigmask(unix.SIG_UNBLOCK, &set, nil)
	if err := unix.Tgkill(self, unix.Gettid(), unix.SIGQUIT); err != nil {
		return fmt.Errorf("tgkill: %w", err)
	}
	select {} // not reached: the core dump waits for the blocked thread
}

// mmapOwner maps the first page of file shared, writes the address as
// its progress, waits for mmapGoPath and calls mmap again (which waits
// to write-lock the mm's mmap_lock while a reader of our memory holds
// it).
func mmapOwner(file string) error {
	fd, err := unix.Open(file, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	b, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap %s: %w", file, err)
	}
	addr := uintptr(unsafe.Pointer(&b[0]))
	if err := writeProgress(int(addr)); err != nil {
		return err
	}
	for {
		if _, err := os.Stat(mmapGoPath(os.Getpid())); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON); err != nil {
		return fmt.Errorf("anonymous mmap: %w", err)
	}
	select {}
}

// peek reads one byte of pid's memory at addr (fs/proc/base.c mem_rw).
func peek(pid, addr string) error {
	n, err := strconv.ParseUint(addr, 10, 64)
	if err != nil {
		return fmt.Errorf("peek: bad address %q", addr)
	}
	fd, err := unix.Open("/proc/"+pid+"/mem", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	var b [1]byte
	_, err = unix.Pread(fd, b[:], int64(n))
	return err
}
