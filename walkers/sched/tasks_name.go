package sched

import (
	"fmt"
)

// procName returns what /proc/PID/comm shows for t when it differs from
// task->comm (fs/proc/array.c proc_task_name): a workqueue worker's comm
// plus "+desc" (busy) or "-desc" (idle) (kernel/workqueue.c
// wq_worker_comm), or a kthread's full_name (kernel/kthread.c
// get_kthread_comm, 5.17+). "" means "same as comm".
func (w *taskWalk) procName(buf []byte, t Task) (string, error) {
	if t.Flags&PFKthread == 0 || t.Idle {
		return "", nil
	}
	kt, err := w.kthreadOf(buf)
	if err != nil || kt == 0 {
		return "", err
	}
	p := w.p
	kobj, err := p.Object("struct kthread", kt)
	if err != nil {
		return "", nil // no type for struct kthread: keep comm
	}
	if t.Flags&PFWQWorker != 0 {
		data, err := kobj.MemberUint("data")
		if err != nil || data == 0 {
			return "", err
		}
		wk, err := p.Object("struct worker", data)
		if err != nil {
			return "", nil
		}
		desc, err := wk.MemberString("desc")
		if err != nil {
			return "", err
		}
		if desc == "" {
			return "", nil
		}
		pool, err := wk.MemberUint("pool")
		if err != nil || pool == 0 {
			return "", err
		}
		cur, err := wk.MemberUint("current_work")
		if err != nil {
			return "", err
		}
		sep := "-"
		if cur != 0 {
			sep = "+"
		}
		return truncName(t.Comm + sep + desc), nil
	}
	fn, err := kobj.Member("full_name")
	if err != nil {
		return "", nil // before 5.17: no full name kept
	}
	ptr, err := fn.Uint()
	if err != nil || ptr == 0 {
		return "", err
	}
	s, err := p.ReadString(ptr, 64)
	if err != nil {
		return "", fmt.Errorf("kthread full_name %#x: %w", ptr, err)
	}
	return truncName(s), nil
}

// truncName applies proc_task_name's 64-byte buffer (63 characters).
func truncName(s string) string {
	if len(s) > 63 {
		return s[:63]
	}
	return s
}

// kthreadOf returns the struct kthread * of a kthread: task->worker_private
// since 5.17, the set_child_tid slot before (kernel/kthread.c to_kthread).
func (w *taskWalk) kthreadOf(buf []byte) (uint64, error) {
	l := w.lay
	if l.workerPrivate.OK {
		v, _ := l.workerPrivate.UintAt(buf)
		return v, nil
	}
	if l.setChildTid.OK {
		v, _ := l.setChildTid.UintAt(buf)
		return v, nil
	}
	return 0, nil
}
