package mm

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// MemInfo is the memory summary of crash's "kmem -i", computed as
// fs/proc/meminfo.c computes /proc/meminfo. Values are in pages.
type MemInfo struct {
	PageSize  uint64 `json:"page_size"`
	Total     uint64 `json:"total"`   // totalram_pages (MemTotal)
	Free      uint64 `json:"free"`    // NR_FREE_PAGES (MemFree)
	Shared    uint64 `json:"shared"`  // NR_SHMEM (Shmem)
	Buffers   uint64 `json:"buffers"` // nr_blockdev_pages() (Buffers)
	Cached    uint64 `json:"cached"`  // NR_FILE_PAGES - swap cache - buffers (Cached)
	SwapCache uint64 `json:"swap_cache"`
	Slab      uint64 `json:"slab"` // NR_SLAB_RECLAIMABLE_B + NR_SLAB_UNRECLAIMABLE_B (Slab)
	// Huge pages of every hstate, in base pages.
	HugeTotal uint64 `json:"huge_total"`
	HugeFree  uint64 `json:"huge_free"`
	// HugePages and HugeFreePages count the default huge page size's pages
	// (HugePages_Total, HugePages_Free); HugePageSize is its size in bytes.
	HugePages     uint64 `json:"huge_pages"`
	HugeFreePages uint64 `json:"huge_free_pages"`
	HugePageSize  uint64 `json:"huge_page_size"`
	SwapTotal     uint64 `json:"swap_total"` // total_swap_pages (SwapTotal)
	SwapFree      uint64 `json:"swap_free"`  // nr_swap_pages (SwapFree)
	CommitLimit   uint64 `json:"commit_limit"`
	Committed     uint64 `json:"committed"` // vm_committed_as (Committed_AS)
	// Notes say which values could not be read or are approximations.
	Notes []string `json:"notes,omitempty"`
}

// Used is Total - Free (crash's USED).
func (m *MemInfo) Used() uint64 {
	if m.Free > m.Total {
		return 0
	}
	return m.Total - m.Free
}

func readSymU64(p *symbols.Program, name string) (uint64, error) {
	a, err := p.Symbol(name)
	if err != nil {
		return 0, err
	}
	return p.ReadU64(a)
}

func readSymU32(p *symbols.Program, name string) (uint32, error) {
	a, err := p.Symbol(name)
	if err != nil {
		return 0, err
	}
	return p.ReadU32(a)
}

// ReadMemInfo computes the summary. A value that cannot be read is 0 and
// named in Notes; the error is for the total alone.
func ReadMemInfo(p *symbols.Program) (*MemInfo, error) {
	m := &MemInfo{PageSize: PageSize(p)}
	note := func(format string, args ...any) { m.Notes = append(m.Notes, fmt.Sprintf(format, args...)) }
	var err error
	// mm/page_alloc.c (mm/mm_init.c): atomic_long_t _totalram_pages
	if m.Total, err = readSymU64(p, "_totalram_pages"); err != nil {
		if m.Total, err = readSymU64(p, "totalram_pages"); err != nil {
			return nil, fmt.Errorf("total RAM: %w", err)
		}
	}
	vs, err := ReadVMStat(p)
	if err != nil {
		note("vm counters: %v", err)
	}
	get := func(enum string) uint64 {
		v, ok := vs.PagesOf(enum, m.PageSize)
		if !ok {
			note("counter %s not found", enum)
			return 0
		}
		return uint64(v)
	}
	m.Free = get("NR_FREE_PAGES")
	m.Shared = get("NR_SHMEM")
	m.Slab = get("NR_SLAB_RECLAIMABLE_B") + get("NR_SLAB_UNRECLAIMABLE_B")
	if v, ok := vs.PagesOf("NR_SWAPCACHE", m.PageSize); ok { // 5.13+
		m.SwapCache = uint64(v)
	}
	m.Buffers, err = blockdevPages(p)
	if err != nil {
		note("buffers: %v", err)
	}
	filePages := get("NR_FILE_PAGES")
	if c := int64(filePages) - int64(m.SwapCache) - int64(m.Buffers); c > 0 {
		m.Cached = uint64(c)
	}
	readHuge(p, m, note)
	if v, err := readSymU64(p, "total_swap_pages"); err == nil {
		m.SwapTotal = clampCounter(v)
	} else {
		note("total_swap_pages: %v", err)
	}
	if v, err := readSymU64(p, "nr_swap_pages"); err == nil {
		m.SwapFree = clampCounter(v)
	} else {
		note("nr_swap_pages: %v", err)
	}
	// mm/util.c vm_commit_limit()
	if kb, err := readSymU64(p, "sysctl_overcommit_kbytes"); err == nil && kb != 0 {
		m.CommitLimit = kb >> (pageShiftOf(m.PageSize) - 10)
	} else if ratio, err := readSymU32(p, "sysctl_overcommit_ratio"); err == nil {
		hugeAll := m.HugeTotal
		if m.Total > hugeAll {
			m.CommitLimit = (m.Total - hugeAll) * uint64(int32(ratio)) / 100
		}
	} else {
		note("sysctl_overcommit_ratio: %v", err)
	}
	m.CommitLimit += m.SwapTotal
	// mm/util.c: struct percpu_counter vm_committed_as;
	// percpu_counter_read_positive reads .count
	if a, err := p.Symbol("vm_committed_as"); err == nil {
		if off, err := p.OffsetOf("struct percpu_counter", "count"); err == nil {
			if v, err := p.ReadU64(a + off); err == nil {
				m.Committed = clampCounter(v)
			} else {
				note("vm_committed_as: %v", err)
			}
		}
	} else {
		note("vm_committed_as: %v", err)
	}
	return m, nil
}

func pageShiftOf(ps uint64) uint {
	s := uint(0)
	for ; ps > 1; ps >>= 1 {
		s++
	}
	return s
}

// readHuge sums the hstates (mm/hugetlb.c: struct hstate
// hstates[HUGE_MAX_HSTATE], hugetlb_max_hstate of them in use,
// default_hstate_idx the default size).
func readHuge(p *symbols.Program, m *MemInfo, note func(string, ...any)) {
	a, err := p.Symbol("hstates")
	if err != nil {
		return // no CONFIG_HUGETLBFS
	}
	n, err := readSymU32(p, "hugetlb_max_hstate")
	if err != nil {
		note("hugetlb_max_hstate: %v", err)
		return
	}
	def, _ := readSymU32(p, "default_hstate_idx")
	sz, err := p.SizeOf("struct hstate")
	if err != nil {
		note("huge pages: %v", err)
		return
	}
	for i := uint64(0); i < uint64(n) && i < 8; i++ {
		h, err := p.Object("struct hstate", a+i*sz)
		if err != nil {
			return
		}
		order, e1 := h.MemberUint("order")
		nr, e2 := h.MemberUint("nr_huge_pages")
		free, e3 := h.MemberUint("free_huge_pages")
		if e1 != nil || e2 != nil || e3 != nil || order > 30 {
			note("hstates[%d] could not be read", i)
			continue
		}
		m.HugeTotal += nr << order
		m.HugeFree += free << order
		if uint32(i) == def {
			m.HugePages, m.HugeFreePages = nr, free
			m.HugePageSize = m.PageSize << order
		}
	}
}

// blockdevPages is block/bdev.c nr_blockdev_pages(): the page-cache pages
// of every block device inode (blockdev_superblock->s_inodes).
func blockdevPages(p *symbols.Program) (uint64, error) {
	sbp, err := readSymU64(p, "blockdev_superblock")
	if err != nil {
		return 0, err
	}
	sb, err := p.Object("struct super_block", sbp)
	if err != nil {
		return 0, err
	}
	head, err := sb.Member("s_inodes")
	if err != nil {
		return 0, err
	}
	nodes, err := kmem.ListHeadNodes(p, head.Addr(), "blockdev_superblock->s_inodes", 1<<16)
	if err != nil {
		return 0, err
	}
	var total uint64
	for _, n := range nodes {
		ino, err := p.ContainerOf(n, "struct inode", "i_sb_list")
		if err != nil {
			return total, err
		}
		v, err := ino.MemberUint("i_mapping->nrpages")
		if err != nil {
			return total, err
		}
		total += v
	}
	return total, nil
}
