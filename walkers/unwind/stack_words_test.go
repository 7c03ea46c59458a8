package unwind

import (
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/sched"
)

// checkWordsAgainstTrace: every frame's return-address slot holds its IP,
// and FrameOf finds the frame owning each slot above the first.
func checkWordsAgainstTrace(t *testing.T, p *symbols.Program, task symbols.Object, tr *Trace) {
	t.Helper()
	sw, err := ReadStackWords(p, task)
	if err != nil {
		t.Fatal(err)
	}
	if sw.Base != tr.StackBase || sw.Top != tr.StackTop || uint64(len(sw.Words))*8 != sw.Top-sw.Base {
		t.Fatalf("bounds [%#x,%#x) %d words; trace [%#x,%#x)", sw.Base, sw.Top, len(sw.Words), tr.StackBase, tr.StackTop)
	}
	for i, f := range tr.Frames {
		if f.SP == 0 || !sw.Contains(f.SP) {
			continue
		}
		if v, ok := sw.At(f.SP); !ok || v != f.IP {
			t.Errorf("frame %d: word at %#x = %#x,%v; want IP %#x", i, f.SP, v, ok, f.IP)
		}
		if i > 0 && f.Stack == StackTask {
			if owner, ok := tr.FrameOf(f.SP); !ok || owner.Level != i-1 {
				t.Errorf("frame %d's slot %#x: FrameOf gives %+v,%v; want frame %d", i, f.SP, owner, ok, i-1)
			}
		}
		found := false
		for _, a := range sw.Find(f.IP) {
			found = found || a == f.SP
		}
		if !found {
			t.Errorf("frame %d: Find(%#x) misses %#x", i, f.IP, f.SP)
		}
	}
	if lo, ws := sw.Range(sw.Top-64, sw.Top+64); lo != sw.Top-64 || len(ws) != 8 {
		t.Errorf("Range clipped to %#x, %d words", lo, len(ws))
	}
	if _, ok := sw.At(sw.Top); ok {
		t.Errorf("At(top) should be off the stack")
	}
}

func TestStackWordsSynthetic(t *testing.T) {
	p, _ := userTask(t, orcV1)
	task := taskObj(t, p)
	tr, err := Stack(p, task)
	if err != nil {
		t.Fatal(err)
	}
	checkWordsAgainstTrace(t, p, task, tr)
}

func TestStackWordsDump(t *testing.T) {
	spec := testdata.RealDumps(t)[0]
	f := openStackDump(t, spec)
	tasks, err := sched.Tasks(f.prog)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, task := range tasks {
		tr, err := Stack(f.prog, task.Obj)
		if err != nil || tr.Running {
			continue
		}
		checkWordsAgainstTrace(t, f.prog, task.Obj, tr)
		n++
	}
	t.Logf("%s: %d stacks read whole and checked against their traces", spec.Name, n)
}
