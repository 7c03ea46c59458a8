package kcore

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"
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

	kcoreFiles *kcoreFiles // /proc/kcore: one open file per concurrent read

	kdump *kdumpFile // kdump-compressed images
	elf   *elfCore   // ELF images (kdump, QEMU, /proc/kcore)
	cache *pageCache // decoded pages (kdump-compressed only)

	vmci *VMCoreInfo
	cpus []CPUState
	// noteProblems are damaged notes (missing or doubtful CPU registers).
	noteProblems []string
	uts          Utsname
	crash        time.Time
	memSize      uint64
	pageSize     int
	stats        Stats
	nrCPUs       int

	missed missedReads // reads that failed for want of the page (missed.go)

	arch      Arch
	xlat      pager        // nil when virtual translation is unavailable
	paging    *x86Paging   // the x86_64 pager, or nil
	arm       *arm64Paging // the arm64 pager, or nil
	pagingErr error        // why xlat is nil

	directOnce sync.Once
	directBase uint64
	directErr  error
}

// Open opens a crash dump file of any supported format, detected from its
// magic bytes: ELF (kdump vmcore, QEMU dump-guest-memory, /proc/kcore),
// kdump-compressed, or makedumpfile-flattened kdump-compressed.
//
// Only regular files and block devices are read: a FIFO, a socket or a
// character device is refused before anything blocks on it.
func Open(path string, opts Options) (*Dump, error) {
	if path == ProcKcore {
		return OpenLive(opts)
	}
	// O_NONBLOCK: open(2) of a FIFO without a writer would block forever;
	// it has no effect on reads of regular files and disks.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		// A socket cannot be opened at all (ENXIO): say what it is.
		if fi, serr := os.Stat(path); serr == nil {
			if merr := checkImageMode(path, fi.Mode()); merr != nil {
				return nil, merr
			}
		}
		return nil, fmt.Errorf("open dump: %w", err)
	}
	return openOrClose(f, path, opts)
}

func openOrClose(f *os.File, path string, opts Options) (*Dump, error) {
	d, err := openFile(f, path, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

// checkImageMode refuses files a dump cannot be read from at random
// offsets. Directories are refused by the caller.
func checkImageMode(path string, m fs.FileMode) error {
	const hint = "kwalk reads a dump at random offsets: save it to a regular file first"
	switch {
	case m.IsRegular(), m.IsDir(), m&fs.ModeDevice != 0 && m&fs.ModeCharDevice == 0:
		return nil
	case m&fs.ModeNamedPipe != 0:
		return fmt.Errorf("open dump %s: is a FIFO (named pipe); %s", path, hint)
	case m&fs.ModeSocket != 0:
		return fmt.Errorf("open dump %s: is a socket; %s", path, hint)
	case m&fs.ModeCharDevice != 0:
		return fmt.Errorf("open dump %s: is a character device; %s (for the running kernel run kwalk without a dump: it reads %s)", path, hint, ProcKcore)
	}
	return fmt.Errorf("open dump %s: not a regular file (mode %v); %s", path, m, hint)
}

func openFile(f *os.File, path string, opts Options) (*Dump, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open dump %s: %w", path, err)
	}
	if err := checkImageMode(path, fi.Mode()); err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("open dump %s: is a directory", path)
	}
	size := fi.Size()
	if fi.Mode()&fs.ModeDevice != 0 {
		// A disk's size is not in its inode.
		if size, err = f.Seek(0, io.SeekEnd); err != nil {
			return nil, fmt.Errorf("open dump %s: size of the device: %w", path, err)
		}
	}
	d := &Dump{opts: opts, path: path, file: f, nrCPUs: -1}
	if isProcKcore(f) {
		return d, d.openKcore(f, size)
	}
	return d, d.openImage(f, size)
}

// OpenReaderAt opens an image of size bytes read through r (a file in
// memory, a damaged copy made by a test), called name in messages, as
// Open opens a file. Close does not close r.
func OpenReaderAt(r io.ReaderAt, size int64, name string, opts Options) (*Dump, error) {
	d := &Dump{opts: opts, path: name, nrCPUs: -1}
	if err := d.openImage(r, size); err != nil {
		return nil, err
	}
	return d, nil
}

// openImage detects the format from the magic bytes and opens it.
func (d *Dump) openImage(f io.ReaderAt, size int64) error {
	path := d.path
	var magic [16]byte
	n, err := f.ReadAt(magic[:], 0)
	if n < len(magic) && err != nil && err != io.EOF {
		return fmt.Errorf("open dump %s: %w", path, err)
	}
	hdr := magic[:n]
	switch {
	case isFlattened(hdr):
		fr, err := newFlatReader(f, size)
		if err != nil {
			return fmt.Errorf("open dump %s: %w", path, err)
		}
		// A flattened file cut short says so in its errors: the
		// headers may be what is missing.
		cut := ""
		if fr.truncated {
			cut = " (" + fr.truncNote + ")"
		}
		var inner [8]byte
		if _, err := readFullAt(fr, inner[:], 0); err != nil || !isKdump(inner[:]) {
			return fmt.Errorf("open dump %s: flattened file does not hold a kdump-compressed image%s", path, cut)
		}
		if err := d.openKdump(fr, fr.size, size); err != nil {
			return fmt.Errorf("open dump %s: %w%s", path, err, cut)
		}
		d.stats.Records = fr.recs
		d.format = fmt.Sprintf("kdump-compressed (flattened, %s)", d.kdump.compression())
	case isKdump(hdr):
		if err := d.openKdump(f, size, size); err != nil {
			return fmt.Errorf("open dump %s: %w", path, err)
		}
		d.format = fmt.Sprintf("kdump-compressed (%s)", d.kdump.compression())
	case isELF(hdr):
		if err := d.openELF(f, size); err != nil {
			return fmt.Errorf("open dump %s: %w", path, err)
		}
	default:
		return fmt.Errorf("open dump %s: not a kernel memory image (no ELF, KDUMP, DISKDUMP or makedumpfile signature; starts with %q)", path, hdr)
	}
	return nil
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
		// the memory unreadable, but it is said (NoteProblems).
		notes, err := parseNotes(k.notes, k.bo)
		ni = interpretNotes(notes, k.bo)
		if err != nil {
			ni.problems = append([]string{err.Error() + ": the notes after it (CPU registers) are missing"}, ni.problems...)
		}
	}
	vmci := k.vmcoreinfo
	if len(vmci) == 0 {
		vmci = ni.vmcoreinfo
	}
	d.cpus = ni.cpus
	d.noteProblems = ni.problems
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
	d.noteProblems = e.info.problems
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
