package kcore

import (
	"errors"
	"fmt"
)

// textPhysBase derives phys_base from a kernel-text PT_LOAD (kdump's
// optional one, /proc/kcore's KCORE_TEXT): p_paddr = __pa_symbol(p_vaddr) =
// p_vaddr - __START_KERNEL_map + phys_base (arch/x86/include/asm/page_64.h).
// It is used only when VMCOREINFO has no NUMBER(phys_base) (before 4.10).
func textPhysBase(loads []elfSeg) *uint64 {
	for _, s := range loads {
		if s.vaddr >= startKernelMap && s.paddr != noPaddr && s.vaddr != s.paddr {
			pb := s.paddr - (s.vaddr - startKernelMap)
			return &pb
		}
	}
	return nil
}

// learnDirectMap derives page_offset_base from RAM PT_LOADs whose p_vaddr
// is a direct-map address; all of them must agree.
func learnDirectMap(loads []elfSeg) (base, end uint64) {
	for _, s := range loads {
		if s.vaddr >= startKernelMap || s.vaddr < 1<<63 || s.vaddr == s.paddr || s.paddr == noPaddr {
			continue
		}
		b := s.vaddr - s.paddr
		if base != 0 && b != base {
			return 0, 0
		}
		base = b
		end = max(end, s.vaddr+s.memsz)
	}
	return base, end
}

// setupMemory parses VMCOREINFO and sets up virtual translation from it,
// or from the CPU notes' CR3 when there is none. fallbackPhysBase (the kdump
// sub-header's, or one derived from a kernel-text PT_LOAD) is used when
// VMCOREINFO has no NUMBER(phys_base). The kdump sub-header value is the
// last resort because QEMU parses the decimal VMCOREINFO value as hex
// (qemu dump/dump.c vmcoreinfo_update_phys_base).
func (d *Dump) setupMemory(vmciText []byte, fallbackPhysBase *uint64) {
	if len(vmciText) > 0 {
		if v, err := ParseVMCoreInfo(vmciText); err == nil {
			d.vmci = v
		}
	}
	if d.vmci != nil {
		if t, ok := d.vmci.CrashTime(); ok {
			d.crash = t
		}
		if ps, ok := d.vmci.PageSize(); ok && d.elf != nil && ps >= 4096 && ps <= 1<<20 {
			d.pageSize = int(ps)
			d.stats.PageSize = int(ps)
		}
	}
	switch d.arch = d.decideArch(); d.arch {
	case ArchARM64:
		d.setupARM64()
		return
	case ArchUnknown:
		d.pagingErr = fmt.Errorf("virtual address translation is implemented for x86_64 and aarch64, not %q", d.uts.Machine)
		return
	}
	p := &x86Paging{phys: d.readPhysRaw, levels: 4, imageSize: defaultKernelImageSize}
	if fallbackPhysBase != nil {
		p.physBase, p.image = *fallbackPhysBase, true
	}
	if v := d.vmci; v != nil {
		// arch/x86/kernel/vmcore_info_64.c (crash_core_64.c before 6.8)
		// writes phys_base, init_top_pgt, pgtable_l5_enabled,
		// KERNEL_IMAGE_SIZE and sme_mask.
		if n, ok := v.Number("phys_base"); ok {
			p.physBase, p.image = uint64(n), true
		}
		if n, ok := v.Number("pgtable_l5_enabled"); ok && n == 1 {
			p.levels = 5
		}
		if n, ok := v.Number("KERNEL_IMAGE_SIZE"); ok && n > 0 && n <= 1<<31 {
			p.imageSize = uint64(n)
		}
		if n, ok := v.Number("sme_mask"); ok {
			p.smeMask = uint64(n)
		}
		sym, ok := v.Symbol("init_top_pgt")
		if !ok {
			sym, ok = v.Symbol("swapper_pg_dir")
		}
		if ok && p.image && sym >= startKernelMap {
			p.root = sym - startKernelMap + p.physBase
		}
	}
	if p.root == 0 {
		cr3, cr4, ok := d.kernelCR3()
		switch {
		case ok:
			p.root = cr3
			if d.vmci == nil && cr4&(1<<12) != 0 { // CR4.LA57
				p.levels = 5
			}
		case p.image:
			// Kernel-image addresses still translate linearly.
			p.rootErr = errNoRoot
		default:
			d.pagingErr = errNoRoot
			return
		}
	}
	p.root &^= p.smeMask
	p.root &= pteAddrMask
	d.paging = p
	d.xlat = p
}

var errNoRoot = errors.New("no page-table root: no VMCOREINFO with SYMBOL(init_top_pgt) and no CR3 in the CPU notes")

// kernelCR3 picks a page-table root from the QEMU CPU notes: the CR3 of a
// CPU that was in kernel mode (CS RPL 0), else the first CR3 with the
// page-table-isolation user bit cleared when that yields a kernel PGD.
func (d *Dump) kernelCR3() (cr3, cr4 uint64, ok bool) {
	var fallback *CPUState
	for i := range d.cpus {
		c := &d.cpus[i]
		if c.CR3 == 0 {
			continue
		}
		if c.Regs.CS&3 == 0 {
			return c.CR3 &^ 0xfff, c.CR4, true
		}
		if fallback == nil {
			fallback = c
		}
	}
	if fallback == nil {
		return 0, 0, false
	}
	// With PTI the user PGD is the kernel PGD + 4 KiB
	// (arch/x86/include/asm/pgtable.h kernel_to_user_pgdp).
	root := fallback.CR3 &^ 0xfff
	if root&0x1000 != 0 && d.kernelHalfEntries(root&^0x1000) > d.kernelHalfEntries(root) {
		root &^= 0x1000
	}
	return root, fallback.CR4, true
}

func (d *Dump) kernelHalfEntries(pgd uint64) int {
	buf := make([]byte, 2048)
	if d.readPhysRaw(buf, pgd+2048) != nil {
		return -1
	}
	n := 0
	for i := 0; i < 2048; i += 8 {
		if buf[i]&ptePresent != 0 {
			n++
		}
	}
	return n
}
