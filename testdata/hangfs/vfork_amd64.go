package main

import "golang.org/x/sys/unix"

// sysPause is the system call the vfork child sleeps in.
const sysPause = unix.SYS_PAUSE

// vforkPause vforks a child that pauses forever (vfork_amd64.s): it
// returns only if the child exits or execs, with the child's pid.
//
//go:noescape
func vforkPause(set, old *uint64) (pid int, errno uintptr)
