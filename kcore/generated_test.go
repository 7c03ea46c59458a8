package kcore

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/kwalk/kwalk/testdata"
)

// Integration tests over the real dumps made by testdata/gen (QEMU guests
// on Debian kernels, every format QEMU and makedumpfile write, 4- and
// 5-level paging). They skip, naming what is missing, when none was made.

func TestGeneratedDumps(t *testing.T) {
	for _, gd := range testdata.Require(t, testdata.Filter{}) {
		t.Run(gd.ID(), func(t *testing.T) {
			ref := openGenerated(t, gd, testdata.FormatELF)
			if ref == nil {
				t.Skipf("SKIP: %s has no %s file", gd.ID(), testdata.FormatELF)
			}
			for _, f := range gd.Formats() {
				t.Run(string(f), func(t *testing.T) {
					d := openGenerated(t, gd, f)
					checkGenerated(t, gd, f, d)
					compareWith(t, f, d, ref)
				})
			}
		})
	}
}

func openGenerated(t *testing.T, gd *testdata.Dump, f testdata.Format) *Dump {
	t.Helper()
	path := gd.Path(f)
	if path == "" {
		return nil
	}
	d, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// checkGenerated compares one image with what the generator recorded and
// with the kernel's own utsname.
func checkGenerated(t *testing.T, gd *testdata.Dump, f testdata.Format, d *Dump) {
	t.Helper()
	v := d.VMCoreInfo()
	if v == nil {
		t.Fatalf("%s: no VMCOREINFO", d.Format())
	}
	if got := d.Release(); got != gd.Release {
		t.Errorf("release %q, manifest says %q", got, gd.Release)
	}
	if rel := gd.Truth.Meta["release"]; rel != "" && rel != d.Release() {
		t.Errorf("release %q, the guest's record says %q", d.Release(), rel)
	}
	if _, levels, ok := d.PageTableRoot(); !ok || levels != gd.Guest.PagingLevels {
		t.Errorf("paging levels %d (ok %v), guest has %d", levels, ok, gd.Guest.PagingLevels)
	}
	if n := len(d.CPUs()); n != gd.Guest.CPUs {
		t.Errorf("%d CPU notes, guest has %d CPUs", n, gd.Guest.CPUs)
	}
	if d.Machine() != "x86_64" {
		t.Errorf("machine %q", d.Machine())
	}
	wantMem := uint64(gd.Guest.MemoryMB) << 20
	if m := d.MemorySize(); m < wantMem*9/10 || m > wantMem*11/10 {
		t.Errorf("memory size %d, guest has %d MiB", m, gd.Guest.MemoryMB)
	}
	// init_uts_ns.name: OFFSET(uts_namespace.name) since 6.x; older
	// kernels have struct kref first (include/linux/utsname.h), so look for
	// sysname "Linux" in the first bytes.
	uts, ok := v.Symbol("init_uts_ns")
	if !ok {
		t.Fatal("no SYMBOL(init_uts_ns)")
	}
	b := make([]byte, 64+6*65)
	if err := d.ReadVirt(b, uts); err != nil {
		t.Fatalf("reading init_uts_ns: %v", err)
	}
	off, ok := v.Offset("uts_namespace.name")
	if !ok {
		off = uint64(bytes.Index(b[:64], []byte("Linux\x00")))
	}
	if off > 64 {
		t.Fatalf("no utsname in init_uts_ns: %q", b[:64])
	}
	rel := b[off+2*65 : off+3*65]
	rel = rel[:max(0, bytes.IndexByte(rel, 0))]
	if string(rel) != v.OSRelease() {
		t.Errorf("init_uts_ns release %q, OSRELEASE %q", rel, v.OSRelease())
	}
	// The direct map found in the page tables maps physical memory.
	if base, err := d.DirectMapBase(); err != nil {
		t.Errorf("DirectMapBase: %v", err)
	} else {
		pa := uint64(1 << 20)
		a, b := make([]byte, 256), make([]byte, 256)
		if err := d.ReadPhys(a, pa); err == nil {
			if err := d.ReadVirt(b, base+pa); err != nil || !bytes.Equal(a, b) {
				t.Errorf("direct map at %#x: ReadVirt(%#x) = %v or differs from ReadPhys(%#x)", base, base+pa, err, pa)
			}
		}
	}
	st := d.Stats()
	if f == testdata.FormatMakedumpfileZlib31 && st.ExcludedPages == 0 {
		t.Errorf("dump level 31 image reports no excluded pages: %+v", st)
	}
}

// compareWith reads the same physical and virtual addresses from d and the
// QEMU physical ELF and requires identical bytes wherever both can read.
func compareWith(t *testing.T, f testdata.Format, d, ref *Dump) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(len(f)), 17))
	mem := ref.MemorySize()
	a := make([]byte, 4096)
	b := make([]byte, 4096)
	allowed := func(err error) bool {
		switch f {
		case testdata.FormatMakedumpfileZlib31:
			return errors.Is(err, ErrExcluded)
		case testdata.FormatELFPaging:
			// Only pages some CPU had mapped are in it.
			return errors.Is(err, ErrNotInDump)
		}
		// makedumpfile keeps System RAM only, not the BIOS ROM QEMU adds.
		return errors.Is(err, ErrNotInDump) && d.Stats().PresentPages < ref.Stats().PresentPages
	}
	same, skipped := 0, 0
	for i := range 300 {
		pa := rng.Uint64N(mem)
		n := 1 + rng.IntN(len(a))
		if ref.ReadPhys(a[:n], pa) != nil {
			continue
		}
		err := d.ReadPhys(b[:n], pa)
		switch {
		case err != nil && allowed(err):
			skipped++
		case err != nil:
			t.Fatalf("read %d: phys %#x: %v (the ELF image reads it)", i, pa, err)
		case !bytes.Equal(a[:n], b[:n]):
			t.Fatalf("read %d: phys %#x (%d bytes) differs from the ELF image", i, pa, n)
		default:
			same++
		}
	}
	// Virtual: kernel image and page-table-mapped memory.
	stext, _ := ref.VMCoreInfo().Symbol("_stext")
	_, small := kernelMappings(t, ref)
	for i := range 200 {
		va := stext + rng.Uint64N(8<<20)
		if i%2 == 1 && len(small) > 0 {
			va = small[rng.IntN(len(small))].Virt + rng.Uint64N(4096)
		}
		n := 1 + rng.IntN(len(a))
		if ref.ReadVirt(a[:n], va) != nil {
			continue
		}
		err := d.ReadVirt(b[:n], va)
		switch {
		case err != nil && allowed(err):
			skipped++
		case err != nil:
			t.Fatalf("virt %#x: %v (the ELF image reads it)", va, err)
		case !bytes.Equal(a[:n], b[:n]):
			t.Fatalf("virt %#x (%d bytes) differs from the ELF image", va, n)
		default:
			same++
		}
	}
	if same < 100 {
		t.Errorf("only %d reads agreed (%d allowed failures)", same, skipped)
	}
	t.Logf("%s: %d reads agree with the ELF image, %d allowed failures", d.Format(), same, skipped)
}
