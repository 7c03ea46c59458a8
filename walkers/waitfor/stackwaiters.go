package waitfor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// A stackWaiter is a waiter structure found on a task's stack, linked into
// some list, whose task member is the task itself.
type stackWaiter struct {
	shape *waiterShape
	node  uint64 // address of its list_head
	addr  uint64 // address of the waiter structure
	// broken says why the links did not verify (the structure names the
	// task, but next->prev or prev->next does not lead back): a corrupt or
	// changing list. Such waiters are reported, never followed.
	broken string
}

// waiterShape is a waiter type of the registry with its offsets in this
// kernel: where it keeps its task pointer relative to its list_head, and
// whether its object has a list head or a first-waiter ring (7.1+ locks).
type waiterShape struct {
	w        *waitkind.Waiter
	kinds    []*waitkind.Kind // the kinds whose waiter it is, registry order
	taskDiff int64            // offset(task) - offset(list)
	listOff  uint64
	headOff  uint64 // offset of the object's list head (when !headless)
	headless bool   // the object keeps First, not Head
}

// shapes resolves the registry's waiter types once.
func (a *waitAnalysis) waiterShapes() []*waiterShape {
	if a.shapes != nil {
		return a.shapes
	}
	byType := map[string]*waiterShape{}
	a.shapes = []*waiterShape{}
	for _, k := range a.kinds {
		w := k.Waiter
		if w == nil {
			continue
		}
		if s := byType[w.Type]; s != nil {
			s.kinds = append(s.kinds, k)
			continue
		}
		lo, err1 := a.p.OffsetOf(w.Type, w.List)
		to, err2 := a.p.OffsetOf(w.Type, w.Task)
		if err1 != nil || err2 != nil {
			continue
		}
		s := &waiterShape{w: w, kinds: []*waitkind.Kind{k}, listOff: lo, taskDiff: int64(to) - int64(lo)}
		if ot, err := a.p.Type(w.Object); err == nil {
			switch {
			case w.Head != "" && ot.HasMember(w.Head):
				s.headOff, _ = a.p.OffsetOf(w.Object, w.Head)
			case w.First != "" && ot.HasMember(w.First):
				s.headless = true
			}
		}
		byType[w.Type] = s
		a.shapes = append(a.shapes, s)
	}
	return a.shapes
}

// findStackWaiters scans t's stack for list_head pairs that are linked
// both ways (next->prev == here and prev->next == here) and whose waiter
// structure's task member is t.
func (a *waitAnalysis) findStackWaiters(t *sched.Task) []stackWaiter {
	stack, base := a.Stack(t)
	if stack == nil {
		return nil
	}
	word := func(addr uint64) (uint64, bool) {
		if addr >= base && addr+8 <= base+uint64(len(stack)) {
			return binary.LittleEndian.Uint64(stack[addr-base:]), true
		}
		v, err := a.p.ReadU64(addr)
		return v, err == nil
	}
	taskAt := func(s *waiterShape, here uint64) bool {
		ta := int64(here) + s.taskDiff
		return ta >= int64(base) && ta+8 <= int64(base)+int64(len(stack)) &&
			binary.LittleEndian.Uint64(stack[uint64(ta)-base:]) == t.Addr
	}
	shapes := a.waiterShapes()
	var out []stackWaiter
	for off := 0; off+16 <= len(stack); off += 8 {
		here := base + uint64(off)
		next := binary.LittleEndian.Uint64(stack[off:])
		prev := binary.LittleEndian.Uint64(stack[off+8:])
		if !kmem.IsKernelPointer(next) || !kmem.IsKernelPointer(prev) {
			continue
		}
		if next == here || prev == here {
			// A self-linked node is an empty list, except for the only
			// waiter of a 7.1+ headless ring (INIT_LIST_HEAD(&waiter->list),
			// kernel/locking/mutex.c __mutex_add_waiter).
			if next != here || prev != here {
				continue
			}
			for _, s := range shapes {
				if s.headless && taskAt(s, here) {
					out = append(out, stackWaiter{shape: s, node: here, addr: here - s.listOff})
				}
			}
			continue
		}
		matched := false
		for _, s := range shapes {
			if !taskAt(s, here) {
				continue
			}
			if !matched {
				np, ok1 := word(next + 8)
				pn, ok2 := word(prev)
				if !ok1 || !ok2 || np != here || pn != here {
					// Report only half-linked ones (one neighbour points
					// back): stale structures of earlier waits link neither way.
					if !(ok1 && np == here) && !(ok2 && pn == here) {
						break
					}
					out = append(out, stackWaiter{shape: s, node: here, addr: here - s.listOff,
						broken: fmt.Sprintf("%s at %#x on the stack names the task, but its list does not link back (next %#x: prev %#x, readable %v; prev %#x: next %#x, readable %v)",
							s.w.Type, here-s.listOff, next, np, ok1, prev, pn, ok2)})
					continue
				}
				matched = true
			}
			out = append(out, stackWaiter{shape: s, node: here, addr: here - s.listOff})
		}
	}
	return out
}

// listHeadOf walks the list from a waiter's node to the first node that is
// not on any task's stack — or on the waiter's own stack, which holds one
// waiter per wait: the object's (lock's, wait queue's) list head. Objects
// on the waiter's stack are common (fs/locks.c __do_sys_flock keeps its
// struct file_lock there, whose fl_wait the task sleeps on).
//
// The walks that find a head are kept (headWalk): the waiters of one lock
// are on one list, so a later walk stops at the first node an earlier one
// went through and takes the rest as read. N waiters of one lock then
// cost O(N) reads, not O(N²).
func (a *waitAnalysis) listHeadOf(node, ownBase, ownTop uint64) (uint64, error) {
	own := ownTop > ownBase
	// The kept walks tell a node on the waiter's own stack by its stack's
	// base: exact when stacks are whole and do not overlap.
	cacheable := !own || (ownTop-ownBase == threadSize && a.stacksDisjoint())
	if cacheable {
		if at, ok := a.heads[node]; ok {
			if h, ok := at.w.resume(at.pos, 0, ownBase, own); ok {
				return h, nil
			}
			return 0, fmt.Errorf("waiter list at %#x: %w", node, kmem.ErrListTruncated)
		}
	}
	cur := node
	seen := map[uint64]bool{node: true}
	path := []uint64{node}
	for i := 0; i < kmem.MaxWaiters; i++ {
		next, err := a.p.ReadU64(cur)
		if err != nil {
			return 0, fmt.Errorf("waiter list at %#x: %w", cur, err)
		}
		if next == node {
			return 0, fmt.Errorf("waiter list at %#x: every node is on a task stack (no head found)", node)
		}
		if onOwn := next >= ownBase && next < ownTop; onOwn || !a.onStack(next) {
			if !onOwn && cacheable {
				a.keepWalk(path, next)
			}
			return next, nil
		}
		if cacheable {
			if at, ok := a.heads[next]; ok {
				h, ok := at.w.resume(at.pos, i+1, ownBase, own)
				if !ok {
					return 0, fmt.Errorf("waiter list at %#x: %w", node, kmem.ErrListTruncated)
				}
				if at.pos == at.w.min {
					// The walk reached the first node of a kept one: its
					// nodes come before (a damaged list may join a kept
					// walk in its middle; such a walk is not kept).
					at.w.prepend(a, path)
				}
				return h, nil
			}
		}
		if seen[next] {
			return 0, fmt.Errorf("waiter list at %#x: node %#x met twice without reaching a head: %w", node, next, symbols.ErrCycle)
		}
		seen[next] = true
		path = append(path, next)
		cur = next
	}
	return 0, fmt.Errorf("waiter list at %#x: %w", node, kmem.ErrListTruncated)
}

// A headWalk is a walk of a wait list that found its head: its nodes,
// all on task stacks, by place (the head at place end; walks that joined
// it later at its first node were put before it, at places below 0), and
// by the stack each is on.
type headWalk struct {
	head     uint64
	min, end int
	byBase   map[uint64][]placedNode // stack base → its nodes, by place
}

type placedNode struct {
	pos  int
	node uint64
}

type walkPlace struct {
	w   *headWalk
	pos int
}

// resume answers a walk that reached the node at place j and would read
// the node at place j+1 in its step k: the first node after j on its own
// stack (when own is set, by ownBase), else the head. ok is false when
// the walk would have gone past kmem.MaxWaiters steps before it.
func (w *headWalk) resume(j, k int, ownBase uint64, own bool) (uint64, bool) {
	q, stop := w.end, w.head
	if own {
		ns := w.byBase[ownBase]
		if i := sort.Search(len(ns), func(i int) bool { return ns[i].pos > j }); i < len(ns) {
			q, stop = ns[i].pos, ns[i].node
		}
	}
	return stop, k+q-j-1 < kmem.MaxWaiters
}

// keepWalk keeps a walk that went through path and found head.
func (a *waitAnalysis) keepWalk(path []uint64, head uint64) {
	w := &headWalk{head: head, end: len(path), byBase: map[uint64][]placedNode{}}
	if a.heads == nil {
		a.heads = map[uint64]walkPlace{}
	}
	for i, n := range path {
		a.heads[n] = walkPlace{w, i}
		if b, ok := a.stackBase(n); ok {
			w.byBase[b] = append(w.byBase[b], placedNode{i, n})
		}
	}
}

// prepend puts the nodes of path, which lead to w's first node, before it.
func (w *headWalk) prepend(a *waitAnalysis, path []uint64) {
	w.min -= len(path)
	before := map[uint64][]placedNode{}
	for i, n := range path {
		a.heads[n] = walkPlace{w, w.min + i}
		if b, ok := a.stackBase(n); ok {
			before[b] = append(before[b], placedNode{w.min + i, n})
		}
	}
	for b, ns := range before {
		w.byBase[b] = append(ns, w.byBase[b]...)
	}
}

// stackBase returns the base of the task stack addr lies on.
func (a *waitAnalysis) stackBase(addr uint64) (uint64, bool) {
	i := sort.Search(len(a.bases), func(i int) bool { return a.bases[i] > addr }) - 1
	if i >= 0 && addr < a.bases[i]+threadSize {
		return a.bases[i], true
	}
	return 0, false
}

// stacksDisjoint reports whether no two task stacks overlap (computed once).
func (a *waitAnalysis) stacksDisjoint() bool {
	if a.disjoint == 0 {
		a.disjoint = 1
		for i := 1; i < len(a.bases); i++ {
			if a.bases[i] < a.bases[i-1]+threadSize {
				a.disjoint = 2
				break
			}
		}
	}
	return a.disjoint == 1
}

// kindFor picks the registry kind of a waiter found on t's stack: the kind
// whose wake function the entry has, else one whose frames t is in, else
// the shape's fallback (a kind with neither). Kinds with frames are taken
// without them only when t could not be unwound and the shape has no
// fallback. nil: the waiter is not of a wait t is in.
func (a *waitAnalysis) kindFor(t *sched.Task, sw stackWaiter, noFrames bool) *waitkind.Kind {
	var wake string
	var fallback, framed *waitkind.Kind
	for _, k := range sw.shape.kinds {
		switch {
		case k.WakeFunc != "":
			if wake == "" {
				wake = a.wakeFunc(sw)
			}
			if wake == k.WakeFunc {
				return k
			}
		case len(k.Frames) > 0:
			if framed == nil && a.HasFrame(t, k.Frames) {
				framed = k
			}
		default:
			if fallback == nil {
				fallback = k
			}
		}
	}
	switch {
	case framed != nil:
		return framed
	case fallback != nil:
		return fallback
	case noFrames:
		for _, k := range sw.shape.kinds {
			if len(k.Frames) > 0 {
				return k
			}
		}
	}
	return nil
}

// wakeFunc names the wake function of a waiter whose kinds tell entries
// apart by it (its member "func", struct wait_queue_entry), or "".
func (a *waitAnalysis) wakeFunc(sw stackWaiter) string {
	fo, err := a.p.OffsetOf(sw.shape.w.Type, "func")
	if err != nil || a.p.Syms == nil {
		return ""
	}
	fn, err := a.p.ReadU64(sw.addr + fo)
	if err != nil {
		return ""
	}
	if s, off, ok := a.p.Syms.LookupAddr(fn); ok && off == 0 {
		return s.Name
	}
	return ""
}

// stuckInS reports whether a task in state S is in a wait that counts as
// stuck (an interruptible or killable lock slowpath, a file lock).
func (a *waitAnalysis) stuckInS(t *sched.Task) bool {
	return a.HasFrame(t, a.sleepFrames)
}

// stackWait finds a wait of t from waiter structures on its stack. With
// relaxed, a task in S is looked at even outside lock slowpaths (the
// holders of other tasks' waits).
func (a *waitAnalysis) stackWait(t *sched.Task, relaxed bool) (TaskWait, bool) {
	if !relaxed && t.State != "D" && !a.stuckInS(t) {
		// A task in S waiting for a completion or an event is normal
		// (kthreads waiting for work); only lock slowpaths make it blocked.
		return TaskWait{}, false
	}
	waiters := a.findStackWaiters(t)
	var firstErr error
	noFrames := a.Trace(t) == nil || len(a.Trace(t).Frames) == 0
	for _, sw := range waiters {
		k := a.kindFor(t, sw, noFrames)
		if k == nil || k.Decode == nil {
			continue
		}
		if sw.broken != "" {
			if len(k.Frames) == 0 || sw.shape.headless {
				continue // only lock waiters whose slowpath the task is in
			}
			if w, ok := a.damagedWait(t, k, sw); ok {
				return w, true
			}
			if firstErr == nil {
				firstErr = errors.New(sw.broken)
			}
			continue
		}
		f := waitkind.Found{Waiter: sw.addr, How: stackHow}
		if sw.shape.headless {
			// 7.1+: no list head; find the object whose first_waiter is on
			// the ring (kernel/locking/mutex.c, rwsem.c, semaphore.c).
			f.Object = a.objectByFirstWaiter(t, sw)
			f.How = stackHowFirst
			if f.Object == 0 {
				if firstErr == nil {
					firstErr = fmt.Errorf("%s on the stack at %#x: no %s on the task's stack has it as %s's ring", sw.shape.w.Type, sw.addr, sw.shape.w.Object, sw.shape.w.First)
				}
				continue
			}
		} else {
			var ownBase, ownTop uint64
			if sw.shape.w.OwnStack {
				stack, base := a.Stack(t)
				ownBase, ownTop = base, base+uint64(len(stack))
			}
			head, err := a.listHeadOf(sw.node, ownBase, ownTop)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			f.Object = head - sw.shape.headOff
		}
		if w, ok := k.Decode(a, t, f); ok {
			if noFrames {
				// The frames say which kind a waiter is: without them the
				// kind (and so the holder) is a guess.
				w.Certain = false
				if a.missed() > 0 {
					w.Incomplete = true
					w.Error = appendErr(w.Error, "its stack could not be unwound and the dump lacks pages: what it waits on is a guess")
				} else {
					w.Note = appendErr(w.Note, "its stack could not be unwound: the kind of wait is a guess")
				}
			}
			return w, true
		}
	}
	if firstErr != nil && t.State == "D" {
		w := TaskWait{Task: a.Blocked(t), Kind: waitkind.Unknown, Error: firstErr.Error(),
			How: "waiter structure on its stack, but its list could not be followed"}
		w.Object = WaitObject{Type: "unknown", What: "unidentified (" + topFrames(w.Task.Frames) + ")"}
		return w, true
	}
	return TaskWait{}, false
}

const (
	stackHow      = "waiter structure on the task's stack, verified linked into the lock's wait list"
	stackHowFirst = "waiter structure on the task's stack, on the ring of the lock's first_waiter (lock address found on the stack)"
)

// objectByFirstWaiter finds, for a 7.1+ headless waiter ring, the object
// whose first-waiter pointer is one of the ring's waiters: a word on t's
// stack (the lock pointer the slowpath keeps) pointing at an object whose
// First member is on the ring.
func (a *waitAnalysis) objectByFirstWaiter(t *sched.Task, sw stackWaiter) uint64 {
	fwOff, err := a.p.OffsetOf(sw.shape.w.Object, sw.shape.w.First)
	if err != nil {
		return 0
	}
	onRing := a.ringOf(sw.node) // list nodes; first_waiter points at the waiter
	lo := sw.shape.listOff
	stack, base := a.Stack(t)
	seen := map[uint64]bool{}
	for off := 0; off+8 <= len(stack); off += 8 {
		v := binary.LittleEndian.Uint64(stack[off:])
		if !kmem.IsKernelPointer(v) || seen[v] || (v >= base && v < base+uint64(len(stack))) {
			continue
		}
		seen[v] = true
		if fw, err := a.p.ReadU64(v + fwOff); err == nil && onRing[fw+lo] {
			return v
		}
	}
	return 0
}

// ringOf returns the nodes of the waiter ring through node. A ring that
// closes is read once for all its waiters; one that does not (damaged,
// too long) is read again by each, as far as it goes.
func (a *waitAnalysis) ringOf(node uint64) map[uint64]bool {
	if r, ok := a.rings[node]; ok {
		return r
	}
	ring, err := kmem.CircularNodes(a.p, node, kmem.MaxWaiters)
	r := make(map[uint64]bool, len(ring))
	for _, n := range ring {
		r[n] = true
	}
	if err == nil {
		if a.rings == nil {
			a.rings = map[uint64]map[uint64]bool{}
		}
		for _, n := range ring {
			a.rings[n] = r
		}
	}
	return r
}

// damagedWait decodes the object of a half-linked waiter: its neighbour
// that is not on a task stack is taken as the object's list head. The
// wait is then not certain and carries the damage.
func (a *waitAnalysis) damagedWait(t *sched.Task, k *waitkind.Kind, sw stackWaiter) (TaskWait, bool) {
	next, err1 := a.p.ReadU64(sw.node)
	prev, err2 := a.p.ReadU64(sw.node + 8)
	for _, c := range []struct {
		head uint64
		ok   bool
	}{{prev, err2 == nil}, {next, err1 == nil}} {
		if !c.ok || !kmem.IsKernelPointer(c.head) || a.onStack(c.head) {
			continue
		}
		// The head may be the damaged node itself; the kind checks the
		// decoded object (a lock's waiters flag) before it is believed.
		f := waitkind.Found{Waiter: sw.addr, Object: c.head - sw.shape.headOff, Damaged: sw.broken,
			How: "waiter structure on the task's stack; its wait list is damaged, the lock was taken from the waiter's neighbour off the stacks (its waiters flag checked)"}
		if w, ok := k.Decode(a, t, f); ok {
			w.Certain = false
			w.Error = sw.broken
			return w, true
		}
	}
	return TaskWait{}, false
}

// Hung-task blocker types are the low two bits of task_struct.blocker
// (include/linux/hung_task.h, CONFIG_DETECT_HUNG_TASK_BLOCKER, 6.16+).
const blockerTypeMask = 3

// fieldWait reads what t waits on from the fields the kernel keeps for it,
// when the types have them: task_struct.blocker (lock address | type) and
// task_struct.blocked_on (a struct mutex * since 6.18; the value -1 is
// PROXY_WAKING in 7.1, not a lock; kernel/locking/mutex.c). The kinds say
// which blocker types and blocked_on types are theirs.
func (a *waitAnalysis) fieldWait(t *sched.Task) (TaskWait, bool) {
	tt := t.Obj.Type()
	if tt.HasMember("blocker") {
		if v, err := t.Obj.MemberUint("blocker"); err == nil && v != 0 {
			addr, typ := v&^blockerTypeMask, v&blockerTypeMask
			for _, k := range a.kinds {
				for _, bt := range k.BlockerTypes {
					if bt == typ && k.Decode != nil {
						return k.Decode(a, t, waitkind.Found{Object: addr, How: "task_struct.blocker (hung-task blocker tracking)"})
					}
				}
			}
		}
	}
	if m, ok := tt.FindMember("blocked_on"); ok {
		pt := m.Type.Resolve()
		if pt != nil && pt.Kind == symbols.KindPointer && pt.Elem != nil && pt.Elem.Resolve() != nil {
			name := pt.Elem.Resolve().Name
			if v, err := t.Obj.MemberUint("blocked_on"); err == nil && v != 0 && v != ^uint64(0) {
				for _, k := range a.kinds {
					if k.BlockedOn != "" && k.BlockedOn == name && k.Decode != nil {
						return k.Decode(a, t, waitkind.Found{Object: v, How: "task_struct.blocked_on"})
					}
				}
			}
		}
	}
	return TaskWait{}, false
}

func appendErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
