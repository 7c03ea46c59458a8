package sched

import (
	"testing"

	"github.com/kwalk/kwalk/symbols/symtest"
)

// freezerScene is a synthetic kernel with the task, cgroup (v2 freezer
// state) and kernfs types the freezer helpers read (6.1-shaped).
type freezerScene struct {
	k *symtest.Kernel
}

func newFreezerScene() *freezerScene {
	k := symtest.NewKernel()
	ty := k.Types
	u32, ulong, boolT, char := ty.Get("unsigned int"), ty.Get("unsigned long"), ty.Get("bool"), ty.Get("char")
	kn := ty.Declare("kernfs_node")
	ty.Struct("kernfs_node", 32, symtest.F("parent", ty.Ptr(kn), 0), symtest.F("name", ty.Ptr(char), 8))
	css := ty.Declare("cgroup_subsys_state")
	ty.Struct("cgroup_subsys_state", 32, symtest.F("parent", ty.Ptr(css), 16))
	fz := ty.Struct("cgroup_freezer_state", 16, symtest.F("freeze", boolT, 0), symtest.F("e_freeze", boolT, 1))
	cg := ty.Struct("cgroup", 96, symtest.F("self", css, 0), symtest.F("flags", ulong, 32), symtest.F("kn", ty.Ptr(kn), 40),
		symtest.F("freezer", fz, 48))
	cset := ty.Struct("css_set", 16, symtest.F("dfl_cgrp", ty.Ptr(cg), 8))
	task := ty.Declare("task_struct")
	ty.Struct("task_struct", 256, symtest.F("__state", u32, 0), symtest.F("flags", u32, 4), symtest.Bits("frozen", u32, 8*8, 1),
		symtest.F("ptrace", u32, 12), symtest.F("pid", ty.Get("int"), 16), symtest.F("tgid", ty.Get("int"), 20),
		symtest.F("parent", ty.Ptr(task), 24), symtest.F("cgroups", ty.Ptr(cset), 32), symtest.F("comm", ty.Array(char, 16), 40))
	return &freezerScene{k: k}
}

// cgroup makes a cgroup named name under parent (0: the root), with its
// freezer state.
func (s *freezerScene) cgroup(parent uint64, name string, freeze, eFreeze bool) uint64 {
	k := s.k
	n := k.Alloc(32)
	if parent != 0 {
		pkn, _ := k.Program().ReadU64(parent + 40)
		k.Mem.WriteU64(n, pkn)
		str := k.Alloc(uint64(len(name)) + 1)
		k.Mem.WriteString(str, name)
		k.Mem.WriteU64(n+8, str)
	}
	cg := k.Alloc(96)
	k.Mem.WriteU64(cg+16, parent)
	k.Mem.WriteU64(cg+40, n)
	b := func(v bool) byte {
		if v {
			return 1
		}
		return 0
	}
	k.Mem.Write(cg+48, []byte{b(freeze), b(eFreeze)})
	return cg
}

func (s *freezerScene) task(pid int, state uint64, frozen bool, cg uint64) Task {
	k := s.k
	a := k.Alloc(256)
	k.Mem.WriteU32(a, uint32(state))
	if frozen {
		k.Mem.WriteU8(a+8, 1)
	}
	k.Mem.WriteU32(a+16, uint32(pid))
	k.Mem.WriteU32(a+20, uint32(pid))
	k.Mem.WriteString(a+40, "hangfs")
	cset := k.Alloc(16)
	k.Mem.WriteU64(cset+8, cg)
	k.Mem.WriteU64(a+32, cset)
	o, err := k.Program().Object("struct task_struct", a)
	if err != nil {
		panic(err)
	}
	return Task{Obj: o, Addr: a, PID: pid, TGID: pid, RawState: state, State: StateLetter(state, 0)}
}

func TestFrozen(t *testing.T) {
	s := newFreezerScene()
	root := s.cgroup(0, "", false, false)
	frozen := s.cgroup(root, "kwalk-frozen", true, true)
	child := s.cgroup(frozen, "inner", false, true) // frozen through its parent
	thawed := s.cgroup(root, "user.slice", false, false)
	for _, tc := range []struct {
		name   string
		task   Task
		want   string
		cgroup string // FreezerCgroupPath, for "cgroup"
	}{
		{"frozen by its cgroup", s.task(10, TaskInterruptible, true, frozen), "cgroup", "/kwalk-frozen"},
		{"frozen by an ancestor", s.task(11, TaskInterruptible, true, child), "cgroup", "/kwalk-frozen"},
		// kernel/signal.c do_signal_stop and ptrace_stop set
		// task->frozen too: a stopped task in a cgroup nobody freezes.
		{"stopped (SIGSTOP)", s.task(12, TaskWakekill|TaskStopped, true, thawed), "", ""},
		{"traced", s.task(13, TaskTraced, true, root), "", ""},
		{"system freezer", s.task(14, TaskFrozen|TaskUninterruptible, false, thawed), "system", ""},
		{"running", s.task(15, 0, false, thawed), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.task.Frozen(); got != tc.want {
				t.Errorf("Frozen() = %q, want %q", got, tc.want)
			}
			if tc.cgroup == "" {
				return
			}
			got, err := FreezerCgroupPath(s.k.Program(), &tc.task)
			if err != nil || got != tc.cgroup {
				t.Errorf("FreezerCgroupPath = %q, %v; want %q", got, err, tc.cgroup)
			}
		})
	}
	if p, err := CgroupPath(s.k.Program(), ptrTo(s.task(16, 0, false, child))); err != nil || p != "/kwalk-frozen/inner" {
		t.Errorf("CgroupPath = %q, %v", p, err)
	}
}

func ptrTo(t Task) *Task { return &t }

func TestTracer(t *testing.T) {
	s := newFreezerScene()
	root := s.cgroup(0, "", false, false)
	tracer := s.task(20, TaskInterruptible, false, root)
	traced := s.task(21, TaskTraced, true, root)
	plain := s.task(22, TaskInterruptible, false, root)
	s.k.Mem.WriteU32(traced.Addr+12, 1) // PT_PTRACED
	s.k.Mem.WriteU64(traced.Addr+24, tracer.Addr)
	s.k.Mem.WriteU64(plain.Addr+24, tracer.Addr) // its parent, not a tracer
	p := s.k.Program()
	for _, tc := range []struct {
		name   string
		task   Task
		traced bool
	}{
		{"traced", traced, true},
		{"a child", plain, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _ := p.Object("struct task_struct", tc.task.Addr)
			tk := tc.task
			tk.Obj = o
			r, ok, err := tk.Tracer(p)
			if err != nil || ok != tc.traced || (ok && (r.PID != 20 || r.Comm != "hangfs")) {
				t.Errorf("Tracer() = %+v, %v, %v", r, ok, err)
			}
		})
	}
}
