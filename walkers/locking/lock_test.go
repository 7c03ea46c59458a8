package locking

import (
	"errors"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/walktest"
)

func TestMutex(t *testing.T) {
	for _, tc := range []struct {
		name        string
		firstWaiter bool
		ownerFlags  uint64
		nWaiters    int
		noOwner     bool
		corrupt     bool
		wantFlags   string
		wantErr     string
	}{
		{name: "unlocked", noOwner: true},
		{name: "owned, two waiters", ownerFlags: 1, nWaiters: 2, wantFlags: "WAITERS"},
		{name: "handoff", ownerFlags: 3, nWaiters: 1, wantFlags: "WAITERS,HANDOFF"},
		{name: "7.1 first_waiter", firstWaiter: true, ownerFlags: 1, nWaiters: 3, wantFlags: "WAITERS"},
		{name: "cyclic list", ownerFlags: 1, nWaiters: 3, corrupt: true, wantFlags: "WAITERS", wantErr: "met twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := walktest.NewLockFixture(t, tc.firstWaiter)
			owner := f.Task(10, "owner")
			m := f.Alloc(40)
			if !tc.noOwner {
				f.Mem.WriteU64(m, owner|tc.ownerFlags)
			}
			var ws []uint64
			for i := 0; i < tc.nWaiters; i++ {
				ws = append(ws, f.Waiter("struct mutex_waiter", f.Task(20+i, "waiter")))
			}
			if tc.firstWaiter {
				if len(ws) > 0 {
					f.List(ws[0], ws[1:]...)
					f.Mem.WriteU64(m+16, ws[0])
				}
			} else {
				f.List(m+16, ws...)
			}
			if tc.corrupt {
				f.Mem.WriteU64(ws[2], ws[1]) // last node points back into the list
			}
			info, err := Mutex(f.Prog(), m)
			if err != nil {
				t.Fatal(err)
			}
			if tc.noOwner != (info.Owner == nil) {
				t.Fatalf("owner = %v", info.Owner)
			}
			if info.Owner != nil && (info.Owner.PID != 10 || info.Owner.Comm != "owner") {
				t.Errorf("owner = %+v", info.Owner)
			}
			if got := strings.Join(info.Flags, ","); got != tc.wantFlags {
				t.Errorf("flags = %q, want %q", got, tc.wantFlags)
			}
			wantN := tc.nWaiters
			if tc.corrupt {
				wantN = 3
			}
			if len(info.Waiters) != wantN {
				t.Fatalf("%d waiters, want %d: %+v", len(info.Waiters), wantN, info.Waiters)
			}
			for i, w := range info.Waiters {
				if w.Task.PID != 20+i || w.Waiter != ws[i] {
					t.Errorf("waiter %d = %+v", i, w)
				}
			}
			if !strings.Contains(info.Error, tc.wantErr) || (tc.wantErr == "") != (info.Error == "") {
				t.Errorf("error %q, want %q", info.Error, tc.wantErr)
			}
		})
	}
}

func TestRwsem(t *testing.T) {
	for _, tc := range []struct {
		name        string
		count       uint64
		owner       bool
		ownerFlags  uint64
		types       []uint64
		wantState   string
		wantReaders uint64
		wantOwner   bool
		wantLast    bool
		wantTypes   string
	}{
		{name: "unlocked", wantState: "unlocked"},
		{name: "writer", count: 1 | 2, owner: true, types: []uint64{0, 1}, wantState: "write-locked", wantOwner: true, wantTypes: "write,read"},
		{name: "reader-owned", count: 3<<8 | 2, owner: true, ownerFlags: 1, types: []uint64{0}, wantState: "read-locked", wantReaders: 3, wantLast: true, wantTypes: "write"},
		{name: "readers, no hint", count: 1 << 8, ownerFlags: 1, wantState: "read-locked", wantReaders: 1},
		{name: "readfail bit", count: 1<<63 | 2<<8, wantState: "read-locked", wantReaders: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := walktest.NewLockFixture(t, false)
			owner := f.Task(10, "owner")
			s := f.Alloc(40)
			f.Mem.WriteU64(s, tc.count)
			if tc.owner {
				f.Mem.WriteU64(s+8, owner|tc.ownerFlags)
			} else {
				f.Mem.WriteU64(s+8, tc.ownerFlags)
			}
			var ws []uint64
			for i, ty := range tc.types {
				w := f.Waiter("struct rwsem_waiter", f.Task(30+i, "w"))
				f.Mem.WriteU32(w+24, uint32(ty))
				ws = append(ws, w)
			}
			f.List(s+24, ws...)
			info, err := Rwsem(f.Prog(), s)
			if err != nil {
				t.Fatal(err)
			}
			if info.State != tc.wantState || info.Readers != tc.wantReaders {
				t.Errorf("state %s readers %d, want %s %d", info.State, info.Readers, tc.wantState, tc.wantReaders)
			}
			if (info.Owner != nil) != tc.wantOwner || (info.LastReader != nil) != tc.wantLast {
				t.Errorf("owner %v last reader %v", info.Owner, info.LastReader)
			}
			var types []string
			for _, w := range info.Waiters {
				types = append(types, w.Type)
			}
			if got := strings.Join(types, ","); got != tc.wantTypes {
				t.Errorf("waiter types %q, want %q", got, tc.wantTypes)
			}
		})
	}
}

func TestSemaphoreCompletionWaitQueue(t *testing.T) {
	f := walktest.NewLockFixture(t, false)
	sem := f.Alloc(32)
	f.Mem.WriteU32(sem+4, 0)
	w1 := f.Waiter("struct semaphore_waiter", f.Task(40, "s1"))
	f.List(sem+8, w1)

	comp := f.Alloc(32)
	sq := f.Alloc(24)
	f.Mem.WriteU64(sq, f.Task(41, "c1"))
	f.List(comp+8+8, sq+8)

	wq := f.Alloc(24)
	e1, e2 := f.Alloc(40), f.Alloc(40)
	t42 := f.Task(42, "q1")
	f.Mem.WriteU64(e1+8, t42)
	f.Mem.WriteU64(e1+16, 0xffffffff81001000)
	f.Mem.WriteU32(e1, 1)
	wpq := f.Alloc(56)
	folio := f.Alloc(64)
	f.Mem.WriteU64(wpq, folio)
	f.Mem.WriteU32(wpq+8, 0)
	e2 = wpq + 16
	f.Mem.WriteU64(e2+8, f.Task(43, "pg"))
	f.Mem.WriteU64(e2+16, 0xffffffff81002000)
	f.List(wq+8, e1+24, e2+24)

	p := f.Prog(
		symbols.Symbol{Name: "autoremove_wake_function", Addr: 0xffffffff81001000, Size: 0x40, Type: 't'},
		symbols.Symbol{Name: "wake_page_function", Addr: 0xffffffff81002000, Size: 0x40, Type: 't'},
	)
	si, err := Semaphore(p, sem)
	if err != nil || len(si.Waiters) != 1 || si.Waiters[0].Task.PID != 40 {
		t.Errorf("semaphore: %+v %v", si, err)
	}
	ci, err := Completion(p, comp)
	if err != nil || len(ci.Waiters) != 1 || ci.Waiters[0].Task.PID != 41 {
		t.Errorf("completion: %+v %v", ci, err)
	}
	qi, err := WaitQueue(p, wq)
	if err != nil || len(qi.Waiters) != 2 {
		t.Fatalf("waitq: %+v %v", qi, err)
	}
	if w := qi.Waiters[0]; w.Task.PID != 42 || w.Func != "autoremove_wake_function" || strings.Join(w.Flags, ",") != "EXCLUSIVE" {
		t.Errorf("entry 0: %+v", w)
	}
	if w := qi.Waiters[1]; w.Task.PID != 43 || w.Func != "wake_page_function" || w.Folio != folio {
		t.Errorf("entry 1: %+v", w)
	}
}

func TestListGarbage(t *testing.T) {
	f := walktest.NewLockFixture(t, false)
	m := f.Alloc(40)
	f.Mem.WriteU64(m, 0)
	f.Mem.WriteU64(m+16, 0xdead000000000100) // unmapped
	f.Mem.WriteU64(m+24, m+16)
	info, err := Mutex(f.Prog(), m)
	if err != nil {
		t.Fatal(err)
	}
	if info.Error == "" || len(info.Waiters) != 0 {
		t.Errorf("garbage next pointer: %+v", info)
	}
	// A long self-consistent list is cut at the bound.
	nodes, err := kmem.ListHeadNodes(f.Prog(), m+16, "", 0)
	if len(nodes) != 0 || err == nil {
		t.Errorf("bound 0: %v %v", nodes, err)
	}
	_ = errors.Is
}
