package walkers

import "github.com/kwalk/kwalk/symbols"

// synthTaskKernel adds task_struct and friends to a synthBase, shaped like
// 6.1 (__state, thread_info.cpu, thread_node) unless legacy is set (5.10:
// state, cpu, thread_group too).
type synthTaskKernel struct {
	*synthBase
	initTask uint64
	idr      map[uint64]uint64 // pid → struct pid
	nsIdr    uint64            // address of init_pid_ns.idr
	rqs      []uint64          // per-CPU struct rq
	pcpuOff  []uint64
}

func newSynthTaskKernel(ncpu int, legacy bool) *synthTaskKernel {
	b := newSynthBase()
	k := &synthTaskKernel{synthBase: b, idr: make(map[uint64]uint64)}
	ty := b.types
	sigset := ty.add(tStruct("sigset_t", fd("sig", tArr(b.u64, 1))))
	sigpending := ty.add(tStruct("sigpending", fd("list", b.listHead), fd("signal", sigset)))
	upid := ty.add(tStruct("upid", fd("nr", b.s32), fd("ns", tPtr(b.void))))
	ty.add(tStruct("pid", fd("count", b.u32), fd("level", b.u32), fd("lock", b.u32),
		fd("tasks", tArr(b.hlistHead, 4)), fd("inodes", b.hlistHead), fd("wait_pidfd", tArr(b.u64, 3)),
		fd("rcu", tArr(b.u64, 2)), fd("numbers", tArr(upid, 1))))
	ty.add(tStruct("signal_struct", fd("sigcnt", b.u32), fd("live", b.u32), fd("nr_threads", b.s32),
		fd("thread_head", b.listHead), fd("wait_chldexit", tArr(b.u64, 3)), fd("curr_target", tPtr(b.void)),
		fd("shared_pending", sigpending)))
	ti := tStruct("thread_info", fd("flags", b.u64), fd("syscall_work", b.u64), fd("status", b.u32), fd("cpu", b.u32))
	schedInfo := tStruct("sched_info", fd("pcount", b.u64), fd("run_delay", b.u64), fd("last_arrival", b.u64), fd("last_queued", b.u64))
	task := &symbols.Type{Kind: symbols.KindStruct, Name: "task_struct"}
	fields := []fdef{}
	if legacy {
		fields = append(fields, fd("thread_info", tStruct("thread_info", fd("flags", b.u64), fd("status", b.u32))), fd("state", b.s64))
	} else {
		fields = append(fields, fd("thread_info", ti), fd("__state", b.u32))
	}
	fields = append(fields, fd("stack", tPtr(b.void)), fd("usage", b.u32), fd("flags", b.u32), fd("on_cpu", b.s32))
	if legacy {
		fields = append(fields, fd("cpu", b.u32))
	}
	fields = append(fields,
		fd("sched_info", schedInfo), fd("tasks", b.listHead), fd("exit_state", b.s32),
		fd("pid", b.s32), fd("tgid", b.s32), fd("real_parent", tPtr(task)), fd("parent", tPtr(task)),
		fd("group_leader", tPtr(task)), fd("thread_pid", tPtr(ty["struct pid"])),
		fd("pid_links", tArr(b.hlistNode, 4)))
	if legacy {
		fields = append(fields, fd("thread_group", b.listHead))
	}
	fields = append(fields, fd("thread_node", b.listHead), fd("set_child_tid", tPtr(b.void)),
		fd("comm", tArr(b.char, 16)), fd("files", tPtr(b.void)), fd("signal", tPtr(ty["struct signal_struct"])),
		fd("pending", sigpending))
	if !legacy {
		fields = append(fields, fd("worker_private", tPtr(b.void)))
	}
	layoutInto(task, fields)
	ty.add(task)
	ty.add(tStruct("rq", fd("nr_running", b.u32), fd("clock", b.u64), fd("curr", tPtr(task)), fd("idle", tPtr(task))))
	ty.add(tStruct("pid_namespace", fd("idr", ty["struct idr"]), fd("level", b.u32)))
	enumPT := &symbols.Type{Kind: symbols.KindEnum, Name: "pid_type", Size: 4, Enumerators: []symbols.Enumerator{
		{Name: "PIDTYPE_PID", Value: 0}, {Name: "PIDTYPE_TGID", Value: 1}, {Name: "PIDTYPE_PGID", Value: 2}, {Name: "PIDTYPE_SID", Value: 3}, {Name: "PIDTYPE_MAX", Value: 4}}}
	ty.add(enumPT)

	// Globals.
	k.initTask = b.newObj("struct task_struct")
	b.syms.add("init_task", k.initTask, b.size("struct task_struct"), 'D')
	ns := b.newObj("struct pid_namespace")
	b.syms.add("init_pid_ns", ns, b.size("struct pid_namespace"), 'D')
	k.nsIdr = ns + b.off("struct pid_namespace", "idr")
	nrCPU := b.alloc(4)
	b.mem.w32(nrCPU, uint32(ncpu))
	b.syms.add("nr_cpu_ids", nrCPU, 4, 'D')
	// Per-CPU area: "runqueues" is an offset; each CPU's copy is at
	// __per_cpu_offset[cpu] + it.
	const rqSym = 0x2b000
	b.syms.add("runqueues", rqSym, b.size("struct rq"), 'D')
	offs := b.alloc(8 * uint64(ncpu))
	b.syms.add("__per_cpu_offset", offs, 8*uint64(ncpu), 'D')
	for cpu := 0; cpu < ncpu; cpu++ {
		area := b.alloc(0x40000)
		po := area - rqSym
		b.mem.w64(offs+8*uint64(cpu), po)
		k.pcpuOff = append(k.pcpuOff, po)
		rq := area
		k.rqs = append(k.rqs, rq)
		b.mem.w64(rq+b.off("struct rq", "clock"), 1_000_000_000*uint64(100+cpu))
	}
	// init_task: swapper/0, its own signal_struct, heads of tasks.
	k.setupTask(k.initTask, 0, 0, "swapper/0", 0, 0)
	b.listInit(k.initTask + b.off("struct task_struct", "tasks"))
	sig := b.newObj("struct signal_struct")
	b.listInit(sig + b.off("struct signal_struct", "thread_head"))
	b.mem.w64(k.initTask+b.off("struct task_struct", "signal"), sig)
	b.listAddTail(sig+b.off("struct signal_struct", "thread_head"), k.initTask+b.off("struct task_struct", "thread_node"))
	if legacy {
		b.listInit(k.initTask + b.off("struct task_struct", "thread_group"))
	}
	b.mem.w64(k.rqs[0]+b.off("struct rq", "idle"), k.initTask)
	for cpu := 1; cpu < ncpu; cpu++ {
		idle := b.newObj("struct task_struct")
		k.setupTask(idle, 0, 0, "swapper/"+string(rune('0'+cpu)), 0, 0)
		b.mem.w64(idle+b.off("struct task_struct", "signal"), sig)
		k.setCPU(idle, cpu)
		b.mem.w64(k.rqs[cpu]+b.off("struct rq", "idle"), idle)
	}
	return k
}

func (k *synthTaskKernel) legacy() bool {
	_, ok := k.types["struct task_struct"].FindMember("state")
	return ok
}

func (k *synthTaskKernel) setCPU(task uint64, cpu int) {
	if k.legacy() {
		k.mem.w32(task+k.off("struct task_struct", "cpu"), uint32(cpu))
	} else {
		k.mem.w32(task+k.off("struct task_struct", "thread_info.cpu"), uint32(cpu))
	}
}

func (k *synthTaskKernel) setState(task uint64, state uint64) {
	if k.legacy() {
		k.mem.w64(task+k.off("struct task_struct", "state"), state)
	} else {
		k.mem.w32(task+k.off("struct task_struct", "__state"), uint32(state))
	}
}

func (k *synthTaskKernel) setupTask(a uint64, pid, tgid int, comm string, state, flags uint64) {
	k.mem.w32(a+k.off("struct task_struct", "pid"), uint32(pid))
	k.mem.w32(a+k.off("struct task_struct", "tgid"), uint32(tgid))
	k.mem.wstr(a+k.off("struct task_struct", "comm"), comm)
	k.setState(a, state)
	k.mem.w32(a+k.off("struct task_struct", "flags"), uint32(flags))
}

// addProcess creates a thread-group leader with pid, parent and namespace
// pids (nsPids: ids in inner namespaces).
func (k *synthTaskKernel) addProcess(pid int, parent uint64, comm string, state, flags uint64, nsPids ...int) uint64 {
	a := k.newObj("struct task_struct")
	k.setupTask(a, pid, pid, comm, state, flags)
	k.mem.w64(a+k.off("struct task_struct", "real_parent"), parent)
	k.mem.w64(a+k.off("struct task_struct", "group_leader"), a)
	k.listAddTail(k.initTask+k.off("struct task_struct", "tasks"), a+k.off("struct task_struct", "tasks"))
	sig := k.newObj("struct signal_struct")
	k.listInit(sig + k.off("struct signal_struct", "thread_head"))
	k.mem.w64(a+k.off("struct task_struct", "signal"), sig)
	k.listAddTail(sig+k.off("struct signal_struct", "thread_head"), a+k.off("struct task_struct", "thread_node"))
	if k.legacy() {
		k.listInit(a + k.off("struct task_struct", "thread_group"))
	}
	k.attachPid(a, pid, nsPids)
	return a
}

// addThread adds a thread to leader's group.
func (k *synthTaskKernel) addThread(leader uint64, tid int, comm string, state uint64, nsPids ...int) uint64 {
	a := k.newObj("struct task_struct")
	tgid, _ := k.program().ReadU32(leader + k.off("struct task_struct", "tgid"))
	k.setupTask(a, tid, int(tgid), comm, state, 0)
	par, _ := k.program().ReadU64(leader + k.off("struct task_struct", "real_parent"))
	k.mem.w64(a+k.off("struct task_struct", "real_parent"), par)
	k.mem.w64(a+k.off("struct task_struct", "group_leader"), leader)
	sig, _ := k.program().ReadU64(leader + k.off("struct task_struct", "signal"))
	k.mem.w64(a+k.off("struct task_struct", "signal"), sig)
	k.listAddTail(sig+k.off("struct signal_struct", "thread_head"), a+k.off("struct task_struct", "thread_node"))
	if k.legacy() {
		k.listAddTail(leader+k.off("struct task_struct", "thread_group"), a+k.off("struct task_struct", "thread_group"))
	}
	k.attachPid(a, tid, nsPids)
	return a
}

func (k *synthTaskKernel) attachPid(task uint64, pid int, nsPids []int) {
	p := k.alloc(k.size("struct pid") + 16*uint64(len(nsPids)))
	k.mem.w32(p+k.off("struct pid", "level"), uint32(len(nsPids)))
	nums := p + k.off("struct pid", "numbers")
	k.mem.w32(nums, uint32(pid))
	for i, n := range nsPids {
		k.mem.w32(nums+16*uint64(i+1), uint32(n))
	}
	k.hlistAddHead(p+k.off("struct pid", "tasks"), task+k.off("struct task_struct", "pid_links"))
	k.mem.w64(task+k.off("struct task_struct", "thread_pid"), p)
	k.idr[uint64(pid)] = p
}

// finish writes init_pid_ns.idr.
func (k *synthTaskKernel) finish() *symbols.Program {
	k.mem.w64(k.nsIdr+k.off("struct idr", "idr_rt.xa_head"), k.buildXArray(k.idr))
	return k.program()
}
