//go:build !amd64 && !arm64

package main

import "syscall"

// sysPause: no pause(2) here.
const sysPause = -1

// vforkPause is written for amd64 and arm64 only (the guests' machines).
func vforkPause(set, old *uint64) (pid int, errno uintptr) { return -1, uintptr(syscall.ENOSYS) }
