package crash

import (
	"reflect"
	"strings"
	"testing"
)

func TestFromLog(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  *PanicInfo
	}{
		{"no panic", []string{"Linux version 6.1", "fuse: init"}, nil},
		{"sysrq", []string{"sysrq: Trigger a crash", "Kernel panic - not syncing: sysrq triggered crash", "CPU: 1 PID: 99"},
			&PanicInfo{Kind: KindSysrq, Message: "Kernel panic - not syncing: sysrq triggered crash", Cause: "sysrq: Trigger a crash", CPU: -1}},
		{"hung task", []string{
			"INFO: task dd:103 blocked for more than 10 seconds.",
			"      Not tainted 6.1.0-50-cloud-amd64 #1 Debian 6.1.176-1",
			"INFO: task rm:106 blocked for more than 10 seconds.",
			"Kernel panic - not syncing: hung_task: blocked tasks"},
			&PanicInfo{Kind: KindHungTask, Message: "Kernel panic - not syncing: hung_task: blocked tasks",
				Cause: "INFO: task rm:106 blocked for more than 10 seconds.", CPU: -1,
				HungTasks: []HungTask{{"dd", 103, 10}, {"rm", 106, 10}}}},
		{"oops then panic", []string{
			"BUG: kernel NULL pointer dereference, address: 0000000000000008",
			"#PF: supervisor read access in kernel mode",
			"Oops: 0000 [#1] PREEMPT SMP NOPTI",
			"Kernel panic - not syncing: Fatal exception"},
			&PanicInfo{Kind: KindOops, Message: "Kernel panic - not syncing: Fatal exception", Cause: "BUG: kernel NULL pointer dereference, address: 0000000000000008", CPU: -1}},
		{"oops straight to kdump", []string{
			"general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP NOPTI",
			"RIP: 0010:foo+0x12/0x40"},
			&PanicInfo{Kind: KindOops, Message: "general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP NOPTI", CPU: -1}},
		{"soft lockup", []string{"watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [spin:120]", "Kernel panic - not syncing: softlockup: hung tasks"},
			&PanicInfo{Kind: KindSoftLockup, Message: "Kernel panic - not syncing: softlockup: hung tasks", Cause: "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [spin:120]", CPU: -1}},
		{"bug", []string{"kernel BUG at mm/slub.c:435!", "invalid opcode: 0000 [#1] SMP", "Kernel panic - not syncing: Fatal exception"},
			&PanicInfo{Kind: KindBug, Message: "Kernel panic - not syncing: Fatal exception", Cause: "kernel BUG at mm/slub.c:435!", CPU: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FromLog(tc.lines)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestSurvived(t *testing.T) {
	hung := []string{"INFO: task dd:103 blocked for more than 120 seconds.", "      Not tainted 6.1.0-50-cloud-amd64 #1"}
	oops := []string{"BUG: kernel NULL pointer dereference, address: 0000000000000008", "Oops: 0000 [#1] PREEMPT SMP NOPTI"}
	panicked := append(append([]string(nil), oops...), "Kernel panic - not syncing: Fatal exception")
	for _, tc := range []struct {
		name    string
		lines   []string
		cpu     int
		cpuRead bool
		want    bool
	}{
		{"hung-task warning, panic_cpu -1", hung, -1, true, true},
		{"oops the kernel survived", oops, -1, true, true},
		{"oops straight to kdump (crash_kexec took panic_cpu)", oops, 1, true, false},
		{"panic line", panicked, -1, true, false},
		{"panic_cpu unreadable: the log decides", hung, -1, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pi := FromLog(tc.lines)
			if pi == nil {
				t.Fatal("FromLog: nil")
			}
			pi.CPU = tc.cpu
			if got := survived(pi, tc.cpuRead); got != tc.want {
				t.Errorf("survived = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHungTasksInLog(t *testing.T) {
	got := HungTasksInLog([]string{
		"  INFO: task kworker/0:0:7 blocked for more than 120 seconds.",
		"rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
		"INFO: task jbd2/dm-0-8:88 blocked in I/O wait for more than 122 seconds.",
	})
	want := []HungTask{{"kworker/0:0", 7, 120}, {"jbd2/dm-0-8", 88, 122}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// FuzzFromLog: any log gives a panic or nil, never a crash, and a panic
// always has a kind and message.
func FuzzFromLog(f *testing.F) {
	f.Add("sysrq: Trigger a crash\nKernel panic - not syncing: sysrq triggered crash")
	f.Add("INFO: task dd:103 blocked for more than 10 seconds.\nKernel panic - not syncing: hung_task: blocked tasks")
	f.Add("BUG: kernel NULL pointer dereference, address: 0\nOops: 0000 [#1]")
	f.Fuzz(func(t *testing.T, log string) {
		pi := FromLog(strings.Split(log, "\n"))
		if pi != nil && (pi.Kind == "" || pi.Message == "") {
			t.Fatalf("panic without kind or message: %+v", pi)
		}
	})
}
