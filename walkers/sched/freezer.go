package sched

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// Freezer states of a task (kernel/freezer.c, kernel/cgroup/freezer.c).
const (
	// taskFrozen is TASK_FROZEN in __state (6.1+, include/linux/sched.h).
	taskFrozen = 0x8000
	// pfFrozen is PF_FROZEN in flags (≤ 6.0).
	pfFrozen = 0x00010000
)

// cgrpFreeze is CGRP_FREEZE, the bit of cgroup.flags set while the cgroup
// is to be frozen (include/linux/cgroup-defs.h, 5.2 through 7.1).
const cgrpFreeze = 2

// Frozen says whether t is frozen and by what: "cgroup" (the cgroup v2
// freezer: task_struct.frozen, set by cgroup_enter_frozen in
// do_freezer_trap, while its cgroup freezes; the task sleeps in S),
// "system" (the suspend/hibernate freezer: TASK_FROZEN in __state on
// 6.1+, PF_FROZEN in flags before), or "".
//
// task_struct.frozen alone does not say the cgroup froze the task:
// kernel/signal.c do_signal_stop and ptrace_stop call cgroup_enter_frozen
// too, so that a stopped or traced task does not keep its cgroup from
// reaching "frozen"; so its default cgroup must be freezing as well
// (cgroup.freezer.e_freeze, which an ancestor's cgroup.freeze sets; else
// CGRP_FREEZE in its flags).
func (t *Task) Frozen() string {
	if t.Obj.Type().HasMember("__state") && t.RawState&taskFrozen != 0 {
		return "system"
	}
	if !t.Obj.Type().HasMember("__state") && t.Flags&pfFrozen != 0 {
		return "system"
	}
	if t.Obj.Type().HasMember("frozen") {
		if v, err := t.Obj.MemberUint("frozen"); err == nil && v != 0 && t.cgroupFreezing() {
			return "cgroup"
		}
	}
	return ""
}

// cgroupFreezing reports whether t's cgroup v2 cgroup is frozen or
// freezing, itself or through an ancestor.
func (t *Task) cgroupFreezing() bool {
	if v, err := t.Obj.MemberUint("cgroups->dfl_cgrp->freezer.e_freeze"); err == nil {
		return v != 0
	}
	v, err := t.Obj.MemberUint("cgroups->dfl_cgrp->flags")
	return err == nil && v&(1<<cgrpFreeze) != 0
}

// FreezerCgroupPath returns the cgroup v2 path of the cgroup whose
// cgroup.freeze froze t: its own cgroup or the nearest ancestor with
// freezer.freeze set (kernel/cgroup/freezer.c cgroup_freeze propagates it
// down as e_freeze). Writing 0 to that cgroup's cgroup.freeze thaws t.
func FreezerCgroupPath(p *symbols.Program, t *Task) (string, error) {
	cg, err := t.Obj.MemberUint("cgroups->dfl_cgrp")
	if err != nil {
		return "", fmt.Errorf("task %d: cgroup: %w", t.PID, err)
	}
	for depth := 0; cg != 0; depth++ {
		if depth > maxCgroupDepth {
			return "", fmt.Errorf("task %d: cgroup deeper than %d", t.PID, maxCgroupDepth)
		}
		o, err := p.Object("struct cgroup", cg)
		if err != nil {
			return "", err
		}
		if f, err := o.MemberUint("freezer.freeze"); err == nil && f != 0 {
			kn, err := o.MemberUint("kn")
			if err != nil {
				return "", err
			}
			return kernfsPath(p, kn, t.PID)
		}
		// struct cgroup begins with its cgroup_subsys_state self, whose
		// parent is the parent cgroup's self.
		if cg, err = o.MemberUint("self.parent"); err != nil {
			return "", err
		}
	}
	return CgroupPath(p, t)
}

// maxCgroupDepth bounds the walk up a cgroup's kernfs parents.
const maxCgroupDepth = 64

// CgroupPath returns t's cgroup v2 path ("/system.slice/x.service"):
// task->cgroups->dfl_cgrp->kn, its kernfs_node names up to the root
// (include/linux/kernfs.h; the parent is kn->parent, kn->__parent in 7.1).
func CgroupPath(p *symbols.Program, t *Task) (string, error) {
	kn, err := t.Obj.MemberUint("cgroups->dfl_cgrp->kn")
	if err != nil {
		return "", fmt.Errorf("task %d: cgroup: %w", t.PID, err)
	}
	return kernfsPath(p, kn, t.PID)
}

// kernfsPath is the path of a cgroup's kernfs node kn (for task pid's
// errors).
func kernfsPath(p *symbols.Program, kn uint64, pid int) (string, error) {
	kt, err := p.Type("struct kernfs_node")
	if err != nil {
		return "", err
	}
	parent := "parent"
	if !kt.HasMember(parent) {
		parent = "__parent"
	}
	var parts []string
	for depth := 0; kn != 0; depth++ {
		if depth > maxCgroupDepth {
			return "", fmt.Errorf("task %d: cgroup path deeper than %d", pid, maxCgroupDepth)
		}
		o, err := p.Object("struct kernfs_node", kn)
		if err != nil {
			return "", err
		}
		next, err := o.MemberUint(parent)
		if err != nil {
			return "", err
		}
		if next == 0 {
			break // the root's name is ""
		}
		np, err := o.MemberUint("name")
		if err != nil {
			return "", err
		}
		name, err := p.ReadString(np, 256)
		if err != nil {
			return "", err
		}
		parts = append([]string{name}, parts...)
		kn = next
	}
	return "/" + strings.Join(parts, "/"), nil
}
