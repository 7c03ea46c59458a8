package mm

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/vfs"
)

// include/linux/swap.h: enum { SWP_USED = 1, SWP_WRITEOK = 2, ... }
const (
	swpUsed    = 1 << 0
	swpWriteOK = 1 << 1
)

// SwapDevice is one swap area, as /proc/swaps shows it (mm/swapfile.c
// swap_show).
type SwapDevice struct {
	Info     uint64 // struct swap_info_struct
	Type     int    // its index in swap_info[]
	Path     string
	Kind     string // "partition" or "file"
	Pages    uint64 // usable pages (si->pages)
	Used     uint64
	Priority int
	Flags    uint64
	// Active is false for an area being switched off (SWP_WRITEOK clear).
	Active bool
	Errors []string
}

// SwapDevices returns the swap areas in use: swap_info[0..nr_swapfiles)
// with SWP_USED set.
func SwapDevices(p *symbols.Program) ([]SwapDevice, error) {
	a, err := p.Symbol("swap_info")
	if err != nil {
		return nil, err
	}
	n, err := readSymU32(p, "nr_swapfiles")
	if err != nil {
		// A text-only kallsyms may lack it: swap_info's slots are
		// filled in order and never freed (mm/swapfile.c
		// alloc_swap_info), so they are the leading non-NULL ones.
		n = 0
		for ; n < 64; n++ {
			sp, rerr := p.ReadU64(a + 8*uint64(n))
			if rerr != nil || sp == 0 {
				break
			}
		}
	}
	if n > 64 { // MAX_SWAPFILES is 32 minus the special swap types
		return nil, fmt.Errorf("nr_swapfiles is %d: not believable", n)
	}
	var out []SwapDevice
	for i := uint64(0); i < uint64(n); i++ {
		sp, err := p.ReadU64(a + 8*i)
		if err != nil {
			return out, fmt.Errorf("swap_info[%d]: %w", i, err)
		}
		if sp == 0 {
			continue
		}
		o, err := p.Object("struct swap_info_struct", sp)
		if err != nil {
			return out, err
		}
		flags, err := o.MemberUint("flags")
		if err != nil {
			return out, err
		}
		if flags&swpUsed == 0 {
			continue
		}
		d := SwapDevice{Info: sp, Type: int(i), Flags: flags, Active: flags&swpWriteOK != 0}
		d.Pages, _ = o.MemberUint("pages")
		if d.Used, err = kmem.ScalarMember(o, "inuse_pages"); err != nil {
			d.Errors = append(d.Errors, err.Error())
		}
		if pr, err := o.Member("prio"); err == nil {
			v, _ := pr.Int()
			d.Priority = int(v)
		}
		file, err := o.MemberUint("swap_file")
		if err != nil || file == 0 {
			d.Errors = append(d.Errors, "no swap_file")
			out = append(out, d)
			continue
		}
		if d.Path, err = vfs.FilePath(p, file); err != nil {
			d.Errors = append(d.Errors, err.Error())
		}
		d.Kind = "file"
		fo, err := p.Object("struct file", file)
		if err == nil {
			if mode, err := fo.MemberUint("f_inode->i_mode"); err == nil && mode&0170000 == 0060000 {
				d.Kind = "partition"
			}
		}
		out = append(out, d)
	}
	return out, nil
}
