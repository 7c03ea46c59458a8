package walktest

import (
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// SynthTaskKernel adds task_struct and friends to a synthBase, shaped like
// 6.1 (__state, thread_info.cpu, thread_node) unless legacy is set (5.10:
// state, cpu, thread_group too).
type SynthTaskKernel struct {
	*symtest.Kernel
	InitTask uint64
	idr      map[uint64]uint64 // pid → struct pid
	nsIdr    uint64            // address of init_pid_ns.idr
	Rqs      []uint64          // per-CPU struct rq
	PcpuOff  []uint64
}

func NewSynthTaskKernel(ncpu int, legacy bool) *SynthTaskKernel {
	b := symtest.NewKernel()
	k := &SynthTaskKernel{Kernel: b, idr: make(map[uint64]uint64)}
	ty := b.Types
	sigset := ty.Add(symtest.Layout("sigset_t", symtest.M("sig", symtest.Array(b.U64, 1))))
	sigpending := ty.Add(symtest.Layout("sigpending", symtest.M("list", b.ListHead), symtest.M("signal", sigset)))
	upid := ty.Add(symtest.Layout("upid", symtest.M("nr", b.S32), symtest.M("ns", symtest.Ptr(b.Void))))
	ty.Add(symtest.Layout("pid", symtest.M("count", b.U32), symtest.M("level", b.U32), symtest.M("lock", b.U32),
		symtest.M("tasks", symtest.Array(b.HlistHead, 4)), symtest.M("inodes", b.HlistHead), symtest.M("wait_pidfd", symtest.Array(b.U64, 3)),
		symtest.M("rcu", symtest.Array(b.U64, 2)), symtest.M("numbers", symtest.Array(upid, 1))))
	ty.Add(symtest.Layout("signal_struct", symtest.M("sigcnt", b.U32), symtest.M("live", b.U32), symtest.M("nr_threads", b.S32),
		symtest.M("thread_head", b.ListHead), symtest.M("wait_chldexit", symtest.Array(b.U64, 3)), symtest.M("curr_target", symtest.Ptr(b.Void)),
		symtest.M("shared_pending", sigpending),
		symtest.M("rlim", symtest.Array(symtest.Layout("rlimit", symtest.M("rlim_cur", b.U64), symtest.M("rlim_max", b.U64)), 16))))
	ti := symtest.Layout("thread_info", symtest.M("flags", b.U64), symtest.M("syscall_work", b.U64), symtest.M("status", b.U32), symtest.M("cpu", b.U32))
	schedInfo := symtest.Layout("sched_info", symtest.M("pcount", b.U64), symtest.M("run_delay", b.U64), symtest.M("last_arrival", b.U64), symtest.M("last_queued", b.U64))
	task := &symbols.Type{Kind: symbols.KindStruct, Name: "task_struct"}
	fields := []symtest.Field{}
	if legacy {
		fields = append(fields, symtest.M("thread_info", symtest.Layout("thread_info", symtest.M("flags", b.U64), symtest.M("status", b.U32))), symtest.M("state", b.S64))
	} else {
		fields = append(fields, symtest.M("thread_info", ti), symtest.M("__state", b.U32))
	}
	fields = append(fields, symtest.M("stack", symtest.Ptr(b.Void)), symtest.M("usage", b.U32), symtest.M("flags", b.U32), symtest.M("on_cpu", b.S32))
	if legacy {
		fields = append(fields, symtest.M("cpu", b.U32))
	}
	fields = append(fields,
		symtest.M("sched_info", schedInfo), symtest.M("tasks", b.ListHead), symtest.M("exit_state", b.S32),
		symtest.M("pid", b.S32), symtest.M("tgid", b.S32), symtest.M("real_parent", symtest.Ptr(task)), symtest.M("parent", symtest.Ptr(task)),
		symtest.M("group_leader", symtest.Ptr(task)), symtest.M("thread_pid", symtest.Ptr(ty.Get("struct pid"))),
		symtest.M("pid_links", symtest.Array(b.HlistNode, 4)))
	if legacy {
		fields = append(fields, symtest.M("thread_group", b.ListHead))
	}
	fields = append(fields, symtest.M("thread_node", b.ListHead), symtest.M("set_child_tid", symtest.Ptr(b.Void)),
		symtest.M("comm", symtest.Array(b.Char, 16)), symtest.M("files", symtest.Ptr(b.Void)), symtest.M("signal", symtest.Ptr(ty.Get("struct signal_struct"))),
		symtest.M("pending", sigpending))
	if !legacy {
		fields = append(fields, symtest.M("worker_private", symtest.Ptr(b.Void)))
	}
	fields = append(fields, symtest.M("policy", b.U32), symtest.M("utime", b.U64), symtest.M("stime", b.U64),
		symtest.M("start_time", b.U64), symtest.M("start_boottime", b.U64))
	symtest.LayoutInto(task, fields)
	ty.Add(task)
	ty.Add(symtest.Layout("rq", symtest.M("nr_running", b.U32), symtest.M("clock", b.U64), symtest.M("curr", symtest.Ptr(task)), symtest.M("idle", symtest.Ptr(task))))
	ty.Add(symtest.Layout("pid_namespace", symtest.M("idr", ty.Get("struct idr")), symtest.M("level", b.U32)))
	enumPT := &symbols.Type{Kind: symbols.KindEnum, Name: "pid_type", Size: 4, Enumerators: []symbols.Enumerator{
		{Name: "PIDTYPE_PID", Value: 0}, {Name: "PIDTYPE_TGID", Value: 1}, {Name: "PIDTYPE_PGID", Value: 2}, {Name: "PIDTYPE_SID", Value: 3}, {Name: "PIDTYPE_MAX", Value: 4}}}
	ty.Add(enumPT)

	// Globals.
	k.InitTask = b.NewObj("struct task_struct")
	b.Syms.Add("init_task", k.InitTask, b.Size("struct task_struct"), 'D')
	ns := b.NewObj("struct pid_namespace")
	b.Syms.Add("init_pid_ns", ns, b.Size("struct pid_namespace"), 'D')
	k.nsIdr = ns + b.Off("struct pid_namespace", "idr")
	nrCPU := b.Alloc(4)
	b.Mem.WriteU32(nrCPU, uint32(ncpu))
	b.Syms.Add("nr_cpu_ids", nrCPU, 4, 'D')
	// Per-CPU area: "runqueues" is an offset; each CPU's copy is at
	// __per_cpu_offset[cpu] + it.
	const rqSym = 0x2b000
	b.Syms.Add("runqueues", rqSym, b.Size("struct rq"), 'D')
	offs := b.Alloc(8 * uint64(ncpu))
	b.Syms.Add("__per_cpu_offset", offs, 8*uint64(ncpu), 'D')
	for cpu := 0; cpu < ncpu; cpu++ {
		area := b.Alloc(0x40000)
		po := area - rqSym
		b.Mem.WriteU64(offs+8*uint64(cpu), po)
		k.PcpuOff = append(k.PcpuOff, po)
		rq := area
		k.Rqs = append(k.Rqs, rq)
		b.Mem.WriteU64(rq+b.Off("struct rq", "clock"), 1_000_000_000*uint64(100+cpu))
	}
	// init_task: swapper/0, its own signal_struct, heads of tasks.
	k.setupTask(k.InitTask, 0, 0, "swapper/0", 0, 0)
	b.ListInit(k.InitTask + b.Off("struct task_struct", "tasks"))
	sig := b.NewObj("struct signal_struct")
	b.ListInit(sig + b.Off("struct signal_struct", "thread_head"))
	b.Mem.WriteU64(k.InitTask+b.Off("struct task_struct", "signal"), sig)
	b.ListAddTail(sig+b.Off("struct signal_struct", "thread_head"), k.InitTask+b.Off("struct task_struct", "thread_node"))
	if legacy {
		b.ListInit(k.InitTask + b.Off("struct task_struct", "thread_group"))
	}
	b.Mem.WriteU64(k.Rqs[0]+b.Off("struct rq", "idle"), k.InitTask)
	for cpu := 1; cpu < ncpu; cpu++ {
		idle := b.NewObj("struct task_struct")
		k.setupTask(idle, 0, 0, "swapper/"+string(rune('0'+cpu)), 0, 0)
		b.Mem.WriteU64(idle+b.Off("struct task_struct", "signal"), sig)
		k.SetCPU(idle, cpu)
		b.Mem.WriteU64(k.Rqs[cpu]+b.Off("struct rq", "idle"), idle)
	}
	return k
}

func (k *SynthTaskKernel) legacy() bool {
	_, ok := k.Types.Get("struct task_struct").FindMember("state")
	return ok
}

func (k *SynthTaskKernel) SetCPU(task uint64, cpu int) {
	if k.legacy() {
		k.Mem.WriteU32(task+k.Off("struct task_struct", "cpu"), uint32(cpu))
	} else {
		k.Mem.WriteU32(task+k.Off("struct task_struct", "thread_info.cpu"), uint32(cpu))
	}
}

func (k *SynthTaskKernel) setState(task uint64, state uint64) {
	if k.legacy() {
		k.Mem.WriteU64(task+k.Off("struct task_struct", "state"), state)
	} else {
		k.Mem.WriteU32(task+k.Off("struct task_struct", "__state"), uint32(state))
	}
}

func (k *SynthTaskKernel) setupTask(a uint64, pid, tgid int, comm string, state, flags uint64) {
	k.Mem.WriteU32(a+k.Off("struct task_struct", "pid"), uint32(pid))
	k.Mem.WriteU32(a+k.Off("struct task_struct", "tgid"), uint32(tgid))
	k.Mem.WriteString(a+k.Off("struct task_struct", "comm"), comm)
	k.setState(a, state)
	k.Mem.WriteU32(a+k.Off("struct task_struct", "flags"), uint32(flags))
}

// AddProcess creates a thread-group leader with pid, parent and namespace
// pids (nsPids: ids in inner namespaces).
func (k *SynthTaskKernel) AddProcess(pid int, parent uint64, comm string, state, flags uint64, nsPids ...int) uint64 {
	a := k.NewObj("struct task_struct")
	k.setupTask(a, pid, pid, comm, state, flags)
	k.Mem.WriteU64(a+k.Off("struct task_struct", "real_parent"), parent)
	k.Mem.WriteU64(a+k.Off("struct task_struct", "group_leader"), a)
	k.ListAddTail(k.InitTask+k.Off("struct task_struct", "tasks"), a+k.Off("struct task_struct", "tasks"))
	sig := k.NewObj("struct signal_struct")
	k.ListInit(sig + k.Off("struct signal_struct", "thread_head"))
	k.Mem.WriteU64(a+k.Off("struct task_struct", "signal"), sig)
	k.ListAddTail(sig+k.Off("struct signal_struct", "thread_head"), a+k.Off("struct task_struct", "thread_node"))
	if k.legacy() {
		k.ListInit(a + k.Off("struct task_struct", "thread_group"))
	}
	k.attachPid(a, pid, nsPids)
	return a
}

// AddThread adds a thread to leader's group.
func (k *SynthTaskKernel) AddThread(leader uint64, tid int, comm string, state uint64, nsPids ...int) uint64 {
	a := k.NewObj("struct task_struct")
	tgid, _ := k.Program().ReadU32(leader + k.Off("struct task_struct", "tgid"))
	k.setupTask(a, tid, int(tgid), comm, state, 0)
	par, _ := k.Program().ReadU64(leader + k.Off("struct task_struct", "real_parent"))
	k.Mem.WriteU64(a+k.Off("struct task_struct", "real_parent"), par)
	k.Mem.WriteU64(a+k.Off("struct task_struct", "group_leader"), leader)
	sig, _ := k.Program().ReadU64(leader + k.Off("struct task_struct", "signal"))
	k.Mem.WriteU64(a+k.Off("struct task_struct", "signal"), sig)
	k.ListAddTail(sig+k.Off("struct signal_struct", "thread_head"), a+k.Off("struct task_struct", "thread_node"))
	if k.legacy() {
		k.ListAddTail(leader+k.Off("struct task_struct", "thread_group"), a+k.Off("struct task_struct", "thread_group"))
	}
	k.attachPid(a, tid, nsPids)
	return a
}

func (k *SynthTaskKernel) attachPid(task uint64, pid int, nsPids []int) {
	p := k.Alloc(k.Size("struct pid") + 16*uint64(len(nsPids)))
	k.Mem.WriteU32(p+k.Off("struct pid", "level"), uint32(len(nsPids)))
	nums := p + k.Off("struct pid", "numbers")
	k.Mem.WriteU32(nums, uint32(pid))
	for i, n := range nsPids {
		k.Mem.WriteU32(nums+16*uint64(i+1), uint32(n))
	}
	k.HlistAddHead(p+k.Off("struct pid", "tasks"), task+k.Off("struct task_struct", "pid_links"))
	k.Mem.WriteU64(task+k.Off("struct task_struct", "thread_pid"), p)
	k.idr[uint64(pid)] = p
}

// Finish writes init_pid_ns.idr.
func (k *SynthTaskKernel) Finish() *symbols.Program {
	k.Mem.WriteU64(k.nsIdr+k.Off("struct idr", "idr_rt.xa_head"), k.BuildXArray(k.idr))
	return k.Program()
}
