// Package rcu reads the state of Tree RCU (kernel/rcu/tree.c, tree.h):
// the grace period in progress, how long it has lasted, and what it waits
// for — the CPUs that have not reported a quiescent state (the leaf
// rcu_nodes' qsmask bits) and, on preemptible-RCU kernels, the tasks
// preempted inside a read-side critical section that block it (each
// rcu_node's blkd_tasks from gp_tasks on). The same for the expedited
// grace period (expmask, exp_tasks). It answers "why does
// synchronize_rcu() not return".
//
// Everything is read from the static struct rcu_state rcu_state; its
// rcu_node tree is the array rcu_state.node[], root first, of which the
// first rcu_num_nodes are in use.
package rcu

import (
	"fmt"
	"time"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
)

// Grace-period kthread states, rcu_state.gp_state (kernel/rcu/tree.h
// RCU_GP_*: #defines, so not in the types; unchanged from 5.x to 7.x).
var gpStateNames = []string{
	"RCU_GP_IDLE", "RCU_GP_WAIT_GPS", "RCU_GP_DONE_GPS", "RCU_GP_ONOFF", "RCU_GP_INIT",
	"RCU_GP_WAIT_FQS", "RCU_GP_DOING_FQS", "RCU_GP_CLEANUP", "RCU_GP_CLEANED",
}

// GPStateName names a gp_state value ("RCU_GP_WAIT_FQS").
func GPStateName(s int) string {
	if s >= 0 && s < len(gpStateNames) {
		return gpStateNames[s]
	}
	return fmt.Sprintf("gp_state %d", s)
}

// seqStateMask is RCU_SEQ_STATE_MASK (kernel/rcu/rcu.h): the low bits of
// a grace-period sequence number are its phase, nonzero while one is in
// progress; the counter is the rest (RCU_SEQ_CTR_SHIFT = 2).
const seqStateMask = 3

// Bounds on what is read from a possibly damaged dump.
const (
	maxNodes   = 1 << 12 // rcu_nodes (NUM_RCU_NODES is 521 with NR_CPUS 8192)
	maxReaders = 1 << 12 // tasks on one rcu_node's blkd_tasks
)

// Node is one struct rcu_node of the tree.
type Node struct {
	Index int    `json:"index"`
	Addr  uint64 `json:"addr"`
	Level int    `json:"level"`
	// Leaf: no other node has this one as parent; its mask bits are
	// CPUs (bit i is CPU GrpLo+i), an inner node's are child nodes.
	Leaf         bool   `json:"leaf"`
	GrpLo, GrpHi int    `json:"-"`
	QSMask       uint64 `json:"qsmask"`  // not yet reported a QS for the current GP
	ExpMask      uint64 `json:"expmask"` // the same for the expedited GP
	// GPTasks are the tasks from gp_tasks to the end of blkd_tasks:
	// preempted in a read-side critical section the current GP waits
	// for. ExpTasks likewise from exp_tasks, for the expedited GP.
	GPTasks  []uint64 `json:"gp_tasks,omitempty"`
	ExpTasks []uint64 `json:"exp_tasks,omitempty"`
	// ExpWQ is the address of exp_wq[0], the wait queues of expedited
	// grace-period waiters (synchronize_rcu_expedited).
	ExpWQ uint64 `json:"-"`
}

// State is the decoded rcu_state.
type State struct {
	Addr uint64 `json:"addr"`
	Name string `json:"name"` // "rcu_preempt" or "rcu_sched"
	// GPSeq is rcu_state.gp_seq, which the kernel's stall warnings print
	// as g=(long)gp_seq (kernel/rcu/tree.c starts it at (0UL - 300UL) <<
	// RCU_SEQ_CTR_SHIFT), and GP that signed value; InProgress is its
	// phase bits.
	GPSeq      uint64 `json:"gp_seq"`
	GP         int64  `json:"gp"`
	InProgress bool   `json:"in_progress"`
	GPState    int    `json:"gp_state"`
	// GPStart is the jiffies stamp of the GP's start (rcu_state.gp_start),
	// Age how long before the dump, when HZ could be worked out (HasAge).
	GPStart   uint64        `json:"gp_start"`
	Age       time.Duration `json:"age_ns,omitempty"`
	HasAge    bool          `json:"has_age"`
	GPKthread uint64        `json:"gp_kthread"`
	// ExpSeq is rcu_state.expedited_sequence; ExpInProgress its phase bits.
	ExpSeq        uint64 `json:"expedited_sequence"`
	ExpInProgress bool   `json:"expedited_in_progress"`
	// BarrierCompletion is the address of rcu_state.barrier_completion
	// (rcu_barrier's wait) and BarrierCount barrier_cpu_count.
	BarrierCompletion uint64 `json:"barrier_completion"`
	BarrierCount      int    `json:"barrier_cpu_count"`
	// ExpeditedWQ is the address of rcu_state.expedited_wq, where the
	// expedited grace period's driver waits for the CPUs and readers it
	// needs (kernel/rcu/tree_exp.h synchronize_rcu_expedited_wait).
	ExpeditedWQ uint64 `json:"-"`
	Nodes       []Node `json:"nodes"`
	// expWQLen and expWQSize describe rcu_node.exp_wq[].
	expWQLen, expWQSize uint64
	// Errors are the parts that could not be read.
	Errors []string `json:"errors,omitempty"`
}

// Read decodes rcu_state. An error means rcu_state itself could not be
// read; a node or reader list that could not be is in State.Errors.
func Read(p *symbols.Program) (*State, error) {
	addr, err := p.Symbol("rcu_state")
	if err != nil {
		return nil, fmt.Errorf("rcu: %w", err)
	}
	o, err := p.Object("struct rcu_state", addr)
	if err != nil {
		return nil, fmt.Errorf("rcu: %w", err)
	}
	s := &State{Addr: addr}
	if s.GPSeq, err = o.MemberUint("gp_seq"); err != nil {
		return nil, fmt.Errorf("rcu_state %#x: %w", addr, err)
	}
	s.GP, s.InProgress = int64(s.GPSeq), s.GPSeq&seqStateMask != 0
	gs, err := o.Member("gp_state")
	if err != nil {
		return nil, fmt.Errorf("rcu_state %#x: %w", addr, err)
	}
	v, err := gs.Int()
	if err != nil {
		return nil, fmt.Errorf("rcu_state %#x gp_state: %w", addr, err)
	}
	s.GPState = int(v)
	s.GPStart, _ = o.MemberUint("gp_start")
	s.GPKthread, _ = o.MemberUint("gp_kthread")
	if np, err := o.MemberUint("name"); err == nil && np != 0 {
		s.Name, _ = p.ReadString(np, 32)
	}
	if v, err := o.MemberUint("expedited_sequence"); err == nil {
		s.ExpSeq, s.ExpInProgress = v, v&seqStateMask != 0
	}
	if bc, err := o.Member("barrier_completion"); err == nil {
		s.BarrierCompletion = bc.Addr()
	}
	if wq, err := o.Member("expedited_wq"); err == nil {
		s.ExpeditedWQ = wq.Addr()
	}
	if v, err := o.MemberUint("barrier_cpu_count.counter"); err == nil {
		s.BarrierCount = int(int32(v))
	}
	if s.InProgress {
		if now, hz, ok := jiffiesHZ(p); ok && s.GPStart != 0 && now >= s.GPStart {
			s.Age, s.HasAge = time.Duration((now-s.GPStart)*uint64(time.Second)/hz), true
		}
	}
	if err := s.readNodes(p, o); err != nil {
		s.Errors = append(s.Errors, err.Error())
	}
	return s, nil
}

// readNodes reads the rcu_nodes in use: rcu_num_nodes of them (kernel/
// rcu/tree.c), or, when that cannot be read, the root and the nodes
// after it that have a parent (the unused ones are zero).
func (s *State) readNodes(p *symbols.Program, o symbols.Object) error {
	arr, err := o.Member("node")
	if err != nil {
		return fmt.Errorf("rcu_state: %w", err)
	}
	at := arr.Type().Resolve()
	if at == nil || at.Kind != symbols.KindArray || at.Len == 0 || at.Elem == nil {
		return fmt.Errorf("rcu_state.node is not an array")
	}
	esz := at.Elem.Resolve().Size
	n := int(min(at.Len, maxNodes))
	parentOff, err := p.OffsetOf("struct rcu_node", "parent")
	if err != nil {
		return err
	}
	if a, err := p.Symbol("rcu_num_nodes"); err == nil {
		if v, err := p.ReadU32(a); err == nil && v > 0 && int(v) <= n {
			n = int(v)
		}
	} else {
		used := 1
		for used < n {
			par, err := p.ReadU64(arr.Addr() + uint64(used)*esz + parentOff)
			if err != nil || par == 0 {
				break
			}
			used++
		}
		n = used
	}
	if wq, err := p.Type("struct rcu_node"); err == nil {
		if m, ok := wq.FindMember("exp_wq"); ok {
			if t := m.Type.Resolve(); t != nil && t.Kind == symbols.KindArray && t.Elem != nil {
				s.expWQLen, s.expWQSize = t.Len, t.Elem.Resolve().Size
			}
		}
	}
	parents := map[uint64]bool{}
	var firstErr error
	for i := 0; i < n; i++ {
		addr := arr.Addr() + uint64(i)*esz
		nd, par, warns, err := readNode(p, addr, i)
		s.Errors = append(s.Errors, warns...)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		parents[par] = true
		s.Nodes = append(s.Nodes, nd)
	}
	for i := range s.Nodes {
		s.Nodes[i].Leaf = !parents[s.Nodes[i].Addr]
	}
	return firstErr
}

// readNode reads one rcu_node; a reader list that could not be followed
// whole is a warning (the readers read so far are kept).
func readNode(p *symbols.Program, addr uint64, i int) (Node, uint64, []string, error) {
	o, err := p.Object("struct rcu_node", addr)
	if err != nil {
		return Node{}, 0, nil, err
	}
	nd := Node{Index: i, Addr: addr}
	if nd.QSMask, err = o.MemberUint("qsmask"); err != nil {
		return Node{}, 0, nil, fmt.Errorf("rcu_node %d (%#x): %w", i, addr, err)
	}
	nd.ExpMask, _ = o.MemberUint("expmask")
	for _, f := range []struct {
		name string
		to   *int
	}{{"grplo", &nd.GrpLo}, {"grphi", &nd.GrpHi}, {"level", &nd.Level}} {
		m, err := o.Member(f.name)
		if err != nil {
			return Node{}, 0, nil, fmt.Errorf("rcu_node %d (%#x): %w", i, addr, err)
		}
		v, err := m.Int()
		if err != nil {
			return Node{}, 0, nil, fmt.Errorf("rcu_node %d (%#x) %s: %w", i, addr, f.name, err)
		}
		*f.to = int(v)
	}
	par, _ := o.MemberUint("parent")
	if wq, err := o.Member("exp_wq"); err == nil {
		nd.ExpWQ = wq.Addr()
	}
	blkd, err := o.Member("blkd_tasks")
	if err != nil {
		return nd, par, nil, nil // no preemptible-RCU readers to look for
	}
	var warns []string
	for _, f := range []struct {
		name string
		to   *[]uint64
	}{{"gp_tasks", &nd.GPTasks}, {"exp_tasks", &nd.ExpTasks}} {
		first, err := o.MemberUint(f.name)
		if err != nil || first == 0 {
			continue
		}
		tasks, err := readers(p, blkd.Addr(), first)
		*f.to = tasks
		if err != nil {
			warns = append(warns, fmt.Sprintf("rcu_node %d (%#x) %s: %v", i, addr, f.name, err))
		}
	}
	return nd, par, warns, nil
}

// readers lists the tasks on a blkd_tasks list from the node first to the
// end (the head at head): task_struct.rcu_node_entry links them
// (kernel/rcu/tree_plugin.h rcu_preempt_ctxt_queue).
func readers(p *symbols.Program, head, first uint64) ([]uint64, error) {
	off, err := p.OffsetOf("struct task_struct", "rcu_node_entry")
	if err != nil {
		return nil, fmt.Errorf("readers queued, but %w", err)
	}
	var out []uint64
	seen := map[uint64]bool{}
	for cur := first; cur != head; {
		if cur == 0 || seen[cur] || len(out) >= maxReaders {
			return out, fmt.Errorf("blkd_tasks from %#x: %w", first, kmem.ErrListCorrupt)
		}
		seen[cur] = true
		out = append(out, cur-off)
		next, err := p.ReadU64(cur)
		if err != nil {
			return out, fmt.Errorf("blkd_tasks node %#x: %w", cur, err)
		}
		cur = next
	}
	return out, nil
}

// PendingCPUs are the CPUs that have not reported a quiescent state for
// the current grace period (leaf qsmask bits; none when no GP is in
// progress), in CPU order.
func (s *State) PendingCPUs() []int { return s.cpus(func(n *Node) uint64 { return n.QSMask }) }

// ExpPendingCPUs are the same for the expedited grace period (expmask).
func (s *State) ExpPendingCPUs() []int { return s.cpus(func(n *Node) uint64 { return n.ExpMask }) }

func (s *State) cpus(mask func(*Node) uint64) []int {
	var out []int
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if !n.Leaf {
			continue
		}
		m := mask(n)
		for b := 0; b < 64 && n.GrpLo+b <= n.GrpHi; b++ {
			if m&(1<<b) != 0 {
				out = append(out, n.GrpLo+b)
			}
		}
	}
	return out
}

// Reader is a task preempted inside an RCU read-side critical section
// that blocks a grace period, and the rcu_node it is queued on.
type Reader struct {
	Task uint64
	Node int
}

// BlockingReaders are the tasks blocking the current grace period
// (every node's gp_tasks onwards).
func (s *State) BlockingReaders() []Reader {
	return s.readers(func(n *Node) []uint64 { return n.GPTasks })
}

// ExpBlockingReaders are the tasks blocking the expedited grace period.
func (s *State) ExpBlockingReaders() []Reader {
	return s.readers(func(n *Node) []uint64 { return n.ExpTasks })
}

func (s *State) readers(list func(*Node) []uint64) []Reader {
	var out []Reader
	for i := range s.Nodes {
		for _, t := range list(&s.Nodes[i]) {
			out = append(out, Reader{Task: t, Node: s.Nodes[i].Index})
		}
	}
	return out
}

// ExpWaitQueueNode tells whether addr is one of the rcu_nodes' exp_wq[]
// wait queues (where synchronize_rcu_expedited sleeps, kernel/rcu/
// tree_exp.h), and whose.
func (s *State) ExpWaitQueueNode(addr uint64) (int, bool) {
	if s.expWQLen == 0 {
		return 0, false
	}
	for _, n := range s.Nodes {
		if n.ExpWQ != 0 && addr >= n.ExpWQ && addr < n.ExpWQ+s.expWQLen*s.expWQSize && (addr-n.ExpWQ)%s.expWQSize == 0 {
			return n.Index, true
		}
	}
	return 0, false
}

// CPUCurrent returns the task running on cpu (rq->curr) and whether it is
// the CPU's idle task.
func CPUCurrent(p *symbols.Program, cpu int) (uint64, bool, error) {
	rq, err := sched.Runqueue(p, cpu)
	if err != nil {
		return 0, false, err
	}
	cur, err := rq.MemberUint("curr")
	if err != nil {
		return 0, false, fmt.Errorf("rq of CPU %d: %w", cpu, err)
	}
	idle, _ := rq.MemberUint("idle")
	return cur, cur != 0 && cur == idle, nil
}

// hzCandidates are the values of CONFIG_HZ (kernel/Kconfig.hz).
var hzCandidates = []uint64{100, 250, 300, 1000}

// jiffiesHZ reads jiffies and works CONFIG_HZ out, which no type records:
// jiffies starts at INITIAL_JIFFIES, (unsigned int)(-300*HZ)
// (include/linux/jiffies.h), and counts HZ a second while CPU 0's
// runqueue clock counts nanoseconds since boot; the candidate that fits
// within 5% is taken.
func jiffiesHZ(p *symbols.Program) (now, hz uint64, ok bool) {
	addr, err := p.Symbol("jiffies_64")
	if err != nil {
		if addr, err = p.Symbol("jiffies"); err != nil {
			return 0, 0, false
		}
	}
	if now, err = p.ReadU64(addr); err != nil {
		return 0, 0, false
	}
	clock, err := sched.RunqueueClock(p, 0)
	if err != nil || clock == 0 {
		return 0, 0, false
	}
	up := float64(clock) / 1e9
	best := 0.05
	for _, c := range hzCandidates {
		ticks := float64(now - uint64(uint32(-300*int64(c))))
		want := up * float64(c)
		if d := (ticks - want) / want; d < best && d > -best {
			hz, best = c, max(d, -d)
		}
	}
	return now, hz, hz != 0
}
