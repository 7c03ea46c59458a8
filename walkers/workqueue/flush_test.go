package workqueue_test

import (
	"errors"
	"testing"

	"github.com/kwalk/kwalk/symbols/symtest"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/workqueue"
)

// A synthetic heap of work items: struct work_struct { data; entry; func }.
type workHeap struct {
	mem  *symtest.Memory
	ty   *symtest.Types
	next uint64
}

func newWorkHeap() *workHeap {
	h := &workHeap{mem: symtest.NewMemory(), ty: symtest.NewTypes(), next: 0xffff888000200000}
	lh := h.ty.Declare("list_head")
	h.ty.Struct("list_head", 16, symtest.F("next", h.ty.Ptr(lh), 0), symtest.F("prev", h.ty.Ptr(lh), 8))
	h.ty.Struct("work_struct", 32, symtest.F("data", h.ty.Get("unsigned long"), 0),
		symtest.F("entry", h.ty.Get("struct list_head"), 8), symtest.F("func", h.ty.Ptr(nil), 24))
	return h
}

func (h *workHeap) alloc(n uint64) uint64 {
	a := h.next
	h.next += (n + 63) &^ 63
	h.mem.Write(a, make([]byte, n))
	return a
}

// ring links the list_heads at nodes into a circular list.
func (h *workHeap) ring(nodes ...uint64) {
	for i, n := range nodes {
		h.mem.WriteU64(n, nodes[(i+1)%len(nodes)])
		h.mem.WriteU64(n+8, nodes[(i+len(nodes)-1)%len(nodes)])
	}
}

func TestLocate(t *testing.T) {
	h := newWorkHeap()
	works := make([]uint64, 6)
	for i := range works {
		works[i] = h.alloc(32)
	}
	worklist, sched, inactive := h.alloc(16), h.alloc(16), h.alloc(16)
	h.ring(worklist, works[0]+8, works[1]+8, works[2]+8)
	h.ring(sched, works[3]+8)
	target := h.alloc(32) // the flushed work, the barrier right after it
	h.ring(inactive, target+8, works[4]+8)
	h.ring(works[5] + 8) // on no list
	pools := []workqueue.Pool{
		{ID: 0, Worklist: h.alloc(16)},
		{ID: 1, Worklist: worklist, Busy: []workqueue.Worker{{Task: 1, Scheduled: h.alloc(16)}, {Task: 2, Scheduled: sched}}},
	}
	h.ring(pools[0].Worklist)
	h.ring(pools[1].Busy[0].Scheduled)
	// A damaged list: prev links that loop without reaching a head.
	loop := []uint64{h.alloc(32), h.alloc(32), h.alloc(32)}
	h.mem.WriteU64(loop[0]+16, loop[1]+8)
	h.mem.WriteU64(loop[1]+16, loop[2]+8)
	h.mem.WriteU64(loop[2]+16, loop[1]+8)
	p := symtest.Program(h.mem, h.ty, nil)
	for _, tc := range []struct {
		name string
		work uint64
		want workqueue.Place
		err  error // wrapped by the error, nil for none; errAny: some error
	}{
		{"first on the worklist", works[0], workqueue.Place{Where: workqueue.Worklist, Pool: 1, Worker: -1, Head: worklist}, nil},
		{"third on the worklist", works[2], workqueue.Place{Where: workqueue.Worklist, Pool: 1, Worker: -1, Ahead: 2, Prev: works[1], Head: worklist}, nil},
		{"on a busy worker's scheduled list", works[3], workqueue.Place{Where: workqueue.Scheduled, Pool: 1, Worker: 1, Head: sched}, nil},
		{"on an inactive list", works[4], workqueue.Place{Where: workqueue.Unlisted, Pool: -1, Worker: -1, Prev: target}, nil},
		{"on no list", works[5], workqueue.Place{Pool: -1, Worker: -1}, errAny},
		{"a damaged list", loop[0], workqueue.Place{Pool: -1, Worker: -1, Prev: loop[1]}, kmem.ErrListCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := workqueue.Locate(p, pools, tc.work)
			if got != tc.want {
				t.Errorf("place %+v, want %+v", got, tc.want)
			}
			switch {
			case tc.err == nil && err != nil:
				t.Errorf("error %v", err)
			case tc.err == errAny && err == nil, tc.err != nil && tc.err != errAny && !errors.Is(err, tc.err):
				t.Errorf("error %v, want %v", err, tc.err)
			}
		})
	}
}

var errAny = errors.New("any error")
