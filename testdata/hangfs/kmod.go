package main

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// The kmod guest's scenario: the generator builds testdata/kmod/kwalk_hang.c
// against the guest kernel's headers and puts it in the initramfs; loading
// it starts kernel threads that get stuck as kernel code does (ABBA
// mutexes, kthread_stop, flush_work, rt_mutex, a reader-owned rw_semaphore,
// mutex_lock_io, RCU grace periods). Each thread's comm names its role.

const kmodPath = "/kmod/kwalk_hang.ko"

// kmodRoles are the module's threads: role, comm (at most 15 bytes, TASK_COMM_LEN), and the functions
// (compiler suffixes aside) one of which /proc/PID/stack must show once the
// thread waits where the scenario wants it.
var kmodRoles = []struct {
	role, comm string
	state      string
	funcs      []string
}{
	// /proc/PID/stack leaves out the functions of .sched.text (the
	// lock functions, wait_for_completion): the thread function is the
	// innermost frame of a lock wait, and the module's ordering waits
	// are in S (kwalk_hang.c await).
	{"kmod.abba.a", "kwalk_abba_a", "D", []string{"abba_a"}},
	{"kmod.abba.b", "kwalk_abba_b", "D", []string{"abba_b"}},
	{"kmod.kstop.stoppee", "kwalk_stoppee", "D", []string{"stoppee_fn"}},
	{"kmod.kstop.stopper", "kwalk_stopper", "D", []string{"kthread_stop"}},
	{"kmod.holder", "kwalk_holder", "S", []string{"holder_fn", "sleep_forever"}},
	{"kmod.rt.waiter", "kwalk_rt_waiter", "D", []string{"rt_waiter_fn"}},
	{"kmod.rwsem.writer", "kwalk_rw_writer", "D", []string{"rw_writer_fn"}},
	{"kmod.io.waiter", "kwalk_io_waiter", "D", []string{"io_waiter_fn"}},
	{"kmod.ww.waiter", "kwalk_ww_waiter", "D", []string{"ww_waiter_fn"}},
	{"kmod.sem.waiter", "kwalk_sem_waiter", "D", []string{"sem_waiter_fn"}},
	{"kmod.flush.flusher", "kwalk_flusher", "D", []string{"__flush_work", "flush_work"}},
	{"kmod.cancel.canceller", "kwalk_canceller", "D", []string{"__cancel_work_sync", "__cancel_work_timer", "cancel_work_sync", "__flush_work"}},
	{"kmod.wqflush.flusher", "kwalk_wq_flush", "D", []string{"__flush_workqueue", "flush_workqueue"}},
	{"kmod.kwork.worker", "kwalk_kworker", "D", []string{"kwalk_kwork_fn"}},
	{"kmod.kwork.flusher", "kwalk_kw_flush", "D", []string{"kthread_flush_work", "kw_flusher_fn"}},
	{"kmod.rcu.reader", "kwalk_rcu_read", "S", []string{"rcu_reader_fn", "sleep_forever"}},
	{"kmod.rcu.sync", "kwalk_rcu_sync", "D", []string{"synchronize_rcu", "synchronize_rcu_normal", "__wait_rcu_gp", "wait_rcu_gp"}},
	{"kmod.rcu.exp", "kwalk_rcu_exp", "D", []string{"synchronize_rcu_expedited"}},
	{"kmod.srcu.reader", "kwalk_srcu_read", "S", []string{"srcu_reader_fn", "sleep_forever"}},
	{"kmod.srcu.sync", "kwalk_srcu_sync", "D", []string{"synchronize_srcu", "__synchronize_srcu", "srcu_sync_fn"}},
}

func (s *stager) kmod() error {
	// The blocked RCU reader stops every grace period, and reading
	// /proc/locks waits for one (record.go writeRecord).
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return err
	}
	s.procLocks = append(locks, []byte{}...) // not nil when empty
	f, err := os.Open(kmodPath)
	if err != nil {
		return err
	}
	err = unix.FinitModule(int(f.Fd()), "", 0)
	f.Close()
	if err != nil {
		return fmt.Errorf("load %s: %w", kmodPath, err)
	}
	for _, r := range kmodRoles {
		var pid int
		err := poll(fmt.Sprintf("%s (%s) in %s in one of %v", r.role, r.comm, r.state, r.funcs), func() bool {
			if pid == 0 {
				pid = commPID(r.comm)
			}
			if pid == 0 {
				return false
			}
			st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
			return err == nil && st.state == r.state && stackHasFunc(pid, r.funcs...)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", r.role, withWhere(err, pid))
		}
		s.addRole(r.role, pid)
	}
	// The workqueue's worker, a kworker running kwalk_work_fn.
	var worker int
	err = poll("a kworker in kwalk_work_fn, waiting for mutex C", func() bool {
		worker = 0
		for _, pid := range numericDir("/proc") {
			st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
			if err == nil && st.state == "D" && strings.HasPrefix(st.comm, "kworker/") && stackHasFunc(pid, "kwalk_work_fn") {
				worker = pid
				return true
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	s.addRole("kmod.flush.worker", worker)
	s.meta = append(s.meta, "kmod.module=kwalk_hang", "kmod.workqueue=kwalk_wq")
	return nil
}

// commPID is the pid of the process whose comm is comm, or 0.
func commPID(comm string) int {
	for _, pid := range numericDir("/proc") {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
		if err == nil && st.comm == comm {
			return pid
		}
	}
	return 0
}

// stackHasFunc reports whether /proc/PID/stack has a frame in one of fns,
// compiler suffixes (.constprop.0, .isra.0) aside.
func stackHasFunc(pid int, fns ...string) bool {
	for _, l := range strings.Split(readFile(fmt.Sprintf("/proc/%d/stack", pid)), "\n") {
		_, sym, ok := strings.Cut(l, "] ")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(sym, "+")
		name, _, _ = strings.Cut(name, ".")
		for _, fn := range fns {
			if name == fn {
				return true
			}
		}
	}
	return false
}
