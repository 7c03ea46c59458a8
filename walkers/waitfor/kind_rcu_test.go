package waitfor

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

const (
	symWakemeAfterRCU = 0xffffffff81004000
	rcuHZ             = 250
	rcuUptime         = 100 // seconds, CPU 0's rq clock
	// jiffies at the dump: INITIAL_JIFFIES + uptime·HZ.
	rcuJiffies = uint64(1<<32-300*rcuHZ) + rcuUptime*rcuHZ
)

// rcuScene adds to a kind scene a two-CPU kernel's run queues and jiffies
// and a Tree RCU state of one rcu_node (root and leaf) for CPUs 0-1, with
// its grace-period kthread rcu_preempt (pid 15).
type rcuScene struct {
	*kindScene
	rqs       [2]uint64
	rcuState  uint64
	gpKthread uint64
}

// Offsets of the synthetic struct rcu_state and rcu_node.
const (
	rsNodeSize   = 192
	rsGPSeq      = 2 * rsNodeSize
	rsGPKthread  = rsGPSeq + 8
	rsGPState    = rsGPSeq + 16
	rsGPStart    = rsGPSeq + 24
	rsName       = rsGPSeq + 32
	rsExpSeq     = rsGPSeq + 40
	rsBarrier    = rsGPSeq + 48
	rnQSMask     = 0
	rnExpMask    = 8
	rnBlkdTasks  = 40
	rnGPTasks    = 56
	rnExpTasks   = 64
	rnExpWQ      = 72
	wqHeadSize   = 24
	perCPUSymbol = 0x2b000
)

func newRCUScene(t *testing.T) *rcuScene {
	s := &rcuScene{kindScene: newKindScene(t, false)}
	ty := s.Types
	lh, ptr := ty.Get("struct list_head"), ty.Ptr(nil)
	ulong := ty.Get("unsigned long")
	ty.Struct("rq", 64, symtest.F("clock", ty.Get("u64"), 0), symtest.F("curr", ptr, 8), symtest.F("idle", ptr, 16))
	ch := ty.Struct("callback_head", 16, symtest.F("next", ptr, 0), symtest.F("func", ptr, 8))
	ty.Struct("rcu_synchronize", 48, symtest.F("head", ch, 0), symtest.F("completion", ty.Get("struct completion"), 16))
	node := ty.Struct("rcu_node", rsNodeSize, symtest.F("qsmask", ulong, rnQSMask), symtest.F("expmask", ulong, rnExpMask),
		symtest.F("grplo", ty.Get("int"), 16), symtest.F("grphi", ty.Get("int"), 20), symtest.F("level", ty.Get("u8"), 24),
		symtest.F("parent", ptr, 32), symtest.F("blkd_tasks", lh, rnBlkdTasks), symtest.F("gp_tasks", ptr, rnGPTasks),
		symtest.F("exp_tasks", ptr, rnExpTasks), symtest.F("exp_wq", ty.Array(ty.Get("wait_queue_head_t"), 4), rnExpWQ))
	ty.Struct("rcu_state", 512, symtest.F("node", ty.Array(node, 2), 0), symtest.F("gp_seq", ulong, rsGPSeq),
		symtest.F("gp_kthread", ptr, rsGPKthread), symtest.F("gp_state", ty.Get("short"), rsGPState),
		symtest.F("gp_start", ulong, rsGPStart), symtest.F("name", ty.Ptr(ty.Get("char")), rsName),
		symtest.F("expedited_sequence", ulong, rsExpSeq), symtest.F("barrier_completion", ty.Get("struct completion"), rsBarrier),
		symtest.F("barrier_cpu_count", ty.Get("atomic_t"), rsBarrier+32))
	data := func(name string, addr, size uint64) {
		s.syms = append(s.syms, symbols.Symbol{Name: name, Addr: addr, Size: size, Type: 'd'})
	}
	// Per-CPU run queues: "runqueues" is an offset into each CPU's area.
	offs := s.Alloc(16)
	data("__per_cpu_offset", offs, 16)
	data("runqueues", perCPUSymbol, 64)
	nr := s.Alloc(4)
	s.Mem.WriteU32(nr, 2)
	data("nr_cpu_ids", nr, 4)
	for cpu := 0; cpu < 2; cpu++ {
		rq := s.Alloc(0x1000)
		s.rqs[cpu] = rq
		s.Mem.WriteU64(offs+8*uint64(cpu), rq-perCPUSymbol)
		s.Mem.WriteU64(rq, rcuUptime*1_000_000_000)
		idle := s.Task(0, "swapper")
		s.Mem.WriteU64(rq+8, idle)
		s.Mem.WriteU64(rq+16, idle)
	}
	j := s.Alloc(8)
	s.Mem.WriteU64(j, rcuJiffies)
	data("jiffies_64", j, 8)
	// rcu_state with one node in use.
	rs := s.Alloc(512)
	s.rcuState = rs
	data("rcu_state", rs, 512)
	n := s.Alloc(4)
	s.Mem.WriteU32(n, 1)
	data("rcu_num_nodes", n, 4)
	s.Mem.WriteU32(rs+20, 1) // node[0].grphi
	s.List(rs + rnBlkdTasks)
	for i := uint64(0); i < 4; i++ {
		s.List(rs + rnExpWQ + i*wqHeadSize + 8)
	}
	s.List(rs + rsBarrier + 16)
	name := s.Alloc(16)
	s.Mem.WriteString(name, "rcu_preempt")
	s.Mem.WriteU64(rs+rsName, name)
	s.gpKthread, _ = s.task(15, "rcu_preempt", "S")
	s.Mem.WriteU64(rs+rsGPKthread, s.gpKthread)
	s.sym("wakeme_after_rcu", symWakemeAfterRCU)
	return s
}

// gp sets the grace period: gp_seq, gp_state and a start age seconds ago.
func (s *rcuScene) gp(seq uint64, state uint16, age uint64) {
	s.Mem.WriteU64(s.rcuState+rsGPSeq, seq)
	s.Mem.Write(s.rcuState+rsGPState, []byte{byte(state), byte(state >> 8)})
	s.Mem.WriteU64(s.rcuState+rsGPStart, rcuJiffies-age*rcuHZ)
}

// run CPU cpu's current task.
func (s *rcuScene) running(cpu int, task uint64) { s.Mem.WriteU64(s.rqs[cpu]+8, task) }

// synchronizer makes a task in synchronize_rcu with its rcu_synchronize
// on its stack (rcu_head func fn).
func (s *rcuScene) synchronizer(pid int, fn uint64, frames ...string) {
	task, st := s.task(pid, "synchronize", "D", frames...)
	rs := st + 0x3c00
	s.Mem.WriteU64(rs+8, fn)
	s.List(rs + 16 + 16)
	s.swaitWaiter(task, st, 0x3e00, rs+16)
}

var synchronizeFrames = []string{"__schedule", "schedule_timeout", "wait_for_completion", "__wait_rcu_gp", "synchronize_rcu", "my_exit"}

func TestRCUGracePeriodWait(t *testing.T) {
	type want struct {
		kind    string
		holders []int
		certain bool // the holders'
		note    string
		root    string
		sure    bool   // the root's
		errPart string // a part of the wait's error
	}
	for _, tc := range []struct {
		name  string
		build func(s *rcuScene)
		want  want
	}{
		{
			name: "a reader preempted in its read-side section",
			build: func(s *rcuScene) {
				s.gp(400|1, 5, 40)
				reader, _ := s.task(70, "reader", "R")
				s.List(s.rcuState+rnBlkdTasks, reader+offRCUNodeEntry)
				s.Mem.WriteU64(s.rcuState+rnGPTasks, reader+offRCUNodeEntry)
				s.synchronizer(80, symWakemeAfterRCU, synchronizeFrames...)
			},
			want: want{kind: WaitRCUGracePeriod, holders: []int{70}, certain: true, root: RootRCUStall, sure: true,
				note: "RCU grace period g=401 has lasted 40s (RCU_GP_WAIT_FQS): reader reader (pid 70) was preempted inside rcu_read_lock() and has not left it"},
		},
		{
			name: "a CPU that has not reported",
			build: func(s *rcuScene) {
				s.gp(400|1, 5, 25)
				hog, _ := s.task(71, "hog", "R")
				s.running(1, hog)
				s.Mem.WriteU64(s.rcuState+rnQSMask, 1<<1)
				s.synchronizer(80, symWakemeAfterRCU, synchronizeFrames...)
			},
			want: want{kind: WaitRCUGracePeriod, holders: []int{71}, root: RootRCUStall,
				note: "RCU grace period g=401 has lasted 25s (RCU_GP_WAIT_FQS): CPU 1 (running hog (pid 71)) has not passed a quiescent state"},
		},
		{
			name: "no grace period in progress",
			build: func(s *rcuScene) {
				s.gp(400, 1, 0)
				s.synchronizer(80, 0, "__schedule", "schedule_timeout", "wait_for_completion", "synchronize_rcu_normal", "synchronize_rcu")
			},
			want: want{kind: WaitRCUGracePeriod, root: RootRCUStall,
				note: "no RCU grace period is in progress (last g=400, RCU_GP_WAIT_GPS): the grace-period kthread rcu_preempt (pid 15) has not started the one it needs"},
		},
		{
			name: "rcu_barrier, an idle CPU not reported",
			build: func(s *rcuScene) {
				s.gp(400|1, 5, 12)
				s.Mem.WriteU64(s.rcuState+rnQSMask, 1<<0)
				task, st := s.task(81, "modprobe", "D", "__schedule", "wait_for_completion", "rcu_barrier")
				s.swaitWaiter(task, st, 0x3e00, s.rcuState+rsBarrier)
			},
			want: want{kind: WaitRCUGracePeriod, holders: []int{15}, root: RootRCUStall,
				note: "rcu_barrier waits for the callbacks of every CPU, which wait for grace periods: RCU grace period g=401 has lasted 12s (RCU_GP_WAIT_FQS): CPU 0 (idle) has not passed a quiescent state"},
		},
		{
			name: "expedited, a CPU that has not reported",
			build: func(s *rcuScene) {
				s.Mem.WriteU64(s.rcuState+rsExpSeq, 0x41)
				s.Mem.WriteU64(s.rcuState+rnExpMask, 1<<1)
				hog, _ := s.task(71, "hog", "R")
				s.running(1, hog)
				task, st := s.task(82, "ip", "D", "__schedule", "synchronize_rcu_expedited", "synchronize_net")
				q := st + 0x3e00 // wait_queue_entry { flags, private, func, entry }
				s.Mem.WriteU64(q+8, task)
				s.List(s.rcuState+rnExpWQ+1*wqHeadSize+8, q+24)
			},
			want: want{kind: WaitRCUExpedited, holders: []int{71}, root: RootRCUStall,
				note: "expedited RCU grace period (expedited_sequence 65) is in progress: CPU 1 (running hog (pid 71)) has not passed a quiescent state"},
		},
		{
			name: "a damaged reader list: the readers read, and the error",
			build: func(s *rcuScene) {
				s.gp(400|1, 5, 40)
				reader, _ := s.task(70, "reader", "R")
				other, _ := s.task(72, "other", "R")
				// reader → other → reader …, never back to blkd_tasks.
				s.List(s.rcuState+rnBlkdTasks, reader+offRCUNodeEntry, other+offRCUNodeEntry)
				s.Mem.WriteU64(other+offRCUNodeEntry, reader+offRCUNodeEntry)
				s.Mem.WriteU64(s.rcuState+rnGPTasks, reader+offRCUNodeEntry)
				s.synchronizer(80, symWakemeAfterRCU, synchronizeFrames...)
			},
			want: want{kind: WaitRCUGracePeriod, holders: []int{70, 72}, certain: true, root: RootRCUStall, errPart: "corrupt list",
				note: "RCU grace period g=401 has lasted 40s (RCU_GP_WAIT_FQS): reader reader (pid 70) was preempted"},
		},
		{
			name: "a completion that is no rcu_synchronize's",
			build: func(s *rcuScene) {
				s.gp(400|1, 5, 40)
				s.synchronizer(80, 0, synchronizeFrames...)
			},
			want: want{kind: "completion", root: RootNoWaker, sure: true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRCUScene(t)
			tc.build(s)
			_, ws, cs := s.run()
			var w *TaskWait
			for _, pid := range []int{80, 81, 82} {
				if w == nil {
					w = waitOfPID(ws, pid)
				}
			}
			if w == nil {
				t.Fatalf("no wait: %+v", ws)
			}
			if w.Kind != tc.want.kind || !strings.HasPrefix(w.Note, tc.want.note) {
				t.Errorf("wait %s note %q, want %s %q", w.Kind, w.Note, tc.want.kind, tc.want.note)
			}
			if !strings.Contains(w.Error, tc.want.errPart) || (tc.want.errPart == "") != (w.Error == "") {
				t.Errorf("error %q, want one with %q", w.Error, tc.want.errPart)
			}
			if w.Kind != "completion" && (w.Object.Type != "rcu_state" || w.Object.Addr != s.rcuState || w.Certain != (w.Error == "")) {
				t.Errorf("object %+v certain %v", w.Object, w.Certain)
			}
			var pids []int
			for _, h := range w.Holders {
				pids = append(pids, h.Task.PID)
				if h.Certain != tc.want.certain {
					t.Errorf("holder %d certain %v (%s)", h.Task.PID, h.Certain, h.How)
				}
			}
			if len(pids) != len(tc.want.holders) || (len(pids) > 0 && pids[0] != tc.want.holders[0]) {
				t.Errorf("holders %v, want %v", pids, tc.want.holders)
			}
			c := chainOfPID(cs, w.Task.PID)
			if c == nil {
				t.Fatal("no chain")
			}
			t.Logf("%s", strings.Join(c.Story, "\n"))
			if c.Root.Kind != tc.want.root || c.Root.Certain != tc.want.sure ||
				(tc.want.root == RootRCUStall && c.Root.Summary != w.Note) {
				t.Errorf("root %+v, want %s (certain %v)", c.Root, tc.want.root, tc.want.sure)
			}
		})
	}
}
