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
	"slices"
	"strings"
	"time"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/crash"
	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/locking"
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
	// DeadlockIncomplete: the analysis ran but could not read everything
	// (Unexamined says what): what it did not see may be what is stuck.
	DeadlockIncomplete = 4
)

// DeadlockReport is the result of Deadlock: every cycle and every chain
// of blocked tasks grouped by root cause.
type DeadlockReport struct {
	Schema int `json:"schema"`
	// Status is "ok", "stuck", "deadlock", "incomplete" or "error";
	// ExitCode matches.
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
	// Panic says why the dump was taken, when the kernel panicked: the
	// message, its cause, the panicking task, and for a hung-task panic
	// the tasks the detector reported (PanicChains: the chain of each).
	Panic       *crash.PanicInfo `json:"panic,omitempty"`
	PanicChains []int            `json:"panic_chains,omitempty"`
	// HungTasks are the tasks the hung-task detector reported in the log
	// of a kernel that did not panic (warnings: the dump was taken from
	// outside, or the system is live), HungChains the chain of each.
	HungTasks  []crash.HungTask `json:"hung_tasks_logged,omitempty"`
	HungChains []int            `json:"hung_chains,omitempty"`
	// Unexamined says what could not be read (Status "incomplete"): the
	// chains found are listed, but others may be hidden in what is missing.
	Unexamined *Unexamined `json:"unexamined,omitempty"`
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
	RootHolderStopped     = "holder-stopped"
	RootUnknownHolder     = "unknown-holder"
	RootNoWaker           = "event-not-signalled"
	RootUnidentified      = "unidentified-wait"
)

// Deadlock builds the wait-for graph over the blocked tasks of p, finds
// cycles and chains, and explains each. When the analysis cannot run, the
// error is returned with a report of Status "error" (its exit code
// DeadlockError), so callers can still render or serialise it.
func Deadlock(p *symbols.Program) (*DeadlockReport, error) {
	r := &DeadlockReport{Schema: DeadlockSchema}
	a, err := newWaitAnalysis(p)
	if err != nil {
		r.Status, r.ExitCode, r.Error = "error", DeadlockError, err.Error()
		return r, err
	}
	r.Waits = a.waits()
	for i := range r.Waits {
		if r.Waits[i].Error != "" {
			r.Waits[i].Certain = false // its object could not be read
		}
	}
	r.Unexamined = a.unexamined(r.Waits)
	r.Warnings = a.errs
	r.FuseConns = a.conns
	r.Chains = buildChains(r.Waits)
	r.Panic, r.PanicChains, r.HungTasks, r.HungChains = panicContext(p, r.Chains)
	for _, c := range r.Chains {
		if c.Root.Kind == RootCycle {
			r.Cycles++
		}
	}
	switch {
	case r.Unexamined != nil:
		r.Status, r.ExitCode = "incomplete", DeadlockIncomplete
	case r.Cycles > 0:
		r.Status, r.ExitCode = "deadlock", DeadlockCycle
	case len(r.Chains) > 0:
		r.Status, r.ExitCode = "stuck", DeadlockStuck
	default:
		r.Status, r.ExitCode = "ok", DeadlockOK
	}
	return r, nil
}

// buildChains groups the waits by root and explains each group.
func buildChains(ws []TaskWait) []Chain {
	g := newGraph(ws)
	var chains []Chain
	for _, gr := range g.groups() {
		c := Chain{Blocked: gr.members}
		for _, t := range gr.path {
			c.Path = append(c.Path, *g.waits[t])
		}
		for _, t := range gr.others {
			c.Others = append(c.Others, *g.waits[t])
		}
		if gr.cycle {
			c.Root = cycleRoot(c.Path)
		} else {
			c.Root = classifyRoot(g.waits[gr.path[len(gr.path)-1]])
			c.Root.Certain = c.Root.Certain && pathCertain(c.Path)
			heldAll(&c)
			rcuSummary(&c)
		}
		for _, w := range append(append([]TaskWait(nil), c.Path...), c.Others...) {
			if w.Incomplete {
				c.Root.Incomplete, c.Root.Certain = true, false
			}
		}
		if c.Root.Incomplete {
			c.Root.Summary = "(incomplete: the dump lacks memory this answer rests on, see the errors below) " + c.Root.Summary
		}
		c.Story = story(c.Path, c.Others, c.Root)
		c.Remedy = remedies(c.Root)
		if gr.cycle {
			c.Remedy = append(c.Remedy, futexCycleRemedies(c.Path)...)
			for _, w := range c.Path {
				if w.Object.Fuse != nil {
					c.Remedy = append(c.Remedy, w.Object.Fuse.Remedy+"  # abort FUSE connection "+fmt.Sprint(w.Object.Fuse.ConnID)+": fails the request and breaks the cycle")
				}
			}
		}
		chains = append(chains, c)
	}
	return chains
}

// heldAll names, in the summary of a chain whose root is one task that
// holds what the chain waits on, every object of the chain it holds (the
// waits on several locks of one holder are one chain).
func heldAll(c *Chain) {
	if (c.Root.Kind != RootHolderNotBlocked && c.Root.Kind != RootHolderStopped) || len(c.Root.Holders) != 1 || c.Root.Object == nil {
		return
	}
	holder := c.Root.Holders[0].Task.Addr
	first := c.Root.Object.What
	seen := map[string]bool{first: true}
	var more []string
	for _, w := range append(append([]TaskWait(nil), c.Path...), c.Others...) {
		for _, h := range w.Holders {
			if h.Task.Addr == holder && !seen[w.Object.What] {
				seen[w.Object.What] = true
				more = append(more, w.Object.What)
			}
		}
	}
	if len(more) == 0 {
		return
	}
	all := first
	for i, m := range more {
		if i == len(more)-1 {
			all += " and " + m
		} else {
			all += ", " + m
		}
	}
	c.Root.Summary = strings.Replace(c.Root.Summary, "holds "+first, "holds "+all, 1)
}

// futexCycleRemedies: a cycle of pthread mutex waits among the threads of
// one process is that program's own deadlock: nothing in the kernel ends
// it, the process has to be restarted, and its user stacks say where each
// mutex is taken.
func futexCycleRemedies(path []TaskWait) []string {
	if len(path) == 0 {
		return nil
	}
	tgid := path[0].Task.TGID
	for _, w := range path {
		if w.Kind != locking.WaitFutex || w.Task.TGID != tgid {
			return nil
		}
	}
	comm := path[0].Task.Comm
	return []string{
		fmt.Sprintf("gdb -p %d -batch -ex 'thread apply all bt'  # the threads of %s deadlock on its own mutexes: their user stacks show where each is taken", tgid, comm),
		fmt.Sprintf("kill %d  # then restart %s: a userspace deadlock ends only with the process", tgid, comm),
	}
}

// rcuSummary: a chain of waits for RCU grace periods is summed up by its
// normal grace period's note (its number and age) when it has one, not by
// whichever wait came last, an expedited one perhaps.
func rcuSummary(c *Chain) {
	if c.Root.Kind != RootRCUStall {
		return
	}
	for _, w := range append(append([]TaskWait(nil), c.Path...), c.Others...) {
		if w.Kind == WaitRCUGracePeriod && w.Note != "" {
			c.Root.Summary = w.Note
			return
		}
	}
}

// cycleRoot names a cycle: every task and what it waits on, around once.
func cycleRoot(path []TaskWait) Root {
	var names []string
	for _, w := range path {
		names = append(names, taskName(w.Task.TaskRef), "["+w.Object.What+"]")
	}
	names = append(names, taskName(path[0].Task.TaskRef))
	return Root{Kind: RootCycle, Certain: pathCertain(path), Summary: "deadlock: " + strings.Join(names, " → ")}
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
	if stopped, traced, frozen := stoppedHolders(r.Holders); stopped {
		how := "stopped (SIGSTOP or job control)"
		switch {
		case frozen == "system":
			how = "frozen by the system freezer (a suspend or hibernation that did not finish)"
		case frozen != "":
			how = "frozen by its " + frozen + " (cgroup.freeze)"
		case traced:
			how = "stopped by a tracer (ptrace)"
			if tr := r.Holders[0].Tracer; tr != nil {
				how = "stopped by its tracer " + taskName(*tr) + " (ptrace)"
			}
		}
		r.Kind = RootHolderStopped
		r.Summary = fmt.Sprintf("%s is %s and holds %s: nothing moves until it is resumed", serverNames(r.Holders), how, w.Object.What)
		for _, h := range r.Holders {
			r.Certain = r.Certain && h.Certain
		}
		return r
	}
	if k := kindNamed(w.Kind); k != nil && k.Classify != nil && k.Classify(w, &r) {
		return r
	}
	if w.Kind != WaitRPC && w.Object.RPC != nil && classifyRPC(w, &r) {
		// A folio an NFS call must unlock or end the write-back of.
		return r
	}
	if w.Kind != WaitFuseRequest && w.Object.Fuse != nil && classifyFuseRoot(w, &r) {
		// A wait on something a FUSE request holds (a folio under a
		// background READ): the server is the root.
		return r
	}
	switch {
	case len(r.Holders) > 0:
		r.Kind = RootHolderNotBlocked
		r.Summary = fmt.Sprintf("%s holds %s and is not blocked on anything kwalk recognises", serverNames(r.Holders), w.Object.What)
		if len(r.Holders) == 1 && r.Holders[0].Where != "" {
			r.Summary += " (it is " + r.Holders[0].Where + ")"
		}
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

// stoppedHolders reports whether every holder is a stopped task (state T:
// a stop signal, or t: stopped under ptrace) or a frozen one (cgroup or
// system freezer), whether one is traced, and how one is frozen.
func stoppedHolders(hs []Holder) (stopped, traced bool, frozen string) {
	for _, h := range hs {
		switch {
		case h.Frozen != "":
			frozen = h.Frozen
		case h.State == "T":
		case h.State == "t":
			traced = true
		default:
			return false, false, ""
		}
	}
	return len(hs) > 0, traced, frozen
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
	// The kind's own remedies come first, except for a stopped holder,
	// where resuming it is the fix and the kind's (abort, unmount) the
	// alternatives.
	specific := kindRemedies(r)
	out := genericRemedies(r)
	if r.Kind == RootHolderStopped {
		return append(out, specific...)
	}
	return append(specific, out...)
}

// kindRemedies are the remedies of the root's wait kind and family.
func kindRemedies(r Root) []string {
	var out []string
	if r.WaitKind != "" {
		if k := kindNamed(r.WaitKind); k != nil && k.Remedies != nil {
			out = append(out, k.Remedies(&r)...)
		}
	}
	// A wait of another kind whose root is a FUSE request or an RPC (a
	// folio under READ or write-back, a FUSE wait queue): that family's
	// remedies.
	switch r.Kind {
	case RootFuseNotAnswering, RootFuseServerIsWaite, RootFuseServerExiting, RootFuseNoServer:
		if r.WaitKind != WaitFuseRequest {
			out = append(out, fuseRemedies(&r)...)
		}
	case RootRPCServer:
		if r.WaitKind != WaitRPC {
			out = append(out, rpcRemedies(&r)...)
		}
	}
	return out
}

// genericRemedies are the remedies of the root's kind of cause.
func genericRemedies(r Root) []string {
	var out []string
	switch r.Kind {
	case RootHolderStopped:
		tg := map[int]bool{}
		for _, h := range r.Holders {
			if strings.HasPrefix(h.Frozen, "cgroup /") {
				cmd := "echo 0 > " + strings.TrimPrefix(h.Frozen, "cgroup ") + "/cgroup.freeze  # thaw the cgroup"
				if !slices.Contains(out, cmd) {
					out = append(out, cmd)
				}
				continue
			}
			if !tg[h.Task.TGID] {
				tg[h.Task.TGID] = true
				switch {
				case h.State == "t" && h.Tracer != nil:
					// SIGCONT does not end a ptrace stop: the tracer's
					// PTRACE_CONT or detach does, or its exit.
					out = append(out, fmt.Sprintf("detach %s from %s (or kill %d: a tracer's tracees resume when it exits)", taskName(*h.Tracer), taskName(h.Task), h.Tracer.TGID))
				case h.State == "t":
					out = append(out, fmt.Sprintf("detach the tracer of %s  # a ptrace stop ends only with the tracer's PTRACE_CONT, detach or exit", taskName(h.Task)))
				default:
					out = append(out, fmt.Sprintf("kill -CONT %d  # resume %s", h.Task.TGID, h.Task.Comm))
				}
			}
		}
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
	h := Hop(w)
	line := h.Head
	if h.On != "" {
		line += " [" + h.On + "]"
	}
	line += " — found by " + w.How
	if h.HeldBy != "" {
		line += "; held by " + h.HeldBy
	}
	if w.Note != "" {
		line += "; " + w.Note
	}
	if w.Error != "" {
		line += "; error: " + w.Error
	}
	return line
}

// HopText is one hop of a chain told for humans, in parts a renderer
// lays out (repl's deadlock text wraps them to the terminal).
type HopText struct {
	// Head: "sh (pid 111) [D, for 19s] waits for writes of filesystem …".
	Head string
	// On names the object: "percpu_rw_semaphore 0xffff… (waiter 2 of 3)".
	On string
	// HeldBy lists the holders with how each was found and certainty.
	HeldBy string
	// Note and Error are the wait's remarks; How is how it was found.
	Note, Error, How string
}

// Hop splits w into the parts of its hop line.
func Hop(w TaskWait) HopText {
	t := w.Task
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s%s]", taskName(t.TaskRef), t.State, forNote(t.BlockedFor))
	if t.Exiting {
		b.WriteString(" exiting")
		if t.FatalSignal {
			b.WriteString(", SIGKILL pending (ignored)")
		}
	}
	fmt.Fprintf(&b, " %s %s", KindVerb(w.Kind), w.Object.What)
	h := HopText{Head: b.String(), Note: w.Note, Error: w.Error, How: w.How}
	if w.Object.Addr != 0 {
		h.On = fmt.Sprintf("%s %#x", w.Object.Type, w.Object.Addr)
	}
	if w.QueueLen > 1 {
		if h.On != "" {
			h.On += ", "
		}
		h.On += fmt.Sprintf("waiter %d of %d", w.Position, w.QueueLen)
	}
	if len(w.Holders) > 0 {
		h.HeldBy = holderList(w.Holders)
	}
	return h
}

// KindVerb is how reports say a task waits in a wait of kind ("waits
// to write-lock"); "waits on" for kinds without a verb.
func KindVerb(kind string) string {
	if k := kindNamed(kind); k != nil && k.Verb != "" {
		return k.Verb
	}
	return "waits on"
}

// panicContext reads why the dump was taken and, for a hung-task panic,
// the chain (1-based) each reported task is in (0: in none); when the
// kernel did not panic, the hung-task reports of its log and their chains.
func panicContext(p *symbols.Program, chains []Chain) (*crash.PanicInfo, []int, []crash.HungTask, []int) {
	pi, hung, err := crash.Read(p)
	switch {
	case err != nil:
		return nil, nil, nil, nil
	case pi == nil && len(hung) > 0:
		return nil, nil, hung, hungChains(hung, chains)
	case pi == nil || len(pi.HungTasks) == 0:
		return pi, nil, nil, nil
	}
	return pi, hungChains(pi.HungTasks, chains), nil, nil
}

// hungChains returns the chain (1-based) each reported task is in (0: in
// none).
func hungChains(hung []crash.HungTask, chains []Chain) []int {
	var idx []int
	chainOf := map[int]int{} // pid → the last chain it is in, 1-based
	for i, c := range chains {
		for _, w := range c.Path {
			chainOf[w.Task.PID] = i + 1
		}
		for _, w := range c.Others {
			chainOf[w.Task.PID] = i + 1
		}
	}
	for _, h := range hung {
		idx = append(idx, chainOf[h.PID])
	}
	return idx
}

// maxHolderGroups bounds the processes a hop line names.
const maxHolderGroups = 4

// holderList names holders grouped by process: the threads of one FUSE
// server are one entry ("hangfs (pid 93, 5 threads; 2 idle in …) via …"),
// with the evidence of its first thread.
func holderList(hs []Holder) string {
	type group struct {
		first   Holder
		threads int
		idle    int
		certain bool
	}
	var order []int
	groups := map[int]*group{}
	for _, h := range hs {
		g := groups[h.Task.TGID]
		if g == nil {
			g = &group{first: h, certain: true}
			groups[h.Task.TGID] = g
			order = append(order, h.Task.TGID)
		}
		g.threads++
		g.certain = g.certain && h.Certain
		if strings.Contains(h.How, "idle in ") {
			g.idle++
		}
	}
	var parts []string
	for i, tg := range order {
		if i == maxHolderGroups && len(order) > maxHolderGroups+1 {
			parts = append(parts, fmt.Sprintf("%d more processes", len(order)-maxHolderGroups))
			break
		}
		g := groups[tg]
		c := "certain"
		if !g.certain {
			c = "hint"
		}
		if g.threads == 1 {
			parts = append(parts, fmt.Sprintf("%s via %s [%s]", taskName(g.first.Task), g.first.How, c))
			continue
		}
		how := g.first.How
		if i := strings.Index(how, ", idle in "); i >= 0 {
			how = how[:i]
		}
		extra := ""
		if g.idle > 0 {
			extra = fmt.Sprintf("; %d idle, waiting for new requests", g.idle)
		}
		parts = append(parts, fmt.Sprintf("%s (pid %d, %d threads%s) via %s [%s]", g.first.Task.Comm, tg, g.threads, extra, how, c))
	}
	return strings.Join(parts, ", ")
}
