package timers

import (
	"testing"

	"github.com/kwalk/kwalk/symbols/symtest"
)

// timerKernel is a synthetic one-CPU kernel with two timer bases, one
// hrtimer clock base, jiffies and a timekeeper; the test queues timers.
type timerKernel struct {
	*symtest.Kernel
	bases, hrBase uint64
}

func newTimerKernel(t *testing.T) *timerKernel {
	t.Helper()
	k := symtest.NewKernel()
	ty := k.Types
	fn := symtest.Ptr(k.Void)
	ty.Add(symtest.Layout("timer_list", symtest.M("entry", k.HlistNode), symtest.M("expires", k.U64), symtest.M("function", fn), symtest.M("flags", k.U32)))
	ty.Add(symtest.Layout("timer_base", symtest.M("running_timer", fn), symtest.M("clk", k.U64), symtest.M("next_expiry", k.U64),
		symtest.M("cpu", k.U32), symtest.M("vectors", symtest.Array(k.HlistHead, 8))))
	rbCached := ty.Add(symtest.Layout("rb_root_cached", symtest.M("rb_root", ty.Get("struct rb_root")), symtest.M("rb_leftmost", symtest.Ptr(ty.Get("struct rb_node")))))
	tqh := ty.Add(symtest.Layout("timerqueue_head", symtest.M("rb_root", rbCached)))
	tqn := ty.Add(symtest.Layout("timerqueue_node", symtest.M("node", ty.Get("struct rb_node")), symtest.M("expires", k.S64)))
	ty.Add(symtest.Layout("hrtimer", symtest.M("node", tqn), symtest.M("_softexpires", k.S64), symtest.M("function", fn)))
	cb := ty.Add(symtest.Layout("hrtimer_clock_base", symtest.M("index", k.U32), symtest.M("clockid", k.S32), symtest.M("active", tqh), symtest.M("offset", k.S64)))
	ty.Add(symtest.Layout("hrtimer_cpu_base", symtest.M("expires_next", k.S64), symtest.M("hres_active", k.U8), symtest.M("clock_base", symtest.Array(cb, 2))))
	tkr := ty.Add(symtest.Layout("tk_read_base", symtest.M("base", k.S64)))
	ty.Add(symtest.Layout("timekeeper", symtest.M("tkr_mono", tkr)))
	ty.Add(symtest.Layout("tk_data", symtest.M("seq", k.U32), symtest.M("timekeeper", ty.Get("struct timekeeper"))))

	n := k.Alloc(4)
	k.Mem.WriteU32(n, 1)
	k.Syms.Add("nr_cpu_ids", n, 4, 'D')
	online := k.Alloc(8)
	k.Mem.WriteU64(online, 1)
	k.Syms.Add("__cpu_online_mask", online, 8, 'D')
	const tbSym, hrSym = 0x1e000, 0x21000
	k.Syms.Add("timer_bases", tbSym, 2*k.Size("struct timer_base"), 'D')
	k.Syms.Add("hrtimer_bases", hrSym, k.Size("struct hrtimer_cpu_base"), 'D')
	area := k.Alloc(0x8000)
	offs := k.Alloc(8)
	k.Mem.WriteU64(offs, area-tbSym)
	k.Syms.Add("__per_cpu_offset", offs, 8, 'D')
	j := k.Alloc(8)
	k.Mem.WriteU64(j, 5000)
	k.Syms.Add("jiffies_64", j, 8, 'D')
	tk := k.NewObj("struct tk_data")
	k.Mem.WriteU64(tk+k.Off("struct tk_data", "timekeeper"), 1_000_000)
	k.Syms.Add("tk_core", tk, k.Size("struct tk_data"), 'd')
	tk2 := &timerKernel{Kernel: k, bases: area, hrBase: area + (hrSym - tbSym)}
	for i := uint64(0); i < 2; i++ {
		b := area + i*k.Size("struct timer_base")
		k.Mem.WriteU64(b+k.Off("struct timer_base", "clk"), 4999)
	}
	return tk2
}

func (k *timerKernel) addTimer(base, bucket int, expires, fn uint64, flags uint32) uint64 {
	tl := k.NewObj("struct timer_list")
	k.Mem.WriteU64(tl+k.Off("struct timer_list", "expires"), expires)
	k.Mem.WriteU64(tl+k.Off("struct timer_list", "function"), fn)
	k.Mem.WriteU32(tl+k.Off("struct timer_list", "flags"), flags|uint32(bucket)<<TimerArrayShift)
	head := k.bases + uint64(base)*k.Size("struct timer_base") + k.Off("struct timer_base", "vectors") + uint64(bucket)*k.Size("struct hlist_head")
	k.HlistAddHead(head, tl)
	return tl
}

func TestWheelsAndHRTimers(t *testing.T) {
	k := newTimerKernel(t)
	k.Syms.Add("process_timeout", 0xffffffff81100000, 0x40, 'T')
	k.Syms.Add("delayed_work_timer_fn", 0xffffffff81200000, 0x40, 'T')
	k.Syms.Add("hrtimer_wakeup", 0xffffffff81300000, 0x40, 'T')
	t2 := k.addTimer(0, 3, 5100, 0xffffffff81100000, 0)
	t1 := k.addTimer(0, 3, 5010, 0xffffffff81200000, 0)
	t3 := k.addTimer(1, 1, 5002, 0xffffffff81200000, TimerDeferrable)
	// Two hrtimers on clock base 0, in expiry order as a tree: h2 on top, h1 left.
	h1, h2 := k.NewObj("struct hrtimer"), k.NewObj("struct hrtimer")
	for h, exp := range map[uint64]int64{h1: 2_000_000, h2: 3_000_000} {
		k.Mem.WriteU64(h+k.Off("struct hrtimer", "_softexpires"), uint64(exp))
		k.Mem.WriteU64(h+k.Off("struct hrtimer", "node")+k.Off("struct timerqueue_node", "expires"), uint64(exp+50))
		k.Mem.WriteU64(h+k.Off("struct hrtimer", "function"), 0xffffffff81300000)
	}
	k.Mem.WriteU64(h2+k.Off("struct rb_node", "rb_left"), h1)
	cb0 := k.hrBase + k.Off("struct hrtimer_cpu_base", "clock_base")
	k.Mem.WriteU32(cb0+k.Off("struct hrtimer_clock_base", "clockid"), 1)
	k.Mem.WriteU64(cb0+k.Off("struct hrtimer_clock_base", "active"), h2)
	p := k.Program()

	if j, err := Jiffies(p); err != nil || j != 5000 {
		t.Errorf("Jiffies = %d, %v", j, err)
	}
	bs, err := Wheels(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 || bs[0].Name != "BASE_STD" || bs[1].Name != "BASE_DEF" {
		t.Fatalf("bases %+v", bs)
	}
	if got := bs[0].Timers; len(got) != 2 || got[0].Addr != t1 || got[1].Addr != t2 || got[0].Symbol != "delayed_work_timer_fn" || got[0].Index != 3 {
		t.Errorf("BASE_STD timers %+v", got)
	}
	if got := bs[1].Timers; len(got) != 1 || got[0].Addr != t3 || got[0].Flags&TimerDeferrable == 0 {
		t.Errorf("BASE_DEF timers %+v", got)
	}
	if now, ok := MonotonicNow(p); !ok || now != 1_000_000 {
		t.Errorf("MonotonicNow = %d, %v", now, ok)
	}
	cs, err := HRTimers(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || len(cs[0].Bases) != 2 || cs[0].Bases[0].Name != "MONOTONIC" {
		t.Fatalf("hrtimer bases %+v", cs)
	}
	got := cs[0].Bases[0].Timers
	if len(got) != 2 || got[0].Addr != h1 || got[1].Addr != h2 || got[0].SoftExpires != 2_000_000 || got[0].Expires != 2_000_050 || got[1].Symbol != "hrtimer_wakeup" {
		t.Errorf("hrtimers %+v", got)
	}
}

// A cyclic bucket is an error on its base, not a hang.
func TestWheelsCycle(t *testing.T) {
	k := newTimerKernel(t)
	tl := k.addTimer(0, 2, 5001, 0, 0)
	k.Mem.WriteU64(tl, tl) // entry.next points back at itself
	bs, err := Wheels(k.Program(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) == 0 || len(bs[0].Errors) == 0 {
		t.Errorf("bases %+v: want an error for the cycle", bs)
	}
}
