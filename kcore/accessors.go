package kcore

import "time"

// VMCoreInfo returns the image's VMCOREINFO, or nil when it has none.
func (d *Dump) VMCoreInfo() *VMCoreInfo { return d.vmci }

// CPUs returns the per-CPU register sets from the image's notes. For
// QEMU dumps CPU is pr_pid-1 and CR3/KernelGSBase are set; for kdump the
// index is the note order (CPUs that did not answer the NMI are missing).
func (d *Dump) CPUs() []CPUState { return append([]CPUState(nil), d.cpus...) }

// NoteProblems are the damaged notes of the image, one line each: CPUs
// whose registers are missing (a note cut short, a note area that breaks
// off) or may be wrong. Nil when the notes are sound.
func (d *Dump) NoteProblems() []string { return append([]string(nil), d.noteProblems...) }

// NumCPUs is the CPU count the dump header states (kdump-compressed), or
// the number of CPU notes.
func (d *Dump) NumCPUs() int {
	if d.nrCPUs > 0 {
		return d.nrCPUs
	}
	return len(d.cpus)
}

// Format describes the image format, e.g. "kdump-compressed (flattened, zlib)".
func (d *Dump) Format() string { return d.format }

// Path is the file the image was opened from.
func (d *Dump) Path() string { return d.path }

// Live reports whether this is the running kernel (/proc/kcore).
func (d *Dump) Live() bool { return d.live }

// MemorySize is the RAM the image covers, in bytes.
func (d *Dump) MemorySize() uint64 { return d.memSize }

// PageSize is the kernel page size.
func (d *Dump) PageSize() int { return d.pageSize }

// Utsname is the system identification from the kdump header (QEMU fills
// only Machine). Machine is also set for ELF images from e_machine.
func (d *Dump) Utsname() Utsname { return d.uts }

// Machine is the architecture, e.g. "x86_64".
func (d *Dump) Machine() string { return d.uts.Machine }

// Release is the kernel release: VMCOREINFO OSRELEASE, else the kdump
// header's utsname release, else "".
func (d *Dump) Release() string {
	if d.vmci != nil && d.vmci.OSRelease() != "" {
		return d.vmci.OSRelease()
	}
	return d.uts.Release
}

// CrashTime is VMCOREINFO CRASHTIME (set by the panicking kernel), else the
// kdump header timestamp (when the dump file was written: for a file
// converted later by makedumpfile, the conversion time); the zero time when
// neither is known (live images, QEMU dumps).
func (d *Dump) CrashTime() time.Time { return d.crash }

// Stats describes the pages the image holds.
func (d *Dump) Stats() Stats { return d.stats }

// CacheStats describes the decoded-page cache (zero for ELF images, which
// are read in place).
func (d *Dump) CacheStats() CacheStats {
	if d.cache == nil {
		return CacheStats{}
	}
	return d.cache.stats()
}

// KernelOffset is the KASLR offset from VMCOREINFO.
func (d *Dump) KernelOffset() (uint64, bool) {
	if d.vmci == nil {
		return 0, false
	}
	return d.vmci.KernelOffset()
}

// PhysBase is the x86_64 phys_base used for kernel-image addresses.
func (d *Dump) PhysBase() (uint64, bool) {
	if d.paging == nil || !d.paging.image {
		return 0, false
	}
	return d.paging.physBase, true
}

// PageTableRoot is the physical address of the kernel's top-level page
// table and the paging depth (x86_64: 4 or 5; arm64: 2 to 5).
func (d *Dump) PageTableRoot() (root uint64, levels int, ok bool) {
	if d.arm != nil && d.arm.rootErr == nil {
		return d.arm.root, d.arm.levels, true
	}
	if d.paging == nil {
		return 0, 0, false
	}
	return d.paging.root, d.paging.levels, true
}

// Close releases the file.
func (d *Dump) Close() error {
	if d.kdump != nil {
		d.kdump.dec.close()
	}
	if d.kcoreFiles != nil {
		d.kcoreFiles.closeExtra()
	}
	if d.file == nil {
		return nil
	}
	err := d.file.Close()
	d.file = nil
	return err
}
