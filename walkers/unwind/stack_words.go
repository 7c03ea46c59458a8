package unwind

import (
	"encoding/binary"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// StackWords is a task's whole kernel stack, read once: Words[i] is the
// word at Base+8*i. Pages the image lacks read as zero and are listed in
// Missing, so a scan can tell "zero" from "unknown".
type StackWords struct {
	Task      uint64
	Base, Top uint64 // [Base, Top): task->stack .. + THREAD_SIZE
	Words     []uint64
	// Missing are the page-aligned addresses of stack pages that could not
	// be read, with why.
	Missing map[uint64]error
}

// ReadStackWords reads task's kernel stack (the whole THREAD_SIZE, 16 KiB
// on x86_64 without KASAN) in one pass, for bt -f and for scans of the
// stack for on-stack structures (lock waiters, wait queue entries).
func ReadStackWords(p *symbols.Program, task symbols.Object) (*StackWords, error) {
	u, err := UnwinderFor(p)
	if err != nil {
		return nil, err
	}
	base, err := u.task.stackBase(task)
	if err != nil {
		return nil, err
	}
	size := u.task.threadSize
	sw := &StackWords{Task: task.Addr(), Base: base, Top: base + size, Words: make([]uint64, size/8)}
	buf := make([]byte, 4096)
	for off := uint64(0); off < size; off += 4096 {
		n := min(4096, size-off)
		if err := p.Mem.ReadVirt(buf[:n], base+off); err != nil {
			if sw.Missing == nil {
				sw.Missing = map[uint64]error{}
			}
			sw.Missing[base+off] = err
			continue
		}
		for i := uint64(0); i+8 <= n; i += 8 {
			sw.Words[(off+i)/8] = binary.LittleEndian.Uint64(buf[i:])
		}
	}
	if len(sw.Missing) == int((size+4095)/4096) {
		return nil, fmt.Errorf("stack of task %#x at %#x: no page readable: %w", task.Addr(), base, sw.Missing[base])
	}
	return sw, nil
}

// Contains reports whether addr lies on the stack.
func (s *StackWords) Contains(addr uint64) bool { return addr >= s.Base && addr < s.Top }

// At returns the word at addr (8-byte aligned, on the stack); ok is false
// off the stack or on a missing page.
func (s *StackWords) At(addr uint64) (uint64, bool) {
	if !s.Contains(addr) || addr%8 != 0 {
		return 0, false
	}
	if _, miss := s.Missing[addr&^4095]; miss {
		return 0, false
	}
	return s.Words[(addr-s.Base)/8], true
}

// Range returns the words in [lo, hi), clipped to the stack, and the
// address of the first one.
func (s *StackWords) Range(lo, hi uint64) (uint64, []uint64) {
	lo = max(lo, s.Base) &^ 7
	hi = min(hi, s.Top)
	if lo >= hi {
		return lo, nil
	}
	return lo, s.Words[(lo-s.Base)/8 : (hi-s.Base+7)/8]
}

// Find returns the stack addresses holding value v, lowest first: where a
// pointer to an object (a lock, a wait queue head) was stored.
func (s *StackWords) Find(v uint64) []uint64 {
	var out []uint64
	for i, w := range s.Words {
		if w == v {
			a := s.Base + uint64(i)*8
			if _, miss := s.Missing[a&^4095]; !miss {
				out = append(out, a)
			}
		}
	}
	return out
}

// FrameOf returns the frame of tr whose words [RSP, CFA) hold addr: which
// function's locals an on-stack structure belongs to. ok is false when no
// frame covers addr.
func (tr *Trace) FrameOf(addr uint64) (*Frame, bool) {
	for i := range tr.Frames {
		f := &tr.Frames[i]
		hi := f.CFA
		if hi == 0 && i+1 < len(tr.Frames) {
			hi = tr.Frames[i+1].RSP
		}
		if addr >= f.RSP && addr < hi {
			return f, true
		}
	}
	return nil, false
}
