package locking_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/mm"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
	"github.com/kwalk/kwalk/walkers/waitfor"
	"github.com/kwalk/kwalk/walkers/waitkind"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// futexPageOffset is the synthetic direct map's base (page_offset_base).
const futexPageOffset = 0xffff888000000000

// futexScene is a synthetic kernel with the futex types (kernel/futex/futex.h
// shapes: 6.1, or 6.12+ with futex_q.wake/wake_data before the key), tasks
// with user page tables and a hash bucket.
type futexScene struct {
	t     *testing.T
	k     *symtest.Kernel
	pgd   uint64 // the process's top-level page table (virtual)
	mm    uint64
	hb    uint64
	tasks []sched.Task
}

func newFutexScene(t *testing.T, wakeFn bool) *futexScene {
	k := symtest.NewKernel()
	k.Mem.SetDirectMap(futexPageOffset)
	ty := k.Types
	void := symtest.Ptr(nil)
	task := ty.Declare("task_struct")
	mm := ty.Add(symtest.Layout("mm_struct", symtest.M("pgd", void)))
	symtest.LayoutInto(task, []symtest.Field{symtest.M("stack", void), symtest.M("mm", symtest.Ptr(mm)),
		symtest.M("pid", k.S32), symtest.M("tgid", k.S32), symtest.M("comm", symtest.Array(k.Char, 16))})
	ty.Add(task)
	pn := ty.Add(symtest.Layout("plist_node", symtest.M("prio", k.S32), symtest.M("prio_list", k.ListHead), symtest.M("node_list", k.ListHead)))
	ph := ty.Add(symtest.Layout("plist_head", symtest.M("node_list", k.ListHead)))
	key := ty.Add(symtest.Union("futex_key",
		symtest.M("shared", symtest.Layout("", symtest.M("i_seq", k.U64), symtest.M("pgoff", k.U64), symtest.M("offset", k.U32))),
		symtest.M("private", symtest.Layout("", symtest.M("", symtest.Union("", symtest.M("mm", symtest.Ptr(mm)), symtest.M("__tmp", k.U64))),
			symtest.M("address", k.U64), symtest.M("offset", k.U32))),
		symtest.M("both", symtest.Layout("", symtest.M("ptr", k.U64), symtest.M("word", k.U64), symtest.M("offset", k.U32)))))
	ty.Add(symtest.Layout("futex_hash_bucket", symtest.M("waiters", k.S32), symtest.M("lock", k.U32), symtest.M("chain", ph)))
	q := []symtest.Field{symtest.M("list", pn), symtest.M("task", symtest.Ptr(task)), symtest.M("lock_ptr", void)}
	if wakeFn {
		q = append(q, symtest.M("wake", void), symtest.M("wake_data", void))
	}
	q = append(q, symtest.M("key", key), symtest.M("pi_state", void), symtest.M("rt_waiter", void),
		symtest.M("requeue_pi_key", void), symtest.M("bitset", k.U32))
	ty.Add(symtest.Layout("futex_q", q...))
	pob := k.Alloc(8)
	k.Mem.WriteU64(pob, futexPageOffset)
	k.Syms.Add("page_offset_base", pob, 8, 'D')
	s := &futexScene{t: t, k: k}
	s.pgd = s.page()
	s.mm = k.NewObj("struct mm_struct")
	k.Mem.WriteU64(s.mm, s.pgd)
	s.hb = k.NewObj("struct futex_hash_bucket")
	k.ListInit(s.hb + k.Off("struct futex_hash_bucket", "chain.node_list"))
	return s
}

// page allocates a zeroed, page-aligned kernel page.
func (s *futexScene) page() uint64 {
	a := s.k.Alloc(2 * symtest.PageSize)
	return (a + symtest.PageSize - 1) &^ (symtest.PageSize - 1)
}

// mapUser maps user page va to physical pa in the process's 4-level
// tables (x86_64 entries: present, writable, user).
func (s *futexScene) mapUser(va, pa uint64) {
	table := s.pgd
	for level := 4; level > 1; level-- {
		e := table + (va>>(12+9*(level-1))&0x1ff)*8
		v, err := s.k.Program().ReadU64(e)
		if err != nil {
			s.t.Fatal(err)
		}
		if v&1 == 0 {
			n := s.page()
			s.k.Mem.WriteU64(e, (n-futexPageOffset)|0x67)
			table = n
			continue
		}
		table = v&0x000ffffffffff000 + futexPageOffset
	}
	s.k.Mem.WriteU64(table+(va>>12&0x1ff)*8, pa|0x67)
}

// userPage maps a fresh page at user va, returning its kernel address.
func (s *futexScene) userPage(va uint64) uint64 {
	pg := s.page()
	s.mapUser(va, pg-futexPageOffset)
	return pg
}

// task adds a thread of process tgid (leader when tid == tgid) with a
// kernel stack.
func (s *futexScene) task(tid, tgid int, comm string) *sched.Task {
	k := s.k
	a := k.NewObj("struct task_struct")
	stack := k.Alloc(16 << 10)
	k.Mem.WriteU64(a+k.Off("struct task_struct", "stack"), stack)
	k.Mem.WriteU64(a+k.Off("struct task_struct", "mm"), s.mm)
	k.Mem.WriteU32(a+k.Off("struct task_struct", "pid"), uint32(tid))
	k.Mem.WriteU32(a+k.Off("struct task_struct", "tgid"), uint32(tgid))
	k.Mem.WriteString(a+k.Off("struct task_struct", "comm"), comm)
	s.tasks = append(s.tasks, sched.Task{Addr: a, PID: tid, TGID: tgid, Comm: comm, State: "S"})
	return &s.tasks[len(s.tasks)-1]
}

// queue puts a futex_q for task (at q, or on its stack when q is 0) with
// the key (ptr, word, offset) at the tail of the bucket's chain.
func (s *futexScene) queue(task *sched.Task, q, ptr, word uint64, offset uint32) uint64 {
	k := s.k
	if q == 0 {
		stack, _ := k.Program().ReadU64(task.Addr + k.Off("struct task_struct", "stack"))
		q = stack + 0x3000
	}
	k.Mem.WriteU64(q+k.Off("struct futex_q", "task"), task.Addr)
	k.Mem.WriteU64(q+k.Off("struct futex_q", "lock_ptr"), s.hb+k.Off("struct futex_hash_bucket", "lock"))
	key := q + k.Off("struct futex_q", "key")
	k.Mem.WriteU64(key, ptr)
	k.Mem.WriteU64(key+8, word)
	k.Mem.WriteU32(key+16, offset)
	k.ListAddTail(s.hb+k.Off("struct futex_hash_bucket", "chain.node_list"), q+k.Off("struct futex_q", "list.node_list"))
	return q
}

func (s *futexScene) prog() *symbols.Program {
	p := s.k.Program()
	for i := range s.tasks {
		o, err := p.Object("struct task_struct", s.tasks[i].Addr)
		if err != nil {
			s.t.Fatal(err)
		}
		s.tasks[i].Obj = o
	}
	return p
}

// futexCtx is the analysis as a futex kind sees it: every task is in a
// futex frame; there is no unwinder.
type futexCtx struct {
	p     *symbols.Program
	tasks []sched.Task
	memo  map[any]any
}

func (c *futexCtx) Prog() *symbols.Program { return c.p }
func (c *futexCtx) Tasks() []sched.Task    { return c.tasks }
func (c *futexCtx) TaskAt(a uint64) *sched.Task {
	for i := range c.tasks {
		if c.tasks[i].Addr == a {
			return &c.tasks[i]
		}
	}
	return nil
}
func (c *futexCtx) Ref(a uint64) sched.TaskRef {
	if t := c.TaskAt(a); t != nil {
		return sched.TaskRef{Addr: a, PID: t.PID, TGID: t.TGID, Comm: t.Comm}
	}
	return sched.TaskRef{Addr: a}
}
func (c *futexCtx) Blocked(t *sched.Task) waitkind.BlockedTask {
	return waitkind.BlockedTask{TaskRef: c.Ref(t.Addr), State: t.State}
}
func (c *futexCtx) Trace(*sched.Task) *unwind.Trace                  { return nil }
func (c *futexCtx) HasFrame(*sched.Task, waitkind.Frames) bool       { return true }
func (c *futexCtx) StackReferences(uint64, map[uint64]bool) []uint64 { return nil }
func (c *futexCtx) Warn(string)                                      {}
func (c *futexCtx) Stack(t *sched.Task) ([]byte, uint64) {
	base, err := t.Obj.MemberUint("stack")
	if err != nil {
		return nil, 0
	}
	b := make([]byte, 16<<10)
	if c.p.Mem.ReadVirt(b, base) != nil {
		return nil, 0
	}
	return b, base
}
func (c *futexCtx) Memo(key any, fn func() any) any {
	if v, ok := c.memo[key]; ok {
		return v
	}
	v := fn()
	c.memo[key] = v
	return v
}

func TestFutexWait(t *testing.T) {
	const (
		uaddr   = 0x7f0012345a40 // a pthread_mutex_t in the process's data
		pid     = 100
		ownerID = 102
	)
	for _, tc := range []struct {
		name      string
		wakeFn    bool   // 6.12+ futex_q (wake, wake_data before the key)
		word      uint32 // the futex word (__lock)
		owner     uint32 // the int at +8 (__owner)
		flags     uint32 // FUT_OFF_* in key.both.offset
		absent    bool   // the user page is mapped but not in the dump
		woken     bool   // lock_ptr cleared: no longer queued
		ahead     bool   // another thread queued first on the same key
		wantOwner int    // tid of the holder, 0 for none
		wantKey   string
		wantNote  string
		wantWhat  string
		wantErr   string
	}{
		{name: "private, glibc owner", word: 2, owner: ownerID, wantOwner: ownerID, wantKey: "private",
			wantNote: "locked, contended pthread mutex, owned by thread 102 (glibc pthread_mutex_t layout assumed)", wantWhat: "futex 0x7f0012345a40 of process 100 (word 0x2: a locked, contended glibc mutex)"},
		{name: "6.12 layout, queued second", wakeFn: true, ahead: true, word: 1, owner: ownerID, wantOwner: ownerID, wantKey: "private",
			wantNote: "a locked pthread mutex, owned by thread 102"},
		{name: "robust mutex word", word: 0x80000000 | ownerID, owner: ownerID, wantOwner: ownerID, wantKey: "private", wantNote: "locked robust"},
		{name: "owner not in the thread group", word: 2, owner: 555, wantKey: "private", wantNote: "__owner 555 is no live thread of process 100"},
		{name: "owner is the waiter", word: 2, owner: pid + 1, wantKey: "private", wantNote: "__owner is the waiter itself"},
		{name: "word 0: not a lock", word: 0, owner: ownerID, wantKey: "private", wantNote: "futex word is 0: not a held lock"},
		{name: "not a mutex word", word: 7, owner: ownerID, wantKey: "private", wantNote: "not a locked glibc mutex"},
		{name: "user page absent", word: 2, owner: ownerID, absent: true, wantKey: "private", wantNote: "futex word not in the dump (user pages filtered): no owner named"},
		{name: "shared anonymous", word: 2, owner: ownerID, flags: 2, wantOwner: ownerID, wantKey: "shared-mm", wantWhat: "shared futex 0x7f0012345a40 (shared anonymous memory of process 100) (word 0x2: a locked, contended glibc mutex)"},
		{name: "shared file futex", word: 2, owner: ownerID, flags: 1, wantKey: "shared-inode",
			wantNote: "user address is unknown", wantWhat: "shared futex of a file mapping (inode sequence 77, page 3)"},
		{name: "woken", word: 2, owner: ownerID, woken: true, wantErr: "no queued futex_q"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFutexScene(t, tc.wakeFn)
			s.task(pid, pid, "app")
			waiter := s.task(pid+1, pid, "worker")
			s.task(ownerID, pid, "holder")
			s.task(555, 555, "other")
			page := uaddr &^ uint64(0xfff)
			if tc.absent {
				s.mapUser(page, 0x7ff000000) // present, its frame filtered out
			} else {
				pg := s.userPage(page)
				s.k.Mem.WriteU32(pg+uaddr&0xfff, tc.word)
				s.k.Mem.WriteU32(pg+uaddr&0xfff+8, tc.owner)
			}
			ptr, word := s.mm, uint64(page)
			if tc.flags&1 != 0 {
				ptr, word = 77, 3 // i_seq, pgoff
			}
			if tc.ahead {
				other := s.task(pid+3, pid, "first")
				s.queue(other, 0, ptr, word, uint32(uaddr&0xfff)|tc.flags)
				unrelated := s.task(pid+4, pid, "elsewhere")
				s.queue(unrelated, 0, ptr, word+0x1000, uint32(uaddr&0xfff)|tc.flags)
				waiter = &s.tasks[1]
			}
			q := s.queue(waiter, 0, ptr, word, uint32(uaddr&0xfff)|tc.flags)
			if tc.woken {
				s.k.Mem.WriteU64(q+s.k.Off("struct futex_q", "lock_ptr"), 0)
			}
			p := s.prog()
			waiter = &s.tasks[1]
			fws, err := locking.FutexWaitOf(p, waiter, s.tasks, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(fws) != 1 {
				t.Fatalf("FutexWaitOf: %v %+v", err, fws)
			}
			fw := fws[0]
			if fw.Queue != q || fw.Bucket != s.hb || fw.Key != tc.wantKey {
				t.Errorf("queue %#x bucket %#x key %s, want %#x %#x %s", fw.Queue, fw.Bucket, fw.Key, q, s.hb, tc.wantKey)
			}
			if tc.flags&1 == 0 && fw.Addr != uaddr {
				t.Errorf("addr %#x, want %#x", fw.Addr, uint64(uaddr))
			}
			if tc.flags&1 != 0 && (fw.Addr != 0 || fw.ISeq != 77 || fw.PgOff != 3 || fw.Offset != uaddr&0xfff) {
				t.Errorf("shared key: %+v", fw)
			}
			wantPos, wantLen := 1, 1
			if tc.ahead {
				wantPos, wantLen = 2, 2
			}
			if fw.Position != wantPos || fw.QueueLen != wantLen {
				t.Errorf("position %d of %d, want %d of %d", fw.Position, fw.QueueLen, wantPos, wantLen)
			}
			if !tc.absent && tc.flags&1 == 0 && (!fw.HasWord || fw.Word != tc.word) {
				t.Errorf("word %#x (has %v, %s), want %#x", fw.Word, fw.HasWord, fw.WordErr, tc.word)
			}
			if tc.wantNote != "" && !strings.Contains(fw.Note, tc.wantNote) {
				t.Errorf("note %q, want %q", fw.Note, tc.wantNote)
			}
			if tc.wantWhat != "" && fw.What(waiter) != tc.wantWhat {
				t.Errorf("what %q, want %q", fw.What(waiter), tc.wantWhat)
			}
			gotOwner := 0
			for i := range s.tasks {
				if s.tasks[i].Addr == fw.Owner && fw.Owner != 0 {
					gotOwner = s.tasks[i].PID
				}
			}
			if gotOwner != tc.wantOwner {
				t.Errorf("owner tid %d, want %d (%s)", gotOwner, tc.wantOwner, fw.Note)
			}
			// The kind: a wait only when an owner is named, and then a hint.
			c := &futexCtx{p: p, tasks: s.tasks, memo: map[any]any{}}
			w, ok := locking.FutexWait.Detect(c, waiter)
			if ok != (tc.wantOwner != 0) {
				t.Fatalf("Detect ok = %v, want %v (%+v)", ok, tc.wantOwner != 0, w)
			}
			if !ok {
				return
			}
			if w.Kind != locking.WaitFutex || !w.Certain || len(w.Holders) != 1 || w.Holders[0].Task.PID != tc.wantOwner ||
				w.Holders[0].Certain || !strings.Contains(w.Holders[0].How, "glibc pthread_mutex_t layout assumed") ||
				w.Object.Type != "futex" || w.Object.Addr != uaddr || w.Position != wantPos {
				t.Errorf("wait %+v", w)
			}
		})
	}
	if !locking.FutexWait.HolderOnly || locking.FutexWait.Interruptible {
		t.Error("FutexWait must be HolderOnly and not Interruptible: ordinary futex sleepers are never waits on their own")
	}
}

// TestFutexWaitv: futex_waitv(2) queues one futex_q per futex in a
// futex_vector array on the heap (kernel/futex/syscalls.c); the stack
// holds a pointer to it. Each futex is decoded; the one that is a locked
// glibc mutex names the owner.
func TestFutexWaitv(t *testing.T) {
	s := newFutexScene(t, true)
	k := s.k
	wv := k.Types.Add(symtest.Layout("futex_waitv", symtest.M("val", k.U64), symtest.M("uaddr", k.U64),
		symtest.M("flags", k.U32), symtest.M("__reserved", k.U32)))
	k.Types.Add(symtest.Layout("futex_vector", symtest.M("w", wv), symtest.M("q", k.Types.Get("struct futex_q"))))
	s.task(100, 100, "app")
	s.task(101, 100, "worker")
	s.task(102, 100, "holder")
	const a0, a1 = 0x7f0012345a40, 0x7f0012345b00
	pg := s.userPage(0x7f0012345000)
	k.Mem.WriteU32(pg+0xa40, 0) // an event word
	k.Mem.WriteU32(pg+0xb00, 2) // a locked mutex owned by 102
	k.Mem.WriteU32(pg+0xb08, 102)
	vec := k.Alloc(2 * k.Size("struct futex_vector"))
	waiter := &s.tasks[1]
	q0 := s.queue(waiter, vec+k.Off("struct futex_vector", "q"), s.mm, 0x7f0012345000, 0xa40)
	q1 := s.queue(waiter, vec+k.Size("struct futex_vector")+k.Off("struct futex_vector", "q"), s.mm, 0x7f0012345000, 0xb00)
	stack, _ := k.Program().ReadU64(waiter.Addr + k.Off("struct task_struct", "stack"))
	k.Mem.WriteU64(stack+0x3800, vec+k.Size("struct futex_vector")) // into the array: its second element
	p := s.prog()
	waiter = &s.tasks[1]
	fws, err := locking.FutexWaitOf(p, waiter, s.tasks, nil)
	if err != nil || len(fws) != 2 {
		t.Fatalf("FutexWaitOf: %v %+v", err, fws)
	}
	if fws[0].Queue != q0 || fws[1].Queue != q1 || fws[0].Addr != a0 || fws[1].Addr != a1 || fws[1].Count != 2 || fws[1].Index != 1 {
		t.Errorf("waiters %+v", fws)
	}
	if fws[0].Owner != 0 || fws[1].Owner != s.tasks[2].Addr {
		t.Errorf("owners %#x %#x, want none and %#x", fws[0].Owner, fws[1].Owner, s.tasks[2].Addr)
	}
	c := &futexCtx{p: p, tasks: s.tasks, memo: map[any]any{}}
	w, ok := locking.FutexWait.Detect(c, waiter)
	if !ok || w.Object.Addr != a1 || len(w.Holders) != 1 || w.Holders[0].Task.PID != 102 ||
		!strings.Contains(w.Note, "futex_waitv on 2 futexes") || !strings.Contains(w.Object.What, "2 of 2 in futex_waitv") {
		t.Errorf("Detect: %v %+v", ok, w)
	}
}

// TestFutexWaitGarbage: a futex_q whose chain loops without its bucket, or
// whose key names another mm, is an error, never a hang or a panic.
func TestFutexWaitGarbage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(s *futexScene, q uint64)
		wantErr string
	}{
		{name: "chain loops without the bucket", wantErr: "no queued futex_q", damage: func(s *futexScene, q uint64) {
			n := q + s.k.Off("struct futex_q", "list.node_list")
			s.k.Mem.WriteU64(n, n+0x100) // next points elsewhere: not linked back
		}},
		{name: "key of another mm", wantErr: "is not the task's", damage: func(s *futexScene, q uint64) {
			s.k.Mem.WriteU64(q+s.k.Off("struct futex_q", "key"), 0xffff888000dead00)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFutexScene(t, false)
			w := s.task(100, 100, "app")
			q := s.queue(w, 0, s.mm, 0x7f0012345000, 0xa40)
			tc.damage(s, q)
			p := s.prog()
			_, err := locking.FutexWaitOf(p, &s.tasks[0], s.tasks, nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// futexSleepFrames are where a futex waiter sleeps (a queued futex_q).
var futexSleepFrames = waitkind.NewFrames("futex_wait_queue", "futex_wait_queue_me", "futex_do_wait", "futex_wait_multiple")

// checkFutexWaiters decodes every task asleep in a futex wait of p: each
// must give a queued futex_q and a key; with user pages in the dump
// (words) the word must be read, and a private futex's address must be
// the futex(2) call's uaddr and lie in one of the process's mappings
// when the record has them. It returns the decoded waiters by tid.
func checkFutexWaiters(t *testing.T, p *symbols.Program, d testdata.RealDump, words bool) map[int][]locking.FutexWaiter {
	t.Helper()
	tasks, err := sched.Tasks(p)
	if len(tasks) == 0 {
		t.Fatalf("tasks: %v", err)
	}
	out := map[int][]locking.FutexWaiter{}
	for i := range tasks {
		task := &tasks[i]
		if task.Idle || task.OnCPU || (task.State != "S" && task.State != "D") {
			continue
		}
		tr, err := unwind.Stack(p, task.Obj)
		if err != nil || tr == nil {
			continue
		}
		in := false
		for _, f := range tr.Frames {
			in = in || futexSleepFrames.Match(f.Symbol)
		}
		if !in {
			continue
		}
		fws, err := locking.FutexWaitOf(p, task, tasks, tr)
		if err != nil {
			t.Errorf("pid %d (%s): %v", task.PID, task.Comm, err)
			continue
		}
		sc, _ := unwind.DecodeSyscall(p, task.Obj, tr, unwind.SyscallOptions{})
		out[task.PID] = fws
		for _, fw := range fws {
			if fw.Position < 1 || fw.Position > fw.QueueLen || fw.Key == "" {
				t.Errorf("pid %d: %+v", task.PID, fw)
			}
			if fw.Key != "shared-inode" && fw.Addr == 0 {
				t.Errorf("pid %d: private futex without an address: %+v", task.PID, fw)
			}
			if sc != nil && sc.Name == "futex" && fw.Count == 0 && fw.Addr != sc.Args[0].Value {
				t.Errorf("pid %d: futex %#x, but the call was %s", task.PID, fw.Addr, sc)
			}
			if words && fw.Addr != 0 && !fw.HasWord {
				t.Errorf("pid %d: futex %#x: word not read: %s", task.PID, fw.Addr, fw.WordErr)
			}
			if !words && (fw.HasWord || fw.Owner != 0) {
				t.Errorf("pid %d: futex %#x: word %#x read from a dump without user pages (%s)", task.PID, fw.Addr, fw.Word, fw.Note)
			}
			if rec := d.Truth.Task(task.TGID); rec != nil && len(rec.Maps) > 0 && fw.Addr != 0 && !inMaps(rec.Maps, fw.Addr) {
				t.Errorf("pid %d: futex %#x is in no mapping of process %d's record", task.PID, fw.Addr, task.TGID)
			}
			t.Logf("pid %d %s: %s key %s, waiter %d of %d; %s", task.PID, task.Comm, fw.What(task), fw.Key, fw.Position, fw.QueueLen, fw.Note)
		}
	}
	return out
}

func allFutexWaiters(m map[int][]locking.FutexWaiter) []locking.FutexWaiter {
	var out []locking.FutexWaiter
	for _, fws := range m {
		out = append(out, fws...)
	}
	return out
}

// inMaps reports whether addr lies in one of the /proc/PID/maps lines.
func inMaps(maps []string, addr uint64) bool {
	for _, l := range maps {
		var lo, hi uint64
		if _, err := fmt.Sscanf(l, "%x-%x", &lo, &hi); err == nil && addr >= lo && addr < hi {
			return true
		}
	}
	return false
}

// TestFutexWaitRealDumps decodes every futex waiter of every real dump (the
// Go FUSE servers' threads park in futexes), and of one dump filtered by
// makedumpfile -d 31, whose words must be reported as not in the dump.
// The owners are checked on the ufutex scenario's glibc mutexes.
func TestFutexWaitRealDumps(t *testing.T) {
	total, d31 := 0, ""
	var d31Dump testdata.RealDump
	for _, d := range testdata.RealDumps(t) {
		if d31 == "" && d.Generated != nil && d.Generated.Guest.Name == testdata.GuestHangs {
			if path := d.Generated.Path(testdata.FormatMakedumpfileZlib31); path != "" {
				d31, d31Dump = path, d
			}
		}
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			got := checkFutexWaiters(t, p, d, true)
			total += len(got)
			// The stuck guest's benign scenario has a thread in a futex
			// wait (ScenarioBenign): it is decoded.
			if tid, ok := d.Truth.Roles["benign.futex"]; ok && len(got[tid]) == 0 {
				t.Errorf("benign.futex (tid %d): no futex wait decoded", tid)
			}
			// The ufutex scenario's glibc mutex waiters name their owners.
			for _, e := range [][2]string{{"ufutex.a", "ufutex.b"}, {"ufutex.b", "ufutex.a"}, {"ufutex.c", "ufutex.a"}, {"ufutex.d", "ufutex.flockwait"}, {"benign.ufutex.contend", "benign.ufutex.sleeper"}} {
				w, ok1 := d.Truth.Roles[e[0]]
				o, ok2 := d.Truth.Roles[e[1]]
				if !ok1 || !ok2 {
					continue
				}
				fws := got[w]
				if len(fws) != 1 || fws[0].Owner == 0 || int(fws[0].OwnerTID) != o {
					t.Errorf("%s (tid %d): futex waits %+v, want one on a glibc mutex owned by %s (tid %d)", e[0], w, fws, e[1], o)
				}
			}
		})
	}
	if total == 0 {
		t.Error("no futex waiter in any dump: the FUSE servers' threads should be")
	}
	if d31 == "" {
		t.Log("no makedumpfile -d 31 dump of the hangs guest: filtered words not checked")
		return
	}
	d31Dump.Name += "/d31"
	d31Dump.Path, d31Dump.Format = d31, testdata.FormatMakedumpfileZlib31
	t.Run(d31Dump.Name, func(t *testing.T) {
		fws := checkFutexWaiters(t, walktest.OpenReal(t, d31Dump), d31Dump, false)
		if len(fws) == 0 {
			t.Fatal("no futex waiter decoded")
		}
		for _, fw := range allFutexWaiters(fws) {
			if fw.Addr != 0 && fw.WordErr != "futex word not in the dump (user pages filtered)" {
				t.Errorf("futex %#x: word error %q", fw.Addr, fw.WordErr)
			}
		}
	})
}

// TestFutexDeadlockIdleScale: with the futex kind registered, the idle and
// scale guests (10,000 threads, most asleep in futexes) still have nothing
// stuck: a futex sleep is never a wait on its own.
func TestFutexDeadlockIdleScale(t *testing.T) {
	n := 0
	for _, d := range testdata.RealDumps(t) {
		if d.Generated == nil || (d.Generated.Guest.Name != testdata.GuestIdle && d.Generated.Guest.Name != testdata.GuestScale) {
			continue
		}
		n++
		t.Run(d.Name, func(t *testing.T) {
			rep, err := waitfor.Deadlock(walktest.OpenReal(t, d))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range rep.Waits {
				if w.Kind == locking.WaitFutex {
					t.Errorf("futex wait reported: %+v", w)
				}
			}
			if rep.Status != "ok" {
				for _, c := range rep.Chains {
					t.Logf("chain: %s", c.Root.Summary)
				}
				t.Errorf("status %s, want ok", rep.Status)
			}
		})
	}
	if n == 0 {
		t.Skip("SKIP: no idle or scale dump")
	}
}

// futexPatchedMem overlays bytes on physical memory (the user pages the
// futex word is read from).
type futexPatchedMem struct {
	kcore.Memory
	phys map[uint64]byte
}

func (m futexPatchedMem) ReadPhys(b []byte, addr uint64) error {
	if err := m.Memory.ReadPhys(b, addr); err != nil {
		return err
	}
	for i := range b {
		if v, ok := m.phys[addr+uint64(i)]; ok {
			b[i] = v
		}
	}
	return nil
}

func (m futexPatchedMem) put32(addr uint64, v uint32) {
	for i := 0; i < 4; i++ {
		m.phys[addr+uint64(i)] = byte(v >> (8 * i))
	}
}

// TestFutexChainThroughHolder stages, in the hangs dumps, what no guest
// does: the FUSE server thread a chain ends at (asleep in a Go runtime
// futex, word 0) is made to sleep on a locked glibc mutex owned by another
// thread of its process, by patching the futex word and the int after it
// in the dump's user page. The analysis must then go on from the server
// to that thread (a futex wait with the owner as a hint), as it would for
// the holder of a file lock asleep on a pthread mutex.
func TestFutexChainThroughHolder(t *testing.T) {
	n := 0
	for _, d := range testdata.RealDumps(t) {
		if d.Generated == nil || d.Generated.Guest.Name != testdata.GuestHangs {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			base := walktest.OpenReal(t, d)
			if base.Dump == nil || (base.Dump.Machine() != "" && base.Dump.Machine() != "x86_64") {
				t.Skip("SKIP: not an x86_64 dump")
			}
			rep, err := waitfor.Deadlock(base)
			if err != nil {
				t.Fatal(err)
			}
			tasks, _ := sched.Tasks(base)
			byAddr := map[uint64]*sched.Task{}
			for i := range tasks {
				byAddr[tasks[i].Addr] = &tasks[i]
			}
			waiting := map[uint64]bool{}
			for _, w := range rep.Waits {
				waiting[w.Task.Addr] = true
			}
			// A holder that is not blocked, asleep in a private futex.
			var holder, owner *sched.Task
			var fw locking.FutexWaiter
			for _, w := range rep.Waits {
				for _, h := range w.Holders {
					ht := byAddr[h.Task.Addr]
					if ht == nil || waiting[ht.Addr] || ht.State != "S" || holder != nil {
						continue
					}
					tr, err := unwind.Stack(base, ht.Obj)
					if err != nil {
						continue
					}
					fws, err := locking.FutexWaitOf(base, ht, tasks, tr)
					if err != nil || len(fws) != 1 || fws[0].Key != "private" || !fws[0].HasWord || fws[0].Addr&0xfff > 0xff0 {
						continue
					}
					for i := range tasks {
						if o := &tasks[i]; o.TGID == ht.TGID && o.Addr != ht.Addr && o.State == "S" {
							holder, owner, fw = ht, o, fws[0]
							break
						}
					}
				}
			}
			if holder == nil {
				t.Skip("SKIP: no chain ends at a thread asleep in a futex")
			}
			mmAddr, _ := holder.Obj.MemberUint("mm")
			mmObj, err := base.Object("struct mm_struct", mmAddr)
			if err != nil {
				t.Fatal(err)
			}
			pgd, _ := mmObj.MemberUint("pgd")
			up := mm.TranslateUser(base, pgd, fw.Addr)
			if !up.Present || !up.InDump {
				t.Fatalf("futex %#x: %+v", fw.Addr, up)
			}
			m := futexPatchedMem{Memory: base.Mem, phys: map[uint64]byte{}}
			m.put32(up.Phys, 2)                       // __lock: locked, contended
			m.put32(up.Phys+8, uint32(owner.NSPID())) // __owner
			p := symbols.NewProgram(m, base.Syms, base.Types)
			p.Dump = base.Dump
			rep, err = waitfor.Deadlock(p)
			if err != nil {
				t.Fatal(err)
			}
			var fwait *waitfor.TaskWait
			for i := range rep.Waits {
				if rep.Waits[i].Task.Addr == holder.Addr {
					fwait = &rep.Waits[i]
				}
			}
			if fwait == nil || fwait.Kind != locking.WaitFutex || len(fwait.Holders) != 1 ||
				fwait.Holders[0].Task.Addr != owner.Addr || fwait.Holders[0].Certain || fwait.Object.Addr != fw.Addr {
				t.Fatalf("holder %d (%s): wait %+v, want a futex wait held by thread %d", holder.PID, holder.Comm, fwait, owner.PID)
			}
			onChain := false
			for _, c := range rep.Chains {
				for _, w := range c.Path {
					if w.Task.Addr == holder.Addr {
						onChain = true
						t.Logf("chain:\n  %s\n  fix: %s", strings.Join(c.Story, "\n  "), strings.Join(c.Remedy, "\n  fix: "))
					}
				}
			}
			if !onChain {
				t.Errorf("the futex wait of %d is on no chain's path", holder.PID)
			}
			n++
		})
	}
	if n == 0 {
		t.Log("no hangs dump had a chain ending at a futex sleeper")
	}
}
