package kcore

import (
	"errors"
	"fmt"
)

// readPhysRaw reads physical memory from whichever source the image has;
// errors are *ReadError with Phys set.
func (d *Dump) readPhysRaw(p []byte, pa uint64) error {
	switch {
	case d.kdump != nil:
		return d.readPhysKdump(p, pa)
	case d.elf != nil:
		return d.elf.readPhys(p, pa)
	}
	return &ReadError{Addr: pa, Phys: true, Err: ErrNotInDump}
}

func (d *Dump) readPhysKdump(p []byte, pa uint64) error {
	ps := uint64(d.pageSize)
	for len(p) > 0 {
		pfn := pa / ps
		off := pa % ps
		n := min(uint64(len(p)), ps-off)
		page, err := d.page(pfn)
		if err != nil {
			if errors.Is(err, ErrExcluded) && d.opts.ZeroExcluded {
				clear(p[:n])
			} else {
				return &ReadError{Addr: pa, Phys: true, Err: err}
			}
		} else {
			copy(p[:n], page[off:])
		}
		p = p[n:]
		pa += n
	}
	return nil
}

// page returns the decoded page pfn, from the cache when it is there.
func (d *Dump) page(pfn uint64) ([]byte, error) {
	if b := d.cache.get(pfn); b != nil {
		return b, nil
	}
	b := make([]byte, d.pageSize)
	if err := d.kdump.readPage(pfn, b); err != nil {
		return nil, err
	}
	d.cache.put(pfn, b)
	return b, nil
}

// ReadPhys implements Memory.
func (d *Dump) ReadPhys(p []byte, addr uint64) error {
	return d.readPhysRaw(p, addr)
}

// ReadVirt implements Memory: it translates kernel virtual addresses and
// reads across page boundaries. On failure the *ReadError names the first
// virtual address that could not be read.
func (d *Dump) ReadVirt(p []byte, addr uint64) error {
	if d.live {
		return d.readVirtLive(p, addr)
	}
	if d.xlat == nil {
		return &ReadError{Addr: addr, Err: d.pagingErr}
	}
	for len(p) > 0 {
		m, err := d.xlat.translate(addr)
		if err != nil {
			d.missed.note(err)
			return &ReadError{Addr: addr, Err: err}
		}
		pa := m.pa + (addr - m.va)
		n := min(uint64(len(p)), m.size-(addr-m.va))
		if err := d.readPhysRaw(p[:n], pa); err != nil {
			d.missed.note(err)
			re := &ReadError{Addr: addr, PA: pa, Err: err}
			var pe *ReadError
			if errors.As(err, &pe) {
				re.Addr = addr + (pe.Addr - pa)
				re.PA = pe.Addr
				re.Err = pe.Err
			}
			return re
		}
		p = p[n:]
		addr += n
	}
	return nil
}

// VirtToPhys translates a kernel virtual address.
func (d *Dump) VirtToPhys(va uint64) (uint64, error) {
	if d.xlat == nil {
		return 0, &ReadError{Addr: va, Err: d.pagingErr}
	}
	m, err := d.xlat.translate(va)
	if err != nil {
		return 0, &ReadError{Addr: va, Err: err}
	}
	return m.pa + (va - m.va), nil
}

// Mapping is a kernel virtual range mapped to physical memory by one
// page-table leaf entry.
type Mapping struct {
	Virt, Phys, Size uint64
}

// Mappings calls fn for each page-table leaf mapping that intersects
// [start, end), in address order, until fn returns false. It walks the
// kernel page tables (not the linear kernel-image shortcut).
func (d *Dump) Mappings(start, end uint64, fn func(Mapping) bool) error {
	if d.xlat == nil {
		return d.pagingErr
	}
	return d.xlat.walkRange(start, end, 1, func(m mapping) bool {
		return fn(Mapping{Virt: m.va, Phys: m.pa, Size: m.size})
	})
}

// DirectMapBase is page_offset_base: where the kernel's direct map of all
// physical memory starts (__va(pa) = pa + page_offset_base,
// arch/x86/include/asm/page_64.h). It comes from the PT_LOADs of a kdump ELF
// or /proc/kcore when they have it; otherwise it is read off the page
// tables as the virtual-minus-physical offset that maps the most memory with
// large leaves below the kernel image. Computed once, on first use.
func (d *Dump) DirectMapBase() (uint64, error) {
	d.directOnce.Do(func() {
		if d.arm != nil {
			d.directBase, d.directErr = d.arm.findDirect(0)
			return
		}
		if d.paging == nil {
			d.directErr = d.pagingErr
			return
		}
		if d.paging.directBase != 0 {
			d.directBase = d.paging.directBase
			return
		}
		d.directBase, d.directErr = d.findDirectMap()
	})
	return d.directBase, d.directErr
}

func (d *Dump) findDirectMap() (uint64, error) {
	p := d.paging
	lo := ^uint64(0) << uint(12+9*p.levels-1) // start of the kernel half
	var best uint64
	for _, minLevel := range []int{2, 1} {
		cover := map[uint64]uint64{}
		err := p.walkRange(lo, startKernelMap, minLevel, func(m mapping) bool {
			if m.va >= m.pa {
				cover[m.va-m.pa] += m.size
			}
			return true
		})
		if err != nil {
			return 0, fmt.Errorf("looking for the direct map: %w", err)
		}
		for off, n := range cover {
			if n > cover[best] || (n == cover[best] && off < best) {
				best = off
			}
		}
		if cover[best] >= 16<<20 {
			return best, nil
		}
	}
	return 0, errors.New("no direct map found in the page tables")
}

// PhysToVirt is the direct-map address of physical address pa (__va).
func (d *Dump) PhysToVirt(pa uint64) (uint64, error) {
	base, err := d.DirectMapBase()
	if err != nil {
		return 0, err
	}
	return base + pa, nil
}
