package mm

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
)

// maxVMAs bounds the VMAs read from one mm (the kernel's default
// vm.max_map_count is 65530).
const maxVMAs = 1 << 20

// VMA is one struct vm_area_struct.
type VMA struct {
	Addr  uint64
	Start uint64
	End   uint64
	Flags uint64
	PgOff uint64
	File  uint64
	// Path is the mapped file's path, or the name /proc/PID/maps gives an
	// anonymous area ("[heap]", "[stack]", "[vdso]"), "" for others.
	Path   string
	Errors []string
}

// MM is a task's address space (struct mm_struct).
type MM struct {
	Addr       uint64
	PGD        uint64
	RSSPages   uint64
	TotalVM    uint64
	MapCount   uint64
	StartBrk   uint64
	Brk        uint64
	StartStack uint64
	obj        symbols.Object
}

// TaskMM returns task's mm; ok is false for a task without one (a kernel
// thread, an exited task).
func TaskMM(p *symbols.Program, task sched.Task) (MM, bool, error) {
	mmp, err := task.Obj.MemberUint("mm")
	if err != nil {
		return MM{}, false, err
	}
	if mmp == 0 {
		return MM{}, false, nil
	}
	o, err := p.Object("struct mm_struct", mmp)
	if err != nil {
		return MM{}, false, err
	}
	m := MM{Addr: mmp, obj: o}
	if m.PGD, err = o.MemberUint("pgd"); err != nil {
		return m, true, err
	}
	m.TotalVM, _ = o.MemberUint("total_vm")
	m.MapCount, _ = o.MemberUint("map_count")
	m.StartBrk, _ = o.MemberUint("start_brk")
	m.Brk, _ = o.MemberUint("brk")
	m.StartStack, _ = o.MemberUint("start_stack")
	if tm, err := sched.TaskMemory(p, task); err == nil {
		m.RSSPages = tm.RSSPages
	}
	return m, true, nil
}

// VMAs calls fn for each VMA of m in address order: the maple tree mm_mt
// (6.1+, lib/maple_tree.c) or the mmap list linked by vm_next (before).
// fn returning an error stops the walk with it.
func (m MM) VMAs(p *symbols.Program, fn func(VMA) error) error {
	t, err := p.Type("struct vm_area_struct")
	if err != nil {
		return err
	}
	names := newVMANamer(p, m)
	emit := func(a uint64) error {
		return fn(readVMA(p, p.ObjectAt(t, a), names))
	}
	if off, err := p.OffsetOf("struct mm_struct", "mm_mt"); err == nil {
		ents, err := kmem.MapleEntries(p, m.Addr+off, fmt.Sprintf("mm %#x mm_mt", m.Addr), maxVMAs)
		for _, e := range ents {
			if e.Entry == 0 || e.Entry&3 != 0 {
				continue
			}
			if ferr := emit(e.Entry); ferr != nil {
				return ferr
			}
		}
		return err
	}
	// include/linux/mm_types.h (to 6.0): struct vm_area_struct *mmap,
	// vm_next, map_count of them
	next, err := m.obj.MemberUint("mmap")
	if err != nil {
		return err
	}
	nextOff, err := p.OffsetOf("struct vm_area_struct", "vm_next")
	if err != nil {
		return err
	}
	seen := map[uint64]bool{}
	for n := 0; next != 0; n++ {
		if n >= maxVMAs || seen[next] {
			return fmt.Errorf("mm %#x: mmap list: %w at vma %#x", m.Addr, symbols.ErrCycle, next)
		}
		seen[next] = true
		if ferr := emit(next); ferr != nil {
			return ferr
		}
		if next, err = p.ReadU64(next + nextOff); err != nil {
			return fmt.Errorf("mm %#x: mmap list: %w", m.Addr, err)
		}
	}
	return nil
}

type vmaNamer struct {
	m            MM
	specialVMOps uint64
}

func newVMANamer(p *symbols.Program, m MM) *vmaNamer {
	n := &vmaNamer{m: m}
	// mm/mmap.c (mm/vma.c): static const struct vm_operations_struct
	// special_mapping_vmops; vm_private_data is the struct vm_special_mapping
	if a, err := p.Symbol("special_mapping_vmops"); err == nil {
		n.specialVMOps = a
	}
	return n
}

func readVMA(p *symbols.Program, o symbols.Object, names *vmaNamer) VMA {
	v := VMA{Addr: o.Addr()}
	var err error
	if v.Start, err = o.MemberUint("vm_start"); err != nil {
		v.Errors = append(v.Errors, err.Error())
		return v
	}
	if v.End, err = o.MemberUint("vm_end"); err != nil {
		v.Errors = append(v.Errors, err.Error())
		return v
	}
	v.Flags, _ = o.MemberUint("vm_flags")
	v.PgOff, _ = o.MemberUint("vm_pgoff")
	v.File, _ = o.MemberUint("vm_file")
	// fs/proc/task_mmu.c show_map_vma: the file's path, else the special
	// mapping's name, else [heap] / [stack]
	if v.File != 0 {
		if v.Path, err = vfs.FilePath(p, v.File); err != nil {
			v.Errors = append(v.Errors, err.Error())
		}
		return v
	}
	if ops, err := o.MemberUint("vm_ops"); err == nil && ops != 0 && ops == names.specialVMOps {
		if sm, err := o.MemberUint("vm_private_data"); err == nil && sm != 0 {
			if np, err := p.ReadU64(sm); err == nil {
				if s, err := p.ReadString(np, 64); err == nil {
					v.Path = s
					return v
				}
			}
		}
	}
	m := names.m
	switch {
	case v.Start <= m.Brk && v.End >= m.StartBrk:
		v.Path = "[heap]"
	case v.Start <= m.StartStack && v.End >= m.StartStack:
		v.Path = "[stack]"
	}
	return v
}

// VMFlagNames names the bits of vm_flags (include/linux/mm.h VM_READ...),
// as crash's "vm" does.
func VMFlagNames(f uint64) []string {
	// include/linux/mm.h (5.10–6.x values; 7.x keeps them as bit numbers)
	names := []struct {
		bit  uint64
		name string
	}{
		{0x1, "READ"}, {0x2, "WRITE"}, {0x4, "EXEC"}, {0x8, "SHARED"},
		{0x10, "MAYREAD"}, {0x20, "MAYWRITE"}, {0x40, "MAYEXEC"}, {0x80, "MAYSHARE"},
		{0x100, "GROWSDOWN"}, {0x200, "UFFD_MISSING"}, {0x400, "PFNMAP"}, {0x1000, "UFFD_WP"},
		{0x2000, "LOCKED"}, {0x4000, "IO"}, {0x8000, "SEQ_READ"}, {0x10000, "RAND_READ"},
		{0x20000, "DONTCOPY"}, {0x40000, "DONTEXPAND"}, {0x80000, "LOCKONFAULT"}, {0x100000, "ACCOUNT"},
		{0x200000, "NORESERVE"}, {0x400000, "HUGETLB"}, {0x800000, "SYNC"}, {0x1000000, "ARCH_1"},
		{0x2000000, "WIPEONFORK"}, {0x4000000, "DONTDUMP"}, {0x8000000, "SOFTDIRTY"}, {0x10000000, "MIXEDMAP"},
		{0x20000000, "HUGEPAGE"}, {0x40000000, "NOHUGEPAGE"}, {0x80000000, "MERGEABLE"},
	}
	var out []string
	for _, n := range names {
		if f&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}
