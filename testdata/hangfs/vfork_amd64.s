#include "textflag.h"

// func vforkPause(set, old *uint64) (pid int, errno uintptr)
//
// clone(CLONE_VM|CLONE_VFORK|SIGCHLD) with the parent's stack pointer, as
// vfork(2) does. The child shares the parent's memory and stack, so it
// runs nothing but this: pause(2) in a loop, with every signal blocked
// (no handler may run on the shared stack), never exec'ing nor exiting.
// The parent returns only when the child is gone; it restores its mask.
TEXT ·vforkPause(SB),NOSPLIT,$0-32
	// rt_sigprocmask(SIG_SETMASK, set, old, 8): the child inherits it.
	MOVQ	$14, AX
	MOVQ	$2, DI
	MOVQ	set+0(FP), SI
	MOVQ	old+8(FP), DX
	MOVQ	$8, R10
	SYSCALL
	CMPQ	AX, $0xfffffffffffff001
	JLS	clone
	MOVQ	$-1, pid+16(FP)
	NEGQ	AX
	MOVQ	AX, errno+24(FP)
	RET
clone:
	MOVQ	$56, AX         // SYS_clone
	MOVQ	$0x4111, DI     // CLONE_VFORK 0x4000 | CLONE_VM 0x100 | SIGCHLD 17
	XORQ	SI, SI          // same stack
	XORQ	DX, DX
	XORQ	R10, R10
	XORQ	R8, R8
	SYSCALL
	CMPQ	AX, $0
	JEQ	child
	MOVQ	AX, R12
	MOVQ	$14, AX
	MOVQ	$2, DI
	MOVQ	old+8(FP), SI
	XORQ	DX, DX
	MOVQ	$8, R10
	SYSCALL
	CMPQ	R12, $0xfffffffffffff001
	JLS	ok
	MOVQ	$-1, pid+16(FP)
	NEGQ	R12
	MOVQ	R12, errno+24(FP)
	RET
ok:
	MOVQ	R12, pid+16(FP)
	MOVQ	$0, errno+24(FP)
	RET
child:
	MOVQ	$34, AX         // SYS_pause
	SYSCALL
	JMP	child
