//go:build !amd64

package main

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The benign sleepers' system calls where the generic syscall table
// (include/uapi/asm-generic/unistd.h: arm64) has no poll, select,
// epoll_wait or pause: their p-variants with no timeout and no signal
// mask, which sleep in the same kernel functions (do_sys_poll,
// core_sys_select, do_epoll_wait).
const (
	sysPoll      = unix.SYS_PPOLL
	sysSelect    = unix.SYS_PSELECT6
	sysEpollWait = unix.SYS_EPOLL_PWAIT
)

func pollForever(fds []unix.PollFd) (uintptr, uintptr, syscall.Errno) {
	return syscall.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&fds[0])), uintptr(len(fds)), 0, 0, 0, 0)
}

func selectForever(nfds uintptr, set *unix.FdSet) (uintptr, uintptr, syscall.Errno) {
	return syscall.Syscall6(unix.SYS_PSELECT6, nfds, uintptr(unsafe.Pointer(set)), 0, 0, 0, 0)
}

func epollWaitForever(ep int, ev []unix.EpollEvent) (uintptr, uintptr, syscall.Errno) {
	return syscall.Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&ev[0])), uintptr(len(ev)), ^uintptr(0), 0, 0)
}

// pause is ppoll with no descriptors and no timeout.
func pause() (uintptr, uintptr, syscall.Errno) {
	return syscall.Syscall6(unix.SYS_PPOLL, 0, 0, 0, 0, 0, 0)
}
