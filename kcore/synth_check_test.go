package kcore

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// Checks every image format must pass against its synthMachine.

type checkOpts struct {
	vmcoreinfo bool // VMCOREINFO present
	excluded   bool // the image honours m.excluded (kdump); else exclTail
	exclTail   bool
	noNotes    bool // the image has no CPU notes
}

// nonCanonical is the lowest non-canonical address for the paging depth.
func (m *synthMachine) nonCanonical() uint64 { return 1 << (12 + 9*m.levels - 1) }

func (m *synthMachine) checkDump(t *testing.T, d *Dump, o checkOpts) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	// Physical reads: random ranges, some crossing pages and holes.
	buf := make([]byte, 3*synthPage)
	for i := 0; i < 3000; i++ {
		r := m.ram[rng.IntN(len(m.ram))]
		pa := r.lo + rng.Uint64N(r.hi-r.lo)
		if i%10 == 0 {
			pa = r.hi - uint64(rng.IntN(100)) // straddles the end
		}
		n := 1 + rng.IntN(len(buf))
		want, wantErr := m.expect(pa, n, o)
		err := d.ReadPhys(buf[:n], pa)
		switch {
		case wantErr != nil && !errors.Is(err, wantErr):
			t.Fatalf("ReadPhys(%#x, %d) = %v, want %v", pa, n, err, wantErr)
		case wantErr == nil && err != nil:
			t.Fatalf("ReadPhys(%#x, %d): %v", pa, n, err)
		case wantErr == nil && !bytes.Equal(buf[:n], want):
			t.Fatalf("ReadPhys(%#x, %d) returned wrong bytes", pa, n)
		}
	}
	// Virtual reads through every kind of mapping.
	type vcase struct {
		name string
		va   uint64
		pa   uint64
		n    int
	}
	cases := []vcase{
		{"kernel text", m.kernelVA + 0x1234, m.kernelPA + 0x1234, 5000},
		{"direct map 1G", m.directBase + 0x12345, 0x12345, 10000},
		{"direct map high", m.directBase + 4<<30 + 0x2100, 4<<30 + 0x2100, 100},
		{"vmalloc 2M", m.vmalloc2M + 0x1fd800, 0x200000 + 0x1fd800, 4096},
	}
	for i := 0; i < m.vmalloc4KN; i++ {
		pa := uint64(0x300000 - (i+1)*synthPage*3)
		if i == 3 {
			pa = 4<<30 + 0x3000
		}
		cases = append(cases, vcase{fmt.Sprintf("vmalloc 4K #%d", i), m.vmalloc4K + uint64(i)*synthPage + 8, pa + 8, 64})
	}
	for _, c := range cases {
		got := make([]byte, c.n)
		if err := d.ReadVirt(got, c.va); err != nil {
			t.Errorf("%s: ReadVirt(%#x): %v", c.name, c.va, err)
			continue
		}
		want := make([]byte, c.n)
		if err := d.ReadPhys(want, c.pa); err != nil {
			t.Errorf("%s: ReadPhys(%#x): %v", c.name, c.pa, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: ReadVirt(%#x) differs from ReadPhys(%#x)", c.name, c.va, c.pa)
		}
		if pa, err := d.VirtToPhys(c.va); err != nil || pa != c.pa {
			t.Errorf("%s: VirtToPhys(%#x) = %#x, %v; want %#x", c.name, c.va, pa, err, c.pa)
		}
	}
	// A read spanning two non-contiguous vmalloc pages.
	span := make([]byte, 16)
	if err := d.ReadVirt(span, m.vmalloc4K+synthPage-8); err != nil {
		t.Errorf("spanning vmalloc read: %v", err)
	} else {
		a := make([]byte, 8)
		b := make([]byte, 8)
		d.ReadPhys(a, 0x300000-synthPage*3+synthPage-8)
		d.ReadPhys(b, 0x300000-2*synthPage*3)
		if !bytes.Equal(span, append(a, b...)) {
			t.Errorf("spanning vmalloc read: wrong bytes")
		}
	}
	// Failures.
	var re *ReadError
	for _, c := range []struct {
		va   uint64
		want error
	}{
		{m.unmapped, ErrNotMapped},
		{m.vmalloc4K + uint64(m.vmalloc4KN-1)*synthPage + synthPage - 4, ErrNotMapped}, // runs off the end
		{m.nonCanonical(), ErrNonCanonical},
		{m.kernelVA + 2<<20 + 8, ErrNotMapped}, // past the mapped kernel image
		{m.directBase + 8<<20, ErrNotInDump},   // the physical hole
	} {
		err := d.ReadVirt(make([]byte, 8), c.va)
		if !errors.Is(err, c.want) || !errors.As(err, &re) {
			t.Errorf("ReadVirt(%#x) = %v, want %v", c.va, err, c.want)
		}
	}
	// Excluded pages by virtual address.
	if o.excluded {
		for pfn := range m.excluded {
			va := m.directBase + pfn*synthPage + 16
			err := d.ReadVirt(make([]byte, 8), va)
			if !errors.Is(err, ErrExcluded) || !errors.As(err, &re) || re.Addr != va || re.PA != pfn*synthPage+16 {
				t.Errorf("ReadVirt(excluded %#x) = %v", va, err)
			}
			break
		}
	}
	if cs := d.CPUs(); len(cs) != len(m.cpus) && !o.noNotes {
		t.Errorf("%d CPUs, want %d", len(cs), len(m.cpus))
	}
	if o.vmcoreinfo {
		v := d.VMCoreInfo()
		if v == nil || v.OSRelease() != "6.99.0-synth" {
			t.Fatalf("VMCOREINFO: %v", v)
		}
		if pb, ok := d.PhysBase(); !ok || pb != m.physBase {
			t.Errorf("PhysBase = %#x, %v; want %#x", pb, ok, m.physBase)
		}
		if ct := d.CrashTime(); ct.Unix() != 1700000000 {
			t.Errorf("CrashTime = %v", ct)
		}
	}
	if base, err := d.DirectMapBase(); err != nil || base != m.directBase {
		t.Errorf("DirectMapBase = %#x, %v; want %#x", base, err, m.directBase)
	}
	if _, levels, _ := d.PageTableRoot(); levels != m.levels {
		t.Errorf("paging levels %d, want %d", levels, m.levels)
	}
}
