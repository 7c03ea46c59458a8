package kcore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ProcKcore is the running kernel's memory image.
const ProcKcore = "/proc/kcore"

// procSuperMagic is PROC_SUPER_MAGIC (include/uapi/linux/magic.h).
const procSuperMagic = 0x9fa0

// OpenLive opens the running kernel through /proc/kcore. It needs root
// (CAP_SYS_RAWIO) and a kernel that is not locked down.
func OpenLive(opts Options) (*Dump, error) {
	f, err := os.Open(ProcKcore)
	if err != nil {
		return nil, liveOpenError(err)
	}
	return openOrClose(f, ProcKcore, opts)
}

// liveOpenError explains why /proc/kcore could not be opened.
func liveOpenError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("open %s: absent (kernel built without CONFIG_PROC_KCORE, or /proc not mounted): %w", ProcKcore, err)
	case errors.Is(err, fs.ErrPermission):
		if mode := lockdownMode(); mode != "" && mode != "none" {
			return fmt.Errorf("open %s: the kernel is locked down (%s mode; /proc/kcore is refused under lockdown): %w", ProcKcore, mode, err)
		}
		if os.Geteuid() != 0 {
			return fmt.Errorf("open %s: needs root (CAP_SYS_RAWIO): %w", ProcKcore, err)
		}
		return fmt.Errorf("open %s: permission denied although running as root (lockdown, a security module, or a container without CAP_SYS_RAWIO): %w", ProcKcore, err)
	}
	return fmt.Errorf("open %s: %w", ProcKcore, err)
}

// lockdownMode is the bracketed mode of /sys/kernel/security/lockdown
// (security/lockdown/lockdown.c), or "".
func lockdownMode() string {
	b, err := os.ReadFile("/sys/kernel/security/lockdown")
	if err != nil {
		return ""
	}
	s := string(b)
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return ""
	}
	return s[i+1 : j]
}

// isProcKcore reports whether f is a file on procfs (drgn checks the same
// with fstatfs).
func isProcKcore(f *os.File) bool {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(f.Fd()), &st); err != nil {
		return false
	}
	return st.Type == procSuperMagic
}

// openKcore sets up a live image: PT_LOADs are virtual (fs/proc/kcore.c),
// KCORE_RAM and KCORE_TEXT ones also carry the physical address.
func (d *Dump) openKcore(f *os.File, size int64) error {
	// /proc/kcore's st_size is the end of its highest segment; use a bound
	// large enough for any header but never trust it for allocations.
	if size <= 0 {
		size = 1 << 62
	}
	e, err := openELF(f, size)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, unix.EPERM) {
			return liveOpenError(err)
		}
		return fmt.Errorf("open %s: %w", d.path, err)
	}
	d.live = true
	path := d.path
	d.kcoreFiles = newKcoreFiles(f, func() (kcoreFile, error) { return os.Open(path) }, min(runtime.GOMAXPROCS(0), maxKcoreFiles))
	e.r = d.kcoreFiles
	d.elf = e
	d.format = ProcKcore
	d.pageSize = os.Getpagesize()
	d.uts.Machine = machineName(e.machine)
	e.zeroExcluded = d.opts.ZeroExcluded
	// Before v4.11 (464920104bf7) every p_paddr was 0; then only virtual
	// reads are possible.
	zeroPaddr := 0
	for _, s := range e.loads {
		if s.paddr == 0 {
			zeroPaddr++
		}
	}
	if zeroPaddr <= 1 {
		e.usePhysical(true)
		d.memSize = e.ramBytes(true)
	}
	e.useVirtual()
	d.cpus = nil // kcore's PRSTATUS registers are not meaningful
	d.stats = Stats{PageSize: d.pageSize, DumpLevel: -1, PresentPages: d.memSize / uint64(d.pageSize)}
	d.stats.DumpedPages = d.stats.PresentPages
	d.nrCPUs = onlineCPUs()

	vmci := e.info.vmcoreinfo
	if len(vmci) == 0 {
		// Before v4.19 (23c85094fe18) kcore had no VMCOREINFO note;
		// /sys/kernel/vmcoreinfo gives its physical address and size
		// (kernel/ksysfs.c vmcoreinfo_show).
		vmci = d.vmcoreinfoFromSysfs()
	}
	d.setupMemory(vmci, textPhysBase(e.loads))
	if d.paging != nil {
		// Live page tables change under us: no cached translations.
		d.paging.noTLB = true
		d.paging.directBase, d.paging.directEnd = learnDirectMap(e.loads)
	}
	return nil
}

// vmcoreinfoFromSysfs reads the VMCOREINFO note from physical memory at the
// address /sys/kernel/vmcoreinfo gives.
func (d *Dump) vmcoreinfoFromSysfs() []byte {
	b, err := os.ReadFile("/sys/kernel/vmcoreinfo")
	if err != nil {
		return nil
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return nil
	}
	pa, err1 := strconv.ParseUint(fields[0], 16, 64)
	n, err2 := strconv.ParseUint(fields[1], 16, 64)
	if err1 != nil || err2 != nil || n == 0 || n > maxVMCoreInfo {
		return nil
	}
	buf := make([]byte, n)
	if d.elf.readPhys(buf, pa) != nil {
		return nil
	}
	notes, err := parseNotes(buf, d.elf.bo)
	if err != nil {
		return nil
	}
	for _, nt := range notes {
		if nt.Name == "VMCOREINFO" {
			return nt.Desc
		}
	}
	return nil
}

// readVirtLive reads the running kernel by virtual address through the
// kcore segments, which the kernel itself resolves.
func (d *Dump) readVirtLive(p []byte, addr uint64) error {
	err := d.elf.readVirt(p, addr)
	var re *ReadError
	if errors.As(err, &re) && errors.Is(re.Err, io.ErrUnexpectedEOF) {
		// kcore returns short reads for unmapped vmalloc holes on some
		// kernels.
		re.Err = fmt.Errorf("%w: %v", ErrNotMapped, re.Err)
	}
	return err
}

// maxKcoreFiles bounds the files a live session opens on /proc/kcore.
const maxKcoreFiles = 8

// kcoreFiles reads /proc/kcore through a few open files, one read per file
// at a time. The kernel gives each open kcore file one page-sized bounce
// buffer (fs/proc/kcore.c open_kcore: filp->private_data, since 4.9's
// "Add bounce buffer for ktext data"; kept or brought back by later
// kernels), and every read of that file copies kernel text and RAM
// through it: concurrent reads of one open file return each other's
// bytes. A garbage __per_cpu_offset, or kallsyms names that did not
// decode, were the symptom under kwalk's parallel readers. Each reader
// takes a file of its own (opened on demand, up to max) and gives it back.
type kcoreFiles struct {
	open func() (kcoreFile, error) // another open file of the same image
	max  int
	idle chan kcoreFile // files not in use; capacity max

	mu     sync.Mutex
	opened []kcoreFile // opened[0] is the Dump's own file
}

// kcoreFile is one open /proc/kcore (an *os.File).
type kcoreFile interface {
	io.ReaderAt
	io.Closer
}

func newKcoreFiles(first kcoreFile, open func() (kcoreFile, error), n int) *kcoreFiles {
	n = max(n, 1)
	k := &kcoreFiles{open: open, max: n, idle: make(chan kcoreFile, n), opened: []kcoreFile{first}}
	k.idle <- first
	return k
}

func (k *kcoreFiles) ReadAt(p []byte, off int64) (int, error) {
	f := k.take()
	n, err := f.ReadAt(p, off)
	k.idle <- f
	return n, err
}

// take returns an idle file, opens another while there are fewer than
// max, else waits for one.
func (k *kcoreFiles) take() kcoreFile {
	select {
	case f := <-k.idle:
		return f
	default:
	}
	k.mu.Lock()
	if len(k.opened) < k.max {
		if f, err := k.open(); err == nil {
			k.opened = append(k.opened, f)
			k.mu.Unlock()
			return f
		}
		k.max = len(k.opened) // opening failed: make do with these
	}
	k.mu.Unlock()
	return <-k.idle
}

// closeExtra closes the files kcoreFiles opened (not the Dump's own).
func (k *kcoreFiles) closeExtra() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, f := range k.opened[1:] {
		f.Close()
	}
	k.opened = k.opened[:1]
	k.max = 1
}

// onlineCPUs counts /sys/devices/system/cpu/online ("0-3,5"), or -1.
func onlineCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return -1
	}
	n := 0
	for r := range strings.SplitSeq(strings.TrimSpace(string(b)), ",") {
		lo, hi, ok := strings.Cut(r, "-")
		a, err1 := strconv.Atoi(lo)
		z := a
		var err2 error
		if ok {
			z, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || z < a {
			return -1
		}
		n += z - a + 1
	}
	return n
}
