package kcore

import (
	"bytes"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/kwalk/kwalk/testdata"
)

// TestARM64GeneratedDumps checks the arm64 translation on the aarch64
// guests' dumps: the levels and LPA2 follow from VMCOREINFO's
// TCR_EL1_T1SZ (48-bit VA on Debian's 6.1, 52-bit with LPA2 on 7.x under
// -cpu max), the linear map is at -(1 << VA_BITS) - PHYS_OFFSET
// (arch/arm64/include/asm/memory.h), init_uts_ns reads through the
// tables, and every format reads what the QEMU ELF image reads at the same
// virtual addresses (the kernel image and page-table-mapped memory).
func TestARM64GeneratedDumps(t *testing.T) {
	for _, gd := range testdata.Arm64Dumps(t) {
		t.Run(gd.ID(), func(t *testing.T) {
			ref := openGenerated(t, gd, testdata.FormatELF)
			if ref == nil {
				t.Skipf("SKIP: %s has no %s file", gd.ID(), testdata.FormatELF)
			}
			for _, f := range gd.Formats() {
				t.Run(string(f), func(t *testing.T) {
					d := openGenerated(t, gd, f)
					checkARM64Generated(t, d)
					if f != testdata.FormatELF {
						compareARM64(t, f, d, ref)
					}
				})
			}
		})
	}
}

func checkARM64Generated(t *testing.T, d *Dump) {
	t.Helper()
	// QEMU's kdump header names the machine "Unknown": the
	// architecture comes from the dump's other evidence (decideArch).
	if d.Arch() != ArchARM64 {
		t.Errorf("arch %v (machine %q)", d.Arch(), d.Machine())
	}
	v := d.VMCoreInfo()
	if v == nil {
		t.Fatal("no VMCOREINFO")
	}
	t1sz, ok := v.Number("TCR_EL1_T1SZ")
	if !ok {
		t.Fatal("no NUMBER(TCR_EL1_T1SZ)")
	}
	vaBits := 64 - int(t1sz)
	pageSize, ok := v.PageSize()
	if !ok || pageSize&(pageSize-1) != 0 {
		t.Fatalf("PAGESIZE %d", pageSize)
	}
	pageShift := bits.TrailingZeros64(pageSize)
	// ARM64_HW_PGTABLE_LEVELS (arch/arm64/include/asm/pgtable-hwdef.h).
	want := (vaBits - 4) / (pageShift - 3)
	if _, levels, ok := d.PageTableRoot(); !ok || levels != want {
		t.Errorf("%d-bit VA, %d KiB pages: %d levels (ok %v), want %d", vaBits, pageSize>>10, levels, ok, want)
	}
	p, ok := d.xlat.(*arm64Paging)
	if !ok {
		t.Fatalf("translation is %T", d.xlat)
	}
	// 52-bit VAs take LPA2 with 4 and 16 KiB pages (64 KiB ones use LVA).
	if pageSize != 64<<10 && p.lpa2 != (vaBits == 52) {
		t.Errorf("%d-bit VA with %d KiB pages: lpa2 %v", vaBits, pageSize>>10, p.lpa2)
	}
	uts, ok := v.Symbol("init_uts_ns")
	if !ok {
		t.Fatal("no SYMBOL(init_uts_ns)")
	}
	b := make([]byte, 64+6*65)
	if err := d.ReadVirt(b, uts); err != nil {
		t.Fatalf("reading init_uts_ns: %v", err)
	}
	if off := bytes.Index(b, []byte("Linux\x00")); off < 0 || !bytes.HasPrefix(b[off+2*65:], []byte(v.OSRelease()+"\x00")) {
		t.Errorf("init_uts_ns holds no utsname of %s: %q", v.OSRelease(), b)
	}
	physOffset, _ := v.Number("PHYS_OFFSET")
	base, err := d.DirectMapBase()
	if err != nil {
		t.Fatalf("DirectMapBase: %v", err)
	}
	if want := -(uint64(1) << vaBits) - uint64(physOffset); base != want {
		t.Errorf("linear map base %#x, want -(1 << %d) - PHYS_OFFSET = %#x", base, vaBits, want)
	}
	for _, pa := range []uint64{uint64(physOffset) + 1<<20, uint64(physOffset) + d.MemorySize()/2} {
		a, c := make([]byte, 256), make([]byte, 256)
		if err := d.ReadPhys(a, pa); err != nil {
			continue
		}
		if err := d.ReadVirt(c, base+pa); err != nil || !bytes.Equal(a, c) {
			t.Errorf("linear map: ReadVirt(%#x) = %v or differs from ReadPhys(%#x)", base+pa, err, pa)
		}
	}
}

// compareARM64 reads the same kernel virtual addresses from d and the QEMU
// ELF image ref.
func compareARM64(t *testing.T, f testdata.Format, d, ref *Dump) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(len(f)), 52))
	var maps []Mapping
	if err := ref.Mappings(1<<63, ^uint64(0), func(m Mapping) bool {
		maps = append(maps, m)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(maps) == 0 {
		t.Fatal("no kernel mappings")
	}
	a, b := make([]byte, 4096), make([]byte, 4096)
	same, skipped := 0, 0
	for i := range 300 {
		m := maps[rng.IntN(len(maps))]
		va := m.Virt + rng.Uint64N(m.Size)
		n := 1 + rng.IntN(len(a))
		if ref.ReadVirt(a[:n], va) != nil {
			continue
		}
		err := d.ReadVirt(b[:n], va)
		switch {
		case err != nil && f == testdata.FormatELFPaging:
			skipped++ // only pages some CPU had mapped are in it
		case err != nil:
			t.Fatalf("read %d: virt %#x: %v (the ELF image reads it)", i, va, err)
		case !bytes.Equal(a[:n], b[:n]):
			t.Fatalf("read %d: virt %#x (%d bytes) differs from the ELF image", i, va, n)
		default:
			same++
		}
	}
	if same < 100 {
		t.Errorf("only %d reads agreed (%d allowed failures)", same, skipped)
	}
	t.Logf("%s: %d reads agree with the ELF image, %d allowed failures", d.Format(), same, skipped)
}
