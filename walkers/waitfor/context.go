package waitfor

import (
	"encoding/binary"
	"slices"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// The analysis is the waitkind.Context of every kind.
var _ waitkind.Context = (*waitAnalysis)(nil)

func (a *waitAnalysis) Prog() *symbols.Program { return a.p }

func (a *waitAnalysis) Tasks() []sched.Task { return a.tasks }

func (a *waitAnalysis) TaskAt(addr uint64) *sched.Task { return a.byAddr[addr] }

func (a *waitAnalysis) Warn(msg string) { a.errs = append(a.errs, msg) }

// Memo computes fn once per key for this analysis.
func (a *waitAnalysis) Memo(key any, fn func() any) any {
	if v, ok := a.memo[key]; ok {
		return v
	}
	if a.memo == nil {
		a.memo = map[any]any{}
	}
	v := fn()
	a.memo[key] = v
	return v
}

// HasFrame reports whether any frame of t is one of f (modulo compiler
// suffixes).
func (a *waitAnalysis) HasFrame(t *sched.Task, f waitkind.Frames) bool {
	if len(f) == 0 {
		return false
	}
	tr := a.Trace(t)
	if tr == nil {
		return false
	}
	for _, fr := range tr.Frames {
		if f.Match(fr.Symbol) {
			return true
		}
	}
	return false
}

// maxReaderScan bounds the stacks read by StackReferences.
const maxReaderScan = 4096

// StackReferences returns blocked tasks (not in skip) whose stacks contain
// the value v: candidates for holding an object the kernel does not record
// holders of, such as a reader-owned rw_semaphore (a heuristic).
func (a *waitAnalysis) StackReferences(v uint64, skip map[uint64]bool) []uint64 {
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
		stack, _ := a.Stack(t)
		for off := 0; off+8 <= len(stack); off += 8 {
			if binary.LittleEndian.Uint64(stack[off:]) == v {
				out = append(out, t.Addr)
				break
			}
		}
	}
	return out
}

type stackScanKey uint64

// A stackScan is what StackReferences(v, nothing skipped) looks at: the
// first maxReaderScan stacks it reads, which of them hold v, and the task
// it would read next (its stack read only when needed).
type stackScan struct {
	looked []uint64 // tasks, in the order read
	at     map[uint64]int
	refs   []uint64 // the tasks of looked whose stacks hold v
	next   *sched.Task
	// nextRead: next's stack was read; nextHas: it holds v.
	nextRead, nextHas bool
}

// stackReferencesBut is StackReferences(v, {but}) for the many waiters of
// one object (each skips itself): the stacks are read once for v.
func (a *waitAnalysis) stackReferencesBut(v, but uint64) []uint64 {
	holds := func(t *sched.Task) bool {
		stack, _ := a.Stack(t)
		for off := 0; off+8 <= len(stack); off += 8 {
			if binary.LittleEndian.Uint64(stack[off:]) == v {
				return true
			}
		}
		return false
	}
	sc := a.Memo(stackScanKey(v), func() any {
		sc := &stackScan{at: map[uint64]int{}}
		for i := range a.tasks {
			t := &a.tasks[i]
			if t.Idle || (t.State != "D" && a.reqWait[t.Addr] == nil) {
				continue
			}
			if len(sc.looked) == maxReaderScan {
				sc.next = t
				break
			}
			sc.at[t.Addr] = len(sc.looked)
			sc.looked = append(sc.looked, t.Addr)
			if holds(t) {
				sc.refs = append(sc.refs, t.Addr)
			}
		}
		return sc
	}).(*stackScan)
	if _, ok := sc.at[but]; !ok {
		return slices.Clone(sc.refs)
	}
	// Skipping but, StackReferences reads one more stack.
	var out []uint64
	for _, r := range sc.refs {
		if r != but {
			out = append(out, r)
		}
	}
	if sc.next != nil {
		if !sc.nextRead {
			sc.nextRead, sc.nextHas = true, holds(sc.next)
		}
		if sc.nextHas {
			out = append(out, sc.next.Addr)
		}
	}
	return out
}
