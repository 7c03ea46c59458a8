// Package kcore opens kernel memory images — kdump ELF vmcores, QEMU
// dump-guest-memory ELF files (paging on or off), kdump-compressed
// ("diskdump") files in plain or makedumpfile-flattened form, and the running
// kernel's /proc/kcore — and reads kernel memory from them by physical or
// kernel virtual address.
//
// The format is detected from magic bytes, never from the file name:
//
//	"\x7fELF"                  elfcore.go   ELF core; /proc/kcore when the file is on procfs (live.go)
//	"KDUMP   ", "DISKDUMP"     kdump.go     kdump-compressed, header versions 1-6+
//	"makedumpfile\0..."        flattened.go flattened records, indexed in place (no reassembly)
//
// The layering is:
//
//	source    raw format: file offsets of physical ranges, notes, VMCOREINFO
//	phys      physical reads; kdump pages decoded (decompress.go) through a
//	          bounded, sharded LRU (cache.go)
//	x86_64    virtual → physical (x86_64.go): kernel image linear with
//	          phys_base, everything else through the 4/5-level page tables
//	          with a small TLB; the page-table root is SYMBOL(init_top_pgt)
//	          from VMCOREINFO, or CR3 from QEMU CPU notes without it
//
// Typical use:
//
//	d, err := kcore.Open(path, kcore.Options{})
//	defer d.Close()
//	release := d.Release()             // VMCOREINFO OSRELEASE
//	sym, _ := d.VMCoreInfo().Symbol("init_uts_ns")
//	err = d.ReadVirt(buf, sym)         // *ReadError on failure; errors.Is(err, kcore.ErrExcluded) ...
//
// What "sys"-style summaries need is on Dump: Release, Machine, Utsname,
// CPUs / NumCPUs, MemorySize, CrashTime, Format, Stats (excluded pages).
// Opening costs O(headers + bitmap); nothing reads or decodes the whole
// image. A Dump is safe for concurrent reads.
//
// A file cut short (a partial copy, a disk that filled) is found at open:
// kdump-compressed page descriptors or page data past the end of the file,
// a flattened file whose records stop before the end marker, ELF PT_LOAD
// data past the end. It opens, Truncation says how much page data is
// missing and Warnings says so in one line naming the file; reads of the
// missing pages fail with a *TruncatedError (errors.Is(err, ErrTruncated)),
// never as excluded or absent memory.
package kcore
