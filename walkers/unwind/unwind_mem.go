package unwind

import (
	"encoding/binary"
	"fmt"

	"github.com/kwalk/kwalk/kcore"
)

// stackRegion is one stack the unwinder may read: [lo, hi). Each page is
// read once, on first use; pages the dump lacks stay marked unreadable.
type stackRegion struct {
	lo, hi uint64
	kind   StackKind
	name   string // "task stack", "irq stack of cpu 1", "NMI stack of cpu 0"
	buf    []byte
	bad    []error // per page: why it could not be read
	have   []bool  // per page: read (well or not)
	loaded bool    // buf, bad and have allocated
}

// maxStackRegion bounds one region (THREAD_SIZE is at most 32 KiB with
// KASAN; exception stacks are smaller).
const maxStackRegion = 1 << 20

// stackMem is the set of stacks one unwind may touch, like the kernel's
// get_stack_info: reads outside them are refused.
type stackMem struct {
	mem     kcore.Memory
	regions []*stackRegion
}

func (s *stackMem) add(lo, hi uint64, kind StackKind, name string) {
	if hi <= lo || hi-lo > maxStackRegion {
		return
	}
	for _, r := range s.regions {
		if lo < r.hi && r.lo < hi {
			return // overlaps a known region; keep the first
		}
	}
	s.regions = append(s.regions, &stackRegion{lo: lo, hi: hi, kind: kind, name: name})
}

// region returns the region holding [addr, addr+n), or nil.
func (s *stackMem) region(addr, n uint64) *stackRegion {
	for _, r := range s.regions {
		if addr >= r.lo && addr+n <= r.hi && addr+n >= addr {
			return r
		}
	}
	return nil
}

// page returns the bytes of page pg of the region, reading it on first use.
func (r *stackRegion) page(mem kcore.Memory, pg uint64) ([]byte, error) {
	if !r.loaded {
		r.loaded = true
		size := r.hi - r.lo
		npages := (size + 4095) / 4096
		r.buf = make([]byte, size)
		r.bad = make([]error, npages)
		r.have = make([]bool, npages)
	}
	lo := pg * 4096
	hi := min(lo+4096, r.hi-r.lo)
	if !r.have[pg] {
		r.have[pg] = true
		r.bad[pg] = mem.ReadVirt(r.buf[lo:hi], r.lo+lo)
	}
	return r.buf[lo:hi], r.bad[pg]
}

// readU64 reads a word that must lie on one of the known stacks.
func (s *stackMem) readU64(addr uint64) (uint64, error) {
	r := s.region(addr, 8)
	if r == nil {
		return 0, fmt.Errorf("stack read at %#x: %w", addr, errOffStack)
	}
	off := addr - r.lo
	for pg := off / 4096; pg <= (off+7)/4096; pg++ {
		if _, err := r.page(s.mem, pg); err != nil {
			return 0, fmt.Errorf("%s at %#x: %w", r.name, addr, err)
		}
	}
	return binary.LittleEndian.Uint64(r.buf[off:]), nil
}

// kindOf returns the kind of stack addr lies on.
func (s *stackMem) kindOf(addr uint64) (StackKind, *stackRegion) {
	if r := s.region(addr, 8); r != nil {
		return r.kind, r
	}
	return StackUnknown, nil
}
