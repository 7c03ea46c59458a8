package kcore

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The shared real dump: QEMU flattened kdump-compressed (zlib) of a Debian
// 6.1 cloud kernel. Tests that need it skip, naming the path, when absent.
const sharedDir = "/work/shared/vmcores/6.1-cloud"

func sharedDump(t testing.TB) string {
	t.Helper()
	p := filepath.Join(sharedDir, "vmcore.kdump")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("SKIP: shared dump %s is absent: %v", p, err)
	}
	return p
}

// sharedRelease is the second field of the KERNEL file ("package release").
func sharedRelease(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedDir, "KERNEL"))
	if err != nil {
		t.Skipf("SKIP: %s/KERNEL is absent: %v", sharedDir, err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		t.Fatalf("%s/KERNEL: want two fields, got %q", sharedDir, b)
	}
	return f[1]
}

func openShared(t testing.TB, opts Options) *Dump {
	t.Helper()
	d, err := Open(sharedDump(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestSharedOpen(t *testing.T) {
	d := openShared(t, Options{})
	want := sharedRelease(t)
	if got := d.VMCoreInfo().OSRelease(); got != want {
		t.Errorf("OSRELEASE = %q, want %q (KERNEL file)", got, want)
	}
	if got := d.Format(); got != "kdump-compressed (flattened, zlib)" {
		t.Errorf("Format = %q", got)
	}
	if d.Machine() != "x86_64" {
		t.Errorf("Machine = %q, want x86_64", d.Machine())
	}
	if d.MemorySize() < 200<<20 || d.MemorySize() > 512<<20 {
		t.Errorf("MemorySize = %d, want about 256 MiB", d.MemorySize())
	}
	cpus := d.CPUs()
	if len(cpus) != d.NumCPUs() || len(cpus) == 0 {
		t.Errorf("%d CPU notes, header says %d CPUs", len(cpus), d.NumCPUs())
	}
	for i, c := range cpus {
		if c.CPU != i || c.CR3 == 0 || c.Regs.IP < startKernelMap {
			t.Errorf("CPU note %d: %+v", i, c)
		}
	}
	if _, _, ok := d.PageTableRoot(); !ok {
		t.Error("no page-table root")
	}
}

// The utsname the kernel itself keeps must name the release VMCOREINFO does.
func TestSharedUtsname(t *testing.T) {
	d := openShared(t, Options{})
	v := d.VMCoreInfo()
	sym, ok := v.Symbol("init_uts_ns")
	if !ok {
		t.Fatal("no SYMBOL(init_uts_ns)")
	}
	off, ok := v.Offset("uts_namespace.name")
	if !ok {
		t.Fatal("no OFFSET(uts_namespace.name)")
	}
	// struct new_utsname: six 65-byte strings; release is the third
	// (include/uapi/linux/utsname.h).
	b := make([]byte, 6*65)
	if err := d.ReadVirt(b, sym+off); err != nil {
		t.Fatal(err)
	}
	field := func(i int) string {
		f := b[i*65 : (i+1)*65]
		return string(f[:max(0, bytes.IndexByte(f, 0))])
	}
	if field(0) != "Linux" {
		t.Errorf("sysname = %q, want Linux", field(0))
	}
	if got := field(2); got != v.OSRelease() {
		t.Errorf("init_uts_ns release = %q, OSRELEASE = %q", got, v.OSRelease())
	}
	if got := field(4); got != d.Machine() {
		t.Errorf("init_uts_ns machine = %q, dump header machine = %q", got, d.Machine())
	}
}

// The "Linux version <release>" banner lies in kernel rodata after _stext.
func TestSharedBanner(t *testing.T) {
	d := openShared(t, Options{})
	v := d.VMCoreInfo()
	stext, ok := v.Symbol("_stext")
	if !ok {
		t.Fatal("no SYMBOL(_stext)")
	}
	want := []byte("Linux version " + v.OSRelease() + " ")
	const chunk, limit = 1 << 20, 64 << 20
	buf := make([]byte, chunk+len(want))
	for off := uint64(0); off < limit; off += chunk {
		if err := d.ReadVirt(buf, stext+off); err != nil {
			t.Fatalf("scanning kernel image: %v", err)
		}
		if i := bytes.Index(buf, want); i >= 0 {
			t.Logf("banner at %#x", stext+off+uint64(i))
			return
		}
	}
	t.Fatalf("no %q in the %d bytes after _stext", want, limit)
}

// kernelMappings walks the kernel half of the page tables and returns the
// direct-map base (the most common va-pa among large leaves) and the 4 KiB
// leaves outside the direct map and the kernel image (vmalloc, modules,
// fixmap, cpu_entry_area).
func kernelMappings(t testing.TB, d *Dump) (directBase uint64, small []Mapping) {
	t.Helper()
	count := map[uint64]uint64{}
	var all []Mapping
	err := d.Mappings(1<<63, startKernelMap, func(m Mapping) bool {
		all = append(all, m)
		if m.Size > 4096 {
			count[m.Virt-m.Phys] += m.Size
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, n := range count {
		if n > count[directBase] {
			directBase = k
		}
	}
	for _, m := range all {
		if m.Size == 4096 && m.Virt-m.Phys != directBase {
			small = append(small, m)
		}
	}
	return directBase, small
}

// Virtual reads of page-table-mapped (vmalloc) memory equal physical reads
// of what the walk found, and VirtToPhys agrees with the walk.
func TestSharedVmalloc(t *testing.T) {
	d := openShared(t, Options{})
	base, small := kernelMappings(t, d)
	if base == 0 || len(small) == 0 {
		t.Fatalf("direct map base %#x, %d small kernel mappings", base, len(small))
	}
	t.Logf("direct map at %#x, %d 4 KiB kernel mappings outside it", base, len(small))
	rng := rand.New(rand.NewPCG(1, 2))
	checked := 0
	for range 200 {
		m := small[rng.IntN(len(small))]
		pa, err := d.VirtToPhys(m.Virt + 123)
		if err != nil || pa != m.Phys+123 {
			t.Fatalf("VirtToPhys(%#x) = %#x, %v; walk says %#x", m.Virt+123, pa, err, m.Phys+123)
		}
		v := make([]byte, 4096)
		p := make([]byte, 4096)
		errV := d.ReadVirt(v, m.Virt)
		errP := d.ReadPhys(p, m.Phys)
		if errP != nil {
			if errV == nil {
				t.Fatalf("ReadVirt(%#x) worked, ReadPhys(%#x): %v", m.Virt, m.Phys, errP)
			}
			continue // a device or hole mapping
		}
		if errV != nil || !bytes.Equal(v, p) {
			t.Fatalf("ReadVirt(%#x) = %v or differs from ReadPhys(%#x)", m.Virt, errV, m.Phys)
		}
		checked++
	}
	if checked < 50 {
		t.Errorf("only %d of 200 vmalloc pages were readable", checked)
	}
	if got, err := d.DirectMapBase(); err != nil || got != base {
		t.Errorf("DirectMapBase = %#x, %v; the walk's most common offset is %#x", got, err, base)
	}
	// The direct map translates like the walk says.
	pa := uint64(0x1234567)
	got, err := d.VirtToPhys(base + pa)
	if err != nil || got != pa {
		t.Errorf("VirtToPhys(direct %#x) = %#x, %v", base+pa, got, err)
	}
}

func TestSharedErrors(t *testing.T) {
	d := openShared(t, Options{})
	b := make([]byte, 8)
	var re *ReadError
	// The kernel image mapping ends near _end (cleanup_highmap): past the
	// last page-table leaf of the image range nothing reads.
	var end uint64
	err := d.Mappings(startKernelMap, startKernelMap+1<<30, func(m Mapping) bool {
		end = m.Virt + m.Size
		return true
	})
	if err != nil || end == 0 {
		t.Fatalf("kernel image mappings: end %#x, %v", end, err)
	}
	if stext, _ := d.VMCoreInfo().Symbol("_stext"); end < stext || end > stext+1<<30 {
		t.Errorf("kernel image mapping ends at %#x, _stext is %#x", end, stext)
	}
	if err := d.ReadVirt(b, end); !errors.Is(err, ErrNotMapped) {
		t.Errorf("read past the kernel image at %#x: %v", end, err)
	}
	if err := d.ReadVirt(b, end-8); err != nil {
		t.Errorf("last bytes of the kernel image at %#x: %v", end-8, err)
	}
	err = d.ReadVirt(b, 0x0000800000000000)
	if !errors.Is(err, ErrNonCanonical) || !errors.As(err, &re) || re.Addr != 0x0000800000000000 {
		t.Errorf("non-canonical read: %v", err)
	}
	err = d.ReadVirt(b, 0x1000) // user half: no kernel mapping
	if !errors.Is(err, ErrNotMapped) {
		t.Errorf("user address read: %v", err)
	}
	err = d.ReadPhys(b, 1<<45)
	if !errors.Is(err, ErrNotInDump) || !errors.As(err, &re) || !re.Phys || re.Addr != 1<<45 {
		t.Errorf("phys read past RAM: %v", err)
	}
}

// The flattened file read in place and its reassembly by makedumpfile -R
// give the same bytes.
func TestSharedReassembled(t *testing.T) {
	src := sharedDump(t)
	mdf, err := exec.LookPath("makedumpfile")
	if err != nil {
		t.Skipf("SKIP: makedumpfile is absent: %v", err)
	}
	out := filepath.Join(t.TempDir(), "vmcore.plain")
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command(mdf, "-R", out)
	cmd.Stdin = in
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("makedumpfile -R: %v\n%s", err, msg)
	}
	flat := openShared(t, Options{})
	plain, err := Open(out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if plain.Format() != "kdump-compressed (zlib)" {
		t.Errorf("reassembled format = %q", plain.Format())
	}
	if plain.Stats().DumpedPages != flat.Stats().DumpedPages {
		t.Errorf("dumped pages: plain %d, flattened %d", plain.Stats().DumpedPages, flat.Stats().DumpedPages)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	a := make([]byte, 4096)
	b := make([]byte, 4096)
	mem := flat.MemorySize()
	for i := range 2000 {
		pa := rng.Uint64N(mem + mem/8)
		n := 1 + rng.IntN(4096)
		ea := flat.ReadPhys(a[:n], pa)
		eb := plain.ReadPhys(b[:n], pa)
		if (ea == nil) != (eb == nil) || (ea != nil && ea.Error() != eb.Error()) {
			t.Fatalf("read %d at phys %#x: flattened %v, plain %v", i, pa, ea, eb)
		}
		if ea == nil && !bytes.Equal(a[:n], b[:n]) {
			t.Fatalf("read %d at phys %#x (%d bytes) differs", i, pa, n)
		}
	}
}

// Concurrent readers through a small cache see the same bytes as one
// reader through a large one.
func TestSharedConcurrent(t *testing.T) {
	ref := openShared(t, Options{})
	d := openShared(t, Options{CacheBytes: 256 << 10})
	base, small := kernelMappings(t, ref)
	stext, _ := ref.VMCoreInfo().Symbol("_stext")
	rng := rand.New(rand.NewPCG(10, 11))
	type job struct {
		va   uint64
		want []byte
	}
	var jobs []job
	for len(jobs) < 400 {
		var va uint64
		switch rng.IntN(3) {
		case 0:
			va = stext + rng.Uint64N(16<<20)
		case 1:
			va = base + rng.Uint64N(ref.MemorySize())
		case 2:
			va = small[rng.IntN(len(small))].Virt + rng.Uint64N(4096)
		}
		b := make([]byte, 1+rng.IntN(6000))
		if ref.ReadVirt(b, va) == nil {
			jobs = append(jobs, job{va, b})
		}
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range jobs {
				j := jobs[(i*7+g*13)%len(jobs)]
				got := make([]byte, len(j.want))
				if err := d.ReadVirt(got, j.va); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, j.want) {
					errs <- fmt.Errorf("goroutine %d: bytes at %#x differ", g, j.va)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if cs := d.CacheStats(); cs.Bytes > 256<<10 {
		t.Errorf("cache over its bound: %+v", cs)
	}
}
