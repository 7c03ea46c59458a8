package kcore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
)

// ELF64 constants (include/uapi/linux/elf.h).
const (
	etCore     = 4
	ptLoad     = 1
	ptNote     = 4
	pnXNum     = 0xffff
	emX86_64   = 62
	emAArch64  = 183
	elfHdrSize = 64
	phdrSize   = 56
	shdrSize   = 64

	// maxPhdrs bounds the program header table (kdump writes one PT_LOAD
	// per RAM range; makedumpfile -E splits them further).
	maxPhdrs = 1 << 20

	startKernelMap = 0xffffffff80000000 // __START_KERNEL_map, arch/x86/include/asm/page_64_types.h
	noPaddr        = ^uint64(0)         // p_paddr of /proc/kcore segments without one (fs/proc/kcore.c)
)

// elfSeg is one PT_LOAD.
type elfSeg struct {
	vaddr, paddr, offset, filesz, memsz uint64
}

// segIndex finds the segment holding an address. Segments may overlap (a
// kdump kernel-text PT_LOAD lies inside RAM; a QEMU paging=true dump maps
// the same physical page at several virtual addresses), so the index is a
// list of disjoint pieces, each served by the earliest-starting segment
// that covers it.
type segIndex struct {
	segs   []elfSeg
	pieces []segPiece // sorted, disjoint
	start  func(*elfSeg) uint64
}

type segPiece struct {
	lo, hi uint64 // [lo, hi)
	seg    int
}

func newSegIndex(segs []elfSeg, start func(*elfSeg) uint64) segIndex {
	s := append([]elfSeg(nil), segs...)
	sort.SliceStable(s, func(i, j int) bool { return start(&s[i]) < start(&s[j]) })
	x := segIndex{segs: s, start: start}
	var covered uint64
	for i := range s {
		lo, hi := start(&s[i]), start(&s[i])+s[i].memsz
		if hi < lo { // wraps past the top of the address space
			hi = ^uint64(0)
		}
		if i > 0 && hi <= covered {
			continue
		}
		if i > 0 {
			lo = max(lo, covered)
		}
		x.pieces = append(x.pieces, segPiece{lo, hi, i})
		covered = hi
	}
	return x
}

// find returns the segment containing addr, or nil.
func (x *segIndex) find(addr uint64) *elfSeg {
	i := sort.Search(len(x.pieces), func(i int) bool { return x.pieces[i].hi > addr })
	if i == len(x.pieces) || addr < x.pieces[i].lo {
		return nil
	}
	return &x.segs[x.pieces[i].seg]
}

// elfCore is an ELF core: a kdump /proc/vmcore copy, a QEMU
// dump-guest-memory file, or /proc/kcore.
type elfCore struct {
	r       io.ReaderAt
	bo      binary.ByteOrder
	machine uint16
	loads   []elfSeg
	phys    segIndex // by p_paddr
	virt    segIndex // by p_vaddr (kcore)
	notes   []elfNote
	info    noteInfo

	// fileSize is the size of the file; trunc is set when PT_LOAD data
	// runs past it (reads of that data fail with a *TruncatedError).
	fileSize int64
	trunc    *Truncation

	zeroExcluded bool
}

func isELF(hdr []byte) bool { return len(hdr) >= 4 && string(hdr[:4]) == "\x7fELF" }

// openELF reads the ELF header, program headers and notes. size bounds
// every header-driven allocation.
func openELF(r io.ReaderAt, size int64) (*elfCore, error) {
	var eh [elfHdrSize]byte
	if _, err := readFullAt(r, eh[:], 0); err != nil {
		return nil, fmt.Errorf("ELF header: %w", err)
	}
	if !isELF(eh[:]) {
		return nil, errors.New("ELF header: bad magic")
	}
	if eh[4] != 2 {
		return nil, fmt.Errorf("ELF header: class %d, only ELF64 is supported", eh[4])
	}
	e := &elfCore{r: r, fileSize: size}
	switch eh[5] {
	case 1:
		e.bo = binary.LittleEndian
	case 2:
		e.bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("ELF header: unknown data encoding %d", eh[5])
	}
	bo := e.bo
	if t := bo.Uint16(eh[16:]); t != etCore {
		return nil, fmt.Errorf("ELF header: type %d is not ET_CORE", t)
	}
	e.machine = bo.Uint16(eh[18:])
	phoff := bo.Uint64(eh[32:])
	shoff := bo.Uint64(eh[40:])
	phentsize := uint64(bo.Uint16(eh[54:]))
	phnum := uint64(bo.Uint16(eh[56:]))
	if phnum == pnXNum {
		// The real count is in section header 0's sh_info (elf(5)).
		var sh [shdrSize]byte
		if shoff == 0 || shoff > uint64(size) {
			return nil, fmt.Errorf("ELF header: e_phnum is PN_XNUM but section header at %#x is missing", shoff)
		}
		if _, err := readFullAt(r, sh[:], int64(shoff)); err != nil {
			return nil, fmt.Errorf("ELF section header 0 at %#x: %w", shoff, err)
		}
		phnum = uint64(bo.Uint32(sh[44:]))
	}
	if phentsize != phdrSize {
		return nil, fmt.Errorf("ELF header: e_phentsize %d, want %d", phentsize, phdrSize)
	}
	if phnum == 0 || phnum > maxPhdrs || phoff > uint64(size) || phnum*phdrSize > uint64(size)-phoff {
		return nil, fmt.Errorf("ELF header: %d program headers at %#x do not fit the %d-byte file", phnum, phoff, size)
	}
	ph := make([]byte, phnum*phdrSize)
	if _, err := readFullAt(r, ph, int64(phoff)); err != nil {
		return nil, fmt.Errorf("ELF program headers at %#x: %w", phoff, err)
	}
	var total, missing uint64 // PT_LOAD file bytes, and those past the end
	var noteErrs []string
	for i := uint64(0); i < phnum; i++ {
		p := ph[i*phdrSize:]
		typ := bo.Uint32(p)
		s := elfSeg{
			offset: bo.Uint64(p[8:]),
			vaddr:  bo.Uint64(p[16:]),
			paddr:  bo.Uint64(p[24:]),
			filesz: bo.Uint64(p[32:]),
			memsz:  bo.Uint64(p[40:]),
		}
		switch typ {
		case ptNote:
			if s.filesz > maxNotes || s.offset > uint64(size) || s.filesz > uint64(size)-s.offset {
				return nil, fmt.Errorf("ELF PT_NOTE %d: %d bytes at %#x do not fit the %d-byte file", i, s.filesz, s.offset, size)
			}
			b := make([]byte, s.filesz)
			if _, err := readFullAt(r, b, int64(s.offset)); err != nil {
				return nil, fmt.Errorf("ELF PT_NOTE %d at %#x: %w", i, s.offset, err)
			}
			notes, err := parseNotes(b, bo)
			if err != nil {
				// Keep the notes before the damage (CPU registers,
				// VMCOREINFO) and say what is lost.
				noteErrs = append(noteErrs, fmt.Sprintf("ELF PT_NOTE %d: %v: the notes after it (CPU registers) are missing", i, err))
			}
			e.notes = append(e.notes, notes...)
		case ptLoad:
			if s.filesz > s.memsz {
				s.filesz = s.memsz
			}
			if s.memsz == 0 {
				continue
			}
			// A segment whose data runs past the end of the file is
			// kept: reads of what the file lacks fail with
			// ErrTruncated, not as excluded or absent memory.
			total += s.filesz
			if s.offset > uint64(size) || s.filesz > uint64(size)-s.offset {
				missing += s.offset + s.filesz - max(s.offset, uint64(size))
			}
			e.loads = append(e.loads, s)
		}
	}
	if missing > 0 {
		const ps = 4096
		e.trunc = &Truncation{FileSize: size, MissingBytes: missing, TotalBytes: total,
			MissingPages: (missing + ps - 1) / ps, TotalPages: (total + ps - 1) / ps}
	}
	e.info = interpretNotes(e.notes, bo)
	e.info.problems = append(noteErrs, e.info.problems...)
	return e, nil
}

// usePhysical indexes the PT_LOADs by physical address (kdump, QEMU).
// With ignoreNoPaddr, /proc/kcore segments with p_paddr == -1 are left out.
func (e *elfCore) usePhysical(ignoreNoPaddr bool) {
	var segs []elfSeg
	for _, s := range e.loads {
		if ignoreNoPaddr && s.paddr == noPaddr {
			continue
		}
		if s.paddr+s.memsz < s.paddr { // wraps
			continue
		}
		segs = append(segs, s)
	}
	e.phys = newSegIndex(segs, func(s *elfSeg) uint64 { return s.paddr })
}

// useVirtual indexes the PT_LOADs by virtual address (/proc/kcore).
func (e *elfCore) useVirtual() {
	e.virt = newSegIndex(e.loads, func(s *elfSeg) uint64 { return s.vaddr })
}

// readSeg fills p from the segment index x at addr. Bytes in [filesz,
// memsz) were left out of the file (makedumpfile -E): ErrExcluded, or zeros
// with zeroExcluded. The returned error is a *ReadError for addr's part
// that failed.
func (e *elfCore) readSeg(x *segIndex, p []byte, addr uint64, phys bool) error {
	for len(p) > 0 {
		s := x.find(addr)
		if s == nil {
			return &ReadError{Addr: addr, Phys: phys, Err: ErrNotInDump}
		}
		off := addr - x.start(s)
		n := min(uint64(len(p)), s.memsz-off)
		if off >= s.filesz {
			n = min(n, s.memsz-off)
			if !e.zeroExcluded {
				return &ReadError{Addr: addr, Phys: phys, Err: ErrExcluded}
			}
			clear(p[:n])
		} else {
			n = min(n, s.filesz-off)
			if fo := s.offset + off; e.trunc != nil && fo+n > uint64(e.fileSize) {
				if fo >= uint64(e.fileSize) {
					return &ReadError{Addr: addr, Phys: phys, Err: &TruncatedError{
						What: fmt.Sprintf("PT_LOAD data of address %#x", addr), Offset: int64(fo), FileSize: e.fileSize}}
				}
				n = uint64(e.fileSize) - fo // the part the file has, then the error
			}
			if _, err := readFullAt(e.r, p[:n], int64(s.offset+off)); err != nil {
				return &ReadError{Addr: addr, Phys: phys, Err: fmt.Errorf("reading file offset %#x: %w", s.offset+off, err)}
			}
		}
		p = p[n:]
		addr += n
	}
	return nil
}

func (e *elfCore) readPhys(p []byte, pa uint64) error { return e.readSeg(&e.phys, p, pa, true) }

func (e *elfCore) readVirt(p []byte, va uint64) error { return e.readSeg(&e.virt, p, va, false) }

// machineName maps e_machine to a uname -m string.
func machineName(m uint16) string {
	switch m {
	case emX86_64:
		return "x86_64"
	case emAArch64:
		return "aarch64"
	}
	return fmt.Sprintf("ELF machine %d", m)
}

// ramBytes sums the PT_LOADs that describe RAM (physical address known,
// not the kdump kernel-text alias), without double counting overlaps.
func (e *elfCore) ramBytes(live bool) uint64 { return e.coveredBytes(live, false) }

// fileBytes is ramBytes counting only what the file holds (p_filesz).
func (e *elfCore) fileBytes(live bool) uint64 { return e.coveredBytes(live, true) }

func (e *elfCore) coveredBytes(live, filesz bool) uint64 {
	type rng struct{ lo, hi uint64 }
	var rs []rng
	for _, s := range e.loads {
		if s.paddr == noPaddr || (s.vaddr >= startKernelMap && s.vaddr != s.paddr) {
			continue
		}
		if live && s.paddr == 0 && s.vaddr >= startKernelMap {
			continue
		}
		n := s.memsz
		if filesz {
			n = s.filesz
		}
		rs = append(rs, rng{s.paddr, s.paddr + n})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].lo < rs[j].lo })
	var total, end uint64
	for _, r := range rs {
		lo := max(r.lo, end)
		if r.hi > lo {
			total += r.hi - lo
			end = r.hi
		}
	}
	return total
}
