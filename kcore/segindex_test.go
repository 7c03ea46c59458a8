package kcore

import "testing"

func TestSegIndexOverlaps(t *testing.T) {
	// A big segment first, many small ones inside and after it (the
	// shape of a QEMU paging=true dump), and one straddling its end.
	segs := []elfSeg{{paddr: 0, memsz: 0x100000, offset: 0x1000}}
	for i := uint64(0); i < 40; i++ {
		segs = append(segs, elfSeg{paddr: 0x1000 * (i + 1), memsz: 0x1000, offset: 0x900000 + i*0x1000})
	}
	segs = append(segs, elfSeg{paddr: 0xff000, memsz: 0x3000, offset: 0x800000})
	segs = append(segs, elfSeg{paddr: 0x200000, memsz: 0x1000, offset: 0x700000})
	x := newSegIndex(segs, func(s *elfSeg) uint64 { return s.paddr })
	for _, c := range []struct {
		addr    uint64
		wantOff uint64 // file offset of addr, 0 = not found
	}{
		{0, 0x1000},
		{0x28000, 0x1000 + 0x28000}, // inside the big one despite 40 later starts
		{0xfffff, 0x1000 + 0xfffff},
		{0x100000, 0x800000 + 0x1000}, // only the straddling one covers it
		{0x101fff, 0x800000 + 0x2fff},
		{0x102000, 0},
		{0x200800, 0x700800},
		{0x201000, 0},
		{^uint64(0), 0},
	} {
		s := x.find(c.addr)
		switch {
		case s == nil && c.wantOff != 0:
			t.Errorf("find(%#x) = nil, want file offset %#x", c.addr, c.wantOff)
		case s != nil && c.wantOff == 0:
			t.Errorf("find(%#x) = %+v, want nil", c.addr, *s)
		case s != nil && s.offset+c.addr-s.paddr != c.wantOff:
			t.Errorf("find(%#x) → file offset %#x, want %#x", c.addr, s.offset+c.addr-s.paddr, c.wantOff)
		}
	}
}
