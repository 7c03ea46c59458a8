package main

import "golang.org/x/sys/unix"

// sysPause is the system call the vfork child sleeps in: ppoll with no
// descriptors and no timeout (arm64 has no pause(2)).
const sysPause = unix.SYS_PPOLL

// vforkPause vforks a child that sleeps forever (vfork_arm64.s): it
// returns only if the child exits or execs, with the child's pid.
//
//go:noescape
func vforkPause(set, old *uint64) (pid int, errno uintptr)
