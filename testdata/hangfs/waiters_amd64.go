package main

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The benign sleepers' system calls on x86_64, which has poll, select,
// epoll_wait and pause (arch/x86/entry/syscalls/syscall_64.tbl).
const (
	sysPoll      = unix.SYS_POLL
	sysSelect    = unix.SYS_SELECT
	sysEpollWait = unix.SYS_EPOLL_WAIT
)

const noTimeout = ^uintptr(0) // -1: wait for ever

func pollForever(fds []unix.PollFd) (uintptr, uintptr, syscall.Errno) {
	return syscall.Syscall(unix.SYS_POLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), noTimeout)
}

func selectForever(nfds uintptr, set *unix.FdSet) (uintptr, uintptr, syscall.Errno) {
	return syscall.Syscall6(unix.SYS_SELECT, nfds, uintptr(unsafe.Pointer(set)), 0, 0, 0, 0)
}

func epollWaitForever(ep int, ev []unix.EpollEvent) (uintptr, uintptr, syscall.Errno) {
	return syscall.Syscall6(unix.SYS_EPOLL_WAIT, uintptr(ep), uintptr(unsafe.Pointer(&ev[0])), uintptr(len(ev)), noTimeout, 0, 0)
}

func pause() (uintptr, uintptr, syscall.Errno) {
	return syscall.Syscall(unix.SYS_PAUSE, 0, 0, 0)
}
