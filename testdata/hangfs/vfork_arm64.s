#include "textflag.h"

// func vforkPause(set, old *uint64) (pid int, errno uintptr)
//
// clone(CLONE_VM|CLONE_VFORK|SIGCHLD) with the parent's stack pointer, as
// vfork(2) does (arm64 has no vfork system call). The child shares the
// parent's memory and stack, so it runs nothing but this: ppoll(2) with
// no descriptors and no timeout in a loop (arm64 has no pause(2)), with
// every signal blocked, never exec'ing nor exiting. The parent returns
// only when the child is gone; it restores its mask. System calls: the
// number in R8, arguments in R0-R5, the result (or -errno) in R0.
TEXT ·vforkPause(SB),NOSPLIT,$0-32
	MOVD	$135, R8        // SYS_rt_sigprocmask
	MOVD	$2, R0          // SIG_SETMASK
	MOVD	set+0(FP), R1
	MOVD	old+8(FP), R2
	MOVD	$8, R3
	SVC
	CMN	$4095, R0
	BCC	clone
	NEG	R0, R0
	MOVD	R0, errno+24(FP)
	MOVD	$-1, R1
	MOVD	R1, pid+16(FP)
	RET
clone:
	MOVD	$220, R8        // SYS_clone
	MOVD	$0x4111, R0     // CLONE_VFORK 0x4000 | CLONE_VM 0x100 | SIGCHLD 17
	MOVD	$0, R1          // same stack
	MOVD	$0, R2
	MOVD	$0, R3
	MOVD	$0, R4
	SVC
	CBZ	R0, child
	MOVD	R0, R9
	MOVD	$135, R8
	MOVD	$2, R0
	MOVD	old+8(FP), R1
	MOVD	$0, R2
	MOVD	$8, R3
	SVC
	CMN	$4095, R9
	BCC	ok
	NEG	R9, R9
	MOVD	R9, errno+24(FP)
	MOVD	$-1, R1
	MOVD	R1, pid+16(FP)
	RET
ok:
	MOVD	R9, pid+16(FP)
	MOVD	ZR, errno+24(FP)
	RET
child:
	MOVD	$73, R8         // SYS_ppoll
	MOVD	$0, R0
	MOVD	$0, R1
	MOVD	$0, R2
	MOVD	$0, R3
	MOVD	$0, R4
	SVC
	B	child
