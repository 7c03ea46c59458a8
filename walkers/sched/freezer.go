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

// Frozen says whether t is frozen and by what: "cgroup" (the cgroup v2
// freezer: task_struct.frozen, set by cgroup_enter_frozen in
// do_freezer_trap; the task sleeps in S), "system" (the suspend/hibernate
// freezer: TASK_FROZEN in __state on 6.1+, PF_FROZEN in flags before), or
// "".
func (t *Task) Frozen() string {
	if t.Obj.Type().HasMember("__state") && t.RawState&taskFrozen != 0 {
		return "system"
	}
	if !t.Obj.Type().HasMember("__state") && t.Flags&pfFrozen != 0 {
		return "system"
	}
	if t.Obj.Type().HasMember("frozen") {
		if v, err := t.Obj.MemberUint("frozen"); err == nil && v != 0 {
			return "cgroup"
		}
	}
	return ""
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
			return "", fmt.Errorf("task %d: cgroup path deeper than %d", t.PID, maxCgroupDepth)
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
