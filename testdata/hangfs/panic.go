package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The kdump guests (testdata/gen/kdump.go): the last entry of their
// scenario list is "kdump=TRIGGER". It loads the capture kernel with
// kexec -p and prepares the trigger; after the record, firePanic makes the
// kernel panic by that trigger, and the capture kernel saves the dump.
//
//	hung-task  kernel.hung_task_panic=1, kernel.hung_task_timeout_secs=5:
//	           khungtaskd finds the staged D tasks and panics
//	sysrq-c    this thread writes 'c' to /proc/sysrq-trigger
//	oops       kernel.panic_on_oops=1; this thread, bound to CPU 0, loads a
//	           module whose init reads address 0, while a dd bound to CPU 1
//	           keeps that CPU busy (role kdump.busy)
//	soft-lockup
//	           kernel.softlockup_panic=1, kernel.watchdog_thresh=1; this
//	           thread, bound to CPU 0, loads kwalk_hang.ko with spin=1: its
//	           thread kwalk_spin spins with preemption disabled on CPU 1
//	           until the watchdog's interrupt there panics
//
// Meta: kdump.trigger, kdump.trigger_tid (the thread that panics the
// kernel for sysrq-c and oops: the recorder's, so no role: it runs after
// the record; the hung-task panic comes from khungtaskd), kdump.kexec
// (kexec --version), kdump.crash_size (/sys/kernel/kexec_crash_size),
// kdump.capture_cmdline. Role: kdump.busy, the oops trigger's dd.
const scKdump = "kdump"

// Files the generator puts in the first kernel's initramfs.
const (
	kdumpKernel      = "/boot/vmlinuz"
	kdumpInitrd      = "/boot/capture.cpio"
	kdumpCmdlineFile = "/etc/kwalk-kdump-cmdline"
	kdumpKexec       = "/usr/sbin/kexec"
	kdumpLibDir      = "/lib/x86_64-linux-gnu"
	kdumpOopsModule  = "/lib/kwalk/kwalk_oops.ko"
	kdumpHangModule  = "/lib/kwalk/kwalk_hang.ko"
)

const (
	trigHungTask = "hung-task"
	trigSysrqC   = "sysrq-c"
	trigOops     = "oops"
	trigSoftLock = "soft-lockup"

	// hungTaskTimeout is kernel.hung_task_timeout_secs once the record is
	// written: khungtaskd notes the blocked tasks at once (the write wakes
	// it) and panics on its next check, this many seconds later.
	hungTaskTimeout = 5
	// panicWait is how long the guest waits for the panic it asked for
	// before it says it did not come.
	panicWait = 2 * time.Minute

	kdumpTriggerLine = "KWALK-KDUMP-TRIGGER"
)

// firePanic is set by the kdump scenario; runScenarios calls it right
// after the record. It does not return.
var firePanic func()

func (s *stager) kdump(trigger string) error {
	switch trigger {
	case trigHungTask, trigSysrqC, trigOops, trigSoftLock:
	default:
		return fmt.Errorf("kdump: unknown trigger %q", trigger)
	}
	cmdline := strings.TrimSpace(readFile(kdumpCmdlineFile))
	if cmdline == "" {
		return fmt.Errorf("kdump: no capture kernel command line in %s", kdumpCmdlineFile)
	}
	kexec := func(args ...string) ([]byte, error) {
		cmd := exec.Command(kdumpKexec, args...)
		cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+kdumpLibDir)
		return cmd.CombinedOutput()
	}
	t0 := time.Now()
	if out, err := kexec("-p", kdumpKernel, "--initrd="+kdumpInitrd, "--append="+cmdline); err != nil {
		return fmt.Errorf("kdump: kexec -p: %v: %s (crashkernel reservation %s bytes)", err,
			strings.TrimSpace(string(out)), strings.TrimSpace(readFile("/sys/kernel/kexec_crash_size")))
	}
	if loaded := strings.TrimSpace(readFile("/sys/kernel/kexec_crash_loaded")); loaded != "1" {
		return fmt.Errorf("kdump: kexec -p succeeded but /sys/kernel/kexec_crash_loaded is %q", loaded)
	}
	ver, _ := kexec("--version")
	fmt.Fprintf(os.Stderr, "hangfs: capture kernel loaded in %.1fs (%s)\n", time.Since(t0).Seconds(), strings.TrimSpace(string(ver)))
	s.meta = append(s.meta,
		"kdump.trigger="+trigger,
		"kdump.kexec="+strings.TrimSpace(string(ver)),
		"kdump.crash_size="+strings.TrimSpace(readFile("/sys/kernel/kexec_crash_size")),
		"kdump.capture_cmdline="+cmdline)

	// The recorder's goroutine stays on this thread from here on: it
	// writes the record and then pulls the trigger, so kdump.trigger_tid
	// names the thread the panicking CPU runs.
	runtime.LockOSThread()
	tid := unix.Gettid()
	switch trigger {
	case trigHungTask:
		firePanic = func() {
			announce(trigger)
			// The timeout's write wakes khungtaskd (kernel/hung_task.c
			// proc_dohung_task_timeout_secs): panic first.
			for _, kv := range [][2]string{
				{"/proc/sys/kernel/hung_task_panic", "1"},
				{"/proc/sys/kernel/hung_task_timeout_secs", fmt.Sprint(hungTaskTimeout)},
			} {
				if err := os.WriteFile(kv[0], []byte(kv[1]), 0o644); err != nil {
					notPanicked(trigger, fmt.Errorf("write %s: %w", kv[0], err))
				}
			}
			notPanicked(trigger, nil)
		}
	case trigSysrqC:
		s.meta = append(s.meta, fmt.Sprintf("kdump.trigger_tid=%d", tid))
		firePanic = func() {
			announce(trigger)
			// drivers/tty/sysrq.c: writes to /proc/sysrq-trigger are not
			// subject to kernel.sysrq's mask.
			err := os.WriteFile("/proc/sysrq-trigger", []byte("c"), 0o200)
			notPanicked(trigger, err)
		}
	case trigOops:
		ko, err := os.ReadFile(kdumpOopsModule)
		if err != nil {
			return fmt.Errorf("kdump: %w", err)
		}
		if runtime.NumCPU() < 2 {
			return fmt.Errorf("kdump: the oops trigger needs two CPUs, have %d", runtime.NumCPU())
		}
		busy, err := start("dd", "if=/dev/zero", "of=/dev/null", "bs=1M")
		if err != nil {
			return err
		}
		if err := bindCPU(busy, 1); err != nil {
			return fmt.Errorf("kdump: bind the busy dd: %w", err)
		}
		s.addRole("kdump.busy", busy)
		if err := bindCPU(0, 0); err != nil {
			return fmt.Errorf("kdump: bind the trigger thread: %w", err)
		}
		if err := os.WriteFile("/proc/sys/kernel/panic_on_oops", []byte("1"), 0o644); err != nil {
			return fmt.Errorf("kdump: %w", err)
		}
		s.meta = append(s.meta, fmt.Sprintf("kdump.trigger_tid=%d", tid))
		firePanic = func() {
			announce(trigger)
			err := unix.InitModule(ko, "")
			notPanicked(trigger, fmt.Errorf("init_module of %s returned: %v", kdumpOopsModule, err))
		}
	case trigSoftLock:
		ko, err := os.ReadFile(kdumpHangModule)
		if err != nil {
			return fmt.Errorf("kdump: %w", err)
		}
		if runtime.NumCPU() < 2 {
			return fmt.Errorf("kdump: the soft-lockup trigger needs two CPUs, have %d", runtime.NumCPU())
		}
		if err := bindCPU(0, 0); err != nil {
			return fmt.Errorf("kdump: bind the trigger thread: %w", err)
		}
		s.meta = append(s.meta, "kdump.spinner=kwalk_spin")
		firePanic = func() {
			announce(trigger)
			// kernel/watchdog.c: a CPU that has not scheduled its
			// stopper for 2 * watchdog_thresh seconds is reported by its
			// own hrtimer interrupt, which panics with softlockup_panic.
			for _, kv := range [][2]string{
				{"/proc/sys/kernel/softlockup_panic", "1"},
				{"/proc/sys/kernel/watchdog_thresh", "1"},
			} {
				if err := os.WriteFile(kv[0], []byte(kv[1]), 0o644); err != nil {
					notPanicked(trigger, fmt.Errorf("write %s: %w", kv[0], err))
				}
			}
			err := unix.InitModule(ko, "spin=1")
			if err != nil {
				notPanicked(trigger, fmt.Errorf("init_module of %s: %v", kdumpHangModule, err))
			}
			notPanicked(trigger, nil)
		}
	}
	return nil
}

// bindCPU binds thread tid (0: the calling thread) to one CPU.
func bindCPU(tid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return unix.SchedSetaffinity(tid, &set)
}

// announce says, on the console and in the kernel log, that the guest is
// about to make its kernel panic, with the console verbose again (the
// record is written at console loglevel 1) so that the hung-task report,
// the oops and the panic are on it.
func announce(trigger string) {
	drainConsole() // the record first: kernel messages go out at once
	fmt.Printf("KWALK-LIVE-NOTE skipped for a kdump guest (trigger %s): it runs no kwalk live\n", trigger)
	drainConsole() // or the kernel's line below can land inside this one
	if err := os.WriteFile("/proc/sys/kernel/printk", []byte("7"), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "hangfs: verbose console: %v\n", err)
	}
	os.WriteFile("/dev/kmsg", []byte("<5>kwalk: "+kdumpTriggerLine+" "+trigger+"\n"), 0o200)
	fmt.Printf("%s %s\n", kdumpTriggerLine, trigger)
	drainConsole()
}

// drainConsole waits until what was written to the console has left the
// serial port: a panic loses whatever the tty still buffers.
func drainConsole() {
	for _, fd := range []int{1, 2} {
		unix.IoctlSetInt(fd, unix.TCSBRK, 1) // tcdrain
	}
	time.Sleep(200 * time.Millisecond)
}

// notPanicked waits for the panic that should come, and says on the
// console (the host fails the guest) when it does not.
func notPanicked(trigger string, err error) {
	if err != nil {
		fmt.Printf("%s kdump: trigger %s: %v\n", failedLine, trigger, err)
	}
	time.Sleep(panicWait)
	fmt.Printf("%s kdump: trigger %s: no panic after %v\n", failedLine, trigger, panicWait)
	for {
		time.Sleep(time.Hour)
	}
}
