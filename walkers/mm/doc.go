// Package mm reads the kernel's memory management: struct page and folio
// decoding (include/linux/mm_types.h, include/linux/page-flags.h,
// include/linux/mm.h page_zonenum/page_to_nid), zones and nodes
// (include/linux/mmzone.h, mm/vmstat.c), the memory summary of
// /proc/meminfo (fs/proc/meminfo.c), SLUB caches and slabs (mm/slub.c,
// mm/slab.h), vmalloc areas (mm/vmalloc.c, include/linux/vmalloc.h), swap
// devices (mm/swapfile.c, include/linux/swap.h), a task's mm and its VMAs
// (the maple tree mm_mt of 6.1+, the mmap list of older kernels;
// fs/proc/task_mmu.c for how /proc/PID/maps names them) and what an
// address is (the identification of crash's "kmem ADDR").
//
// Everything comes from the dump's BTF and kallsyms: the page-flag names
// from the kernel's own pageflag_names table (mm/debug.c) or, without it,
// enum pageflags; counter names from the enums zone_stat_item,
// node_stat_item and numa_stat_item (or vmstat_text, mm/vmstat.c); the
// zone and node bits of page->flags from where the zones' own pages carry
// their zone number (include/linux/page-flags-layout.h puts the node and
// zone fields at the top of the word when, as on x86_64, the memory map is
// virtually mapped).
//
// Every walk is bounded; values that move while a kernel runs and that
// the kernel itself only approximates (per-CPU counter deltas not folded
// into the global counters, free objects of slabs held by a CPU) are
// labelled as estimates in the results.
package mm
