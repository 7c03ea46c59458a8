package crash

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/printk"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
)

// Kinds of panic (PanicInfo.Kind).
const (
	KindPanic      = "panic"       // panic() with a message of its own
	KindOops       = "oops"        // an oops (page fault, GPF, …) that ended in panic or crash_kexec
	KindBug        = "bug"         // BUG(): kernel BUG at FILE:LINE
	KindSysrq      = "sysrq"       // echo c > /proc/sysrq-trigger
	KindHungTask   = "hung-task"   // khungtaskd with hung_task_panic
	KindSoftLockup = "soft-lockup" // the soft-lockup watchdog with softlockup_panic
	KindHardLockup = "hard-lockup" // the NMI watchdog with hardlockup_panic
	KindOOM        = "oom"         // out of memory with panic_on_oom
)

// PanicInfo is why the kernel died.
type PanicInfo struct {
	Kind string `json:"kind"`
	// Message is the panic line ("Kernel panic - not syncing: …"), or the
	// strongest crash line when panic() did not print one (crash_kexec
	// straight from an oops).
	Message string `json:"message"`
	// Cause is the line that says what went wrong when it is not Message:
	// the oops ("BUG: kernel NULL pointer dereference, address: …"), the
	// lockup or hung-task report.
	Cause string `json:"cause,omitempty"`
	// CPU is the panicking CPU, -1 when unknown; CPUFrom says how it was
	// found ("panic_cpu", "crashing_cpu", "the log").
	CPU     int    `json:"cpu"`
	CPUFrom string `json:"cpu_from,omitempty"`
	// Task is the task that panicked (the CPU's current task), when known.
	Task *sched.TaskRef `json:"task,omitempty"`
	// HungTasks are the tasks the hung-task detector reported
	// (kernel/hung_task.c "INFO: task COMM:PID blocked for more than N
	// seconds."), in the order it reported them.
	HungTasks []HungTask `json:"hung_tasks,omitempty"`
}

// HungTask is one task the hung-task detector reported.
type HungTask struct {
	Comm    string `json:"comm"`
	PID     int    `json:"pid"`
	Seconds int    `json:"seconds"`
}

// causeMarkers start the log lines of a crash's cause, by kind (the
// messages of arch/x86/mm/fault.c, arch/x86/kernel/traps.c and
// dumpstack.c, lib/bug.c, kernel/watchdog*.c, kernel/hung_task.c,
// mm/oom_kill.c, drivers/tty/sysrq.c; 5.10 through 7.x).
var causeMarkers = []struct{ prefix, kind string }{
	{"sysrq: Trigger a crash", KindSysrq},
	{"SysRq : Trigger a crash", KindSysrq},
	{"BUG: kernel NULL pointer dereference", KindOops},
	{"BUG: unable to handle page fault", KindOops},
	{"BUG: unable to handle kernel", KindOops},
	{"general protection fault", KindOops},
	{"kernel BUG at", KindBug},
	{"Oops:", KindOops},
	{"invalid opcode:", KindBug},
	{"divide error:", KindOops},
	{"double fault:", KindOops},
	{"stack segment:", KindOops},
	{"Internal error:", KindOops}, // arm64 __die
	{"watchdog: BUG: soft lockup", KindSoftLockup},
	{"BUG: soft lockup", KindSoftLockup},
	{"Watchdog detected hard LOCKUP", KindHardLockup},
	{"NMI watchdog: Watchdog detected hard LOCKUP", KindHardLockup},
	{"watchdog: Watchdog detected hard LOCKUP", KindHardLockup},
	{"INFO: task ", KindHungTask},
	{"Out of memory", KindOOM},
}

const panicPrefix = "Kernel panic - not syncing:"

// causeWindow is how many log lines before the panic line (or the end of
// the log) may hold its cause: an oops report with its registers and
// stack is some 60 lines.
const causeWindow = 200

// panicKinds map panic() messages to kinds (kernel/hung_task.c,
// kernel/watchdog.c, drivers/tty/sysrq.c, arch/x86/kernel/dumpstack.c
// oops_end, mm/oom_kill.c).
var panicKinds = []struct{ contains, kind string }{
	{"hung_task: blocked tasks", KindHungTask},
	{"softlockup: hung tasks", KindSoftLockup},
	{"Hard LOCKUP", KindHardLockup},
	{"hardlockup: ", KindHardLockup},
	{"sysrq triggered crash", KindSysrq},
	{"Fatal exception", KindOops},
	{"Out of memory", KindOOM},
	{"System is deadlocked on memory", KindOOM},
}

var hungRE = regexp.MustCompile(`^INFO: task (.*):(\d+) blocked(?: in I/O wait)? for more than (\d+) seconds`)

// Panic reads why p's kernel died from its log and per-CPU state. It
// returns nil (and no error) when the log says nothing of a crash: a dump
// taken from outside a running kernel.
func Panic(p *symbols.Program) (*PanicInfo, error) {
	pi, _, err := Read(p)
	return pi, err
}

// Read reads p's log once for Panic, and returns besides, when the kernel
// did not panic, the hung-task reports its log holds: warnings of a
// kernel that went on running.
func Read(p *symbols.Program) (pi *PanicInfo, hung []HungTask, err error) {
	recs, err := printk.Log(p)
	if len(recs) == 0 {
		if err == nil {
			err = fmt.Errorf("empty kernel log")
		}
		return nil, nil, fmt.Errorf("panic: %w", err)
	}
	lines := make([]string, len(recs))
	for i, r := range recs {
		lines[i] = strings.TrimSpace(r.Text)
	}
	pi = FromLog(lines)
	if pi == nil {
		return nil, nil, nil
	}
	var read bool
	pi.CPU, pi.CPUFrom, read = panicCPU(p)
	if survived(pi, read) {
		return nil, pi.HungTasks, nil
	}
	if pi.CPU >= 0 {
		pi.Task = cpuTask(p, pi.CPU)
	}
	return pi, nil, nil
}

// FromLog finds the panic in the kernel log's lines (oldest first); nil
// when there is none. CPU is -1: only the dump says which CPU it was.
func FromLog(lines []string) *PanicInfo {
	pi := &PanicInfo{CPU: -1}
	panicAt := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], panicPrefix) {
			panicAt = i
			pi.Message = lines[i]
			pi.Kind = KindPanic
			for _, k := range panicKinds {
				if strings.Contains(lines[i], k.contains) {
					pi.Kind = k.kind
					break
				}
			}
			break
		}
	}
	// The cause: the last cause line before the panic (or anywhere, when
	// crash_kexec ran straight from an oops without panic()).
	end := len(lines)
	if panicAt >= 0 {
		end = panicAt
	}
	// Within the lines just before the panic, the most telling cause line
	// wins (the order of causeMarkers), the latest among equals.
	causeAt, causeRank, causeKind := -1, len(causeMarkers), ""
	for i := end - 1; i >= 0 && i >= end-causeWindow; i-- {
		for rank, m := range causeMarkers {
			if rank < causeRank && strings.HasPrefix(lines[i], m.prefix) {
				causeAt, causeRank, causeKind = i, rank, m.kind
				break
			}
		}
	}
	if panicAt < 0 && causeAt < 0 {
		return nil
	}
	if causeAt >= 0 {
		if panicAt < 0 {
			pi.Message, pi.Kind = lines[causeAt], causeKind
		} else if pi.Kind == KindPanic || pi.Kind == KindOops || pi.Kind == causeKind {
			pi.Cause = lines[causeAt]
			if pi.Kind == KindPanic || pi.Kind == KindOops {
				pi.Kind = causeKind
			}
		}
	}
	pi.HungTasks = HungTasksInLog(lines[:end])
	return pi
}

// survived reports whether the log's crash report is one the kernel went
// on after: an oops, lockup or hung-task report without a panic line,
// while panic_cpu (taken by panic() and by crash_kexec, kernel/
// kexec_core.c) says no CPU panicked. Such a dump was taken from outside
// (or the kernel is live); the reports are warnings in its log.
func survived(pi *PanicInfo, cpuRead bool) bool {
	return pi.CPU < 0 && cpuRead && !strings.HasPrefix(pi.Message, panicPrefix)
}

// panicCPU reads the panicking CPU: panic_cpu (kernel/panic.c, set by
// panic() and crash_kexec), else x86's crashing_cpu
// (arch/x86/kernel/reboot.c, set when the other CPUs were stopped for
// kdump). Both start at -1. read says whether either could be read: -1
// with read set means no CPU panicked.
func panicCPU(p *symbols.Program) (cpu int, from string, read bool) {
	for _, name := range []string{"panic_cpu", "crashing_cpu"} {
		addr, err := p.Symbol(name)
		if err != nil {
			continue
		}
		var b [4]byte
		if err := p.Mem.ReadVirt(b[:], addr); err != nil {
			continue
		}
		read = true
		v := int32(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
		if v >= 0 && int(v) < 1<<16 {
			return int(v), name, true
		}
	}
	return -1, "", read
}

// HungTasksInLog returns the tasks the hung-task detector reported in
// the kernel log's lines (oldest first), whether or not the kernel
// panicked after.
func HungTasksInLog(lines []string) []HungTask {
	var out []HungTask
	for _, l := range lines {
		if m := hungRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			pid, _ := strconv.Atoi(m[2])
			secs, _ := strconv.Atoi(m[3])
			out = append(out, HungTask{Comm: m[1], PID: pid, Seconds: secs})
		}
	}
	return out
}

// cpuTask names the task that was current on cpu: the crash note's pr_pid
// for that CPU (what crash_save_cpu recorded), else the per-CPU
// current_task / runqueue.
func cpuTask(p *symbols.Program, cpu int) *sched.TaskRef {
	if p.Dump != nil {
		for _, c := range p.Dump.CPUs() {
			if c.CPU == cpu && c.PID > 0 {
				if t, err := sched.TaskByPID(p, c.PID); err == nil {
					r := sched.TaskRef{Addr: t.Addr, PID: t.PID, TGID: t.TGID, Comm: t.Comm}
					return &r
				}
			}
		}
	}
	addr, err := unwind.CurrentTask(p, cpu)
	if err != nil || addr == 0 {
		return nil
	}
	r, err := sched.TaskRefAt(p, addr)
	if err != nil {
		return nil
	}
	return &r
}
