package kcore

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// arm64 stage-1 translation of kernel (TTBR1) addresses with a 4 KiB,
// 16 KiB or 64 KiB granule and 36..52 bits of VA (Arm ARM D8;
// arch/arm64/include/asm/pgtable-hwdef.h). The kernel reports what is
// needed in VMCOREINFO (arch/arm64/kernel/crash_core.c, vmcore_info.c
// since 6.8): NUMBER(VA_BITS), NUMBER(TCR_EL1_T1SZ), NUMBER(kimage_voffset),
// NUMBER(PHYS_OFFSET), NUMBER(KERNELPACMASK), KERNELOFFSET, and the generic
// SYMBOL(swapper_pg_dir) and PAGESIZE.
type arm64Paging struct {
	phys      func(p []byte, pa uint64) error
	pageShift uint // 12, 14 or 16
	vaBits    uint // bits of kernel VA translated (64 - TCR_EL1.T1SZ)
	levels    int  // translation levels for vaBits
	lpa2      bool // 52-bit output addresses with a 4/16 KiB granule (FEAT_LPA2)
	root      uint64
	rootErr   error
	// kimageVOffset is kimage_voffset: kernel-image va - pa
	// (arch/arm64/include/asm/memory.h __kimg_to_phys). Used to find the
	// root, and for image addresses when the tables cannot be read.
	kimageVOffset    uint64
	imageLo, imageHi uint64 // kernel-image range for that fallback
	physOffset       uint64 // PHYS_OFFSET (memstart_addr)
	directBase       uint64 // __va(pa) = pa + directBase, once confirmed
	directOK         bool
	haveKimage       bool
	tlb              tlb // 4 KiB granule only: its leaves are 4K/2M/1G
	noTLB            bool
}

// arm64Params are the VMCOREINFO values arm64 translation is set up from.
type arm64Params struct {
	pageSize      uint64
	vaBits        uint
	kimageVOffset uint64
	haveKimage    bool
	physOffset    uint64
	swapper       uint64 // SYMBOL(swapper_pg_dir)
	haveSwapper   bool
}

func arm64ParamsFrom(v *VMCoreInfo) (arm64Params, error) {
	var a arm64Params
	if v == nil {
		return a, errors.New("no VMCOREINFO: arm64 translation needs its VA_BITS, kimage_voffset and SYMBOL(swapper_pg_dir)")
	}
	a.pageSize = 4096
	if ps, ok := v.PageSize(); ok {
		a.pageSize = ps
	}
	if n, ok := v.Number("TCR_EL1_T1SZ"); ok && n >= 12 && n <= 28 {
		a.vaBits = uint(64 - n)
	} else if n, ok := v.Number("VA_BITS"); ok && n >= 36 && n <= 52 {
		a.vaBits = uint(n)
	} else {
		return a, errors.New("VMCOREINFO has neither NUMBER(TCR_EL1_T1SZ) nor NUMBER(VA_BITS)")
	}
	if n, ok := v.Number("kimage_voffset"); ok {
		a.kimageVOffset, a.haveKimage = uint64(n), true
	}
	if n, ok := v.Number("PHYS_OFFSET"); ok {
		a.physOffset = uint64(n)
	}
	a.swapper, a.haveSwapper = v.Symbol("swapper_pg_dir")
	return a, nil
}

// newARM64Paging sets up translation; a paging with rootErr set still
// translates kernel-image addresses by kimage_voffset.
func newARM64Paging(phys func([]byte, uint64) error, a arm64Params) (*arm64Paging, error) {
	p := &arm64Paging{phys: phys, vaBits: a.vaBits, kimageVOffset: a.kimageVOffset, haveKimage: a.haveKimage, physOffset: a.physOffset}
	switch a.pageSize {
	case 4 << 10:
		p.pageShift = 12
	case 16 << 10:
		p.pageShift = 14
	case 64 << 10:
		p.pageShift = 16
	default:
		return nil, fmt.Errorf("arm64 page size %d is not 4, 16 or 64 KiB", a.pageSize)
	}
	if p.vaBits < 36 || p.vaBits > 52 {
		return nil, fmt.Errorf("arm64 VA bits %d out of range", p.vaBits)
	}
	// ARM64_HW_PGTABLE_LEVELS(va_bits) = DIV_ROUND_UP(va_bits - PAGE_SHIFT, PAGE_SHIFT - 3).
	per := p.pageShift - 3
	p.levels = int((p.vaBits - p.pageShift + per - 1) / per)
	// 52-bit VA with a 4 or 16 KiB granule is only possible with LPA2,
	// whose descriptors carry output-address bits 51:50 in 9:8.
	p.lpa2 = p.vaBits == 52 && p.pageShift != 16
	p.noTLB = p.pageShift != 12
	switch {
	case !a.haveKimage || !a.haveSwapper:
		p.rootErr = errors.New("no arm64 page-table root: VMCOREINFO lacks NUMBER(kimage_voffset) or SYMBOL(swapper_pg_dir)")
	default:
		p.root = a.swapper - a.kimageVOffset
		// The image holds swapper_pg_dir: a generous window around it
		// for the linear fallback (arch/arm64/kernel/vmlinux.lds.S).
		p.imageLo, p.imageHi = a.swapper-(256<<20), a.swapper+(256<<20)
	}
	return p, nil
}

// kernelHalf reports whether va is a TTBR1 address for vaBits: bits
// 63..vaBits all ones.
func (p *arm64Paging) kernelHalf(va uint64) bool {
	return va>>p.vaBits == (^uint64(0))>>p.vaBits
}

// levelShift is the VA shift of a level (0 is the last, page level).
func (p *arm64Paging) levelShift(level int) uint {
	return p.pageShift + uint(level)*(p.pageShift-3)
}

// index is va's entry index in a table of the given level.
func (p *arm64Paging) index(va uint64, level int) uint64 {
	shift := p.levelShift(level)
	bits := p.pageShift - 3
	if level == p.levels-1 {
		bits = p.vaBits - shift
	}
	return (va >> shift) & (1<<bits - 1)
}

// outAddr extracts the output address of a descriptor
// (pgtable-hwdef.h PTE_ADDR_LOW/PTE_ADDR_HIGH, and LPA2's bits 9:8).
func (p *arm64Paging) outAddr(e uint64) uint64 {
	switch {
	case p.pageShift == 16:
		// 64 KiB granule: bits 47:16, and 51:48 in 15:12 (FEAT_LPA).
		return e&0x0000_ffff_ffff_0000 | (e>>12&0xf)<<48
	case p.lpa2:
		return e&0x0003_ffff_ffff_f000&^(1<<p.pageShift-1) | (e>>8&3)<<50
	default:
		return e & 0x0000_ffff_ffff_f000 &^ (1<<p.pageShift - 1)
	}
}

func (p *arm64Paging) inImage(va uint64) bool {
	return p.haveKimage && p.imageHi != 0 && va >= p.imageLo && va < p.imageHi
}

func (p *arm64Paging) translate(va uint64) (mapping, error) {
	if !p.kernelHalf(va) {
		return mapping{}, ErrNonCanonical
	}
	linear := mapping{va: p.imageLo, pa: p.imageLo - p.kimageVOffset, size: p.imageHi - p.imageLo}
	if p.rootErr != nil {
		if p.inImage(va) {
			return linear, nil
		}
		return mapping{}, p.rootErr
	}
	var m mapping
	var err error
	if p.noTLB {
		m, err = p.walk(va)
	} else if c, ok := p.tlb.lookup(va); ok {
		return c, nil
	} else if m, err = p.walk(va); err == nil {
		p.tlb.insert(m)
	}
	if err != nil && p.inImage(va) && !errors.Is(err, ErrNotMapped) {
		return linear, nil
	}
	return m, err
}

// walk reads the kernel page tables for va.
func (p *arm64Paging) walk(va uint64) (mapping, error) {
	m, _, err := p.walkFrom(p.root, va)
	return m, err
}

// walkFrom reads the page tables rooted at physical address root for va
// (the kernel's, or a process's: mm->pgd is what TTBR0 points at, in the
// same format) and returns the last entry read, the one that is not
// valid when the address is not mapped.
func (p *arm64Paging) walkFrom(root, va uint64) (mapping, uint64, error) {
	table := root
	var buf [8]byte
	for level := p.levels - 1; level >= 0; level-- {
		epa := table + p.index(va, level)*8
		if err := p.phys(buf[:], epa); err != nil {
			return mapping{}, 0, fmt.Errorf("reading level-%d page-table entry at phys %#x: %w", p.levels-1-level, epa, err)
		}
		e := binary.LittleEndian.Uint64(buf[:])
		size := uint64(1) << p.levelShift(level)
		switch {
		case e&1 == 0:
			if level != 0 {
				e = 0 // only a last-level entry can be a swap entry
			}
			return mapping{}, e, ErrNotMapped
		case level == 0 && e&2 == 0: // reserved encoding at the last level
			return mapping{}, e, ErrNotMapped
		case level == 0 || e&2 == 0: // page, or block
			return mapping{va: va &^ (size - 1), pa: p.outAddr(e) &^ (size - 1), size: size}, e, nil
		}
		table = p.outAddr(e)
	}
	return mapping{}, 0, ErrNotMapped
}

// walkRange calls fn for every leaf mapping that intersects [start, end),
// in address order, until fn returns false; tables below minLevel (1: the
// page level) are not read.
func (p *arm64Paging) walkRange(start, end uint64, minLevel int, fn func(mapping) bool) error {
	if p.rootErr != nil {
		return p.rootErr
	}
	w := arm64RangeWalk{p: p, start: start, end: end, minLevel: minLevel - 1, fn: fn, buf: make([]byte, 1<<p.pageShift)}
	_, err := w.table(p.root, p.levels-1, ^uint64(0)<<p.vaBits)
	return err
}

type arm64RangeWalk struct {
	p          *arm64Paging
	start, end uint64
	minLevel   int // 0-based: the page level is 0
	fn         func(mapping) bool
	buf        []byte
	tables     int
}

func (w *arm64RangeWalk) table(table uint64, level int, base uint64) (bool, error) {
	p := w.p
	if w.tables++; w.tables > maxWalkTables {
		return false, fmt.Errorf("page-table walk stopped after %d tables (cyclic page tables?)", maxWalkTables)
	}
	shift := p.levelShift(level)
	size := uint64(1) << shift
	n := uint64(1) << (p.pageShift - 3)
	if level == p.levels-1 {
		n = 1 << (p.vaBits - shift)
	}
	buf := w.buf[:n*8]
	if err := p.phys(buf, table); err != nil {
		return false, fmt.Errorf("reading page table at phys %#x: %w", table, err)
	}
	entries := make([]uint64, n)
	for i := range entries {
		entries[i] = binary.LittleEndian.Uint64(buf[i*8:])
	}
	for i := uint64(0); i < n; i++ {
		va := base | i<<shift
		if va+size-1 < w.start || va >= w.end {
			continue
		}
		e := entries[i]
		if e&1 == 0 || (level == 0 && e&2 == 0) {
			continue
		}
		if level == 0 || e&2 == 0 {
			if !w.fn(mapping{va, p.outAddr(e) &^ (size - 1), size}) {
				return false, nil
			}
			continue
		}
		if level-1 < w.minLevel {
			continue
		}
		more, err := w.table(p.outAddr(e), level-1, va)
		if err != nil || !more {
			return more, err
		}
	}
	return true, nil
}

// findDirect confirms the linear map: __va(pa) = pa - PHYS_OFFSET +
// PAGE_OFFSET with PAGE_OFFSET = -(1 << VA_BITS) (memory.h _PAGE_OFFSET);
// a kernel built for 52-bit VA on 48-bit hardware keeps the 52-bit
// PAGE_OFFSET with memstart_addr moved down (arch/arm64/mm/init.c
// arm64_memblock_init), so both are tried against the page tables with
// the first RAM page at or above PHYS_OFFSET.
func (p *arm64Paging) findDirect(firstRAM uint64) (uint64, error) {
	if p.directOK {
		return p.directBase, nil
	}
	if p.rootErr != nil {
		return 0, p.rootErr
	}
	pa := max(firstRAM, p.physOffset)
	pa = (pa + 1<<p.pageShift - 1) &^ (1<<p.pageShift - 1)
	for _, bits := range []uint{p.vaBits, 52, 48} {
		base := -(uint64(1) << bits) - p.physOffset
		va := base + pa
		if !p.kernelHalf(va) {
			continue
		}
		if m, err := p.walk(va); err == nil && m.pa+(va-m.va) == pa {
			p.directBase, p.directOK = base, true
			return base, nil
		}
	}
	return 0, fmt.Errorf("the arm64 linear map (PHYS_OFFSET %#x, %d-bit VA) does not map phys %#x in the page tables", p.physOffset, p.vaBits, pa)
}

// UserTableEntry is one user address's translation through a process's
// page tables (UserTranslate).
type UserTableEntry struct {
	Phys    uint64 // the physical address of the byte, when Present
	Present bool
	// Entry is the last-level entry read when the address is not
	// mapped: non-zero for a swap or migration entry.
	Entry uint64
}

// UserTranslate translates user address va through the arm64 page tables
// rooted at physical address root (a process's mm->pgd); for other
// architectures it returns ErrUnsupported, their walk is the caller's.
// A read that fails is the error; an address that is not mapped is
// Present false.
func (d *Dump) UserTranslate(root, va uint64) (UserTableEntry, error) {
	p, ok := d.xlat.(*arm64Paging)
	if !ok {
		return UserTableEntry{}, errors.New("user page tables are walked by kcore on arm64 only")
	}
	if p.kernelHalf(va) || va>>p.vaBits != 0 {
		return UserTableEntry{}, ErrNonCanonical
	}
	m, e, err := p.walkFrom(root, va)
	switch {
	case errors.Is(err, ErrNotMapped):
		return UserTableEntry{Entry: e}, nil
	case err != nil:
		return UserTableEntry{}, err
	}
	return UserTableEntry{Phys: m.pa + (va - m.va), Present: true}, nil
}
