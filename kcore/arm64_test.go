package kcore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

// arm64Tables builds arm64 kernel page tables in a sparse physical memory.
type arm64Tables struct {
	p     *arm64Paging
	mem   map[uint64][]byte // page-aligned physical pages
	next  uint64            // next free table page
	reads int
}

func newARM64Tables(t *testing.T, pageSize uint64, vaBits uint) *arm64Tables {
	t.Helper()
	m := &arm64Tables{mem: map[uint64][]byte{}, next: 0x8000_0000}
	const swapperVA, kimageVOffset = 0xffff_ffc0_0a00_0000, 0xffff_ffbf_c000_0000
	p, err := newARM64Paging(m.read, arm64Params{pageSize: pageSize, vaBits: vaBits,
		kimageVOffset: kimageVOffset, haveKimage: true, physOffset: 0x4000_0000,
		swapper: swapperVA, haveSwapper: true})
	if err != nil {
		t.Fatal(err)
	}
	p.root = m.alloc(pageSize)
	m.p = p
	return m
}

func (m *arm64Tables) read(b []byte, pa uint64) error {
	m.reads++
	ps := uint64(1) << m.p.pageShift
	for len(b) > 0 {
		page, ok := m.mem[pa&^(ps-1)]
		if !ok {
			return ErrNotInDump
		}
		n := copy(b, page[pa&(ps-1):])
		b, pa = b[n:], pa+uint64(n)
	}
	return nil
}

func (m *arm64Tables) alloc(size uint64) uint64 {
	pa := m.next
	m.mem[pa] = make([]byte, size)
	m.next += size
	return pa
}

// encode makes a descriptor with output address pa (pgtable-hwdef.h).
func (m *arm64Tables) encode(pa, low uint64) uint64 {
	p := m.p
	switch {
	case p.pageShift == 16:
		return pa&0x0000_ffff_ffff_0000 | (pa>>48&0xf)<<12 | low
	case p.lpa2:
		return pa&0x0003_ffff_ffff_f000 | (pa>>50&3)<<8 | low
	}
	// Shareability bits 9:8 set, as the kernel writes them.
	return pa&0x0000_ffff_ffff_f000 | 3<<8 | low
}

// mapAt maps va to pa with a leaf at level (0: page).
func (m *arm64Tables) mapAt(va, pa uint64, level int) {
	p := m.p
	ps := uint64(1) << p.pageShift
	table := p.root
	for l := p.levels - 1; l > level; l-- {
		slot := table + p.index(va, l)*8
		e := binary.LittleEndian.Uint64(m.mem[slot&^(ps-1)][slot&(ps-1):])
		if e&1 == 0 {
			next := m.alloc(ps)
			e = m.encode(next, 3)
			binary.LittleEndian.PutUint64(m.mem[slot&^(ps-1)][slot&(ps-1):], e)
		}
		table = p.outAddr(e)
	}
	low := uint64(3) // page
	if level > 0 {
		low = 1 // block
	}
	slot := table + p.index(va, level)*8
	// AF and attribute bits, which must not leak into the address.
	binary.LittleEndian.PutUint64(m.mem[slot&^(ps-1)][slot&(ps-1):], m.encode(pa, low|1<<10|1<<53|1<<54))
}

func TestARM64Translate(t *testing.T) {
	for _, tc := range []struct {
		pageSize uint64
		vaBits   uint
		levels   int
		highPA   bool // a physical address above 48 bits
	}{
		{4 << 10, 39, 3, false},
		{4 << 10, 48, 4, false},
		{4 << 10, 52, 5, true}, // LPA2
		{16 << 10, 47, 3, false},
		{16 << 10, 48, 4, false},
		{16 << 10, 52, 4, true}, // LPA2
		{64 << 10, 42, 2, false},
		{64 << 10, 48, 3, false},
		{64 << 10, 52, 3, true}, // LPA
	} {
		t.Run(fmt.Sprintf("%dK-%dbit", tc.pageSize>>10, tc.vaBits), func(t *testing.T) {
			m := newARM64Tables(t, tc.pageSize, tc.vaBits)
			p := m.p
			if p.levels != tc.levels {
				t.Fatalf("levels %d, want %d", p.levels, tc.levels)
			}
			top := ^uint64(0) << tc.vaBits
			page := tc.pageSize
			vaPage := top | 0x1234*page
			paPage := uint64(0x4_5678) * page
			if tc.highPA {
				paPage |= 1 << 49
			}
			m.mapAt(vaPage, paPage, 0)
			blockSize := uint64(1) << p.levelShift(1)
			vaBlock := top | 3*blockSize
			paBlock := 5 * blockSize
			m.mapAt(vaBlock, paBlock, 1)

			for _, c := range []struct {
				va, pa uint64
				err    error
			}{
				{vaPage + 0x18, paPage + 0x18, nil},
				{vaPage + page - 8, paPage + page - 8, nil},
				{vaBlock + blockSize - 16, paBlock + blockSize - 16, nil},
				{vaPage + page, 0, ErrNotMapped},
				{vaBlock + blockSize, 0, ErrNotMapped},
				{0x0000_1234_0000_0000, 0, ErrNonCanonical},
				{top >> 1, 0, ErrNonCanonical},
			} {
				got, err := p.translate(c.va)
				if c.err != nil {
					if !errors.Is(err, c.err) {
						t.Errorf("translate(%#x): %v, want %v", c.va, err, c.err)
					}
					continue
				}
				if err != nil {
					t.Errorf("translate(%#x): %v", c.va, err)
					continue
				}
				if pa := got.pa + (c.va - got.va); pa != c.pa {
					t.Errorf("translate(%#x) = %#x, want %#x", c.va, pa, c.pa)
				}
			}
			// The cached translation gives the same answer.
			if m2, err := p.translate(vaPage + 8); err != nil || m2.pa+(vaPage+8-m2.va) != paPage+8 {
				t.Errorf("second translate: %+v %v", m2, err)
			}

			var got []mapping
			if err := p.walkRange(top, ^uint64(0), 1, func(mp mapping) bool {
				got = append(got, mp)
				return true
			}); err != nil {
				t.Fatal(err)
			}
			want := []mapping{{vaBlock, paBlock, blockSize}, {vaPage, paPage, page}}
			if vaPage < vaBlock {
				want[0], want[1] = want[1], want[0]
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("walkRange: %x, want %x", got, want)
			}
		})
	}
}

func TestARM64LinearAndImage(t *testing.T) {
	m := newARM64Tables(t, 4<<10, 48)
	p := m.p
	// __va(PHYS_OFFSET) = PAGE_OFFSET = -(1 << 48).
	pageOffset := uint64(0xffff_0000_0000_0000)
	m.mapAt(pageOffset, p.physOffset, 1)
	base, err := p.findDirect(0)
	if err != nil {
		t.Fatal(err)
	}
	if want := pageOffset - p.physOffset; base != want {
		t.Errorf("direct base %#x, want %#x", base, want)
	}

	// Without a readable root, image addresses still translate by
	// kimage_voffset; others do not.
	p.root = 0x1_0000_0000 // not in memory
	va := p.imageLo + 0x1000
	mp, err := p.translate(va)
	if err != nil || mp.pa+(va-mp.va) != va-p.kimageVOffset {
		t.Errorf("image fallback: %+v %v", mp, err)
	}
	if _, err := p.translate(pageOffset + 0x2000_0000); err == nil {
		t.Error("linear address translated without page tables")
	}
}

func TestARM64Params(t *testing.T) {
	v, err := ParseVMCoreInfo([]byte("OSRELEASE=6.1.0-50-cloud-arm64\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)=ffff80000a3c4000\n" +
		"NUMBER(VA_BITS)=48\nNUMBER(kimage_voffset)=0xffff7fffc8000000\nNUMBER(PHYS_OFFSET)=0x40000000\n" +
		"KERNELOFFSET=0\nNUMBER(KERNELPACMASK)=0xff7f000000000000\nNUMBER(TCR_EL1_T1SZ)=16\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := arm64ParamsFrom(v)
	if err != nil {
		t.Fatal(err)
	}
	if a.vaBits != 48 || a.kimageVOffset != 0xffff7fffc8000000 || a.physOffset != 0x40000000 || a.swapper != 0xffff80000a3c4000 {
		t.Errorf("params %+v", a)
	}
	p, err := newARM64Paging(nil, a)
	if err != nil {
		t.Fatal(err)
	}
	if p.root != 0xffff80000a3c4000-0xffff7fffc8000000 || p.levels != 4 {
		t.Errorf("root %#x levels %d", p.root, p.levels)
	}
	d := &Dump{vmci: v}
	if got := d.decideArch(); got != ArchARM64 {
		t.Errorf("arch from VMCOREINFO: %v", got)
	}
}

func TestDecodeARM64Regs(t *testing.T) {
	b := make([]byte, arm64RegWords*8)
	for i := range arm64RegWords {
		binary.LittleEndian.PutUint64(b[i*8:], uint64(i+1))
	}
	r, ok := decodeARM64Regs(b, binary.LittleEndian)
	if !ok || r.X[0] != 1 || r.X[29] != 30 || r.X[30] != 31 || r.SP != 32 || r.PC != 33 || r.PState != 34 {
		t.Errorf("regs %+v ok %v", r, ok)
	}
	if _, ok := decodeARM64Regs(b[:100], binary.LittleEndian); ok {
		t.Error("short pr_reg decoded")
	}
	r.PState = 0x3c5 // EL1h
	if r.UserMode() {
		t.Error("EL1h taken as user mode")
	}
	r.PState = 0 // EL0t
	if !r.UserMode() {
		t.Error("EL0t not user mode")
	}
}
