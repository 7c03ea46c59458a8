package sched

import (
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// runqKernel is a synthetic one-CPU kernel (EEVDF-shaped, 6.12: deadline,
// vlag, sched_delayed, my_q) with a run queue the test fills.
type runqKernel struct {
	*symtest.Kernel
	rq uint64
}

func newRunqKernel(t *testing.T) *runqKernel {
	t.Helper()
	k := symtest.NewKernel()
	ty := k.Types
	rbNode := ty.Get("struct rb_node")
	rbCached := ty.Add(symtest.Layout("rb_root_cached", symtest.M("rb_root", ty.Get("struct rb_root")), symtest.M("rb_leftmost", symtest.Ptr(rbNode))))
	cfsRq := &symbols.Type{Kind: symbols.KindStruct, Name: "cfs_rq"}
	se := ty.Add(symtest.Layout("sched_entity", symtest.M("run_node", rbNode), symtest.M("deadline", k.U64),
		symtest.M("sched_delayed", k.U8), symtest.M("vruntime", k.U64), symtest.M("vlag", k.S64), symtest.M("my_q", symtest.Ptr(cfsRq))))
	symtest.LayoutInto(cfsRq, []symtest.Field{symtest.M("nr_running", k.U32), symtest.M("tasks_timeline", rbCached),
		symtest.M("tg", symtest.Ptr(k.Void)), symtest.M("throttled", k.S32)})
	ty.Add(cfsRq)
	rtse := ty.Add(symtest.Layout("sched_rt_entity", symtest.M("run_list", k.ListHead)))
	dlse := ty.Add(symtest.Layout("sched_dl_entity", symtest.M("rb_node", rbNode), symtest.M("deadline", k.U64)))
	prioArr := ty.Add(symtest.Layout("rt_prio_array", symtest.M("bitmap", symtest.Array(k.U64, 2)), symtest.M("queue", symtest.Array(k.ListHead, 100))))
	rtRq := ty.Add(symtest.Layout("rt_rq", symtest.M("active", prioArr)))
	dlRq := ty.Add(symtest.Layout("dl_rq", symtest.M("root", rbCached)))
	task := &symbols.Type{Kind: symbols.KindStruct, Name: "task_struct"}
	symtest.LayoutInto(task, []symtest.Field{symtest.M("__state", k.U32), symtest.M("flags", k.U32), symtest.M("pid", k.S32), symtest.M("tgid", k.S32),
		symtest.M("prio", k.S32), symtest.M("comm", symtest.Array(k.Char, 16)), symtest.M("se", se), symtest.M("rt", rtse), symtest.M("dl", dlse)})
	ty.Add(task)
	ty.Add(symtest.Layout("rq", symtest.M("nr_running", k.U32), symtest.M("clock", k.U64), symtest.M("curr", symtest.Ptr(task)),
		symtest.M("idle", symtest.Ptr(task)), symtest.M("cfs", cfsRq), symtest.M("rt", rtRq), symtest.M("dl", dlRq), symtest.M("fair_server", dlse)))
	// One CPU: nr_cpu_ids, the online mask, __per_cpu_offset, runqueues.
	n := k.Alloc(4)
	k.Mem.WriteU32(n, 1)
	k.Syms.Add("nr_cpu_ids", n, 4, 'D')
	online := k.Alloc(8)
	k.Mem.WriteU64(online, 1)
	k.Syms.Add("__cpu_online_mask", online, 8, 'D')
	const rqSym = 0x2b000
	k.Syms.Add("runqueues", rqSym, k.Size("struct rq"), 'D')
	area := k.Alloc(k.Size("struct rq"))
	offs := k.Alloc(8)
	k.Mem.WriteU64(offs, area-rqSym)
	k.Syms.Add("__per_cpu_offset", offs, 8, 'D')
	return &runqKernel{Kernel: k, rq: area}
}

func (k *runqKernel) task(pid, prio int, state uint32, comm string) uint64 {
	a := k.NewObj("struct task_struct")
	k.Mem.WriteU32(a+k.Off("struct task_struct", "pid"), uint32(pid))
	k.Mem.WriteU32(a+k.Off("struct task_struct", "tgid"), uint32(pid))
	k.Mem.WriteU32(a+k.Off("struct task_struct", "prio"), uint32(prio))
	k.Mem.WriteU32(a+k.Off("struct task_struct", "__state"), state)
	k.Mem.Write(a+k.Off("struct task_struct", "comm"), append([]byte(comm), 0))
	return a
}

// tree links the rb_nodes as a degenerate right spine (in order = given
// order) and sets root.
func (k *runqKernel) tree(root uint64, nodes ...uint64) {
	right := k.Off("struct rb_node", "rb_right")
	k.Mem.WriteU64(root, 0)
	if len(nodes) == 0 {
		return
	}
	// A balanced shape for three nodes: nodes[1] the top.
	if len(nodes) == 3 {
		left := k.Off("struct rb_node", "rb_left")
		k.Mem.WriteU64(root, nodes[1])
		k.Mem.WriteU64(nodes[1]+left, nodes[0])
		k.Mem.WriteU64(nodes[1]+right, nodes[2])
		return
	}
	k.Mem.WriteU64(root, nodes[0])
	for i := 0; i+1 < len(nodes); i++ {
		k.Mem.WriteU64(nodes[i]+right, nodes[i+1])
	}
}

func TestRunqueues(t *testing.T) {
	k := newRunqKernel(t)
	off := k.Off
	rq := k.rq
	k.Mem.WriteU64(rq+off("struct rq", "clock"), 5000)
	cur := k.task(10, 120, 0, "cur")
	k.Mem.WriteU64(rq+off("struct rq", "curr"), cur)
	k.Mem.WriteU64(rq+off("struct rq", "idle"), k.task(0, 120, 0, "swapper/0"))
	se := func(task uint64) uint64 { return task + off("struct task_struct", "se") }
	runNode := off("struct sched_entity", "run_node")
	// Root CFS: a (vruntime 100), group G (200) holding b (delayed) and c, d (300).
	a, b, c, d := k.task(11, 120, 0, "a"), k.task(12, 120, 1, "b"), k.task(13, 110, 0, "c"), k.task(14, 139, 0, "d")
	for task, vr := range map[uint64]uint64{a: 100, b: 50, c: 60, d: 300} {
		k.Mem.WriteU64(se(task)+off("struct sched_entity", "vruntime"), vr)
		k.Mem.WriteU64(se(task)+off("struct sched_entity", "deadline"), vr+7)
	}
	k.Mem.Write(se(b)+off("struct sched_entity", "sched_delayed"), []byte{1})
	gse := k.NewObj("struct sched_entity")
	k.Mem.WriteU64(gse+off("struct sched_entity", "vruntime"), 200)
	gq := k.NewObj("struct cfs_rq")
	k.Mem.WriteU64(gse+off("struct sched_entity", "my_q"), gq)
	k.Mem.WriteU32(gq+off("struct cfs_rq", "throttled"), 1)
	k.Mem.WriteU32(gq+off("struct cfs_rq", "nr_running"), 2)
	cfs := rq + off("struct rq", "cfs")
	k.tree(cfs+off("struct cfs_rq", "tasks_timeline"), se(a)+runNode, gse+runNode, se(d)+runNode)
	k.tree(gq+off("struct cfs_rq", "tasks_timeline"), se(b)+runNode, se(c)+runNode)
	// RT: e at priority 5, f and g at 40 in queue order.
	e, f, g := k.task(20, 5, 0, "e"), k.task(21, 40, 0, "f"), k.task(22, 40, 0, "g")
	arr := rq + off("struct rq", "rt") + off("struct rt_rq", "active")
	k.Mem.WriteU64(arr, 1<<5|1<<40)
	lh := k.Size("struct list_head")
	q := func(prio uint64) uint64 { return arr + off("struct rt_prio_array", "queue") + prio*lh }
	for i := uint64(0); i < 100; i++ {
		k.ListInit(q(i))
	}
	rtOff := off("struct task_struct", "rt")
	k.ListAddTail(q(5), e+rtOff)
	k.ListAddTail(q(40), f+rtOff)
	k.ListAddTail(q(40), g+rtOff)
	// DL: the fair server, then h.
	h := k.task(30, -1, 0, "h")
	dlOff := off("struct task_struct", "dl")
	k.Mem.WriteU64(h+dlOff+off("struct sched_dl_entity", "deadline"), 9000)
	fair := rq + off("struct rq", "fair_server")
	k.tree(rq+off("struct rq", "dl")+off("struct dl_rq", "root"), fair, h+dlOff)
	k.Mem.WriteU32(rq+off("struct rq", "nr_running"), 9)

	qs, err := Runqueues(k.Program(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 {
		t.Fatalf("%d run queues", len(qs))
	}
	r := qs[0]
	if len(r.Errors) > 0 {
		t.Errorf("errors: %v", r.Errors)
	}
	if r.Addr != rq || r.Clock != 5000 || r.NrRunning != 9 || r.Current == nil || r.Current.PID != 10 || r.Idle {
		t.Errorf("rq %#x clock %d nr %d current %+v idle %v", r.Addr, r.Clock, r.NrRunning, r.Current, r.Idle)
	}
	var pids []int
	for _, tk := range r.Tasks() {
		pids = append(pids, tk.PID)
	}
	want := []int{11, 12, 13, 14, 20, 21, 22, 30}
	if len(pids) != len(want) {
		t.Fatalf("queued pids %v, want %v", pids, want)
	}
	for i := range want {
		if pids[i] != want[i] {
			t.Fatalf("queued pids %v, want %v", pids, want)
		}
	}
	if len(r.CFS.Entries) != 3 || r.CFS.Entries[1].Group == nil {
		t.Fatalf("root cfs entries %+v", r.CFS.Entries)
	}
	grp := r.CFS.Entries[1].Group
	if !grp.Throttled || grp.NrRunning != 2 || grp.Vruntime != 200 || grp.CfsRq != gq || len(r.Throttled) != 1 {
		t.Errorf("group %+v, throttled %v", grp, r.Throttled)
	}
	if tb := grp.Entries[0].Task; tb == nil || !tb.Delayed || tb.State != "S" || tb.Vruntime != 50 || tb.Deadline != 57 {
		t.Errorf("delayed task %+v", grp.Entries[0].Task)
	}
	if ta := r.CFS.Entries[0].Task; ta == nil || ta.Entity != se(a) || ta.Vruntime != 100 || ta.State != "R" || ta.Prio != 120 {
		t.Errorf("task a %+v", ta)
	}
	if len(r.RT) != 2 || r.RT[0].Prio != 5 || r.RT[1].Prio != 40 || len(r.RT[1].Tasks) != 2 || r.RT[1].Tasks[1].PID != 22 {
		t.Errorf("rt %+v", r.RT)
	}
	if len(r.DLServers) != 1 || r.DLServers[0] != "fair_server" || len(r.DL) != 1 || r.DL[0].Deadline != 9000 {
		t.Errorf("dl servers %v dl %+v", r.DLServers, r.DL)
	}
}

// A cyclic CFS tree is an error on the queue, not a hang.
func TestRunqueuesCycle(t *testing.T) {
	k := newRunqKernel(t)
	a := k.task(11, 120, 0, "a")
	n := a + k.Off("struct task_struct", "se") + k.Off("struct sched_entity", "run_node")
	k.Mem.WriteU64(n+k.Off("struct rb_node", "rb_right"), n)
	k.Mem.WriteU64(k.rq+k.Off("struct rq", "cfs")+k.Off("struct cfs_rq", "tasks_timeline"), n)
	qs, err := Runqueues(k.Program(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 1 || len(qs[0].Errors) == 0 {
		t.Errorf("run queues %+v: want an error for the cycle", qs)
	}
}
