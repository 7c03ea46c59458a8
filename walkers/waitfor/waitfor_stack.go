package waitfor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
)

// A stackWaiter is a waiter structure found on a task's stack, linked into
// some list, whose task member is the task itself.
type stackWaiter struct {
	kind string // waiter type: "struct mutex_waiter", ..., "struct wait_queue_entry"
	node uint64 // address of its list_head
	addr uint64 // address of the waiter structure
	// broken says why the links did not verify (the structure names the
	// task, but next->prev or prev->next does not lead back): a corrupt or
	// changing list. Such waiters are reported, never followed.
	broken string
}

// waiterShape says where a waiter type keeps its task pointer relative to
// its list_head.
type waiterShape struct {
	typ      string
	list     string // member of typ that links it
	task     string // member holding the task pointer
	taskDiff int64  // offset(task) - offset(list)
	listOff  uint64
}

func (a *waitAnalysis) shapes() []waiterShape {
	var out []waiterShape
	for _, s := range []waiterShape{
		{typ: "struct mutex_waiter", list: "list", task: "task"},
		{typ: "struct rwsem_waiter", list: "list", task: "task"},
		{typ: "struct semaphore_waiter", list: "list", task: "task"},
		{typ: "struct swait_queue", list: "task_list", task: "task"},
		{typ: "struct wait_queue_entry", list: "entry", task: "private"},
	} {
		lo, err1 := a.p.OffsetOf(s.typ, s.list)
		to, err2 := a.p.OffsetOf(s.typ, s.task)
		if err1 != nil || err2 != nil {
			continue
		}
		s.listOff, s.taskDiff = lo, int64(to)-int64(lo)
		out = append(out, s)
	}
	return out
}

// findStackWaiters scans t's stack for list_head pairs that are linked
// both ways (next->prev == here and prev->next == here) and whose waiter
// structure's task member is t.
func (a *waitAnalysis) findStackWaiters(t *sched.Task) []stackWaiter {
	stack, base := a.stack(t)
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
	shapes := a.shapes()
	headless := a.headlessLocks()
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
			if next != here || prev != here || len(headless) == 0 {
				continue
			}
			for _, s := range shapes {
				if !headless[s.typ] {
					continue
				}
				ta := int64(here) + s.taskDiff
				if ta >= int64(base) && ta+8 <= int64(base)+int64(len(stack)) && binary.LittleEndian.Uint64(stack[uint64(ta)-base:]) == t.Addr {
					out = append(out, stackWaiter{kind: s.typ, node: here, addr: here - s.listOff})
				}
			}
			continue
		}
		matched := false
		for _, s := range shapes {
			ta := int64(here) + s.taskDiff
			if ta < int64(base) || ta+8 > int64(base)+int64(len(stack)) {
				continue
			}
			if binary.LittleEndian.Uint64(stack[uint64(ta)-base:]) != t.Addr {
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
					out = append(out, stackWaiter{kind: s.typ, node: here, addr: here - s.listOff,
						broken: fmt.Sprintf("%s at %#x on the stack names the task, but its list does not link back (next %#x: prev %#x, readable %v; prev %#x: next %#x, readable %v)",
							s.typ, here-s.listOff, next, np, ok1, prev, pn, ok2)})
					continue
				}
				matched = true
			}
			out = append(out, stackWaiter{kind: s.typ, node: here, addr: here - s.listOff})
		}
	}
	return out
}

// listHeadOf walks the list from a waiter's node to the first node that is
// not on any task's stack: the lock's (or wait queue's) list head.
func (a *waitAnalysis) listHeadOf(node uint64) (uint64, error) {
	cur := node
	seen := map[uint64]bool{node: true}
	for i := 0; i < kmem.MaxWaiters; i++ {
		next, err := a.p.ReadU64(cur)
		if err != nil {
			return 0, fmt.Errorf("waiter list at %#x: %w", cur, err)
		}
		if next == node {
			return 0, fmt.Errorf("waiter list at %#x: every node is on a task stack (no head found)", node)
		}
		if !a.onStack(next) {
			return next, nil
		}
		if seen[next] {
			return 0, fmt.Errorf("waiter list at %#x: node %#x met twice without reaching a head: %w", node, next, symbols.ErrCycle)
		}
		seen[next] = true
		cur = next
	}
	return 0, fmt.Errorf("waiter list at %#x: %w", node, kmem.ErrListTruncated)
}

// stackLockWait finds a lock or wait-queue wait of t from waiter
// structures on its stack.
func (a *waitAnalysis) stackLockWait(t *sched.Task) (TaskWait, bool) {
	return a.stackWait(t, false)
}

// stackWaitRelaxed is stackLockWait for any sleeping task (used for the
// holders of other tasks' waits).
func (a *waitAnalysis) stackWaitRelaxed(t *sched.Task) (TaskWait, bool) {
	return a.stackWait(t, true)
}

func (a *waitAnalysis) stackWait(t *sched.Task, relaxed bool) (TaskWait, bool) {
	isRwsem := a.hasFrame(t, rwsemFrames...)
	isMutex := a.hasFrame(t, mutexFrames...)
	isSem := a.hasFrame(t, semFrames...)
	isComp := a.hasFrame(t, completionFrames...)
	// A task in S waiting for a completion is normal (kthreads waiting for
	// work); only lock slowpaths make an S task blocked.
	if !relaxed && t.State != "D" && !isRwsem && !isMutex && !isSem {
		return TaskWait{}, false
	}
	waiters := a.findStackWaiters(t)
	var firstErr error
	// Lock waiters share one shape (list, then task), as do other
	// structures (futex_q's plist node): the frames must say which lock
	// slowpath the task is in, unless there are no frames at all.
	noFrames := a.trace(t) == nil || len(a.trace(t).Frames) == 0
	for _, sw := range waiters {
		if sw.broken != "" {
			if !a.plausibleBroken(sw, isRwsem, isMutex, isSem) {
				continue
			}
			if w, ok := a.damagedWait(t, sw); ok {
				return w, true
			}
			if firstErr == nil {
				firstErr = errors.New(sw.broken)
			}
			continue
		}
		var lockType, listMember string
		switch sw.kind {
		case "struct rwsem_waiter":
			if !isRwsem && !noFrames {
				continue
			}
			lockType = "struct rw_semaphore"
		case "struct mutex_waiter":
			if !isMutex && !noFrames {
				continue
			}
			lockType = "struct mutex"
		case "struct semaphore_waiter":
			if !isSem && !noFrames {
				continue
			}
			lockType = "struct semaphore"
		}
		var addr uint64
		how := stackHow
		if lockType != "" {
			if lt, err := a.p.Type(lockType); err == nil && !lt.HasMember("wait_list") && lt.HasMember("first_waiter") {
				// 7.1+: no list head; find the lock whose first_waiter is on
				// the ring (kernel/locking/mutex.c, rwsem.c, semaphore.c).
				addr = a.lockByFirstWaiter(t, lockType, sw)
				how = stackHowFirst
				if addr == 0 {
					if firstErr == nil {
						firstErr = fmt.Errorf("%s on the stack at %#x: no %s on the task's stack has it as first_waiter's ring", sw.kind, sw.addr, lockType)
					}
					continue
				}
			} else {
				listMember = "wait_list"
			}
		}
		if addr == 0 {
			head, err := a.listHeadOf(sw.node)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			if listMember != "" {
				off, err := a.p.OffsetOf(lockType, listMember)
				if err != nil {
					continue
				}
				addr = head - off
			} else {
				addr = head
			}
		}
		var w TaskWait
		var ok bool
		switch sw.kind {
		case "struct rwsem_waiter":
			w, ok = a.rwsemWait(t, sw.addr, addr, how)
		case "struct mutex_waiter":
			w, ok = a.mutexWait(t, sw.addr, addr, how)
		case "struct semaphore_waiter":
			w, ok = a.semWait(t, sw.addr, addr, how)
		case "struct swait_queue":
			w, ok = a.swaitWait(t, sw, addr, isComp)
		case "struct wait_queue_entry":
			w, ok = a.waitqWait(t, sw, addr)
		}
		if ok {
			return w, true
		}
	}
	if firstErr != nil && t.State == "D" {
		w := TaskWait{Task: a.blocked(t), Kind: "unknown", Error: firstErr.Error(),
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

// lockByFirstWaiter finds, for the 7.1+ headless waiter ring, the lock
// whose first_waiter is one of the ring's waiters: a word on t's stack
// (the lock pointer the slowpath keeps) pointing at a lockType whose
// first_waiter is on the ring.
func (a *waitAnalysis) lockByFirstWaiter(t *sched.Task, lockType string, sw stackWaiter) uint64 {
	fwOff, err := a.p.OffsetOf(lockType, "first_waiter")
	if err != nil {
		return 0
	}
	ring, _ := kmem.CircularNodes(a.p, sw.node, kmem.MaxWaiters)
	listOff := sw.node - sw.addr
	onRing := map[uint64]bool{}
	for _, n := range ring {
		onRing[n-listOff] = true
	}
	stack, base := a.stack(t)
	seen := map[uint64]bool{}
	for off := 0; off+8 <= len(stack); off += 8 {
		v := binary.LittleEndian.Uint64(stack[off:])
		if !kmem.IsKernelPointer(v) || seen[v] || (v >= base && v < base+uint64(len(stack))) {
			continue
		}
		seen[v] = true
		if fw, err := a.p.ReadU64(v + fwOff); err == nil && onRing[fw] {
			return v
		}
	}
	return 0
}

// queuePos returns the 1-based place of the waiter structure waiter (or,
// when waiter is 0, of the first waiter of task) and the queue length.
func queuePos(ws []locking.LockWaiter, waiter, task uint64) (int, int) {
	for i, w := range ws {
		if (waiter != 0 && w.Waiter == waiter) || (waiter == 0 && w.Task.Addr == task) {
			return i + 1, len(ws)
		}
	}
	return 0, len(ws)
}

func (a *waitAnalysis) rwsemWait(t *sched.Task, waiter, addr uint64, how string) (TaskWait, bool) {
	return a.rwsemWaitAt(t, waiter, addr, how, false)
}

func (a *waitAnalysis) rwsemWaitAt(t *sched.Task, waiter, addr uint64, how string, damaged bool) (TaskWait, bool) {
	info, err := locking.Rwsem(a.p, addr)
	if err != nil || info.Count&locking.RwsemFlagWaiters == 0 {
		return TaskWait{}, false
	}
	pos, n := queuePos(info.Waiters, waiter, t.Addr)
	if pos == 0 && !damaged {
		return TaskWait{}, false
	}
	kind := WaitRwsemWrite
	if pos > 0 && info.Waiters[pos-1].Type == "read" {
		kind = WaitRwsemRead
	} else if pos == 0 && locking.RwsemWaiterType(a.p, waiter) == "read" {
		kind = WaitRwsemRead
	}
	w := TaskWait{Task: a.blocked(t), Kind: kind, How: how, Certain: true, Position: pos, QueueLen: n}
	w.Object = WaitObject{Type: "rw_semaphore", Addr: addr, What: a.describeLock(addr, "rw_semaphore")}
	switch {
	case info.Owner != nil:
		w.Holders = append(w.Holders, Holder{Task: a.refAt(info.Owner.Addr), How: "rw_semaphore.owner (writer)", Certain: true})
	case info.State == "read-locked":
		w.ReaderOwned = true
		w.Note = fmt.Sprintf("read-locked by %d reader(s); readers are not recorded by the kernel", info.Readers)
		seen := map[uint64]bool{}
		if info.LastReader != nil {
			seen[info.LastReader.Addr] = true
			w.Holders = append(w.Holders, Holder{Task: a.refAt(info.LastReader.Addr), Certain: false,
				How: "last reader recorded in rw_semaphore.owner (READER_OWNED): a hint, it may have released"})
		}
		for _, h := range a.tasksReferencing(addr, info.Waiters) {
			if !seen[h] {
				w.Holders = append(w.Holders, Holder{Task: a.refAt(h), Certain: false,
					How: "blocked task whose stack holds the lock's address (guess)"})
			}
		}
	default:
		w.Note = "the rw_semaphore looks unlocked: the waiter is being woken, or the owner field was cleared"
	}
	return w, true
}

func (a *waitAnalysis) mutexWait(t *sched.Task, waiter, addr uint64, how string) (TaskWait, bool) {
	return a.mutexWaitAt(t, waiter, addr, how, false)
}

func (a *waitAnalysis) mutexWaitAt(t *sched.Task, waiter, addr uint64, how string, damaged bool) (TaskWait, bool) {
	info, err := locking.Mutex(a.p, addr)
	if err != nil || info.OwnerRaw&locking.MutexFlagWaiters == 0 {
		// A mutex with waiters has MUTEX_FLAG_WAITERS set (kernel/locking/mutex.c
		// __mutex_add_waiter).
		return TaskWait{}, false
	}
	pos, n := queuePos(info.Waiters, waiter, t.Addr)
	if pos == 0 && !damaged {
		return TaskWait{}, false
	}
	w := TaskWait{Task: a.blocked(t), Kind: WaitMutex, How: how, Certain: true, Position: pos, QueueLen: n}
	w.Object = WaitObject{Type: "mutex", Addr: addr, What: a.describeLock(addr, "mutex")}
	if info.Owner != nil {
		how := "mutex.owner"
		if info.OwnerRaw&locking.MutexFlagPickup != 0 {
			how += " (handoff: the waiter about to take it)"
		}
		w.Holders = append(w.Holders, Holder{Task: a.refAt(info.Owner.Addr), How: how, Certain: true})
	} else {
		w.Note = "the mutex has no owner: the waiter is being woken"
	}
	return w, true
}

func (a *waitAnalysis) semWait(t *sched.Task, waiter, addr uint64, how string) (TaskWait, bool) {
	return a.semWaitAt(t, waiter, addr, how, false)
}

func (a *waitAnalysis) semWaitAt(t *sched.Task, waiter, addr uint64, how string, damaged bool) (TaskWait, bool) {
	info, err := locking.Semaphore(a.p, addr)
	if err != nil {
		return TaskWait{}, false
	}
	pos, n := queuePos(info.Waiters, waiter, t.Addr)
	if pos == 0 && !damaged {
		return TaskWait{}, false
	}
	w := TaskWait{Task: a.blocked(t), Kind: WaitSemaphore, How: how, Certain: true, Position: pos, QueueLen: n}
	w.Object = WaitObject{Type: "semaphore", Addr: addr, What: a.describeLock(addr, "semaphore")}
	if info.LastHolder != nil {
		w.Holders = append(w.Holders, Holder{Task: a.refAt(info.LastHolder.Addr), How: "semaphore.last_holder (hint)", Certain: false})
	} else {
		w.Note = "semaphores do not record their holders"
	}
	return w, true
}

func (a *waitAnalysis) swaitWait(t *sched.Task, sw stackWaiter, head uint64, isComp bool) (TaskWait, bool) {
	off, err := a.p.OffsetOf("struct swait_queue_head", "task_list")
	if err != nil {
		return TaskWait{}, false
	}
	qh := head - off
	w := TaskWait{Task: a.blocked(t), Kind: WaitQueueEvent, How: "swait_queue on the task's stack, linked into the queue", Certain: true}
	w.Object = WaitObject{Type: "swait_queue_head", Addr: qh, What: a.describeLock(qh, "swait_queue_head")}
	if isComp {
		if coff, err := a.p.OffsetOf("struct completion", "wait"); err == nil {
			c := qh - coff
			w.Kind = WaitCompletion
			w.Object = WaitObject{Type: "completion", Addr: c, What: a.describeLock(c, "completion")}
		}
	}
	w.Note = "nobody owns a completion or wait queue: whoever should complete it is unknown"
	return w, true
}

func (a *waitAnalysis) waitqWait(t *sched.Task, sw stackWaiter, head uint64) (TaskWait, bool) {
	off, err := a.p.OffsetOf("struct wait_queue_head", "head")
	if err != nil {
		return TaskWait{}, false
	}
	qh := head - off
	e := locking.WaitEntry(a.p, sw.addr)
	if e.Func == "wake_page_function" && e.Folio != 0 {
		w := TaskWait{Task: a.blocked(t), Kind: WaitFolio, How: "wait_page_queue on the task's stack, linked into the folio wait table", Certain: true}
		fw := locking.FolioWaitFrom(a.p, e)
		what := fmt.Sprintf("%s of folio %#x", fw.Bit, e.Folio)
		if fw.File != nil {
			loc := fw.File.Path
			if loc == "" {
				loc = fmt.Sprintf("inode %d on %s", fw.File.Ino, fw.File.Dev)
			}
			what += fmt.Sprintf(" (%s offset %d, %s)", loc, fw.File.Offset, fw.File.Fs)
		}
		w.Object = WaitObject{Type: "folio", Addr: e.Folio, What: what}
		w.Note = "a locked folio is released when its I/O completes; the I/O's owner is not recorded"
		return w, true
	}
	w := TaskWait{Task: a.blocked(t), Kind: WaitQueueEvent, How: "wait_queue_entry on the task's stack, linked into the queue", Certain: true}
	w.Object = WaitObject{Type: "wait_queue_head", Addr: qh, What: a.describeLock(qh, "wait_queue_head") + " (wake function " + e.Func + ")"}
	w.Note = "nobody owns a wait queue: whoever should wake it is unknown"
	if a.hasFrame(t, "request_wait_answer") {
		// fs/fuse/dev.c: the queue is a fuse_req's waitq; without the fuse
		// module's types the request cannot be decoded, but its connection
		// and servers can be found (waitfor_fuse.go).
		fw, cands, ok := a.fuseWaitTypesFree(t, qh)
		if ok {
			return fw, true
		}
		w.Kind = WaitFuseRequest
		w.Object.Type = "fuse_req waitq"
		w.Object.What = fmt.Sprintf("a FUSE request (request_wait_answer; wait queue %#x; not decodable: no FUSE types or connections)", qh)
		w.Note = "the FUSE server must answer the request; its connection is unknown"
		if mounts, ids := a.taskFuseMounts(t); mounts != "" {
			w.Note = "the FUSE server must answer the request; the task has files open on " + mounts + " (the connection is one of these)"
			w.Object.FuseCandidates = ids
		} else if len(cands) > 0 {
			w.Note = fmt.Sprintf("the FUSE server must answer the request; its connection is one of %v", cands)
			w.Object.FuseCandidates = cands
		}
	}
	return w, true
}

// maxReaderScan bounds the stacks read looking for a reader-owned lock.
const maxReaderScan = 4096

// tasksReferencing returns blocked tasks (other than the lock's waiters)
// whose stacks contain the value addr: candidates for holding a
// reader-owned rw_semaphore (heuristic; the kernel does not record readers).
func (a *waitAnalysis) tasksReferencing(addr uint64, waiters []locking.LockWaiter) []uint64 {
	skip := map[uint64]bool{}
	for _, w := range waiters {
		skip[w.Task.Addr] = true
	}
	var out []uint64
	looked := 0
	for i := range a.tasks {
		t := &a.tasks[i]
		// Readers that hold the lock and then block are in D, or asleep
		// on a FUSE request; ordinary sleepers are not read (bounded).
		if skip[t.Addr] || t.Idle || (t.State != "D" && a.reqWait[t.Addr] == nil) {
			continue
		}
		if looked++; looked > maxReaderScan {
			break
		}
		stack, _ := a.stack(t)
		for off := 0; off+8 <= len(stack); off += 8 {
			if binary.LittleEndian.Uint64(stack[off:]) == addr {
				out = append(out, t.Addr)
				break
			}
		}
	}
	return out
}

// describeLock says what a lock is: a member of an inode or superblock
// when it fits there (checked: the inode's i_mapping points at its own
// i_data; the superblock's root dentry points back at it), a global by
// symbol, or just its type and address.
func (a *waitAnalysis) describeLock(addr uint64, typ string) string {
	p := a.p
	if typ == "rw_semaphore" {
		if in, ok := inodeOfMember(p, addr, "i_rwsem"); ok {
			d, err := vfs.DescribeInode(p, in)
			if err == nil {
				return "i_rwsem of " + d.String()
			}
		}
		if sb, ok := superBlockOfMember(p, addr, "s_umount"); ok {
			if o, err := p.Object("struct super_block", sb); err == nil {
				fs, id, _ := vfs.SuperBlockName(p.Value(symbols.PointerTo(o.Type()), sb))
				return fmt.Sprintf("s_umount of superblock %s (%s)", id, fs)
			}
		}
	}
	if p.Syms != nil {
		if s, off, ok := p.Syms.LookupAddr(addr); ok && !s.IsText() && (s.Size == 0 || off < s.Size) {
			name := s.Name
			if off != 0 {
				name += fmt.Sprintf("+%#x", off)
			}
			return fmt.Sprintf("%s %s", typ, name)
		}
	}
	return fmt.Sprintf("%s at %#x", typ, addr)
}

// inodeOfMember returns the inode containing member at addr when it is a
// plausible inode: i_mapping == &i_data (fs/inode.c inode_init_always).
func inodeOfMember(p *symbols.Program, addr uint64, member string) (uint64, bool) {
	in, err := p.ContainerOf(addr, "struct inode", member)
	if err != nil {
		return 0, false
	}
	mapping, err := in.MemberUint("i_mapping")
	if err != nil {
		return 0, false
	}
	data, err := in.Member("i_data")
	if err != nil || mapping != data.Addr() {
		return 0, false
	}
	return in.Addr(), true
}

// superBlockOfMember returns the super_block containing member at addr
// when its root dentry's d_sb points back at it.
func superBlockOfMember(p *symbols.Program, addr uint64, member string) (uint64, bool) {
	sb, err := p.ContainerOf(addr, "struct super_block", member)
	if err != nil {
		return 0, false
	}
	dsb, err := sb.MemberUint("s_root->d_sb")
	if err != nil || dsb != sb.Addr() {
		return 0, false
	}
	return sb.Addr(), true
}

// Hung-task blocker types, the low two bits of task_struct.blocker
// (include/linux/hung_task.h, CONFIG_DETECT_HUNG_TASK_BLOCKER, 6.16+).
const (
	blockerMutex       = 0
	blockerSem         = 1
	blockerRwsemReader = 2
	blockerRwsemWriter = 3
	blockerTypeMask    = 3
)

// fieldWait reads what t waits on from the fields the kernel keeps for it,
// when the types have them: task_struct.blocker (lock address | type) and
// task_struct.blocked_on (a struct mutex * since 6.18; the value -1 is
// PROXY_WAKING in 7.1, not a lock; kernel/locking/mutex.c).
func (a *waitAnalysis) fieldWait(t *sched.Task) (TaskWait, bool) {
	tt := t.Obj.Type()
	if tt.HasMember("blocker") {
		if v, err := t.Obj.MemberUint("blocker"); err == nil && v != 0 {
			addr := v &^ blockerTypeMask
			how := "task_struct.blocker (hung-task blocker tracking)"
			switch v & blockerTypeMask {
			case blockerMutex:
				return a.mutexWait(t, 0, addr, how)
			case blockerSem:
				return a.semWait(t, 0, addr, how)
			default:
				return a.rwsemWait(t, 0, addr, how)
			}
		}
	}
	if m, ok := tt.FindMember("blocked_on"); ok {
		pt := m.Type.Resolve()
		if pt != nil && pt.Kind == symbols.KindPointer && pt.Elem != nil && pt.Elem.Resolve() != nil && pt.Elem.Resolve().Name == "mutex" {
			if v, err := t.Obj.MemberUint("blocked_on"); err == nil && v != 0 && v != ^uint64(0) {
				return a.mutexWait(t, 0, v, "task_struct.blocked_on")
			}
		}
	}
	return TaskWait{}, false
}

// plausibleBroken reports whether an unverified waiter is worth reporting:
// a lock waiter whose slowpath frame the task is in.
func (a *waitAnalysis) plausibleBroken(sw stackWaiter, isRwsem, isMutex, isSem bool) bool {
	switch sw.kind {
	case "struct rwsem_waiter":
		return isRwsem
	case "struct mutex_waiter":
		return isMutex
	case "struct semaphore_waiter":
		return isSem
	}
	return false
}

// damagedWait decodes the lock of a half-linked waiter: its neighbour that
// is not on a task stack is taken as the lock's list head. The wait is then not certain and carries the damage.
func (a *waitAnalysis) damagedWait(t *sched.Task, sw stackWaiter) (TaskWait, bool) {
	lockType := map[string]string{"struct rwsem_waiter": "struct rw_semaphore",
		"struct mutex_waiter": "struct mutex", "struct semaphore_waiter": "struct semaphore"}[sw.kind]
	off, err := a.p.OffsetOf(lockType, "wait_list")
	if err != nil {
		return TaskWait{}, false
	}
	next, err1 := a.p.ReadU64(sw.node)
	prev, err2 := a.p.ReadU64(sw.node + 8)
	for _, c := range []struct {
		head uint64
		ok   bool
	}{{prev, err2 == nil}, {next, err1 == nil}} {
		if !c.ok || !kmem.IsKernelPointer(c.head) || a.onStack(c.head) {
			continue
		}
		// The head may be the damaged node itself; the decoded lock is
		// checked (waiters flag set) before it is believed.
		const how = "waiter structure on the task's stack; its wait list is damaged, the lock was taken from the waiter's neighbour off the stacks (its waiters flag checked)"
		var w TaskWait
		var ok bool
		switch sw.kind {
		case "struct rwsem_waiter":
			w, ok = a.rwsemWaitAt(t, sw.addr, c.head-off, how, true)
		case "struct mutex_waiter":
			w, ok = a.mutexWaitAt(t, sw.addr, c.head-off, how, true)
		case "struct semaphore_waiter":
			w, ok = a.semWaitAt(t, sw.addr, c.head-off, how, true)
		}
		if ok {
			w.Certain = false
			w.Error = sw.broken
			return w, true
		}
	}
	return TaskWait{}, false
}

// headlessLocks returns the waiter types whose locks keep a first_waiter
// pointer instead of a list head (7.1+).
func (a *waitAnalysis) headlessLocks() map[string]bool {
	out := map[string]bool{}
	for waiter, lock := range map[string]string{"struct mutex_waiter": "struct mutex",
		"struct rwsem_waiter": "struct rw_semaphore", "struct semaphore_waiter": "struct semaphore"} {
		if lt, err := a.p.Type(lock); err == nil && !lt.HasMember("wait_list") && lt.HasMember("first_waiter") {
			out[waiter] = true
		}
	}
	return out
}

// taskFuseMounts names the FUSE file systems t has files open on (its
// files, or the files_struct an exiting task is closing), as
// "connection N (/mnt/x)": without FUSE types this is what says which
// connection a request belongs to. Superblocks come from super_blocks.
func (a *waitAnalysis) taskFuseMounts(t *sched.Task) (string, []uint32) {
	sbs, err := fuse.FuseSuperBlocks(a.p)
	if err != nil || len(sbs) == 0 {
		return "", nil
	}
	set := map[uint64]bool{}
	for _, sb := range sbs {
		set[sb] = true
	}
	files, err := t.Obj.MemberUint("files")
	if err != nil {
		return "", nil
	}
	if files == 0 && t.Exiting() {
		if stack, base := a.stack(t); stack != nil {
			files = fuse.ClosingFiles(a.p, stack, base)
		}
	}
	var found []fuse.FuseSBFile
	if files != 0 {
		found = fuse.FilesOnSuperBlocks(a.p, files, set)
	}
	if len(found) == 0 {
		// The file being flushed or written may already be out of the fd
		// table (fs/file.c close_files clears the slot before filp_close):
		// look for a struct file on a FUSE superblock among the stack words.
		found = a.stackFilesOn(t, set)
	}
	seen := map[uint64]bool{}
	var parts []string
	var ids []uint32
	for _, f := range found {
		if seen[f.SB] {
			continue
		}
		seen[f.SB] = true
		sb, err := a.p.Object("struct super_block", f.SB)
		if err != nil {
			continue
		}
		dev, err := sb.MemberUint("s_dev")
		if err != nil {
			continue
		}
		ids = append(ids, uint32(dev))
		part := fmt.Sprintf("connection %d", uint32(dev))
		if mps := vfs.SuperBlockMountPoints(a.p, f.SB); len(mps) > 0 {
			part += " (" + strings.Join(mps, ", ") + ")"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; "), ids
}

// stackFilesOn returns struct file pointers found among t's stack words
// whose inode lies on one of the superblocks in sbs.
func (a *waitAnalysis) stackFilesOn(t *sched.Task, sbs map[uint64]bool) []fuse.FuseSBFile {
	stack, base := a.stack(t)
	if stack == nil {
		return nil
	}
	inodeOff, err1 := a.p.OffsetOf("struct file", "f_inode")
	sbOff, err2 := a.p.OffsetOf("struct inode", "i_sb")
	if err1 != nil || err2 != nil {
		return nil
	}
	seen := map[uint64]bool{}
	var out []fuse.FuseSBFile
	for off := 0; off+8 <= len(stack); off += 8 {
		v := binary.LittleEndian.Uint64(stack[off:])
		if !kmem.IsKernelPointer(v) || seen[v] || (v >= base && v < base+uint64(len(stack))) {
			continue
		}
		seen[v] = true
		in, err := a.p.ReadU64(v + inodeOff)
		if err != nil || !kmem.IsKernelPointer(in) {
			continue
		}
		if sb, err := a.p.ReadU64(in + sbOff); err == nil && sbs[sb] {
			out = append(out, fuse.FuseSBFile{FD: -1, SB: sb})
		}
	}
	return out
}
