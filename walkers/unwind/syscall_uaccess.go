package unwind

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
)

// x86_64 page-table entry bits (arch/x86/include/asm/pgtable_types.h).
const (
	uPresent  = 0x1
	uPSE      = 0x80
	uAddrMask = 0x000ffffffffff000
	u1GMask   = 0x000fffffc0000000
	u2MMask   = 0x000fffffffe00000
)

// userMem reads a task's user memory through its own page tables
// (task->mm->pgd), as far as the dump holds the pages.
type userMem struct {
	p      *symbols.Program
	root   uint64 // physical address of the top-level table
	levels int
}

// errNoMM: a kernel thread, or an exited task, has no user memory.
var errNoMM = errors.New("task has no mm (kernel thread or exiting)")

// newUserMem finds task->mm->pgd and translates it to physical.
func newUserMem(p *symbols.Program, task symbols.Object) (*userMem, error) {
	mm, err := task.MemberUint("mm")
	if err != nil {
		return nil, err
	}
	if mm == 0 {
		return nil, errNoMM
	}
	mmObj, err := p.Object("struct mm_struct", mm)
	if err != nil {
		return nil, err
	}
	pgd, err := mmObj.MemberUint("pgd")
	if err != nil {
		return nil, err
	}
	root, err := kernelVirtToPhys(p, pgd)
	if err != nil {
		return nil, fmt.Errorf("mm->pgd %#x: %w", pgd, err)
	}
	return &userMem{p: p, root: root, levels: pagingLevels(p)}, nil
}

// kernelVirtToPhys translates a kernel address (mm->pgd lives in the
// direct map) with the image's own translation when it has one, else
// through page_offset_base (arch/x86/include/asm/page_64.h __pa).
func kernelVirtToPhys(p *symbols.Program, va uint64) (uint64, error) {
	var src any = p.Mem
	if p.Dump != nil {
		src = p.Dump
	}
	if t, ok := src.(interface {
		VirtToPhys(uint64) (uint64, error)
	}); ok {
		return t.VirtToPhys(va)
	}
	pob, err := p.Symbol("page_offset_base")
	if err != nil {
		return 0, err
	}
	base, err := p.ReadU64(pob)
	if err != nil {
		return 0, err
	}
	if va < base {
		return 0, fmt.Errorf("%#x is below page_offset_base %#x", va, base)
	}
	return va - base, nil
}

// pagingLevels is 5 when the image says the kernel ran with 5-level
// paging (the image's own page-table setup, or VMCOREINFO
// NUMBER(pgtable_l5_enabled), arch/x86/kernel/crash_core_64.c), else 4.
func pagingLevels(p *symbols.Program) int {
	if p.Dump != nil {
		if _, l, ok := p.Dump.PageTableRoot(); ok && (l == 4 || l == 5) {
			return l
		}
		if vi := p.Dump.VMCoreInfo(); vi != nil {
			if n, ok := vi.Number("pgtable_l5_enabled"); ok && n == 1 {
				return 5
			}
		}
	}
	return 4
}

// translate walks the user page tables for va.
func (m *userMem) translate(va uint64) (uint64, error) {
	if d := m.p.Dump; d != nil && d.Arch() == kcore.ArchARM64 {
		e, err := d.UserTranslate(m.root, va)
		if err != nil {
			return 0, &kcore.ReadError{Addr: va, Err: err}
		}
		if !e.Present {
			return 0, &kcore.ReadError{Addr: va, Err: kcore.ErrNotMapped}
		}
		return e.Phys, nil
	}
	shiftTop := uint(12 + 9*m.levels - 1)
	if va>>shiftTop != 0 {
		return 0, &kcore.ReadError{Addr: va, Err: kcore.ErrNonCanonical}
	}
	table := m.root
	var buf [8]byte
	for level := m.levels; level >= 1; level-- {
		shift := uint(12 + 9*(level-1))
		epa := table + (va>>shift&0x1ff)*8
		if err := m.p.Mem.ReadPhys(buf[:], epa); err != nil {
			return 0, fmt.Errorf("user page table level %d at phys %#x: %w", level, epa, err)
		}
		e := binary.LittleEndian.Uint64(buf[:])
		if e&uPresent == 0 {
			return 0, &kcore.ReadError{Addr: va, Err: kcore.ErrNotMapped}
		}
		switch {
		case level == 3 && e&uPSE != 0:
			return e&u1GMask | va&(1<<30-1), nil
		case level == 2 && e&uPSE != 0:
			return e&u2MMask | va&(1<<21-1), nil
		case level == 1:
			return e&uAddrMask | va&0xfff, nil
		}
		table = e & uAddrMask
	}
	return 0, &kcore.ReadError{Addr: va, Err: kcore.ErrNotMapped}
}

// read fills b from user address va, page by page.
func (m *userMem) read(b []byte, va uint64) error {
	for len(b) > 0 {
		pa, err := m.translate(va)
		if err != nil {
			return err
		}
		n := min(uint64(len(b)), 4096-va%4096)
		if err := m.p.Mem.ReadPhys(b[:n], pa); err != nil {
			return err
		}
		b = b[n:]
		va += n
	}
	return nil
}

// readString reads a NUL-terminated user string of at most max bytes;
// truncated is true when no NUL came within max.
func (m *userMem) readString(va uint64, max int) (s string, truncated bool, err error) {
	var out []byte
	buf := make([]byte, 256)
	for len(out) < max {
		n := min(uint64(256-va%256), uint64(max-len(out)))
		if err := m.read(buf[:n], va); err != nil {
			return string(out), false, err
		}
		for i := uint64(0); i < n; i++ {
			if buf[i] == 0 {
				return string(append(out, buf[:i]...)), false, nil
			}
		}
		out = append(out, buf[:n]...)
		va += n
	}
	return string(out), true, nil
}

// ReadUser reads n bytes of task's user memory at addr through the task's
// page tables (task->mm->pgd). Pages the dump lacks (user pages are often
// filtered out by makedumpfile) give a *kcore.ReadError.
func ReadUser(p *symbols.Program, task symbols.Object, addr uint64, n int) ([]byte, error) {
	if n < 0 || n > 1<<20 {
		return nil, fmt.Errorf("user read of %d bytes: out of range", n)
	}
	m, err := newUserMem(p, task)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if err := m.read(b, addr); err != nil {
		return nil, err
	}
	return b, nil
}
