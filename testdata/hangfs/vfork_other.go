//go:build !amd64

package main

import "syscall"

// sysPause: no pause(2) here.
const sysPause = -1

// vforkPause is written for amd64 only (the guests are x86-64).
func vforkPause(set, old *uint64) (pid int, errno uintptr) { return -1, uintptr(syscall.ENOSYS) }
