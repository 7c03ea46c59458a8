package kcore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
)

// x86_64 paging (Intel SDM vol. 3 ch. 4; arch/x86/include/asm/pgtable_types.h).
const (
	ptePresent             = 0x1
	ptePSE                 = 0x80               // _PAGE_PSE: 1 GiB at PUD, 2 MiB at PMD
	pteAddrMask            = 0x000ffffffffff000 // PTE_PFN_MASK with 52-bit physical addresses
	pte1GMask              = 0x000fffffc0000000 // address bits of a 1 GiB leaf
	pte2MMask              = 0x000fffffffe00000 // address bits of a 2 MiB leaf
	defaultKernelImageSize = 1 << 30            // KERNEL_IMAGE_SIZE with KASLR, arch/x86/include/asm/page_64_types.h
)

// x86Paging translates x86_64 kernel virtual addresses.
type x86Paging struct {
	phys     func(p []byte, pa uint64) error
	root     uint64 // physical address of the top-level table
	rootErr  error  // why there is no root (only kernel-image addresses translate)
	levels   int    // 4 or 5
	smeMask  uint64 // SME/SEV C-bit, cleared from entries
	physBase uint64
	// image is true when phys_base is known: kernel-image addresses
	// [__START_KERNEL_map, +imageSize) can translate linearly when the
	// page tables cannot be read.
	image     bool
	imageSize uint64
	// directBase is page_offset_base when known (from kdump ELF PT_LOADs),
	// else 0: the direct map is then translated by the page tables.
	directBase, directEnd uint64

	tlb   tlb
	noTLB bool // live memory: translations are not cached
}

// mapping is one translation: the virtual range [va, va+size) maps to
// [pa, pa+size).
type mapping struct {
	va, pa, size uint64
}

// canonical reports whether va is canonical for the paging depth: bits
// 63..(12+9*levels-1) all equal.
func (x *x86Paging) canonical(va uint64) bool {
	shift := uint(12 + 9*x.levels - 1)
	top := va >> shift
	return top == 0 || top == (^uint64(0))>>shift
}

// translate finds the mapping that contains va. Kernel-image addresses go
// through the page tables too, so what the kernel unmapped (past _end,
// freed init memory: arch/x86/mm/init_64.c cleanup_highmap,
// free_kernel_image_pages) reads as unmapped; only when the tables
// themselves cannot be read (no root, excluded or damaged table pages) is
// the image translated linearly with phys_base (__phys_addr_symbol,
// arch/x86/mm/physaddr.c).
func (x *x86Paging) translate(va uint64) (mapping, error) {
	if !x.canonical(va) {
		return mapping{}, ErrNonCanonical
	}
	inImage := x.image && va >= startKernelMap && va-startKernelMap < x.imageSize
	linear := mapping{va: startKernelMap, pa: x.physBase, size: x.imageSize}
	if inImage && x.rootErr != nil {
		return linear, nil
	}
	if !inImage && x.directBase != 0 && va >= x.directBase && va < x.directEnd {
		return mapping{va: x.directBase, pa: 0, size: x.directEnd - x.directBase}, nil
	}
	m, err := x.cachedWalk(va)
	if err != nil && inImage && !errors.Is(err, ErrNotMapped) {
		return linear, nil
	}
	return m, err
}

func (x *x86Paging) cachedWalk(va uint64) (mapping, error) {
	if x.noTLB {
		return x.walk(va)
	}
	if m, ok := x.tlb.lookup(va); ok {
		return m, nil
	}
	m, err := x.walk(va)
	if err != nil {
		return mapping{}, err
	}
	x.tlb.insert(m)
	return m, nil
}

// confirmDirectMap checks a page_offset_base guessed from PT_LOADs
// against the page tables (kexec-tools writes the headers in user space
// and may guess it wrong): the first RAM page must map back to itself.
// Without page tables the guess is all there is.
func (x *x86Paging) confirmDirectMap(base uint64, loads []elfSeg) bool {
	if x.rootErr != nil {
		return true
	}
	for _, s := range loads {
		if s.vaddr != base+s.paddr || s.memsz < 2*4096 {
			continue
		}
		pa := (s.paddr + 4095) &^ 4095
		m, err := x.walk(base + pa)
		return err == nil && m.pa+(base+pa-m.va) == pa
	}
	return false
}

// walk reads the page tables for va.
func (x *x86Paging) walk(va uint64) (mapping, error) {
	if x.rootErr != nil {
		return mapping{}, x.rootErr
	}
	table := x.root
	var buf [8]byte
	for level := x.levels; level >= 1; level-- {
		shift := uint(12 + 9*(level-1))
		idx := (va >> shift) & 0x1ff
		epa := table + idx*8
		if err := x.phys(buf[:], epa); err != nil {
			return mapping{}, fmt.Errorf("reading level-%d page-table entry at phys %#x: %w", level, epa, err)
		}
		e := binary.LittleEndian.Uint64(buf[:]) &^ x.smeMask
		if e&ptePresent == 0 {
			return mapping{}, ErrNotMapped
		}
		size := uint64(1) << shift
		switch {
		case level == 3 && e&ptePSE != 0:
			return mapping{va: va &^ (size - 1), pa: e & pte1GMask, size: size}, nil
		case level == 2 && e&ptePSE != 0:
			return mapping{va: va &^ (size - 1), pa: e & pte2MMask, size: size}, nil
		case level == 1:
			return mapping{va: va &^ (size - 1), pa: e & pteAddrMask, size: size}, nil
		}
		table = e & pteAddrMask
	}
	return mapping{}, ErrNotMapped
}

// maxWalkTables bounds the tables one range walk reads, so page tables
// that point back into themselves cannot make it run for ever.
const maxWalkTables = 1 << 20

// walkRange calls fn for every leaf mapping that intersects [start, end),
// in address order, until fn returns false. Tables below level minLevel
// are not read (minLevel 1 walks everything; 2 stops at 2 MiB leaves).
func (x *x86Paging) walkRange(start, end uint64, minLevel int, fn func(mapping) bool) error {
	if x.rootErr != nil {
		return x.rootErr
	}
	w := rangeWalk{x: x, start: start, end: end, minLevel: minLevel, fn: fn, buf: make([]byte, 4096)}
	_, err := w.table(x.root, x.levels, 0)
	return err
}

type rangeWalk struct {
	x          *x86Paging
	start, end uint64
	minLevel   int
	fn         func(mapping) bool
	buf        []byte
	tables     int
}

func (w *rangeWalk) table(table uint64, level int, base uint64) (bool, error) {
	x := w.x
	if w.tables++; w.tables > maxWalkTables {
		return false, fmt.Errorf("page-table walk stopped after %d tables (cyclic page tables?)", maxWalkTables)
	}
	shift := uint(12 + 9*(level-1))
	size := uint64(1) << shift
	if err := x.phys(w.buf, table); err != nil {
		return false, fmt.Errorf("reading level-%d page table at phys %#x: %w", level, table, err)
	}
	var entries [512]uint64
	for i := range entries {
		entries[i] = binary.LittleEndian.Uint64(w.buf[i*8:]) &^ x.smeMask
	}
	for i := uint64(0); i < 512; i++ {
		va := base | i<<shift
		if level == x.levels && i >= 256 {
			// Sign-extend the upper half of the address space.
			va |= ^uint64(0) << uint(12+9*x.levels-1)
		}
		if va+size-1 < w.start || va >= w.end {
			continue
		}
		e := entries[i]
		if e&ptePresent == 0 {
			continue
		}
		var m mapping
		switch {
		case level == 3 && e&ptePSE != 0:
			m = mapping{va, e & pte1GMask, size}
		case level == 2 && e&ptePSE != 0:
			m = mapping{va, e & pte2MMask, size}
		case level == 1:
			m = mapping{va, e & pteAddrMask, size}
		case level-1 < w.minLevel:
			continue
		default:
			more, err := w.table(e&pteAddrMask, level-1, va)
			if err != nil || !more {
				return more, err
			}
			continue
		}
		if !w.fn(m) {
			return false, nil
		}
	}
	return true, nil
}

// tlb caches leaf translations by size in small direct-mapped tables.
type tlb struct {
	mu sync.Mutex
	t4 [1024]tlbEntry
	t2 [256]tlbEntry
	t1 [64]tlbEntry
}

type tlbEntry struct {
	vpn   uint64 // (va >> shift) + 1; 0 means empty
	pa    uint64
	valid bool
}

func (t *tlb) lookup(va uint64) (mapping, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := &t.t1[(va>>30)%uint64(len(t.t1))]; e.valid && e.vpn == va>>30 {
		return mapping{va &^ (1<<30 - 1), e.pa, 1 << 30}, true
	}
	if e := &t.t2[(va>>21)%uint64(len(t.t2))]; e.valid && e.vpn == va>>21 {
		return mapping{va &^ (1<<21 - 1), e.pa, 1 << 21}, true
	}
	if e := &t.t4[(va>>12)%uint64(len(t.t4))]; e.valid && e.vpn == va>>12 {
		return mapping{va &^ (1<<12 - 1), e.pa, 1 << 12}, true
	}
	return mapping{}, false
}

func (t *tlb) insert(m mapping) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch m.size {
	case 1 << 30:
		t.t1[(m.va>>30)%uint64(len(t.t1))] = tlbEntry{m.va >> 30, m.pa, true}
	case 1 << 21:
		t.t2[(m.va>>21)%uint64(len(t.t2))] = tlbEntry{m.va >> 21, m.pa, true}
	case 1 << 12:
		t.t4[(m.va>>12)%uint64(len(t.t4))] = tlbEntry{m.va >> 12, m.pa, true}
	}
}
