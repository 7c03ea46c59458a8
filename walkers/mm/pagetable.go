package mm

import (
	"encoding/binary"
	"fmt"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
)

// x86_64 page-table entry bits (arch/x86/include/asm/pgtable_types.h).
const (
	ptePresent  = 1 << 0
	ptePSE      = 1 << 7
	pteAddrMask = 0x000ffffffffff000
)

// UserPage is the translation of one user virtual page.
type UserPage struct {
	Virt uint64
	// Phys is the physical address when Present.
	Phys    uint64
	Present bool
	// Swapped marks a non-present entry that is not empty (a swap or
	// migration entry, include/linux/swapops.h).
	Swapped bool
	// InDump is false when the page is present but its memory is not in
	// the dump (filtered out).
	InDump bool
	// Err says why the translation could not be done (a page table not in
	// the dump).
	Err string
}

// TranslateUser walks the page tables of the mm whose pgd is at kernel
// virtual address pgd for user address va (4-level, or 5-level when the
// dump's kernel uses it).
func TranslateUser(p *symbols.Program, pgd, va uint64) UserPage {
	up := UserPage{Virt: va}
	if p.Dump == nil {
		up.Err = "no dump"
		return up
	}
	if p.Dump.Arch() == kcore.ArchARM64 {
		// arch/arm64: mm->pgd in TTBR0's format, the kernel's walk.
		root, err := p.Dump.VirtToPhys(pgd)
		if err != nil {
			up.Err = fmt.Sprintf("pgd %#x: %v", pgd, err)
			return up
		}
		e, err := p.Dump.UserTranslate(root, va)
		if err != nil {
			up.Err = err.Error()
			return up
		}
		up.Phys, up.Present, up.Swapped = e.Phys, e.Present, !e.Present && e.Entry != 0
		if up.Present {
			var one [1]byte
			up.InDump = p.Dump.ReadPhys(one[:], up.Phys) == nil
		}
		return up
	}
	if m := p.Dump.Machine(); m != "" && m != "x86_64" {
		up.Err = fmt.Sprintf("page tables of %s are not supported", m)
		return up
	}
	levels := 4
	if _, l, ok := p.Dump.PageTableRoot(); ok && l == 5 {
		levels = 5
	}
	table, err := p.Dump.VirtToPhys(pgd)
	if err != nil {
		up.Err = fmt.Sprintf("pgd %#x: %v", pgd, err)
		return up
	}
	var b [8]byte
	for lvl := levels; lvl >= 1; lvl-- {
		shift := uint(12 + 9*(lvl-1))
		idx := (va >> shift) & 511
		if err := p.Dump.ReadPhys(b[:], table+8*idx); err != nil {
			up.Err = fmt.Sprintf("level-%d table %#x: %v", lvl, table, err)
			return up
		}
		e := binary.LittleEndian.Uint64(b[:])
		if e&ptePresent == 0 {
			up.Swapped = lvl == 1 && e != 0
			return up
		}
		if lvl == 1 || (lvl <= 3 && e&ptePSE != 0) {
			size := uint64(1) << shift
			up.Phys = (e & pteAddrMask &^ (size - 1)) | (va & (size - 1))
			up.Present = true
			var one [1]byte
			up.InDump = p.Dump.ReadPhys(one[:], up.Phys) == nil
			return up
		}
		table = e & pteAddrMask
	}
	return up
}
