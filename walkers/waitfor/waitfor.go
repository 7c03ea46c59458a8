package waitfor

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// waitAnalysis is the state of one analysis of a Program.
type waitAnalysis struct {
	p       *symbols.Program
	tasks   []sched.Task
	byAddr  map[uint64]*sched.Task
	bases   []uint64 // sorted task stack bases
	traces  map[uint64]*unwind.Trace
	stacks  map[uint64][]byte // the last maxStacks read (Stack)
	conns   []*fuse.FuseConn
	connBy  map[uint64]*fuse.FuseConn
	reqWait map[uint64]*fuse.FuseReq // waiting task → request
	fusefs  *fuse.FuseFileScanner
	servers map[uint64][]fuse.FuseServer // conn → servers
	errs    []string
	// listErr is why the task list could not be walked whole (the
	// tasks found are analysed; the report is then incomplete).
	listErr error
	// fuseMissed counts reads of pages the dump lacks while loading the
	// FUSE connections and servers: their absence is then not proven.
	fuseMissed uint64
	// kinds is the registry; shapes its waiter types resolved for this
	// kernel; sleepFrames the frames of its interruptible kinds.
	kinds       []*waitkind.Kind
	memo        map[any]any // Context.Memo
	shapes      []*waiterShape
	sleepFrames waitkind.Frames
	// heads are the wait-list walks that found their head, by the nodes
	// they went through (listHeadOf); rings the closed 7.1 waiter rings by
	// their nodes (objectByFirstWaiter). disjoint: 0 not yet known, 1 the
	// task stacks do not overlap, 2 they do.
	heads    map[uint64]walkPlace
	rings    map[uint64]map[uint64]bool
	disjoint int8
	// stackRing and stackNext order the kept stacks for eviction.
	stackRing []uint64
	stackNext int
	// sleepBuf is sleepsInLock's buffer (one look per sleeping task);
	// window is the part of it sleepScan last found a futex wait in, at
	// windowAddr.
	sleepBuf   []byte
	window     []byte
	windowAddr uint64
	// futexFrames are the frames of a futex wait (futexChains).
	futexFrames waitkind.Frames
}

// threadSize is THREAD_SIZE on x86_64 without KASAN (16 KiB,
// arch/x86/include/asm/page_64_types.h); traces give the real bounds.
const threadSize = 16 << 10

func newWaitAnalysis(p *symbols.Program) (*waitAnalysis, error) {
	a := &waitAnalysis{p: p, byAddr: map[uint64]*sched.Task{}, traces: map[uint64]*unwind.Trace{},
		stacks: map[uint64][]byte{}, connBy: map[uint64]*fuse.FuseConn{}, reqWait: map[uint64]*fuse.FuseReq{},
		servers: map[uint64][]fuse.FuseServer{}}
	a.useKinds(Kinds())
	tasks, err := sched.Tasks(p)
	if len(tasks) == 0 {
		if err == nil {
			err = fmt.Errorf("no tasks found")
		}
		return nil, fmt.Errorf("wait-for analysis: %w", err)
	}
	if err != nil {
		a.listErr = err
		a.errs = append(a.errs, err.Error())
	}
	a.tasks = tasks
	for i := range a.tasks {
		t := &a.tasks[i]
		a.byAddr[t.Addr] = t
		if st, err := t.Obj.MemberUint("stack"); err == nil && st != 0 {
			a.bases = append(a.bases, st)
		}
	}
	sort.Slice(a.bases, func(i, j int) bool { return a.bases[i] < a.bases[j] })
	m0 := a.missed()
	a.loadFuse()
	a.fuseMissed = a.missed() - m0
	return a, nil
}

// onStack reports whether addr lies on some task's kernel stack.
func (a *waitAnalysis) onStack(addr uint64) bool {
	i := sort.Search(len(a.bases), func(i int) bool { return a.bases[i] > addr }) - 1
	return i >= 0 && addr < a.bases[i]+threadSize
}

func (a *waitAnalysis) ref(t *sched.Task) sched.TaskRef {
	return sched.TaskRef{Addr: t.Addr, PID: t.PID, TGID: t.TGID, Comm: t.Comm}
}

func (a *waitAnalysis) Ref(addr uint64) sched.TaskRef {
	if t, ok := a.byAddr[addr]; ok {
		return a.ref(t)
	}
	r, _ := sched.TaskRefAt(a.p, addr)
	return r
}

func (a *waitAnalysis) Blocked(t *sched.Task) BlockedTask {
	b := BlockedTask{TaskRef: a.ref(t), State: t.State, NSPID: t.NSPID(), Exiting: t.Exiting(), FatalSignal: t.FatalSignalPending()}
	if t.HasSinceRan {
		b.BlockedFor = t.SinceRan
	}
	if tr := a.Trace(t); tr != nil {
		for _, f := range tr.Frames {
			b.Frames = append(b.Frames, frameName(f))
		}
	}
	return b
}

func frameName(f unwind.Frame) string {
	if f.Symbol == "" {
		return fmt.Sprintf("%#x", f.IP)
	}
	if f.Module != "" {
		return f.Symbol + " [" + f.Module + "]"
	}
	return f.Symbol
}

// trace unwinds t once.
func (a *waitAnalysis) Trace(t *sched.Task) *unwind.Trace {
	if tr, ok := a.traces[t.Addr]; ok {
		return tr
	}
	tr, err := unwind.Stack(a.p, t.Obj)
	if err != nil {
		tr = nil
	}
	a.traces[t.Addr] = tr
	return tr
}

// maxStacks bounds the kernel stacks kept read (16 KiB each): a task's
// stack is used several times while its wait is found, then rarely; the
// stacks of 10,000 blocked tasks would be 160 MB.
const maxStacks = 1024

// Stack reads t's whole kernel stack, kept for the next maxStacks reads
// (nil when it could not be read, kept for the analysis).
func (a *waitAnalysis) Stack(t *sched.Task) ([]byte, uint64) {
	base, err := t.Obj.MemberUint("stack")
	if err != nil || base == 0 {
		return nil, 0
	}
	if b, ok := a.stacks[t.Addr]; ok {
		return b, base
	}
	b := make([]byte, threadSize)
	if err := a.p.Mem.ReadVirt(b, base); err != nil {
		// Kept for good: read again, it would count its missing pages
		// against a later wait.
		a.stacks[t.Addr] = nil
		return nil, base
	}
	if len(a.stackRing) < maxStacks {
		a.stackRing = append(a.stackRing, t.Addr)
	} else {
		delete(a.stacks, a.stackRing[a.stackNext])
		a.stackRing[a.stackNext] = t.Addr
		a.stackNext = (a.stackNext + 1) % maxStacks
	}
	a.stacks[t.Addr] = b
	return b, base
}

// Waits returns, for every task that is blocked in the kernel on
// something kwalk can name, what it waits for and who holds it. Tasks
// sleeping normally (idle kernel threads, wait4 for a child, read of an
// idle pipe) are left out unless they wait on a lock, a FUSE request or
// a pid namespace's teardown. Problems that did not stop the analysis are
// returned as warnings.
func Waits(p *symbols.Program) ([]TaskWait, []string, error) {
	a, err := newWaitAnalysis(p)
	if err != nil {
		return nil, nil, err
	}
	return a.waits(), a.errs, nil
}

func (a *waitAnalysis) waits() []TaskWait {
	var out []TaskWait
	have := map[uint64]bool{}
	var futexWaiters []futexWaiter
	futexFiltered := 0 // futex sleepers whose word the dump lacks
	for i := range a.tasks {
		t := &a.tasks[i]
		if t.Idle || t.State == "R" || t.State == "I" || t.State == "X" || t.OnCPU {
			continue
		}
		m0 := a.missed()
		probe := func(window []byte, addr uint64) {
			tid, ok, filtered := locking.ProbeGlibcOwner(a, t, window, addr)
			if ok {
				futexWaiters = append(futexWaiters, futexWaiter{t, tid})
			} else if filtered {
				futexFiltered++
			}
		}
		probed := false
		if t.State != "D" && !t.Exiting() && a.reqWait[t.Addr] == nil {
			lock, inFutex := a.sleepScan(t, t.State == "S")
			if inFutex {
				probe(a.window, a.windowAddr)
				probed = true
			}
			if !lock {
				continue // an ordinary sleep: not worth a full unwind
			}
		}
		if w, ok := a.waitOf(t); ok {
			taintMissing(&w, a.missed()-m0)
			out = append(out, w)
			have[t.Addr] = true
		} else if t.State == "S" && !probed && a.HasFrame(t, a.futexFrames) {
			// The top of its stack could not be looked at cheaply (no
			// thread.sp: arm64 keeps it in thread.cpu_context): the
			// futex_q is looked for in the whole stack, unwound already.
			if stack, base := a.Stack(t); stack != nil {
				probe(stack, base)
			}
		}
	}
	a.linkFolioReads(out)
	a.linkFuseWaitQueues(out)
	a.linkNFSFolios(out)
	// Follow holders that are not blocked in a recognised way: a zombie
	// leader waiting for its threads, or a sleeping task whose wait only
	// shows on its stack (a wait queue in plain S state). Bounded by the
	// number of tasks.
	for i := 0; i < len(out) && i < len(a.tasks); i++ {
		for _, h := range out[i].Holders {
			t := a.byAddr[h.Task.Addr]
			if t == nil || have[t.Addr] || t.State == "R" || t.OnCPU || t.Idle {
				continue
			}
			have[t.Addr] = true
			m0 := a.missed()
			if w, ok := a.holderWait(t); ok {
				taintMissing(&w, a.missed()-m0)
				out = append(out, w)
			}
		}
	}
	out = a.futexChains(out, have, futexWaiters)
	if futexFiltered > 0 {
		// Not an incomplete answer (futex sleepers are no waits of their
		// own), but a blind spot the user should know of.
		a.Warn(fmt.Sprintf("%d task(s) asleep on futexes whose words are not in the dump (user pages filtered, e.g. makedumpfile -d 31): a userspace mutex deadlock among them cannot be seen", futexFiltered))
	}
	if a.fuseMissed > 0 {
		for i := range out {
			if out[i].Kind == WaitFuseRequest {
				taintMissing(&out[i], a.fuseMissed)
			}
		}
	}
	guessReaders(out)
	a.holderStates(out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Task.PID < out[j].Task.PID })
	return out
}

// maxSameObject is how far apart two locks may be to be taken as locks of
// one object (an inode's VFS i_rwsem and its file system's own lock in the
// containing xfs_inode, ext4_inode_info, ...): less than a page.
const maxSameObject = 4096

// guessReaders adds ABBA suspects as holders of read-locked rw-semaphores:
// a task T waits on reader-owned lock B; another task U waits on a lock A
// that T holds, and A lies within maxSameObject bytes of B (same object).
// U likely holds B for reading and took the two in the opposite order.
// The waits are indexed by holder, so that each T looks only at the waits
// it holds (N readers of one lock cost O(N), not O(N²)).
func guessReaders(ws []TaskWait) {
	var heldBy map[uint64][]int // holder task → waits it holds, in order
	for i := range ws {
		w := &ws[i]
		if !w.ReaderOwned {
			continue
		}
		if heldBy == nil {
			heldBy = map[uint64][]int{}
			for j := range ws {
				for _, h := range ws[j].Holders {
					if js := heldBy[h.Task.Addr]; len(js) == 0 || js[len(js)-1] != j {
						heldBy[h.Task.Addr] = append(js, j)
					}
				}
			}
		}
		us := heldBy[w.Task.Addr]
		if len(us) == 0 {
			continue
		}
		us = slices.Clone(us) // guesses below add to the index
		have := map[uint64]bool{}
		for _, h := range w.Holders {
			have[h.Task.Addr] = true
		}
		for _, j := range us {
			u := &ws[j]
			if j == i || have[u.Task.Addr] || u.Object.Addr == w.Object.Addr || u.Object.Addr == 0 {
				continue
			}
			d := int64(u.Object.Addr) - int64(w.Object.Addr)
			if d < -maxSameObject || d > maxSameObject {
				continue
			}
			have[u.Task.Addr] = true
			w.Holders = append(w.Holders, Holder{Task: u.Task.TaskRef, Certain: false,
				How: fmt.Sprintf("guess (ABBA): it waits on %s held by this task, %d bytes from this lock (same object), so it may hold this lock for reading, taken in the opposite order", u.Object.What, d)})
			// w is now held by u's task too.
			js := heldBy[u.Task.Addr]
			if k, found := slices.BinarySearch(js, i); !found {
				heldBy[u.Task.Addr] = slices.Insert(js, k, i)
			}
		}
	}
}

// topFrames names the first frames below the scheduler.
func topFrames(frames []string) string {
	var out []string
	for _, f := range frames {
		if strings.HasPrefix(f, "__schedule") || strings.HasPrefix(f, "schedule") || strings.HasPrefix(f, "io_schedule") {
			continue
		}
		out = append(out, f)
		if len(out) == 3 {
			break
		}
	}
	return strings.Join(out, " ← ")
}

// sleepWindow is how much of a sleeping task's stack above its saved
// stack pointer sleepsInLock looks at: the lock slowpath frames sit right
// above __schedule's.
const sleepWindow = 1024

// sleepsInLock is a cheap test for a task in S state: does the top of its
// stack (from thread.sp, arch/x86 __switch_to_asm) hold a return address
// into a lock slowpath? It spares the full unwind of the thousands of
// tasks sleeping in futex_wait, poll or read.
func (a *waitAnalysis) sleepsInLock(t *sched.Task) bool {
	lock, _ := a.sleepScan(t, false)
	return lock
}

// sleepScan is sleepsInLock; with futex set it also says whether the top
// of the stack holds a return address into a futex wait, and leaves the
// window it read in a.window (at a.windowAddr).
func (a *waitAnalysis) sleepScan(t *sched.Task, futex bool) (lock, inFutex bool) {
	a.window = nil
	if a.p.Syms == nil {
		return true, false
	}
	sp, err := t.Obj.MemberUint("thread.sp")
	if err != nil || sp == 0 {
		return true, false // cannot tell: look properly
	}
	base, err := t.Obj.MemberUint("stack")
	if err != nil {
		return true, false
	}
	n := uint64(sleepWindow)
	if top := base + threadSize; sp >= top {
		return false, false
	} else if sp+n > top {
		n = top - sp
	}
	if a.sleepBuf == nil {
		a.sleepBuf = make([]byte, sleepWindow)
	}
	buf := a.sleepBuf[:n]
	if err := a.p.Mem.ReadVirt(buf, sp); err != nil {
		return true, false
	}
	for off := 0; off+8 <= len(buf); off += 8 {
		v := binary.LittleEndian.Uint64(buf[off:])
		if v < 0xffffffff80000000 {
			continue
		}
		if sym, _, ok := a.p.Syms.LookupAddr(v); ok && sym.IsText() {
			if a.sleepFrames.Match(sym.Name) {
				return true, false
			}
			inFutex = inFutex || (futex && a.futexFrames.Match(sym.Name))
		}
	}
	if inFutex {
		a.window, a.windowAddr = buf, sp
	}
	return false, inFutex
}

// waitOf finds what t waits for: the kinds' own detection first, then the
// hung-task blocker fields, then waiter structures on its stack; a task in
// D state that none explains is reported as unidentified.
func (a *waitAnalysis) waitOf(t *sched.Task) (TaskWait, bool) {
	for _, k := range a.kinds {
		if k.Detect != nil && !k.HolderOnly {
			if w, ok := k.Detect(a, t); ok {
				return w, true
			}
		}
	}
	if w, ok := a.fieldWait(t); ok {
		return w, true
	}
	if w, ok := a.stackWait(t, false); ok {
		return w, true
	}
	if t.State == "D" {
		w := TaskWait{Task: a.Blocked(t), Kind: waitkind.Unknown, How: "uninterruptible sleep; no waiter structure found on its stack"}
		w.Object = WaitObject{Type: "unknown", What: "unidentified (" + topFrames(w.Task.Frames) + ")"}
		return w, true
	}
	return TaskWait{}, false
}

// holderWait finds what a lock holder or FUSE server that is not blocked
// in a recognised way waits for: a kind that applies to holders only (a
// zombie leader's threads), or any waiter structure on its stack. A task
// idle by design (a kind's Idle frames) waits for nothing.
func (a *waitAnalysis) holderWait(t *sched.Task) (TaskWait, bool) {
	for _, k := range a.kinds {
		if k.HolderOnly && k.Detect != nil {
			if w, ok := k.Detect(a, t); ok {
				return w, true
			}
		}
	}
	if t.State == "Z" {
		return TaskWait{}, false
	}
	for _, k := range a.kinds {
		if a.HasFrame(t, k.Idle) {
			return TaskWait{}, false
		}
	}
	return a.stackWait(t, true)
}

// useKinds sets the registry the analysis works with.
func (a *waitAnalysis) useKinds(ks []*waitkind.Kind) {
	a.kinds, a.shapes, a.sleepFrames = ks, nil, nil
	a.futexFrames = locking.FutexFrames()
	for _, k := range ks {
		if k.Interruptible {
			a.sleepFrames = a.sleepFrames.Union(k.Frames)
		}
	}
}

// holderStates records each holder's task state (a stopped holder is a
// root cause of its own). Each holder task is read once, however many
// waits it holds.
func (a *waitAnalysis) holderStates(ws []TaskWait) {
	type holderState struct {
		state  string
		tracer *sched.TaskRef
		frozen string
		where  string
	}
	known := map[uint64]*holderState{}
	for i := range ws {
		for j := range ws[i].Holders {
			h := &ws[i].Holders[j]
			t := a.byAddr[h.Task.Addr]
			if t == nil {
				continue
			}
			st := known[t.Addr]
			if st == nil {
				st = &holderState{state: t.State}
				if tr := a.Trace(t); tr != nil && len(tr.Frames) > 0 {
					names := make([]string, 0, len(tr.Frames))
					for _, f := range tr.Frames {
						names = append(names, frameName(f))
					}
					if top := topFrames(names); top != "" {
						st.where = t.State + " in " + top
					}
				}
				if tr, ok, err := t.Tracer(a.p); ok && err == nil {
					st.tracer = &tr
				}
				switch t.Frozen() {
				case "system":
					st.frozen = "system"
				case "cgroup":
					cg := "cgroup"
					if path, err := sched.FreezerCgroupPath(a.p, t); err == nil {
						cg = "cgroup /sys/fs/cgroup" + strings.TrimSuffix(path, "/")
					}
					st.frozen = cg
				}
				known[t.Addr] = st
			}
			h.State = st.state
			if st.tracer != nil {
				tr := *st.tracer
				h.Tracer = &tr
			}
			if st.frozen != "" {
				h.Frozen = st.frozen
			}
			h.Where = st.where
		}
	}
}

// missed is how many reads so far failed on pages the dump lacks.
func (a *waitAnalysis) missed() uint64 {
	if a.p.Dump == nil {
		return 0
	}
	return a.p.Dump.MissedReads()
}

// taintMissing marks a wait whose finding met pages the dump lacks (a
// filtered dump, makedumpfile -d): it is not certain, and says why.
func taintMissing(w *TaskWait, n uint64) {
	if n == 0 {
		return
	}
	w.Certain = false
	w.Incomplete = true
	msg := fmt.Sprintf("rests on memory the dump does not have: %d read(s) of excluded pages while finding it", n)
	if w.Error != "" {
		msg = w.Error + "; " + msg
	}
	w.Error = msg
}
