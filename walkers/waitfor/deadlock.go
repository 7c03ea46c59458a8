package waitfor

// The wait-for analysis, in order:
//
//  1. Waits (waitfor.go): for each task not running, what it waits on —
//     a FUSE request whose req->waitq holds the task's wait entry (without
//     FUSE types: a wait entry on its stack in request_wait_answer, the
//     connection named from the file it operates on, waitfor_fuse.go); a pid
//     namespace's teardown (frame zap_pid_ns_processes); a lock named by
//     task_struct.blocker / blocked_on where the kernel records them; else
//     a waiter structure on the task's own stack (mutex_waiter,
//     rwsem_waiter, semaphore_waiter, swait_queue, wait_queue_entry),
//     accepted only when its list links back both ways and its task member
//     is the task, followed to the list head (the first node on no task's
//     stack) and so to the lock, whose type the stack frames confirm.
//  2. Holders: lock owners (certain), reader hints and ABBA suspects for
//     reader-owned rw-semaphores (guesses), FUSE servers by their open
//     /dev/fuse (hints: the kernel does not record which thread serves a
//     request; without FUSE types matched through fuse_dev.fc), the remaining tasks of a dying pid namespace, the live
//     threads of a zombie leader. Holders that are themselves blocked in a
//     way only their stack shows are analysed too.
//  3. Deadlock (this file): the graph task → holder, cycles by Tarjan's
//     algorithm, every other blocked task grouped under the root its first
//     holder path reaches, the root classified (a FUSE server alive but not
//     answering, a server that is the waiter itself, …) with remedies.
//
// Every list walk is bounded and cycle-checked; a damaged chain is reported
// with its error and the other chains are unaffected.

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// DeadlockSchema is the version of the DeadlockReport JSON schema
// (docs/deadlock-json.md). It changes only when a field changes meaning
// or disappears; new fields may be added within a version.
const DeadlockSchema = 1

// Deadlock report statuses and the exit codes kwalk deadlock returns.
const (
	DeadlockOK    = 0 // nothing stuck
	DeadlockStuck = 1 // stuck chains
	DeadlockCycle = 2 // at least one cycle: a true deadlock
	DeadlockError = 3 // could not analyse
)

// DeadlockReport is the result of Deadlock: every cycle and every chain
// of blocked tasks grouped by root cause.
type DeadlockReport struct {
	Schema int `json:"schema"`
	// Status is "ok", "stuck", "deadlock" or "error"; ExitCode matches.
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	// Cycles are the chains whose root is a cycle (also listed in Chains).
	Cycles int `json:"cycles"`
	// Chains, ordered by how many tasks each root blocks (most first).
	Chains []Chain `json:"chains"`
	// Waits is every blocked task found, in pid order.
	Waits []TaskWait `json:"waits"`
	// FuseConns are the FUSE connections (without their request lists'
	// waiters resolved again).
	FuseConns []*fuse.FuseConn `json:"fuse_connections,omitempty"`
	// Warnings are problems that did not stop the analysis.
	Warnings []string `json:"warnings,omitempty"`
	// Error is set when the analysis could not run (Status "error").
	Error string `json:"error,omitempty"`
}

// Chain is a group of blocked tasks that all wait, directly or through
// other tasks, on the same root.
type Chain struct {
	Root Root `json:"root"`
	// Blocked is the number of tasks in the chain (waiters and hops).
	Blocked int `json:"blocked"`
	// Path is the longest wait path, from the farthest waiter to the root
	// hop (for a cycle: around the cycle once, starting anywhere).
	Path []TaskWait `json:"path"`
	// Others are the chain's other blocked tasks, each with its own wait.
	Others []TaskWait `json:"others,omitempty"`
	// Story is the chain told hop by hop, for humans.
	Story []string `json:"story"`
	// Remedy lists what would unstick the chain.
	Remedy []string `json:"remedy,omitempty"`
}

// Root kinds (Root.Kind).
const (
	RootCycle             = "cycle"
	RootFuseNotAnswering  = "fuse-server-not-answering"
	RootFuseServerIsWaite = "fuse-server-is-waiter"
	RootFuseServerExiting = "fuse-server-exiting"
	RootFuseNoServer      = "fuse-no-server"
	RootFuseUnidentified  = "fuse-request-undecoded"
	RootHolderNotBlocked  = "holder-not-blocked"
	RootUnknownHolder     = "unknown-holder"
	RootNoWaker           = "event-not-signalled"
	RootUnidentified      = "unidentified-wait"
)

// Deadlock builds the wait-for graph over the blocked tasks of p, finds
// cycles and chains, and explains each.
func Deadlock(p *symbols.Program) *DeadlockReport {
	r := &DeadlockReport{Schema: DeadlockSchema}
	a, err := newWaitAnalysis(p)
	if err != nil {
		r.Status, r.ExitCode, r.Error = "error", DeadlockError, err.Error()
		return r
	}
	r.Waits = a.waits()
	r.Warnings = a.errs
	r.FuseConns = a.conns
	r.Chains = buildChains(r.Waits)
	for _, c := range r.Chains {
		if c.Root.Kind == RootCycle {
			r.Cycles++
		}
	}
	switch {
	case r.Cycles > 0:
		r.Status, r.ExitCode = "deadlock", DeadlockCycle
	case len(r.Chains) > 0:
		r.Status, r.ExitCode = "stuck", DeadlockStuck
	default:
		r.Status, r.ExitCode = "ok", DeadlockOK
	}
	return r
}

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
	seen := map[uint64]bool{}
	for _, h := range w.Holders {
		if h.Task.Addr == t || seen[h.Task.Addr] {
			continue
		}
		seen[h.Task.Addr] = true
		if g.waits[h.Task.Addr] != nil {
			out = append(out, h.Task.Addr)
		}
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

// buildChains groups the waits by root.
func buildChains(ws []TaskWait) []Chain {
	g := newGraph(ws)
	cycleOf := map[uint64]int{}
	comps := g.sccs()
	for i, c := range comps {
		for _, t := range c {
			cycleOf[t] = i
		}
	}
	// rootOf: a cycle (key "c<i>") or the last blocked hop (key its task).
	type rootKey struct {
		cycle int
		task  uint64
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
	groups := map[rootKey][]uint64{}
	var keys []rootKey
	for _, t := range g.order {
		k := resolve(t, 0, map[uint64]bool{})
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], t)
	}
	var chains []Chain
	for _, k := range keys {
		members := groups[k]
		var c Chain
		if k.cycle >= 0 {
			c = cycleChain(g, comps[k.cycle], members)
		} else {
			c = rootChain(g, k.task, members)
		}
		chains = append(chains, c)
	}
	sort.SliceStable(chains, func(i, j int) bool {
		if (chains[i].Root.Kind == RootCycle) != (chains[j].Root.Kind == RootCycle) {
			return chains[i].Root.Kind == RootCycle
		}
		return chains[i].Blocked > chains[j].Blocked
	})
	return chains
}

// longestPath returns the longest path of blocked tasks from some member
// to target, following next edges (bounded; members are few).
func longestPath(g *graph, members []uint64, target uint64) []uint64 {
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
		if last == target {
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

func rootChain(g *graph, rootTask uint64, members []uint64) Chain {
	path := longestPath(g, members, rootTask)
	c := Chain{Blocked: len(members)}
	onPath := map[uint64]bool{}
	for _, t := range path {
		c.Path = append(c.Path, *g.waits[t])
		onPath[t] = true
	}
	for _, t := range members {
		if !onPath[t] {
			c.Others = append(c.Others, *g.waits[t])
		}
	}
	c.Root = classifyRoot(g.waits[rootTask])
	c.Root.Certain = c.Root.Certain && pathCertain(c.Path)
	c.Story = story(c.Path, c.Others, c.Root)
	c.Remedy = remedies(c.Root)
	return c
}

func cycleChain(g *graph, comp []uint64, members []uint64) Chain {
	// Order the cycle by following edges inside the component from the
	// lowest pid.
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
		if nextT == 0 || nextT == start {
			break
		}
		if contains(cycle, nextT) {
			break
		}
		cycle = append(cycle, nextT)
		cur = nextT
	}
	c := Chain{Blocked: len(members)}
	inCycle := map[uint64]bool{}
	for _, t := range cycle {
		c.Path = append(c.Path, *g.waits[t])
		inCycle[t] = true
	}
	for _, t := range members {
		if !inCycle[t] {
			c.Others = append(c.Others, *g.waits[t])
		}
	}
	var names []string
	for _, w := range c.Path {
		names = append(names, taskName(w.Task.TaskRef), "["+w.Object.What+"]")
	}
	names = append(names, taskName(c.Path[0].Task.TaskRef))
	c.Root = Root{Kind: RootCycle, Certain: pathCertain(c.Path),
		Summary: "deadlock: " + strings.Join(names, " → ")}
	c.Story = story(c.Path, c.Others, c.Root)
	c.Remedy = remedies(c.Root)
	for _, w := range c.Path {
		if w.Object.Fuse != nil {
			c.Remedy = append(c.Remedy, w.Object.Fuse.Remedy+"  # abort FUSE connection "+fmt.Sprint(w.Object.Fuse.ConnID)+": fails the request and breaks the cycle")
		}
	}
	return c
}

func pathCertain(ws []TaskWait) bool {
	for _, w := range ws {
		if !w.Certain {
			return false
		}
		certain := false
		for _, h := range w.Holders {
			certain = certain || h.Certain
		}
		if len(w.Holders) > 0 && !certain {
			return false
		}
	}
	return true
}

// classifyRoot names the cause at the last blocked hop w.
func classifyRoot(w *TaskWait) Root {
	t := w.Task.TaskRef
	r := Root{Task: &t, Object: &w.Object, WaitKind: w.Kind, Certain: true}
	for _, h := range w.Holders {
		if h.Task.Addr != t.Addr {
			r.Holders = append(r.Holders, h)
		}
	}
	if k := kindNamed(w.Kind); k != nil && k.Classify != nil && k.Classify(w, &r) {
		return r
	}
	switch {
	case len(r.Holders) > 0:
		r.Kind = RootHolderNotBlocked
		r.Summary = fmt.Sprintf("%s holds %s and is not blocked on anything kwalk recognises", serverNames(r.Holders), w.Object.What)
		for _, h := range r.Holders {
			r.Certain = r.Certain && h.Certain
		}
	case kindNamed(w.Kind) != nil && kindNamed(w.Kind).NoOwner:
		r.Kind = RootNoWaker
		r.Summary = fmt.Sprintf("%s waits on %s, which nobody has signalled", taskName(t), w.Object.What)
	case w.Kind == waitkind.Unknown:
		r.Kind = RootUnidentified
		r.Certain = false
		r.Summary = fmt.Sprintf("%s is in uninterruptible sleep on %s", taskName(t), w.Object.What)
	default:
		r.Kind = RootUnknownHolder
		r.Certain = false
		r.Summary = fmt.Sprintf("%s waits on %s whose holder is not recorded", taskName(t), w.Object.What)
	}
	return r
}

func exitNote(t BlockedTask) string {
	if !t.Exiting {
		return ""
	}
	s := ", exiting (PF_EXITING)"
	if t.FatalSignal {
		s += " with SIGKILL pending, which the kernel ignores for an exiting task"
	}
	return s
}

func forNote(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return ", for " + d.Round(time.Second).String()
}

func taskName(t sched.TaskRef) string {
	return fmt.Sprintf("%s (pid %d)", t.Comm, t.PID)
}

// serverNames names holders by process: "hangfs (pid 93, 5 threads)".
func serverNames(hs []Holder) string {
	type proc struct {
		comm    string
		threads int
	}
	byTGID := map[int]*proc{}
	var order []int
	for _, h := range hs {
		p := byTGID[h.Task.TGID]
		if p == nil {
			p = &proc{comm: h.Task.Comm}
			byTGID[h.Task.TGID] = p
			order = append(order, h.Task.TGID)
		}
		p.threads++
	}
	var parts []string
	for _, tg := range order {
		p := byTGID[tg]
		s := fmt.Sprintf("%s (pid %d", p.comm, tg)
		if p.threads > 1 {
			s += fmt.Sprintf(", %d threads", p.threads)
		}
		parts = append(parts, s+")")
	}
	return strings.Join(parts, ", ")
}

func remedies(r Root) []string {
	var out []string
	if r.WaitKind != "" {
		if k := kindNamed(r.WaitKind); k != nil && k.Remedies != nil {
			out = append(out, k.Remedies(&r)...)
		}
	}
	switch r.Kind {
	case RootHolderNotBlocked:
		for _, h := range r.Holders {
			out = append(out, fmt.Sprintf("look at %s (bt %d): it holds the lock", taskName(h.Task), h.Task.PID))
		}
	case RootCycle:
		out = append(out, "a cycle does not resolve by itself: one task of it must be killed or its wait aborted")
	}
	return out
}

// story tells the chain hop by hop.
func story(path, others []TaskWait, root Root) []string {
	var out []string
	for i, w := range path {
		out = append(out, hopLine(w, i == len(path)-1 && root.Kind != RootCycle))
	}
	if root.Kind == RootCycle && len(path) > 0 {
		out = append(out, fmt.Sprintf("… which is where the chain started: %s", taskName(path[0].Task.TaskRef)))
	}
	for _, w := range others {
		out = append(out, "also: "+hopLine(w, false))
	}
	out = append(out, "root: "+root.Summary)
	return out
}

func hopLine(w TaskWait, last bool) string {
	t := w.Task
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s%s]", taskName(t.TaskRef), t.State, forNote(t.BlockedFor))
	if t.Exiting {
		b.WriteString(" exiting")
		if t.FatalSignal {
			b.WriteString(", SIGKILL pending (ignored)")
		}
	}
	verb := ""
	if k := kindNamed(w.Kind); k != nil {
		verb = k.Verb
	}
	if verb == "" {
		verb = "waits on"
	}
	fmt.Fprintf(&b, " %s %s", verb, w.Object.What)
	if w.Object.Addr != 0 {
		fmt.Fprintf(&b, " [%s %#x]", w.Object.Type, w.Object.Addr)
	}
	if w.QueueLen > 1 {
		fmt.Fprintf(&b, " (waiter %d of %d)", w.Position, w.QueueLen)
	}
	fmt.Fprintf(&b, " — found by %s", w.How)
	if len(w.Holders) > 0 {
		b.WriteString("; held by ")
		var hs []string
		for i, h := range w.Holders {
			if i == 4 && len(w.Holders) > 5 {
				hs = append(hs, fmt.Sprintf("%d more", len(w.Holders)-4))
				break
			}
			c := "certain"
			if !h.Certain {
				c = "hint"
			}
			hs = append(hs, fmt.Sprintf("%s via %s [%s]", taskName(h.Task), h.How, c))
		}
		b.WriteString(strings.Join(hs, ", "))
	}
	if w.Note != "" {
		b.WriteString("; " + w.Note)
	}
	if w.Error != "" {
		b.WriteString("; error: " + w.Error)
	}
	return b.String()
}
