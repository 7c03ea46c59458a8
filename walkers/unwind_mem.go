package walkers

import (
	"encoding/binary"
	"fmt"

	"github.com/kwalk/kwalk/kcore"
)

// stackRegion is one stack the unwinder may read: [lo, hi). Its bytes are
// read once, page by page, on first use; pages the dump lacks stay marked
// unreadable.
type stackRegion struct {
	lo, hi uint64
	kind   StackKind
	name   string // "task stack", "irq stack of cpu 1", "NMI stack of cpu 0"
	buf    []byte
	bad    []error // per page: why it could not be read
	loaded bool
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

func (r *stackRegion) load(mem kcore.Memory) {
	if r.loaded {
		return
	}
	r.loaded = true
	size := r.hi - r.lo
	r.buf = make([]byte, size)
	npages := (size + 4095) / 4096
	r.bad = make([]error, npages)
	for pg := uint64(0); pg < npages; pg++ {
		lo := pg * 4096
		hi := min(lo+4096, size)
		if err := mem.ReadVirt(r.buf[lo:hi], r.lo+lo); err != nil {
			r.bad[pg] = err
		}
	}
}

// readU64 reads a word that must lie on one of the known stacks.
func (s *stackMem) readU64(addr uint64) (uint64, error) {
	r := s.region(addr, 8)
	if r == nil {
		return 0, fmt.Errorf("stack read at %#x: %w", addr, errOffStack)
	}
	r.load(s.mem)
	off := addr - r.lo
	if err := r.bad[off/4096]; err != nil {
		return 0, fmt.Errorf("%s at %#x: %w", r.name, addr, err)
	}
	if (off+7)/4096 != off/4096 {
		if err := r.bad[(off+7)/4096]; err != nil {
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
