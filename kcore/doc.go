// Package kcore opens kernel memory images — kdump ELF vmcores, QEMU
// dump-guest-memory ELF files, kdump-compressed ("diskdump") files in plain or
// makedumpfile-flattened form, and the running kernel's /proc/kcore — and
// reads kernel memory from them by physical or kernel virtual address.
//
// The layering is:
//
//	source   raw format: file offsets of physical ranges, notes, VMCOREINFO
//	phys     physical reads with a bounded cache of decoded pages
//	addrspace x86_64 virtual → physical (direct map, kernel text, 4/5-level page tables)
//
// A Dump is safe for concurrent reads.
package kcore
