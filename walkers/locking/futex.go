package locking

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// WaitFutex is TaskWait.Kind of a sleep in FUTEX_WAIT (or futex_waitv) on
// a userspace futex word.
const WaitFutex = "futex"

// Futex key flags in the low bits of futex_key.both.offset
// (kernel/futex/futex.h; include/linux/futex.h ≤ 5.15): the offset of the
// word in its page is a multiple of 4, its two low bits say the key's kind.
const (
	futOffInode    = 1 // shared futex of a file mapping: key.shared {i_seq, pgoff}
	futOffMMShared = 2 // shared anonymous memory: key.private {mm, address}
)

// futexTIDMask is FUTEX_TID_MASK (include/uapi/linux/futex.h): the owner
// TID bits of a robust or PI futex word.
const futexTIDMask = 0x3fffffff

// futexWaitvMax is FUTEX_WAITV_MAX (include/uapi/linux/futex.h): at most
// this many futexes in one futex_waitv(2).
const futexWaitvMax = 128

// futexStackSize is how much of a task's kernel stack is searched for its
// futex_q: THREAD_SIZE (16 KiB on x86_64 without KASAN and on arm64 with
// 4 KiB pages).
const futexStackSize = 16 << 10

// glibcOwnerOff is the offset of __owner in glibc's struct
// __pthread_mutex_s (sysdeps/nptl/bits/struct_mutex.h and
// sysdeps/x86/nptl/bits/struct_mutex.h: int __lock; unsigned int __count;
// int __owner; — the same on x86_64 and aarch64): the futex word is
// __lock, at offset 0.
const glibcOwnerOff = 8

// glibcAssumed marks every conclusion drawn from glibc's mutex layout.
const glibcAssumed = "glibc pthread_mutex_t layout assumed"

// FutexWait is the wait kind of a task asleep in futex(2) FUTEX_WAIT or
// futex_waitv(2) (kernel/futex/waitwake.c futex_wait_queue, futex_do_wait
// in 6.17+; ≤ 5.15 kernel/futex.c futex_wait_queue_me): a struct futex_q on its stack (on
// the heap for futex_waitv, one per futex in a struct futex_vector array)
// is queued on a futex_hash_bucket's plist until a FUTEX_WAKE. The kernel
// does not know what the futex word means to user space, so the holder
// is a hint: when the word is a locked glibc pthread_mutex_t whose
// __owner is another thread of the same process, that thread.
//
// HolderOnly: idle thread pools, condition variables and Go runtime
// threads sleep in futexes by design, so a futex sleep is looked at only
// in a task others wait for (the holder of a file lock asleep on a
// pthread mutex), and it is a wait only when it names an owner to go on
// to; otherwise the chain ends at that task as before (a holder that is
// not blocked in a way kwalk recognises). PI futexes (FUTEX_LOCK_PI) are
// rt_mutexes: RtMutexWait.
var FutexWait = &waitkind.Kind{
	Name:       WaitFutex,
	Verb:       "waits on",
	Frames:     futexWaitFrames,
	HolderOnly: true,
	Detect:     detectFutexWait,
	Remedies:   futexRemedies,
}

// futexWaitFrames: the non-PI futex waits (kernel/futex/waitwake.c on
// 5.16+: futex_wait_queue, named futex_do_wait in 6.17+; kernel/futex.c
// before: futex_wait_queue_me).
var futexWaitFrames = waitkind.NewFrames("futex_wait_queue", "futex_do_wait", "futex_wait_queue_me", "__futex_wait",
	"futex_wait", "futex_wait_multiple", "futex_wait_requeue_pi")

// futexMultipleFrames mark futex_waitv(2), whose futex_q are on the heap.
var futexMultipleFrames = waitkind.NewFrames("futex_wait_multiple", "__x64_sys_futex_waitv",
	"__arm64_sys_futex_waitv", "__se_sys_futex_waitv", "__do_sys_futex_waitv")

// FutexWaiter is one futex a task sleeps on, decoded from its futex_q.
type FutexWaiter struct {
	// Queue is the struct futex_q, Bucket the futex_hash_bucket it is
	// queued on (futex_q.lock_ptr is &bucket->lock).
	Queue  uint64 `json:"queue"`
	Bucket uint64 `json:"bucket"`
	// Key is "private" (PTHREAD_PROCESS_PRIVATE: mm and address),
	// "shared-mm" (shared anonymous memory: mm and address too) or
	// "shared-inode" (a file mapping: inode sequence and page index).
	Key string `json:"key"`
	// Addr is the user address of the futex word; 0 when unknown (a
	// shared-inode key names no address: it is taken from the futex(2)
	// call's first argument when that matches the key, AddrFrom says so).
	Addr     uint64 `json:"addr"`
	AddrFrom string `json:"addr_from,omitempty"`
	// ISeq and PgOff name a shared-inode key's file and page.
	ISeq  uint64 `json:"i_seq,omitempty"`
	PgOff uint64 `json:"pgoff,omitempty"`
	// Offset is the word's offset in its page (the key's, flags cleared).
	Offset uint64 `json:"offset"`
	// Word is the futex word's value now, read from the waiter's user
	// memory when HasWord; WordErr says why it could not be read.
	Word    uint32 `json:"word"`
	HasWord bool   `json:"has_word"`
	WordErr string `json:"word_error,omitempty"`
	// OwnerTID is the int at Addr+8 (glibc's __owner) when HasOwnerTID;
	// Owner is the thread of the waiter's process with that TID, when the
	// word is a locked glibc mutex (a hint: glibc's layout is assumed).
	OwnerTID    int32  `json:"owner_tid,omitempty"`
	HasOwnerTID bool   `json:"has_owner_tid,omitempty"`
	Owner       uint64 `json:"owner,omitempty"`
	// Position is the waiter's place among the bucket's waiters on the
	// same key (1 = first to be woken), QueueLen their number.
	Position int `json:"position"`
	QueueLen int `json:"queue_len"`
	// Index and Count place a futex_waitv(2) futex in its vector (Count 0
	// for futex(2)).
	Index int `json:"index,omitempty"`
	Count int `json:"count,omitempty"`
	// Note says what the word means, or why no owner is named.
	Note string `json:"note,omitempty"`
}

// futexKeySize is the size of union futex_key read (kernel/futex/futex.h:
// three words, 5.10 through 7.x).
const futexKeySize = 24

// futexLayout is where the futex structures' members are, from the types.
type futexLayout struct {
	qSize, qTask, qLockPtr, qNode, qKey uint64 // struct futex_q
	hbLock, hbHead                      uint64 // futex_hash_bucket: lock, chain.node_list
	keyOffset, keyAddr, keyMM           uint64 // in union futex_key
	keyISeq, keyPgOff                   uint64
	keyInode                            bool   // ≤ 5.7: key.shared.inode, not i_seq
	vecQ, vecSize                       uint64 // struct futex_vector (5.16+), 0 if none
}

func newFutexLayout(p *symbols.Program) (*futexLayout, error) {
	l := &futexLayout{}
	var err error
	off := func(typ, path string) uint64 {
		v, e := p.OffsetOf(typ, path)
		if e != nil && err == nil {
			err = e
		}
		return v
	}
	qt, terr := p.Type("struct futex_q")
	if terr != nil {
		return nil, terr
	}
	l.qSize = qt.Resolve().Size
	l.qTask, l.qLockPtr = off("struct futex_q", "task"), off("struct futex_q", "lock_ptr")
	l.qNode, l.qKey = off("struct futex_q", "list.node_list"), off("struct futex_q", "key")
	l.hbLock, l.hbHead = off("struct futex_hash_bucket", "lock"), off("struct futex_hash_bucket", "chain.node_list")
	l.keyOffset, l.keyAddr = off("union futex_key", "both.offset"), off("union futex_key", "private.address")
	l.keyMM = off("union futex_key", "private.mm")
	l.keyPgOff = off("union futex_key", "shared.pgoff")
	if v, e := p.OffsetOf("union futex_key", "shared.i_seq"); e == nil {
		l.keyISeq = v
	} else {
		l.keyISeq, l.keyInode = off("union futex_key", "shared.inode"), true
	}
	if err != nil {
		return nil, fmt.Errorf("futex types: %w", err)
	}
	for _, o := range []uint64{l.keyAddr, l.keyMM, l.keyISeq, l.keyPgOff, l.keyOffset} {
		if o+8 > futexKeySize && (o != l.keyOffset || o+4 > futexKeySize) {
			return nil, fmt.Errorf("futex types: union futex_key member at %d beyond its %d bytes", o, futexKeySize)
		}
	}
	if vt, e := p.Type("struct futex_vector"); e == nil {
		if q, e := p.OffsetOf("struct futex_vector", "q"); e == nil {
			l.vecQ, l.vecSize = q, vt.Resolve().Size
		}
	}
	return l, nil
}

// FutexWaitOf decodes the futexes t sleeps on: its futex_q found on its
// kernel stack (or, in futex_waitv, through a pointer on it to the
// futex_vector array) and verified on its hash bucket's chain, the key,
// the word read from t's user memory and a glibc mutex owner among tasks.
// tr (may be nil) gives the futex(2) call's address for shared keys.
func FutexWaitOf(p *symbols.Program, t *sched.Task, tasks []sched.Task, tr *unwind.Trace) ([]FutexWaiter, error) {
	base, err := t.Obj.MemberUint("stack")
	if err != nil {
		return nil, fmt.Errorf("task %d: %w", t.PID, err)
	}
	if base == 0 {
		return nil, fmt.Errorf("task %d: no kernel stack", t.PID)
	}
	stack := make([]byte, futexStackSize)
	if err := p.Mem.ReadVirt(stack, base); err != nil {
		return nil, fmt.Errorf("task %d: kernel stack %#x: %w", t.PID, base, err)
	}
	l, err := newFutexLayout(p)
	if err != nil {
		return nil, err
	}
	return futexWaits(p, l, t, tasks, stack, base, tr)
}

func futexWaits(p *symbols.Program, l *futexLayout, t *sched.Task, tasks []sched.Task, stack []byte, base uint64, tr *unwind.Trace) ([]FutexWaiter, error) {
	qs, qerr := l.findQueues(p, t, stack, base, tr)
	if len(qs) == 0 {
		if qerr == nil {
			qerr = fmt.Errorf("task %d: no queued futex_q for it on its stack", t.PID)
		}
		return nil, qerr
	}
	out := make([]FutexWaiter, 0, len(qs))
	for i, q := range qs {
		fw, err := l.decode(p, t, q)
		if err != nil {
			return nil, err
		}
		if len(qs) > 1 {
			fw.Index, fw.Count = i, len(qs)
		}
		if fw.Addr == 0 && len(qs) == 1 {
			fw.addrFromSyscall(p, t, tr)
		}
		fw.readWord(p, t)
		fw.glibcOwner(t, tasks)
		out = append(out, fw)
	}
	return out, nil
}

// findQueues finds t's queued futex_q: on its stack (futex(2)), else
// through the stack's pointers to a futex_vector array (futex_waitv).
func (l *futexLayout) findQueues(p *symbols.Program, t *sched.Task, stack []byte, base uint64, tr *unwind.Trace) ([]uint64, error) {
	var firstErr error
	for off := l.qTask % 8; off+8 <= uint64(len(stack)); off += 8 {
		if binary.LittleEndian.Uint64(stack[off:]) != t.Addr || off < l.qTask || off-l.qTask+l.qSize > uint64(len(stack)) {
			continue
		}
		q := base + off - l.qTask
		if _, err := l.queued(p, t, q); err == nil {
			return []uint64{q}, nil
		} else if firstErr == nil && !errors.Is(err, errFutexNotQueued) {
			firstErr = err
		}
	}
	if l.vecSize == 0 || (tr != nil && !traceHas(tr, futexMultipleFrames)) {
		return nil, firstErr
	}
	// futex_waitv: kernel/futex/syscalls.c allocates the futex_vector
	// array; futex_wait_multiple's vs is on the stack as a saved value.
	// kmalloc'ed, it is in the linear map: at 0xff11000000000000 on
	// x86_64 with 5-level paging, 0xfff0000000000000 on arm64 with a
	// 52-bit VA (arch/arm64/include/asm/memory.h PAGE_OFFSET).
	seen := map[uint64]bool{}
	for off := 0; off+8 <= len(stack); off += 8 {
		v := binary.LittleEndian.Uint64(stack[off:])
		if v < 0xff00000000000000 || v%8 != 0 || seen[v] || (v >= base && v < base+uint64(len(stack))) {
			continue
		}
		seen[v] = true
		if len(seen) > 4096 {
			break
		}
		if _, err := l.queued(p, t, v+l.vecQ); err != nil {
			continue
		}
		// The pointer may be into the array (futex_sleep_multiple walks
		// it): back to its first element, then forward.
		start := v
		for i := 0; i < futexWaitvMax && start >= l.vecSize; i++ {
			if _, err := l.queued(p, t, start-l.vecSize+l.vecQ); err != nil {
				break
			}
			start -= l.vecSize
		}
		var qs []uint64
		for i := uint64(0); i < futexWaitvMax; i++ {
			q := start + i*l.vecSize + l.vecQ
			if _, err := l.queued(p, t, q); err != nil {
				break
			}
			qs = append(qs, q)
		}
		return qs, nil
	}
	return nil, firstErr
}

func traceHas(tr *unwind.Trace, f waitkind.Frames) bool {
	for _, fr := range tr.Frames {
		if f.Match(fr.Symbol) {
			return true
		}
	}
	return false
}

// errFutexNotQueued: a futex_q that is not (or no longer) queued: a stale
// copy on the stack, or a waiter already woken.
var errFutexNotQueued = errors.New("futex_q not queued")

// queued verifies that q is t's futex_q, queued on a hash bucket: its
// task is t, lock_ptr names the bucket (cleared on wake-up,
// kernel/futex/core.c __futex_unqueue / futex_wake_mark), and its plist
// node is linked both ways. It returns the bucket.
func (l *futexLayout) queued(p *symbols.Program, t *sched.Task, q uint64) (uint64, error) {
	task, err := p.ReadU64(q + l.qTask)
	if err != nil {
		return 0, err
	}
	lock, err := p.ReadU64(q + l.qLockPtr)
	if err != nil {
		return 0, err
	}
	if task != t.Addr || lock == 0 || lock < l.hbLock {
		return 0, errFutexNotQueued
	}
	node := q + l.qNode
	next, err1 := p.ReadU64(node)
	prev, err2 := p.ReadU64(node + 8)
	if err1 != nil || err2 != nil || next == node || next == 0 || prev == 0 {
		return 0, errFutexNotQueued
	}
	nprev, err1 := p.ReadU64(next + 8)
	pnext, err2 := p.ReadU64(prev)
	if err1 != nil || err2 != nil || nprev != node || pnext != node {
		return 0, errFutexNotQueued
	}
	return lock - l.hbLock, nil
}

// decode reads q's key and its place on the bucket's chain.
func (l *futexLayout) decode(p *symbols.Program, t *sched.Task, q uint64) (FutexWaiter, error) {
	fw := FutexWaiter{Queue: q}
	hb, err := l.queued(p, t, q)
	if err != nil {
		return fw, fmt.Errorf("futex_q %#x: %w", q, err)
	}
	fw.Bucket = hb
	key := make([]byte, futexKeySize)
	if err := p.Mem.ReadVirt(key, q+l.qKey); err != nil {
		return fw, fmt.Errorf("futex_q %#x key: %w", q, err)
	}
	word := func(off uint64) uint64 { return binary.LittleEndian.Uint64(key[off:]) }
	offset := uint64(binary.LittleEndian.Uint32(key[l.keyOffset:]))
	fw.Offset = offset &^ 3
	switch {
	case offset&futOffInode != 0:
		fw.Key, fw.ISeq, fw.PgOff = "shared-inode", word(l.keyISeq), word(l.keyPgOff)
	case offset&futOffMMShared != 0:
		fw.Key, fw.Addr = "shared-mm", word(l.keyAddr)+fw.Offset
	default:
		fw.Key, fw.Addr = "private", word(l.keyAddr)+fw.Offset
	}
	if fw.Addr != 0 {
		fw.AddrFrom = "key"
		if mm, err := t.Obj.MemberUint("mm"); err == nil && mm != word(l.keyMM) {
			return fw, fmt.Errorf("futex_q %#x: key's mm %#x is not the task's (%#x)", q, word(l.keyMM), mm)
		}
	}
	// Its place among the waiters of the same key, in wake order
	// (kernel/futex/core.c futex_queue: plist by priority, FIFO within).
	head := hb + l.hbHead
	nodes, werr := kmem.ListHeadNodes(p, head, fmt.Sprintf("futex_hash_bucket %#x chain", hb), kmem.MaxWaiters)
	for _, n := range nodes {
		other := n - l.qNode
		ok := make([]byte, futexKeySize)
		if p.Mem.ReadVirt(ok, other+l.qKey) != nil || string(ok[:l.keyOffset+4]) != string(key[:l.keyOffset+4]) {
			continue
		}
		fw.QueueLen++
		if other == q {
			fw.Position = fw.QueueLen
		}
	}
	if fw.Position == 0 {
		if werr == nil {
			werr = fmt.Errorf("not on the chain of its bucket %#x", hb)
		}
		return fw, fmt.Errorf("futex_q %#x: %w", q, werr)
	}
	return fw, nil
}

// addrFromSyscall takes a shared-inode futex's address from the futex(2)
// call's first argument (uaddr) when its offset in the page is the key's.
func (fw *FutexWaiter) addrFromSyscall(p *symbols.Program, t *sched.Task, tr *unwind.Trace) {
	if tr == nil {
		return
	}
	sc, err := unwind.DecodeSyscall(p, t.Obj, tr, unwind.SyscallOptions{})
	if err != nil || sc == nil || sc.Name != "futex" || len(sc.Args) == 0 {
		return
	}
	if ua := sc.Args[0].Value; ua != 0 && ua&0xfff == fw.Offset&0xfff {
		fw.Addr, fw.AddrFrom = ua, "futex(2) argument uaddr (its offset in the page is the key's)"
	}
}

// readWord reads the futex word (and glibc's __owner after it) from t's
// user memory.
func (fw *FutexWaiter) readWord(p *symbols.Program, t *sched.Task) {
	if fw.Addr == 0 {
		fw.WordErr = "the futex's user address is unknown (a shared futex of a file mapping)"
		return
	}
	b, err := unwind.ReadUser(p, t.Obj, fw.Addr, 4)
	if err != nil {
		fw.WordErr = userReadError(err)
		return
	}
	fw.Word, fw.HasWord = binary.LittleEndian.Uint32(b), true
	if b, err := unwind.ReadUser(p, t.Obj, fw.Addr+glibcOwnerOff, 4); err == nil {
		fw.OwnerTID, fw.HasOwnerTID = int32(binary.LittleEndian.Uint32(b)), true
	}
}

// userReadError says why a futex word could not be read.
func userReadError(err error) string {
	switch {
	case errors.Is(err, kcore.ErrExcluded), errors.Is(err, kcore.ErrNotInDump):
		return "futex word not in the dump (user pages filtered)"
	case errors.Is(err, kcore.ErrNotMapped):
		return "futex word's page is not present (swapped out or not yet touched)"
	}
	return "futex word unreadable: " + err.Error()
}

// glibcOwner names the owner when the word is a locked glibc
// pthread_mutex_t: __lock is 1 (locked) or 2 (locked, contended), or the
// owner's TID (robust mutexes, with FUTEX_WAITERS), and __owner is a
// thread of t's process other than t.
func (fw *FutexWaiter) glibcOwner(t *sched.Task, tasks []sched.Task) {
	switch {
	case !fw.HasWord:
		fw.Note = fw.WordErr + ": no owner named"
		return
	case fw.Word == 0:
		fw.Note = "futex word is 0: not a held lock (a condition variable, semaphore or event word, or a lock just released)"
		return
	case !fw.HasOwnerTID:
		fw.Note = fmt.Sprintf("futex word %#x; the word after it (glibc's __owner) is unreadable: no owner named", fw.Word)
		return
	}
	tid := fw.OwnerTID
	if !glibcLocked(fw.Word, tid) || tid <= 0 {
		fw.Note = fmt.Sprintf("futex word %#x, next int %d: not a locked glibc mutex (%s): no owner named", fw.Word, tid, glibcAssumed)
		return
	}
	if tid == int32(t.NSPID()) {
		fw.Note = fmt.Sprintf("futex word %#x: __owner is the waiter itself (%s): a relock of a mutex it holds, or not a mutex", fw.Word, glibcAssumed)
		return
	}
	for i := range tasks {
		o := &tasks[i]
		if o.TGID == t.TGID && o.Addr != t.Addr && int32(o.NSPID()) == tid && o.State != "Z" && o.State != "X" {
			fw.Owner = o.Addr
			fw.Note = fmt.Sprintf("a %s pthread mutex, owned by thread %d (%s)", glibcState(fw.Word), tid, glibcAssumed)
			return
		}
	}
	fw.Note = fmt.Sprintf("futex word %#x, __owner %d is no live thread of process %d: not a glibc mutex, or one shared with another process (%s): no owner named", fw.Word, tid, t.TGID, glibcAssumed)
}

// glibcLocked: a glibc mutex's __lock is 1 (locked) or 2 (locked,
// contended), or its owner's TID (robust mutexes, FUTEX_WAITERS aside).
func glibcLocked(word uint32, owner int32) bool {
	return word == 1 || word == 2 || (word&futexTIDMask != 0 && int32(word&futexTIDMask) == owner)
}

func glibcState(w uint32) string {
	switch w {
	case 1:
		return "locked"
	case 2:
		return "locked, contended"
	}
	return "locked robust"
}

// What describes the futex for reports.
func (fw *FutexWaiter) What(t *sched.Task) string {
	var b strings.Builder
	switch fw.Key {
	case "shared-inode":
		fmt.Fprintf(&b, "shared futex of a file mapping (inode sequence %d, page %d", fw.ISeq, fw.PgOff)
		if fw.Addr != 0 {
			fmt.Fprintf(&b, ", at %#x", fw.Addr)
		}
		b.WriteString(")")
	case "shared-mm":
		fmt.Fprintf(&b, "shared futex %#x (shared anonymous memory of process %d)", fw.Addr, t.TGID)
	default:
		fmt.Fprintf(&b, "futex %#x of process %d", fw.Addr, t.TGID)
	}
	switch {
	case fw.Owner != 0:
		fmt.Fprintf(&b, " (word %#x: a %s glibc mutex)", fw.Word, glibcState(fw.Word))
	case fw.HasWord:
		fmt.Fprintf(&b, " (word %#x)", fw.Word)
	}
	if fw.Count > 1 {
		fmt.Fprintf(&b, ", %d of %d in futex_waitv", fw.Index+1, fw.Count)
	}
	return b.String()
}

// futexLayoutKey memoises the layout per analysis.
type futexLayoutKey struct{}

type futexLayoutMemo struct {
	l   *futexLayout
	err error
}

func detectFutexWait(c waitkind.Context, t *sched.Task) (waitkind.TaskWait, bool) {
	if t.State == "R" || t.State == "Z" || t.State == "X" || t.Idle || !c.HasFrame(t, futexWaitFrames) {
		return waitkind.TaskWait{}, false
	}
	p := c.Prog()
	m := c.Memo(futexLayoutKey{}, func() any {
		l, err := newFutexLayout(p)
		return futexLayoutMemo{l, err}
	}).(futexLayoutMemo)
	if m.err != nil {
		return waitkind.TaskWait{}, false
	}
	stack, base := c.Stack(t)
	if stack == nil {
		return waitkind.TaskWait{}, false
	}
	fws, err := futexWaits(p, m.l, t, c.Tasks(), stack, base, c.Trace(t))
	if err != nil {
		return waitkind.TaskWait{}, false
	}
	return futexTaskWait(c, t, fws)
}

// futexTaskWait makes the wait of a task asleep on fws: only when one of
// them names an owner (see FutexWait).
func futexTaskWait(c waitkind.Context, t *sched.Task, fws []FutexWaiter) (waitkind.TaskWait, bool) {
	for _, fw := range fws {
		if fw.Owner == 0 {
			continue
		}
		how := "futex_q on the task's stack, queued on its futex hash bucket's chain"
		if fw.Count > 1 {
			how = "futex_q of the task's futex_waitv vector (found from its stack), queued on its futex hash bucket's chain"
		}
		w := waitkind.TaskWait{Task: c.Blocked(t), Kind: WaitFutex, Certain: true, How: how,
			Position: fw.Position, QueueLen: fw.QueueLen}
		w.Object = waitkind.WaitObject{Type: "futex", Addr: fw.Addr, What: fw.What(t)}
		if fw.Count > 1 {
			w.Note = fmt.Sprintf("futex_waitv on %d futexes: a wake-up of any ends the wait", fw.Count)
		}
		w.Holders = append(w.Holders, waitkind.Holder{Task: c.Ref(fw.Owner), Certain: false,
			How: fmt.Sprintf("%s: the futex word is __lock (%#x: %s) and __owner at +%d is TID %d, a thread of the same process",
				glibcAssumed, fw.Word, glibcState(fw.Word), glibcOwnerOff, fw.OwnerTID)})
		return w, true
	}
	return waitkind.TaskWait{}, false
}

// futexRemedies: a userspace lock is released by its owner; the user
// stacks of the process show where it is taken and held.
func futexRemedies(r *waitkind.Root) []string {
	if r.Task == nil {
		return nil
	}
	return []string{fmt.Sprintf("gdb -p %d -batch -ex 'thread apply all bt'  # %s is a userspace lock: the threads' user stacks show who holds it and why", r.Task.TGID, objectWhat(r.Object))}
}

func objectWhat(o *waitkind.WaitObject) string {
	if o == nil {
		return "the futex"
	}
	return o.What
}

// FutexFrames are the frames of a non-PI futex sleep (FutexWait.Frames).
func FutexFrames() waitkind.Frames { return futexWaitFrames }

// ProbeGlibcOwner is the cheap look at a task asleep in a futex wait,
// for telling a thread stuck behind a userspace lock from the thousands
// asleep in condition variables and idle pools: it finds t's futex_q in
// window (bytes of t's kernel stack at addr, the top of its sleep), and
// for a private or shared-anonymous futex of t's mm reads the word and
// glibc's __owner after it from t's user memory. It returns the owner's
// TID (in t's pid namespace) when the word is a locked glibc mutex whose
// __owner is another thread's (a hint, like FutexWait's holders); ok is
// false otherwise. filtered says the word's page is not in the dump (user
// pages excluded, makedumpfile -d 31): whether it is a held mutex cannot
// be told. FutexWait's Detect then decodes the wait in full.
func ProbeGlibcOwner(c waitkind.Context, t *sched.Task, window []byte, addr uint64) (tid int32, ok, filtered bool) {
	p := c.Prog()
	m := c.Memo(futexLayoutKey{}, func() any {
		l, err := newFutexLayout(p)
		return futexLayoutMemo{l, err}
	}).(futexLayoutMemo)
	if m.err != nil || t.Addr == 0 {
		return 0, false, false
	}
	l := m.l
	read := func(a uint64, n int) []byte {
		if a >= addr && a+uint64(n) <= addr+uint64(len(window)) {
			return window[a-addr : a-addr+uint64(n)]
		}
		b := make([]byte, n)
		if p.Mem.ReadVirt(b, a) != nil {
			return nil
		}
		return b
	}
	mm, err := t.Obj.MemberUint("mm")
	if err != nil || mm == 0 {
		return 0, false, false
	}
	for off := l.qTask % 8; off+8 <= uint64(len(window)); off += 8 {
		if binary.LittleEndian.Uint64(window[off:]) != t.Addr || off < l.qTask {
			continue
		}
		q := addr + off - l.qTask
		lp := read(q+l.qLockPtr, 8)
		key := read(q+l.qKey, futexKeySize)
		if lp == nil || key == nil || binary.LittleEndian.Uint64(lp) == 0 {
			continue
		}
		offset := uint64(binary.LittleEndian.Uint32(key[l.keyOffset:]))
		if offset&futOffInode != 0 || binary.LittleEndian.Uint64(key[l.keyMM:]) != mm {
			continue
		}
		uaddr := binary.LittleEndian.Uint64(key[l.keyAddr:]) + offset&^3
		b, err := unwind.ReadUser(p, t.Obj, uaddr, glibcOwnerOff+4)
		if err != nil {
			return 0, false, errors.Is(err, kcore.ErrExcluded) || errors.Is(err, kcore.ErrNotInDump)
		}
		word := binary.LittleEndian.Uint32(b)
		owner := int32(binary.LittleEndian.Uint32(b[glibcOwnerOff:]))
		if !glibcLocked(word, owner) || owner <= 0 || owner == int32(t.NSPID()) {
			return 0, false, false
		}
		return owner, true, false
	}
	return 0, false, false
}
