package sched

import (
	"math/bits"
	"strconv"
	"strings"
)

// Task state bits, include/linux/sched.h (values identical 5.10 through
// 7.1 for bits below 0x1000; TASK_RTLOCK_WAIT, TASK_FREEZABLE and
// TASK_FROZEN exist from 5.15/6.1 on — in 5.10 0x1000 is TASK_STATE_MAX and
// never set).
const (
	TaskRunning         = 0x0000
	TaskInterruptible   = 0x0001
	TaskUninterruptible = 0x0002
	TaskStopped         = 0x0004 // __TASK_STOPPED
	TaskTraced          = 0x0008 // __TASK_TRACED
	ExitDead            = 0x0010
	ExitZombie          = 0x0020
	TaskParked          = 0x0040
	TaskDead            = 0x0080
	TaskWakekill        = 0x0100
	TaskWaking          = 0x0200
	TaskNoload          = 0x0400
	TaskNew             = 0x0800
	TaskRTLockWait      = 0x1000
	TaskFreezable       = 0x2000
	TaskFrozen          = 0x8000

	// TaskReport is TASK_REPORT: the bits /proc reports.
	TaskReport = TaskRunning | TaskInterruptible | TaskUninterruptible | TaskStopped |
		TaskTraced | ExitDead | ExitZombie | TaskParked
	// TaskIdle is TASK_IDLE (UNINTERRUPTIBLE|NOLOAD): reported as "I".
	TaskIdle = TaskUninterruptible | TaskNoload
	// TaskKillable is TASK_KILLABLE (WAKEKILL|UNINTERRUPTIBLE).
	TaskKillable = TaskWakekill | TaskUninterruptible
)

// stateLetters is fs/proc/array.c task_state_array, by index: "R (running)",
// "S (sleeping)", "D (disk sleep)", "T (stopped)", "t (tracing stop)",
// "X (dead)", "Z (zombie)", "P (parked)", "I (idle)".
const stateLetters = "RSDTtXZPI"

// StateIndex is the kernel's __task_state_index (include/linux/sched.h):
// fls((state|exit_state) & TASK_REPORT), TASK_IDLE reported as idle, and
// TASK_RTLOCK_WAIT / TASK_FROZEN reported as uninterruptible (6.1+).
func StateIndex(state, exitState uint64) int {
	st := (state | exitState) & TaskReport
	if state&TaskIdle == TaskIdle {
		st = TaskReport + 1 // TASK_REPORT_IDLE
	}
	if state&TaskRTLockWait != 0 || state&TaskFrozen != 0 {
		st = TaskUninterruptible
	}
	return bits.Len64(st)
}

// StateLetter returns the /proc state letter (R S D T t X Z P I).
func StateLetter(state, exitState uint64) string {
	i := StateIndex(state, exitState)
	if i < 0 || i >= len(stateLetters) {
		return "?"
	}
	return stateLetters[i : i+1]
}

// crashStates are crash's two-letter state names by state index.
var crashStates = [...]string{"RU", "IN", "UN", "ST", "TR", "DE", "ZO", "PA", "ID"}

// CrashStates are crash's two-letter state names, in StateIndex order.
func CrashStates() []string { return append([]string(nil), crashStates[:]...) }

// CrashState returns crash's two-letter state (RU IN UN ST TR DE ZO PA ID).
func CrashState(state, exitState uint64) string {
	i := StateIndex(state, exitState)
	if i < 0 || i >= len(crashStates) {
		return "??"
	}
	return crashStates[i]
}

var stateBitNames = []struct {
	bit  uint64
	name string
}{
	{TaskInterruptible, "TASK_INTERRUPTIBLE"},
	{TaskUninterruptible, "TASK_UNINTERRUPTIBLE"},
	{TaskStopped, "__TASK_STOPPED"},
	{TaskTraced, "__TASK_TRACED"},
	{ExitDead, "EXIT_DEAD"},
	{ExitZombie, "EXIT_ZOMBIE"},
	{TaskParked, "TASK_PARKED"},
	{TaskDead, "TASK_DEAD"},
	{TaskWakekill, "TASK_WAKEKILL"},
	{TaskWaking, "TASK_WAKING"},
	{TaskNoload, "TASK_NOLOAD"},
	{TaskNew, "TASK_NEW"},
	{TaskRTLockWait, "TASK_RTLOCK_WAIT"},
	{TaskFreezable, "TASK_FREEZABLE"},
	{TaskFrozen, "TASK_FROZEN"},
}

// StateNames spells out a raw state value: "TASK_UNINTERRUPTIBLE|TASK_WAKEKILL",
// "TASK_RUNNING" for 0, unknown bits in hex.
func StateNames(state uint64) string {
	if state == 0 {
		return "TASK_RUNNING"
	}
	return bitNames(state, func(yield func(uint64, string) bool) {
		for _, b := range stateBitNames {
			if !yield(b.bit, b.name) {
				return
			}
		}
	})
}

// Process flags (task_struct.flags), include/linux/sched.h. Only values
// that are the same in 5.10 and 6.1 through 7.1 are named.
const (
	PFIdle          = 0x00000002
	PFExiting       = 0x00000004
	PFIOWorker      = 0x00000010
	PFWQWorker      = 0x00000020
	PFForkNoExec    = 0x00000040
	PFSuperPriv     = 0x00000100
	PFDumpCore      = 0x00000200
	PFSignaled      = 0x00000400
	PFMemalloc      = 0x00000800
	PFNoFreeze      = 0x00008000
	PFKswapd        = 0x00020000
	PFMemallocNOFS  = 0x00040000
	PFMemallocNOIO  = 0x00080000
	PFKthread       = 0x00200000
	PFRandomize     = 0x00400000
	PFNoSetAffinity = 0x04000000
)

var pfNames = []struct {
	bit  uint64
	name string
}{
	{PFIdle, "PF_IDLE"}, {PFExiting, "PF_EXITING"}, {PFIOWorker, "PF_IO_WORKER"},
	{PFWQWorker, "PF_WQ_WORKER"}, {PFForkNoExec, "PF_FORKNOEXEC"}, {PFSuperPriv, "PF_SUPERPRIV"},
	{PFDumpCore, "PF_DUMPCORE"}, {PFSignaled, "PF_SIGNALED"}, {PFMemalloc, "PF_MEMALLOC"},
	{PFNoFreeze, "PF_NOFREEZE"}, {PFKswapd, "PF_KSWAPD"}, {PFMemallocNOFS, "PF_MEMALLOC_NOFS"},
	{PFMemallocNOIO, "PF_MEMALLOC_NOIO"}, {PFKthread, "PF_KTHREAD"}, {PFRandomize, "PF_RANDOMIZE"},
	{PFNoSetAffinity, "PF_NO_SETAFFINITY"},
}

// FlagNames spells out task flags: "PF_EXITING|PF_SIGNALED|0x40000000".
func FlagNames(flags uint64) string {
	if flags == 0 {
		return "0"
	}
	return bitNames(flags, func(yield func(uint64, string) bool) {
		for _, b := range pfNames {
			if !yield(b.bit, b.name) {
				return
			}
		}
	})
}

func bitNames(v uint64, names func(func(uint64, string) bool)) string {
	var parts []string
	rest := v
	names(func(bit uint64, name string) bool {
		if v&bit != 0 {
			parts = append(parts, name)
			rest &^= bit
		}
		return true
	})
	if rest != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(rest, 16))
	}
	return strings.Join(parts, "|")
}
