package testdata

// The kdump guests: a kernel that panics by itself after staging hangs and
// writing its record, captured as users capture theirs: a kdump capture
// kernel loaded with kexec -p boots from the crashkernel= reservation and
// saves /proc/vmcore with the release's own makedumpfile
// (testdata/gen/kdump.go, testdata/hangfs/panic.go; README "kdump guests").

// Triggers: what makes a kdump guest panic (Guest.Trigger).
const (
	// TriggerHungTask: kernel.hung_task_panic=1 and a short
	// kernel.hung_task_timeout_secs after the record: khungtaskd reports
	// the staged D tasks ("INFO: task ... blocked for more than N
	// seconds.") and panics ("Kernel panic - not syncing: hung_task:
	// blocked tasks").
	TriggerHungTask = "hung-task"
	// TriggerSysrqC: the recorder writes 'c' to /proc/sysrq-trigger
	// ("sysrq: Trigger a crash", "Kernel panic - not syncing: sysrq
	// triggered crash"): a panic without an oops, in process context.
	TriggerSysrqC = "sysrq-c"
	// TriggerOops: kernel.panic_on_oops=1; the recorder's thread, bound to
	// CPU 0, loads a module whose init function reads address 0 ("BUG:
	// kernel NULL pointer dereference", "Oops", "Kernel panic - not
	// syncing: Fatal exception") while a dd bound to CPU 1 keeps that CPU
	// busy (role kdump.busy). The Debian cloud kernels ship no lkdtm; the
	// module is made by the generator from a module of the same kernel
	// package (gen/oopsmod.go): its vermagic, version table and struct
	// module, and 14 bytes of code.
	TriggerOops = "oops"
	// TriggerSoftLockup: kernel.softlockup_panic=1 and
	// kernel.watchdog_thresh=1; the recorder loads the kmod guest's
	// module (testdata/kmod, built against the kernel's headers) with
	// spin=1: its kernel thread kwalk_spin spins with preemption disabled
	// on the last CPU until the soft-lockup watchdog's hrtimer interrupt
	// on that CPU reports it ("watchdog: BUG: soft lockup - CPU#1 stuck
	// for 2s! [kwalk_spin:PID]") and panics ("Kernel panic - not syncing:
	// softlockup: hung tasks") in interrupt context, on the IRQ stack.
	TriggerSoftLockup = "soft-lockup"

	// TriggerAny in Filter.Trigger selects every kdump guest.
	TriggerAny = "any"
)

// Formats of the kdump guests, written in the capture kernel (never by
// QEMU): a copy of /proc/vmcore and the release's own makedumpfile's
// output from it.
const (
	FormatKdumpELF     = Format("kdump-elf")      // cp /proc/vmcore: ELF, PT_NOTE with the crash notes (NT_PRSTATUS per CPU) and VMCOREINFO
	FormatKdumpD31Zlib = Format("kdump-d31-zlib") // makedumpfile -c -d 31 /proc/vmcore
	FormatKdumpD31LZO  = Format("kdump-d31-lzo")  // makedumpfile -l -d 31 /proc/vmcore
	FormatKdumpD31Zstd = Format("kdump-d31-zstd") // makedumpfile -z -d 31 /proc/vmcore, when that makedumpfile has zstd
)

// Console markers of the kdump guests. The first kernel prints
// KdumpTriggerMarker after its record, just before it makes itself panic;
// the capture kernel's /init prints the others.
const (
	KdumpTriggerMarker = "KWALK-KDUMP-TRIGGER" // KWALK-KDUMP-TRIGGER hung-task
	KdumpCaptureMarker = "KWALK-KDUMP-CAPTURE" // first line of the capture kernel's /init
	KdumpStepMarker    = "KWALK-KDUMP-STEP"    // KWALK-KDUMP-STEP kdump-d31-zlib rc=0 s=12.34
	KdumpDoneMarker    = "KWALK-KDUMP-DONE"    // everything saved and unmounted
	KdumpFailedMarker  = "KWALK-KDUMP-FAILED"
)

// KdumpManifest says how a kdump guest's dump was made (Manifest.Kdump).
type KdumpManifest struct {
	Trigger     string // Guest.Trigger
	Crashkernel string // the first kernel's crashkernel= ("160M")
	// CaptureCmdline is the capture kernel's command line as kexec -p was
	// given it (kexec adds elfcorehdr= and the like).
	CaptureCmdline string
	// Tools are the Debian packages kexec and makedumpfile come from
	// (Kernel.Kdump), Libs the library packages they depend on, at
	// Suite's versions: their shared libraries run beside them.
	Suite string
	Tools []Package
	Libs  []Package
	// Makedumpfile is the first line of the capture kernel's
	// "makedumpfile -v" ("makedumpfile: version 1.7.8 (released on ...)").
	Makedumpfile string
	// MadeBy says, per format, the command that wrote the file in the
	// capture kernel ("makedumpfile -c -d 31 /proc/vmcore").
	MadeBy map[Format]string
	// CaptureSeconds is the time of each step in the capture kernel, by
	// format (from its uptime).
	CaptureSeconds map[Format]float64 `json:",omitempty"`
}

// IsKdump reports whether g is a kdump guest (it panics by itself and is
// saved by a capture kernel).
func (g Guest) IsKdump() bool { return g.Trigger != "" }

// KdumpPanicLines are what the first kernel prints on the console, between
// KdumpTriggerMarker and the capture kernel, for each trigger (each a
// substring of some line). An oops goes to the capture kernel from
// oops_end (crash_kexec with the exception's registers) before panic()
// would print "Kernel panic - not syncing: Fatal exception".
func KdumpPanicLines(trigger string) []string {
	switch trigger {
	case TriggerHungTask:
		return []string{"INFO: task ", " blocked for more than 5 seconds.", "Kernel panic - not syncing: hung_task: blocked tasks"}
	case TriggerSysrqC:
		return []string{"sysrq: Trigger a crash", "Kernel panic - not syncing: sysrq triggered crash"}
	case TriggerOops:
		return []string{"BUG: kernel NULL pointer dereference, address: 0000000000000000", "Oops", "RIP: 0010:init_module+0xa/", "[kwalk_oops]"}
	case TriggerSoftLockup:
		return []string{"watchdog: BUG: soft lockup - CPU#", "[kwalk_spin:", "Kernel panic - not syncing: softlockup: hung tasks"}
	}
	return nil
}
