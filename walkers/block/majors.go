package block

import (
	"fmt"
	"sort"

	"github.com/kwalk/kwalk/symbols"
)

// Major is one registered device major: a line of /proc/devices.
type Major struct {
	Major int    `json:"major"`
	Name  string `json:"name"`
	// BaseMinor and Minors are the minor range of a character device
	// region (register_chrdev_region); 0 for block majors.
	BaseMinor int `json:"base_minor,omitempty"`
	Minors    int `json:"minors,omitempty"`
	// CDev is a character region's struct cdev (0 for a region
	// registered without one) and Ops the symbol of its cdev->ops.
	CDev uint64 `json:"cdev,omitempty"`
	Ops  string `json:"ops,omitempty"`
}

// majorHashSize is CHRDEV_MAJOR_HASH_SIZE and BLKDEV_MAJOR_HASH_SIZE
// (include/linux/fs.h, 255 in every supported kernel): the length of the
// chrdevs[] and major_names[] hash arrays, which BTF does not type.
const majorHashSize = 255

// maxMajorChain bounds one hash chain.
const maxMajorChain = 4096

// CharMajors returns the character device regions as /proc/devices lists
// them (fs/char_dev.c chrdev_show: by major, then chain order): the chains
// of chrdevs[], struct char_device_struct { next, major, baseminor,
// minorct, name }.
func CharMajors(p *symbols.Program) ([]Major, error) {
	return majors(p, "chrdevs", "struct char_device_struct", true)
}

// BlockMajors returns the block majors registered with register_blkdev,
// as /proc/devices lists them (block/genhd.c blkdev_show): the chains of
// major_names[], struct blk_major_name { next, major, name }.
func BlockMajors(p *symbols.Program) ([]Major, error) {
	return majors(p, "major_names", "struct blk_major_name", false)
}

func majors(p *symbols.Program, sym, typ string, chr bool) ([]Major, error) {
	base, err := p.Symbol(sym)
	if err != nil {
		return nil, err
	}
	t, err := p.Type(typ)
	if err != nil {
		return nil, err
	}
	var out []Major
	seen := map[uint64]bool{}
	for i := uint64(0); i < majorHashSize; i++ {
		cur, err := p.ReadU64(base + 8*i)
		if err != nil {
			return out, fmt.Errorf("%s[%d]: %w", sym, i, err)
		}
		for n := 0; cur != 0; n++ {
			if seen[cur] || n >= maxMajorChain {
				return out, fmt.Errorf("%s[%d]: %w at %#x", sym, i, symbols.ErrCycle, cur)
			}
			seen[cur] = true
			o := p.ObjectAt(t, cur)
			var m Major
			major, err := o.MemberUint("major")
			if err != nil {
				return out, fmt.Errorf("%s[%d]: %s %#x: %w", sym, i, typ, cur, err)
			}
			m.Major = int(int32(major))
			if m.Name, err = o.MemberString("name"); err != nil {
				return out, fmt.Errorf("%s[%d]: %s %#x: %w", sym, i, typ, cur, err)
			}
			if chr {
				bm, _ := o.MemberUint("baseminor")
				ct, _ := o.MemberUint("minorct")
				m.BaseMinor, m.Minors = int(bm), int(int32(ct))
				if m.CDev, _ = o.MemberUint("cdev"); m.CDev != 0 {
					if cd, err := p.Object("struct cdev", m.CDev); err == nil {
						if ops, err := cd.MemberUint("ops"); err == nil && ops != 0 {
							m.Ops = symbolName(p, ops)
						}
					}
				}
			}
			out = append(out, m)
			if cur, err = o.MemberUint("next"); err != nil {
				return out, fmt.Errorf("%s[%d]: %s %#x: %w", sym, i, typ, cur, err)
			}
		}
	}
	// Chains hold majors i, i+255, ...: /proc/devices is by major, and
	// in chain order within one (a stable sort keeps it).
	sort.SliceStable(out, func(a, b int) bool { return out[a].Major < out[b].Major })
	return out, nil
}
