package mm

import (
	"fmt"
	"sort"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// maxVmapAreas bounds the vmalloc areas read.
const maxVmapAreas = 1 << 20

// VmapArea is one busy vmalloc area (struct vmap_area, its struct
// vm_struct when it has one), as /proc/vmallocinfo lists them.
type VmapArea struct {
	Area    uint64
	Start   uint64
	End     uint64
	VM      uint64
	Size    uint64
	Flags   uint64
	NrPages uint64
	Phys    uint64
	Caller  uint64
	// CallerSym is the caller's symbol ("alloc_thread_stack_node+0x4c").
	CallerSym string
}

// VmapAreas returns the busy vmalloc areas in address order: the
// vmap_area_root red-black tree (mm/vmalloc.c to 6.8) or the busy trees
// of every vmap node (6.9+: vmap_nodes[nr_vmap_nodes].busy.root).
func VmapAreas(p *symbols.Program) ([]VmapArea, error) {
	var roots []uint64
	var names []string
	if a, err := p.Symbol("vmap_nodes"); err == nil {
		vn, err := p.ReadU64(a)
		if err != nil {
			return nil, fmt.Errorf("vmap_nodes: %w", err)
		}
		n, err := readSymU32(p, "nr_vmap_nodes")
		if err != nil {
			n = 1
		}
		sz, err := p.SizeOf("struct vmap_node")
		if err != nil {
			return nil, err
		}
		off, err := p.OffsetOf("struct vmap_node", "busy.root")
		if err != nil {
			return nil, err
		}
		for i := uint64(0); i < uint64(n) && i < 4096; i++ {
			roots = append(roots, vn+i*sz+off)
			names = append(names, fmt.Sprintf("vmap_nodes[%d].busy.root", i))
		}
	} else if a, err := p.Symbol("vmap_area_root"); err == nil {
		roots, names = []uint64{a}, []string{"vmap_area_root"}
	} else {
		return nil, fmt.Errorf("no vmap_nodes or vmap_area_root: %w", err)
	}
	rbOff, err := p.OffsetOf("struct vmap_area", "rb_node")
	if err != nil {
		return nil, err
	}
	t, err := p.Type("struct vmap_area")
	if err != nil {
		return nil, err
	}
	var out []VmapArea
	var firstErr error
	for i, r := range roots {
		nodes, err := kmem.RBTreeNodes(p, r, names[i], maxVmapAreas)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		for _, n := range nodes {
			va, err := readVmapArea(p, p.ObjectAt(t, n-rbOff))
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			out = append(out, va)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out, firstErr
}

func readVmapArea(p *symbols.Program, o symbols.Object) (VmapArea, error) {
	va := VmapArea{Area: o.Addr()}
	var err error
	if va.Start, err = o.MemberUint("va_start"); err != nil {
		return va, err
	}
	if va.End, err = o.MemberUint("va_end"); err != nil {
		return va, err
	}
	va.Size = va.End - va.Start
	vm, err := o.MemberUint("vm")
	if err != nil || vm == 0 || !kmem.IsKernelPointer(vm) {
		return va, nil
	}
	vo, err := p.Object("struct vm_struct", vm)
	if err != nil {
		return va, nil
	}
	va.VM = vm
	va.Size, _ = vo.MemberUint("size")
	va.Flags, _ = vo.MemberUint("flags")
	va.NrPages, _ = vo.MemberUint("nr_pages")
	va.Phys, _ = vo.MemberUint("phys_addr")
	va.Caller, _ = vo.MemberUint("caller")
	if va.Caller != 0 {
		va.CallerSym = p.SymbolizeAddr(va.Caller)
	}
	return va, nil
}

// FindVmapArea returns the busy vmalloc area containing addr.
func FindVmapArea(p *symbols.Program, addr uint64) (VmapArea, bool, error) {
	areas, err := VmapAreas(p)
	i := sort.Search(len(areas), func(i int) bool { return areas[i].End > addr })
	if i < len(areas) && areas[i].Start <= addr {
		return areas[i], true, nil
	}
	return VmapArea{}, false, err
}
