package sched

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// TaskMem is a task's memory use as /proc/PID/status shows it.
type TaskMem struct {
	RSSPages uint64 `json:"rss_pages"` // file + anon + shmem resident pages (get_mm_rss)
	VMPages  uint64 `json:"vm_pages"`  // mm->total_vm
}

// TaskMemory returns the memory use of task's mm; a task without an mm (a
// kernel thread, an exited task) uses none. The counters are read like the
// kernel's get_mm_counter (include/linux/mm.h): mm->rss_stat.count[i]
// (struct mm_rss_stat of atomic_long_t, to 6.1) or the percpu_counter
// mm->rss_stat[i].count (6.2+), negative values as 0, for MM_FILEPAGES,
// MM_ANONPAGES and MM_SHMEMPAGES (enum in include/linux/mm_types_task.h).
func TaskMemory(p *symbols.Program, t Task) (TaskMem, error) {
	mmOff, err := p.OffsetOf("struct task_struct", "mm")
	if err != nil {
		return TaskMem{}, err
	}
	mm, err := p.ReadU64(t.Addr + mmOff)
	if err != nil {
		return TaskMem{}, fmt.Errorf("pid %d: task_struct.mm: %w", t.PID, err)
	}
	if mm == 0 {
		return TaskMem{}, nil
	}
	mmo, err := p.Object("struct mm_struct", mm)
	if err != nil {
		return TaskMem{}, err
	}
	var m TaskMem
	if m.VMPages, err = mmo.MemberUint("total_vm"); err != nil {
		return m, err
	}
	counters := []string{"MM_FILEPAGES", "MM_ANONPAGES", "MM_SHMEMPAGES"}
	idx := map[string]int64{"MM_FILEPAGES": 0, "MM_ANONPAGES": 1, "MM_SHMEMPAGES": 3}
	rs, err := mmo.Member("rss_stat")
	if err != nil {
		return m, err
	}
	perCPU := false // 6.2+: struct percpu_counter rss_stat[NR_MM_COUNTERS]
	if r := rs.Type().Resolve(); r != nil && r.Kind == symbols.KindArray {
		perCPU = true
	}
	for _, c := range counters {
		i := idx[c]
		var path string
		if perCPU {
			path = fmt.Sprintf("rss_stat[%d].count", i)
		} else {
			path = fmt.Sprintf("rss_stat.count[%d].counter", i)
		}
		v, err := mmo.Member(path)
		if err != nil {
			return m, err
		}
		n, err := v.Int()
		if err != nil {
			return m, err
		}
		if n > 0 {
			m.RSSPages += uint64(n)
		}
	}
	return m, nil
}

// TotalRAMPages returns _totalram_pages (mm/page_alloc.c; mm/show_mem.c
// in newer kernels): the pages the buddy allocator manages, /proc/meminfo
// MemTotal.
func TotalRAMPages(p *symbols.Program) (uint64, error) {
	a, err := p.Symbol("_totalram_pages")
	if err != nil {
		return 0, err
	}
	return p.ReadU64(a)
}

// PageSize returns the kernel's page size: VMCOREINFO PAGESIZE, else 4096
// (x86_64).
func PageSize(p *symbols.Program) uint64 {
	if p.Dump != nil && p.Dump.VMCoreInfo() != nil {
		if ps, ok := p.Dump.VMCoreInfo().PageSize(); ok && ps != 0 {
			return ps
		}
	}
	return 4096
}
