package waitfor

import (
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/unwind"
)

// TestVforkAndZombieHolders: a vfork parent's holder is the task whose
// vfork_done points into its stack (not another vfork child's); a zombie
// leader's holders are the live threads of its group only.
func TestVforkAndZombieHolders(t *testing.T) {
	f := newStackFixture(t, false)
	tt := f.Types.Get("struct task_struct")
	tt.Members = append(tt.Members, symbols.Member{Name: "vfork_done", Type: f.Types.Ptr(nil), Offset: 304, BitOffset: 2432})
	parent, pstack := f.stackTask(40, "sh")
	other, ostack := f.stackTask(41, "make")
	child, _ := f.stackTask(42, "child")
	child2, _ := f.stackTask(43, "child2")
	f.Mem.WriteU64(child2+304, ostack+0x3e00) // other's vfork child
	f.Mem.WriteU64(child+304, pstack+0x3e00)
	leader, _ := f.stackTask(50, "srv")
	thr1, _ := f.stackTask(51, "srv")
	thr2, _ := f.stackTask(52, "srv")
	stranger, _ := f.stackTask(53, "x")
	a := f.analysis(f.Prog(), parent, other, child, child2, leader, thr1, thr2, stranger)
	for _, ta := range []uint64{parent, other} {
		a.traces[ta] = &unwind.Trace{Frames: []unwind.Frame{{Symbol: "wait_for_vfork_done"}}}
	}
	for i := range a.tasks {
		if a.tasks[i].PID >= 50 && a.tasks[i].PID <= 52 {
			a.tasks[i].TGID = 50
		}
	}
	a.byAddr[leader].State, a.byAddr[thr2].State = "Z", "Z"
	for _, c := range []struct{ parent, child uint64 }{{parent, child}, {other, child2}} {
		w, ok := VforkWait.Detect(a, a.byAddr[c.parent])
		if !ok || len(w.Holders) != 1 || w.Holders[0].Task.Addr != c.child || w.Object.Addr != c.child {
			t.Errorf("vfork parent %#x: %+v %v", c.parent, w, ok)
		}
	}
	w, ok := a.zombieWait(a.byAddr[leader])
	if !ok || len(w.Holders) != 1 || w.Holders[0].Task.Addr != thr1 {
		t.Errorf("zombie leader: %+v %v", w, ok)
	}
}
