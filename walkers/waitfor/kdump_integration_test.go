package waitfor_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/crash"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
	"github.com/kwalk/kwalk/walkers/waitfor"
)

// triggerKinds are the panic kinds each kdump trigger must be read as.
var triggerKinds = map[string][]string{
	testdata.TriggerHungTask:   {crash.KindHungTask},
	testdata.TriggerSysrqC:     {crash.KindSysrq},
	testdata.TriggerOops:       {crash.KindOops, crash.KindBug},
	testdata.TriggerSoftLockup: {crash.KindSoftLockup},
}

// TestKdumpPanics: on the dumps a kdump capture kernel saved after a real
// panic, in every format (the /proc/vmcore copy and makedumpfile -d 31
// ones), the panic, its CPU and task are found; the panic task unwinds to
// its origin (ret_from_fork for the hung-task watchdog's kthread, the
// system call for sysrq and the oops), past __crash_kexec, which has no
// unwind data; every other CPU shows the crash NMI's frames; and every
// staged edge is found (or its hop marked incomplete — never a wrong one).
func TestKdumpPanics(t *testing.T) {
	for _, d := range testdata.Require(t, testdata.Filter{}) {
		if d.Guest.Trigger == "" {
			continue
		}
		for _, f := range d.Formats() {
			t.Run(d.ID()+"/"+string(f), func(t *testing.T) {
				p := openDump(t, d.Path(f))
				defer p.Dump.Close()
				pi, err := crash.Panic(p)
				if err != nil || pi == nil {
					t.Fatalf("panic: %+v, %v", pi, err)
				}
				if want := triggerKinds[d.Guest.Trigger]; !contains(want, pi.Kind) {
					t.Errorf("panic kind %q (%s), want one of %v", pi.Kind, pi.Message, want)
				}
				if pi.CPU < 0 || pi.Task == nil {
					t.Fatalf("panic CPU %d task %v: want both", pi.CPU, pi.Task)
				}
				task, err := sched.TaskByAddr(p, pi.Task.Addr)
				if err != nil {
					t.Fatal(err)
				}
				tr, err := unwind.Stack(p, task.Obj)
				if err != nil {
					t.Fatal(err)
				}
				names := frameNamesOf(tr)
				origin := "entry_SYSCALL_64"
				if d.Guest.Trigger == testdata.TriggerHungTask || d.Guest.Trigger == testdata.TriggerSoftLockup {
					origin = "ret_from_fork"
				}
				if tr.Err != nil || len(names) == 0 || !strings.HasPrefix(names[len(names)-1], origin) {
					t.Errorf("panic task %s: frames %v (err %v), want them to reach %s", pi.Task, names, tr.Err, origin)
				}
				if d.Guest.Trigger == testdata.TriggerSoftLockup {
					// From the watchdog's hrtimer on the IRQ stack, through
					// the interrupt's pt_regs, into the module's spinning
					// thread function (kernel/watchdog.c, testdata/kmod).
					if pi.Task.Comm != "kwalk_spin" {
						t.Errorf("panic task %s, want kwalk_spin", pi.Task)
					}
					for _, want := range []string{"watchdog_timer_fn", "asm_sysvec_apic_timer_interrupt", "spin_fn", "kthread"} {
						if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, want) }) {
							t.Errorf("panic task %s: no %s in %v", pi.Task, want, names)
						}
					}
				}
				for _, cpu := range unwind.ActiveCPUs(p) {
					if cpu == pi.CPU {
						continue
					}
					ct, err := unwind.CurrentTask(p, cpu)
					if err != nil {
						t.Errorf("cpu %d: %v", cpu, err)
						continue
					}
					ctask, err := sched.TaskByAddr(p, ct)
					if err != nil {
						t.Errorf("cpu %d: %v", cpu, err)
						continue
					}
					ctr, err := unwind.Stack(p, ctask.Obj)
					if err != nil {
						t.Errorf("cpu %d: %v", cpu, err)
						continue
					}
					nmi := false
					for _, n := range frameNamesOf(ctr) {
						nmi = nmi || strings.HasPrefix(n, "crash_nmi_callback")
					}
					if !nmi {
						t.Errorf("cpu %d (%s): no crash NMI frames in %v", cpu, ctask.Comm, frameNamesOf(ctr))
					}
				}
				rep := mustDeadlock(t, p)
				if rep.Panic == nil || rep.Panic.Kind != pi.Kind {
					t.Errorf("deadlock report's panic %+v, want %s", rep.Panic, pi.Kind)
				}
				checkEdges(t, rep, d)
			})
		}
	}
}

// checkEdges checks the dump's staged edges in rep; a hop marked
// incomplete (memory the filtered dump lacks) may miss its holder, and a
// report that says it is incomplete may miss a wait, but none names a
// wrong holder.
func checkEdges(t *testing.T, rep *waitfor.DeadlockReport, d *testdata.Dump) {
	t.Helper()
	roles := d.Truth.Roles
	for _, e := range d.Edges() {
		wp := roles[e.Waiter]
		var found, incomplete, any bool
		for _, w := range rep.Waits {
			if w.Task.PID != wp && w.Task.TGID != wp {
				continue
			}
			any = true
			incomplete = incomplete || w.Incomplete
			if e.Holder == "" {
				found = true
			}
			for _, h := range w.Holders {
				found = found || h.Task.PID == roles[e.Holder] || h.Task.TGID == roles[e.Holder]
			}
		}
		switch {
		case !any && rep.Status != "incomplete":
			t.Errorf("%s (pid %d) waits for %s: no wait reported, and the report is %q", e.Waiter, wp, e.Via, rep.Status)
		case any && !found && !incomplete:
			t.Errorf("%s (pid %d) waits for %s: holder %s not found, and the hop is not marked incomplete", e.Waiter, wp, e.Via, e.Holder)
		}
	}
}

func frameNamesOf(tr *unwind.Trace) []string {
	var out []string
	for _, f := range tr.Frames {
		out = append(out, f.Symbol)
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
