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
	vl, err := vmapLayoutOf(p)
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
			va, err := vl.read(p, n-rbOff)
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

// vmapLayout places the members of struct vmap_area and struct vm_struct
// read as one block each.
type vmapLayout struct {
	vaSize, vmSize                                uint64
	vaStart, vaEnd, vaVM                          kmem.Field
	vmSizeF, vmFlags, vmNrPages, vmPhys, vmCaller kmem.Field
}

func vmapLayoutOf(p *symbols.Program) (*vmapLayout, error) {
	va, err := p.Type("struct vmap_area")
	if err != nil {
		return nil, err
	}
	vm, err := p.Type("struct vm_struct")
	if err != nil {
		return nil, err
	}
	l := &vmapLayout{vaSize: va.Resolve().Size, vmSize: vm.Resolve().Size,
		vaStart: kmem.FieldOf(va, "va_start"), vaEnd: kmem.FieldOf(va, "va_end"), vaVM: kmem.FieldOf(va, "vm"),
		vmSizeF: kmem.FieldOf(vm, "size"), vmFlags: kmem.FieldOf(vm, "flags"), vmNrPages: kmem.FieldOf(vm, "nr_pages"),
		vmPhys: kmem.FieldOf(vm, "phys_addr"), vmCaller: kmem.FieldOf(vm, "caller")}
	if !l.vaStart.OK || !l.vaEnd.OK {
		return nil, fmt.Errorf("struct vmap_area: no va_start/va_end")
	}
	return l, nil
}

func (l *vmapLayout) read(p *symbols.Program, addr uint64) (VmapArea, error) {
	va := VmapArea{Area: addr}
	b := make([]byte, l.vaSize)
	if err := p.Mem.ReadVirt(b, addr); err != nil {
		return va, fmt.Errorf("vmap_area %#x: %w", addr, err)
	}
	va.Start, _ = l.vaStart.UintAt(b)
	va.End, _ = l.vaEnd.UintAt(b)
	va.Size = va.End - va.Start
	vm, _ := l.vaVM.UintAt(b)
	if vm == 0 || !kmem.IsKernelPointer(vm) {
		return va, nil
	}
	vb := make([]byte, l.vmSize)
	if err := p.Mem.ReadVirt(vb, vm); err != nil {
		return va, nil // the area stands without its vm_struct
	}
	va.VM = vm
	va.Size, _ = l.vmSizeF.UintAt(vb)
	va.Flags, _ = l.vmFlags.UintAt(vb)
	va.NrPages, _ = l.vmNrPages.UintAt(vb)
	va.Phys, _ = l.vmPhys.UintAt(vb)
	va.Caller, _ = l.vmCaller.UintAt(vb)
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
