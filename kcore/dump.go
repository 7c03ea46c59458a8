package kcore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Options control how an image is opened.
type Options struct {
	// ZeroExcluded reads pages the dump left out as zeros instead of failing
	// (crash's --zero_excluded).
	ZeroExcluded bool
	// CacheBytes bounds the cache of decoded pages; 0 means the default (64 MiB).
	CacheBytes int
}

// Stats describes what the image holds, for warnings such as "N pages
// excluded".
type Stats struct {
	PageSize      int
	PresentPages  uint64 // RAM pages the dumped kernel had (kdump: 1st bitmap)
	DumpedPages   uint64 // pages whose contents are in the image
	ExcludedPages uint64 // PresentPages - DumpedPages
	DumpLevel     int    // makedumpfile dump level, -1 when unknown
	Incomplete    bool   // the dump tool flagged the image incomplete (ENOSPC, ...)
	Records       int    // flattened records indexed, 0 otherwise
}

// Dump is an opened kernel memory image. It is safe for concurrent use.
type Dump struct {
	opts   Options
	path   string
	file   *os.File
	format string
	live   bool

	kdump *kdumpFile // kdump-compressed images
	elf   *elfCore   // ELF images (kdump, QEMU, /proc/kcore)
	cache *pageCache // decoded pages (kdump-compressed only)

	vmci     *VMCoreInfo
	cpus     []CPUState
	uts      Utsname
	crash    time.Time
	memSize  uint64
	pageSize int
	stats    Stats
	nrCPUs   int

	paging    *x86Paging // nil when virtual translation is unavailable
	pagingErr error      // why paging is nil

	directOnce sync.Once
	directBase uint64
	directErr  error
}

// Open opens a crash dump file of any supported format, detected from its
// magic bytes: ELF (kdump vmcore, QEMU dump-guest-memory, /proc/kcore),
// kdump-compressed, or makedumpfile-flattened kdump-compressed.
func Open(path string, opts Options) (*Dump, error) {
	f, err := os.Open(path)
	if err != nil {
		if path == ProcKcore {
			return nil, liveOpenError(err)
		}
		return nil, fmt.Errorf("open dump: %w", err)
	}
	d, err := openFile(f, path, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

func openFile(f *os.File, path string, opts Options) (*Dump, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open dump %s: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("open dump %s: is a directory", path)
	}
	size := fi.Size()
	d := &Dump{opts: opts, path: path, file: f, nrCPUs: -1}
	if isProcKcore(f) {
		return d, d.openKcore(f, size)
	}
	var magic [16]byte
	n, err := f.ReadAt(magic[:], 0)
	if n < len(magic) && err != nil && err != io.EOF {
		return nil, fmt.Errorf("open dump %s: %w", path, err)
	}
	hdr := magic[:n]
	switch {
	case isFlattened(hdr):
		fr, err := newFlatReader(f, size)
		if err != nil {
			return nil, fmt.Errorf("open dump %s: %w", path, err)
		}
		var inner [8]byte
		if _, err := readFullAt(fr, inner[:], 0); err != nil || !isKdump(inner[:]) {
			return nil, fmt.Errorf("open dump %s: flattened file does not hold a kdump-compressed image", path)
		}
		if err := d.openKdump(fr, fr.size, size); err != nil {
			return nil, fmt.Errorf("open dump %s: %w", path, err)
		}
		d.stats.Records = fr.recs
		d.format = fmt.Sprintf("kdump-compressed (flattened, %s)", d.kdump.compression())
	case isKdump(hdr):
		if err := d.openKdump(f, size, size); err != nil {
			return nil, fmt.Errorf("open dump %s: %w", path, err)
		}
		d.format = fmt.Sprintf("kdump-compressed (%s)", d.kdump.compression())
	case isELF(hdr):
		if err := d.openELF(f, size); err != nil {
			return nil, fmt.Errorf("open dump %s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("open dump %s: not a kernel memory image (no ELF, KDUMP, DISKDUMP or makedumpfile signature; starts with %q)", path, hdr)
	}
	return d, nil
}

func (d *Dump) openKdump(r io.ReaderAt, size, backing int64) error {
	k, err := openKdump(r, size, backing)
	if err != nil {
		return err
	}
	d.kdump = k
	d.pageSize = k.blockSize
	d.cache = newPageCache(d.opts.CacheBytes, k.blockSize)
	d.uts = k.uts
	d.crash = k.timestamp
	if k.nrCPUs > 0 {
		d.nrCPUs = int(k.nrCPUs)
	}
	d.memSize = k.presentPages * uint64(k.blockSize)
	d.stats = Stats{
		PageSize:      k.blockSize,
		PresentPages:  k.presentPages,
		DumpedPages:   k.dumpedPages,
		ExcludedPages: k.presentPages - min(k.presentPages, k.dumpedPages),
		DumpLevel:     -1,
		Incomplete:    k.status&dumpIncomplete != 0,
	}
	if k.signature == kdumpSignature && k.version >= 1 {
		d.stats.DumpLevel = int(k.dumpLevel)
	}
	var ni noteInfo
	if len(k.notes) > 0 {
		// Notes are best effort: a damaged note area should not make
		// the memory unreadable.
		notes, _ := parseNotes(k.notes, k.bo)
		ni = interpretNotes(notes, k.bo)
	}
	vmci := k.vmcoreinfo
	if len(vmci) == 0 {
		vmci = ni.vmcoreinfo
	}
	d.cpus = ni.cpus
	var physBase *uint64
	if k.havePhysBase {
		physBase = &k.physBase
	}
	d.setupMemory(vmci, physBase)
	return nil
}

func (d *Dump) openELF(f io.ReaderAt, size int64) error {
	e, err := openELF(f, size)
	if err != nil {
		return err
	}
	e.zeroExcluded = d.opts.ZeroExcluded
	d.elf = e
	d.pageSize = 4096
	d.uts.Machine = machineName(e.machine)
	d.cpus = e.info.cpus
	e.usePhysical(false)
	d.memSize = e.ramBytes(false)
	d.stats = Stats{PageSize: 4096, DumpLevel: -1}
	d.stats.PresentPages = d.memSize / 4096
	d.stats.DumpedPages = e.fileBytes(false) / 4096
	d.stats.ExcludedPages = d.stats.PresentPages - min(d.stats.PresentPages, d.stats.DumpedPages)

	// page_offset_base from a kdump vmcore: RAM PT_LOADs have
	// p_vaddr = __va(p_paddr) (kernel/crash_core.c crash_prepare_elf64_headers).
	var directBase, directEnd uint64
	if e.info.qemu {
		d.format = "ELF (QEMU, physical)"
		for _, s := range e.loads {
			if s.vaddr != 0 && s.vaddr != s.paddr {
				d.format = "ELF (QEMU, paging)"
				break
			}
		}
	} else {
		d.format = "ELF (kdump)"
		directBase, directEnd = learnDirectMap(e.loads)
	}
	d.setupMemory(e.info.vmcoreinfo, textPhysBase(e.loads))
	if d.paging != nil && directBase != 0 && d.paging.confirmDirectMap(directBase, e.loads) {
		d.paging.directBase, d.paging.directEnd = directBase, directEnd
	}
	return nil
}

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
	if d.uts.Machine != "" && d.uts.Machine != "x86_64" {
		d.pagingErr = fmt.Errorf("virtual address translation is implemented for x86_64, not %s", d.uts.Machine)
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
	if d.paging == nil {
		return &ReadError{Addr: addr, Err: d.pagingErr}
	}
	for len(p) > 0 {
		m, err := d.paging.translate(addr)
		if err != nil {
			return &ReadError{Addr: addr, Err: err}
		}
		pa := m.pa + (addr - m.va)
		n := min(uint64(len(p)), m.size-(addr-m.va))
		if err := d.readPhysRaw(p[:n], pa); err != nil {
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
	if d.paging == nil {
		return 0, &ReadError{Addr: va, Err: d.pagingErr}
	}
	m, err := d.paging.translate(va)
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
	if d.paging == nil {
		return d.pagingErr
	}
	return d.paging.walkRange(start, end, 1, func(m mapping) bool {
		return fn(Mapping{Virt: m.va, Phys: m.pa, Size: m.size})
	})
}

// VMCoreInfo returns the image's VMCOREINFO, or nil when it has none.
func (d *Dump) VMCoreInfo() *VMCoreInfo { return d.vmci }

// CPUs returns the per-CPU register sets from the image's notes. For
// QEMU dumps CPU is pr_pid-1 and CR3/KernelGSBase are set; for kdump the
// index is the note order (CPUs that did not answer the NMI are missing).
func (d *Dump) CPUs() []CPUState { return append([]CPUState(nil), d.cpus...) }

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
// table and the paging depth (4 or 5).
func (d *Dump) PageTableRoot() (root uint64, levels int, ok bool) {
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
	if d.file == nil {
		return nil
	}
	err := d.file.Close()
	d.file = nil
	return err
}

// DirectMapBase is page_offset_base: where the kernel's direct map of all
// physical memory starts (__va(pa) = pa + page_offset_base,
// arch/x86/include/asm/page_64.h). It comes from the PT_LOADs of a kdump ELF
// or /proc/kcore when they have it; otherwise it is read off the page
// tables as the virtual-minus-physical offset that maps the most memory with
// large leaves below the kernel image. Computed once, on first use.
func (d *Dump) DirectMapBase() (uint64, error) {
	d.directOnce.Do(func() {
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
