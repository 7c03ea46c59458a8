package waitfor

import "sort"

// graph is the wait-for graph: blocked task → holder tasks.
type graph struct {
	waits map[uint64]*TaskWait
	order []uint64 // tasks in pid order
}

func newGraph(ws []TaskWait) *graph {
	g := &graph{waits: map[uint64]*TaskWait{}}
	for i := range ws {
		g.waits[ws[i].Task.Addr] = &ws[i]
		g.order = append(g.order, ws[i].Task.Addr)
	}
	return g
}

// next returns the blocked holders of t (excluding t itself).
func (g *graph) next(t uint64) []uint64 {
	w := g.waits[t]
	if w == nil {
		return nil
	}
	var out []uint64
	var seen map[uint64]bool // for many holders; a few are looked up in out
	if len(w.Holders) > 16 {
		seen = map[uint64]bool{}
	}
	for _, h := range w.Holders {
		a := h.Task.Addr
		if a == t || g.waits[a] == nil {
			continue
		}
		if seen != nil {
			if seen[a] {
				continue
			}
			seen[a] = true
		} else if contains(out, a) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// sccs returns the strongly connected components with more than one task
// (Tarjan's algorithm, iterative).
func (g *graph) sccs() [][]uint64 {
	index := map[uint64]int{}
	low := map[uint64]int{}
	onStack := map[uint64]bool{}
	var stack []uint64
	var out [][]uint64
	n := 0
	type frame struct {
		v    uint64
		next []uint64
		i    int
	}
	for _, start := range g.order {
		if _, done := index[start]; done {
			continue
		}
		work := []*frame{{v: start, next: g.next(start)}}
		index[start], low[start] = n, n
		n++
		stack = append(stack, start)
		onStack[start] = true
		for len(work) > 0 {
			f := work[len(work)-1]
			if f.i < len(f.next) {
				w := f.next[f.i]
				f.i++
				if _, seen := index[w]; !seen {
					index[w], low[w] = n, n
					n++
					stack = append(stack, w)
					onStack[w] = true
					work = append(work, &frame{v: w, next: g.next(w)})
				} else if onStack[w] && index[w] < low[f.v] {
					low[f.v] = index[w]
				}
				continue
			}
			work = work[:len(work)-1]
			if len(work) > 0 {
				if p := work[len(work)-1]; low[f.v] < low[p.v] {
					low[p.v] = low[f.v]
				}
			}
			if low[f.v] == index[f.v] {
				var comp []uint64
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp = append(comp, w)
					if w == f.v {
						break
					}
				}
				if len(comp) > 1 {
					out = append(out, comp)
				}
			}
		}
	}
	return out
}

// longestPath returns the longest path of blocked tasks from some member
// to one of targets, following next edges (bounded; members are few).
func longestPath(g *graph, members []uint64, targets []uint64) []uint64 {
	target := targets[0]
	isTarget := map[uint64]bool{}
	for _, t := range targets {
		isTarget[t] = true
	}
	in := map[uint64]bool{}
	for _, m := range members {
		in[m] = true
	}
	best := []uint64{target}
	var dfs func(path []uint64)
	steps := 0
	dfs = func(path []uint64) {
		steps++
		if steps > 100000 {
			return
		}
		last := path[len(path)-1]
		if isTarget[last] {
			if len(path) > len(best) {
				best = append([]uint64(nil), path...)
			}
			return
		}
		for _, n := range g.next(last) {
			if !in[n] || contains(path, n) {
				continue
			}
			dfs(append(path, n))
		}
	}
	for _, m := range members {
		dfs([]uint64{m})
	}
	return best
}

func contains(s []uint64, v uint64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// A group is a set of blocked tasks that all wait, directly or through
// other tasks, on one root: a cycle, or the last blocked task of a path.
type group struct {
	cycle   bool
	path    []uint64 // the longest wait path to the root (a cycle: once around it)
	others  []uint64 // the group's other tasks
	members int
}

// groups partitions the graph's tasks by root (a task whose holders lead
// into a cycle belongs to the cycle), each with its longest path; cycles
// first, then by size.
func (g *graph) groups() []group {
	cycleOf := map[uint64]int{}
	comps := g.sccs()
	for i, c := range comps {
		for _, t := range c {
			cycleOf[t] = i
		}
	}
	// rootOf: a cycle (by index) or the last blocked hop (by its task).
	type rootKey struct {
		cycle int
		task  uint64
		obj   uint64 // roots that wait on one object
		// holder is, for roots that wait on one object held by tasks that
		// are not blocked, the lowest of those tasks.
		holder uint64
	}
	memo := map[uint64]rootKey{}
	var resolve func(t uint64, depth int, visiting map[uint64]bool) rootKey
	resolve = func(t uint64, depth int, visiting map[uint64]bool) rootKey {
		if k, ok := memo[t]; ok {
			return k
		}
		if c, ok := cycleOf[t]; ok {
			return rootKey{cycle: c, task: 0}
		}
		k := rootKey{cycle: -1, task: t}
		if !visiting[t] && depth < 1000 {
			visiting[t] = true
			if nx := g.next(t); len(nx) > 0 {
				k = resolve(nx[0], depth+1, visiting)
				// A holder leading into a cycle wins over other holders.
				for _, n := range nx[1:] {
					if kk := resolve(n, depth+1, visiting); kk.cycle >= 0 && k.cycle < 0 {
						k = kk
					}
				}
			}
			delete(visiting, t)
		}
		memo[t] = k
		return k
	}
	// Chains that end at one object nobody holds (a frozen filesystem's
	// writers, the waiters of one folio) are one root cause: one group.
	// So are chains that end at one object held by the same tasks, none
	// of them blocked (the waiters of one lock whose owner runs, the
	// readers of one network block device whose server does not answer).
	byObject := func(k rootKey) rootKey {
		if k.cycle >= 0 {
			return k
		}
		w := g.waits[k.task]
		var holder uint64
		for _, h := range w.Holders {
			if h.Task.Addr != k.task && (holder == 0 || h.Task.Addr < holder) {
				holder = h.Task.Addr
			}
		}
		if len(w.Holders) > 0 && holder == 0 {
			return k
		}
		// Requests to one server (FUSE, RPC, a network block device's):
		// whatever each waits on, the server that does not answer is the
		// one root cause. So is one task that holds several locks and is
		// not blocked (it sleeps, runs or is stopped holding them all).
		if holder != 0 && (w.Object.Fuse != nil || w.Object.RPC != nil || (w.Object.Block != nil && w.Object.Block.Server != nil) ||
			len(w.Holders) == 1) {
			return rootKey{cycle: -1, holder: holder}
		}
		if o := w.Object.Container; o != 0 {
			return rootKey{cycle: -1, obj: o, holder: holder}
		}
		if o := w.Object.Addr; o != 0 {
			return rootKey{cycle: -1, obj: o, holder: holder}
		}
		return k
	}
	byRoot := map[rootKey][]uint64{}
	var keys []rootKey
	rootTasks := map[rootKey][]uint64{}
	// isRoot: the tasks already in rootTasks (the roots of one object's
	// chains are as many as its waiters).
	type rootTask struct {
		k    rootKey
		task uint64
	}
	isRoot := map[rootTask]bool{}
	for _, t := range g.order {
		k0 := resolve(t, 0, map[uint64]bool{})
		k := byObject(k0)
		if k0.cycle < 0 && !isRoot[rootTask{k, k0.task}] {
			isRoot[rootTask{k, k0.task}] = true
			rootTasks[k] = append(rootTasks[k], k0.task)
		}
		if _, ok := byRoot[k]; !ok {
			keys = append(keys, k)
		}
		byRoot[k] = append(byRoot[k], t)
	}
	var out []group
	for _, k := range keys {
		members := byRoot[k]
		gr := group{members: len(members), cycle: k.cycle >= 0}
		if gr.cycle {
			gr.path = g.orderCycle(comps[k.cycle])
		} else {
			gr.path = longestPath(g, members, rootTasks[k])
		}
		on := map[uint64]bool{}
		for _, t := range gr.path {
			on[t] = true
		}
		for _, t := range members {
			if !on[t] {
				gr.others = append(gr.others, t)
			}
		}
		out = append(out, gr)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].cycle != out[j].cycle {
			return out[i].cycle
		}
		return out[i].members > out[j].members
	})
	return out
}

// orderCycle orders a strongly connected component by following edges
// inside it from its lowest pid.
func (g *graph) orderCycle(comp []uint64) []uint64 {
	inComp := map[uint64]bool{}
	for _, t := range comp {
		inComp[t] = true
	}
	start := comp[0]
	for _, t := range comp {
		if g.waits[t].Task.PID < g.waits[start].Task.PID {
			start = t
		}
	}
	cycle := []uint64{start}
	for cur := start; len(cycle) <= len(comp); {
		nextT := uint64(0)
		for _, n := range g.next(cur) {
			if inComp[n] {
				nextT = n
				break
			}
		}
		if nextT == 0 || nextT == start || contains(cycle, nextT) {
			break
		}
		cycle = append(cycle, nextT)
		cur = nextT
	}
	return cycle
}
