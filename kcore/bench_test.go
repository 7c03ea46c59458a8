package kcore

import (
	"math/rand/v2"
	"testing"
)

// Open the shared dump and read the first page of kernel text.
func BenchmarkOpenFirstPage(b *testing.B) {
	path := sharedDump(b)
	buf := make([]byte, 4096)
	for b.Loop() {
		d, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		stext, _ := d.VMCoreInfo().Symbol("_stext")
		if err := d.ReadVirt(buf, stext); err != nil {
			b.Fatal(err)
		}
		d.Close()
	}
}

// warmAddrs returns page-aligned kernel addresses across the image, the
// direct map and vmalloc, all readable, read once so they are cached.
func warmAddrs(b *testing.B, d *Dump, n int) []uint64 {
	b.Helper()
	stext, _ := d.VMCoreInfo().Symbol("_stext")
	base, small := kernelMappings(b, d)
	rng := rand.New(rand.NewPCG(8, 9))
	buf := make([]byte, 4096)
	var addrs []uint64
	for len(addrs) < n {
		var va uint64
		switch rng.IntN(3) {
		case 0:
			va = stext + rng.Uint64N(16<<20)&^0xfff
		case 1:
			va = base + rng.Uint64N(d.MemorySize())&^0xfff
		case 2:
			va = small[rng.IntN(len(small))].Virt
		}
		if d.ReadVirt(buf, va) == nil {
			addrs = append(addrs, va)
		}
	}
	return addrs
}

// Random 4 KiB reads of cached kernel pages.
func BenchmarkReadVirtWarm4K(b *testing.B) {
	d := openShared(b, Options{})
	addrs := warmAddrs(b, d, 2048)
	buf := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 1))
	b.SetBytes(4096)
	b.ResetTimer()
	for b.Loop() {
		if err := d.ReadVirt(buf, addrs[rng.IntN(len(addrs))]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

func BenchmarkReadVirtWarm4KParallel(b *testing.B) {
	d := openShared(b, Options{})
	addrs := warmAddrs(b, d, 2048)
	b.SetBytes(4096)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		rng := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for pb.Next() {
			if err := d.ReadVirt(buf, addrs[rng.IntN(len(addrs))]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

// Small reads (a pointer) of cached pages: the cost of translation + lookup.
func BenchmarkReadVirtWarm8(b *testing.B) {
	d := openShared(b, Options{})
	addrs := warmAddrs(b, d, 2048)
	buf := make([]byte, 8)
	rng := rand.New(rand.NewPCG(1, 1))
	b.ResetTimer()
	for b.Loop() {
		if err := d.ReadVirt(buf, addrs[rng.IntN(len(addrs))]+uint64(rng.IntN(4088))); err != nil {
			b.Fatal(err)
		}
	}
}

// Cold reads: every physical page once through a small cache, which must
// stay within its bound.
func BenchmarkReadPhysCold(b *testing.B) {
	const bound = 4 << 20
	d := openShared(b, Options{CacheBytes: bound})
	buf := make([]byte, 4096)
	pages := d.MemorySize() / 4096
	b.SetBytes(4096)
	var pfn uint64
	for b.Loop() {
		d.ReadPhys(buf, (pfn%pages)*4096)
		pfn++
	}
	cs := d.CacheStats()
	b.ReportMetric(float64(cs.Bytes)/(1<<20), "cacheMiB")
	if cs.Bytes > bound {
		b.Fatalf("cache holds %d bytes, bound %d", cs.Bytes, bound)
	}
}

// Reading the whole dump keeps the cache within its bound.
func TestSharedCacheBounded(t *testing.T) {
	const bound = 1 << 20
	d := openShared(t, Options{CacheBytes: bound})
	buf := make([]byte, 64<<10)
	read := 0
	for pa := uint64(0); pa < d.MemorySize(); pa += uint64(len(buf)) {
		if d.ReadPhys(buf, pa) == nil {
			read++
		}
	}
	cs := d.CacheStats()
	if cs.Bytes > bound || cs.MaxBytes > bound || cs.Evictions == 0 || read == 0 {
		t.Errorf("after reading %d chunks: %+v (bound %d)", read, cs, bound)
	}
}
