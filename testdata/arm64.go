package testdata

import (
	"fmt"
	"os"
	"testing"
)

// Arm64Kernels are the pinned aarch64 kernels. Debian's arm64 kernels
// are built without CONFIG_KALLSYMS_ALL: kallsyms has no data symbols,
// which kwalk finds in the dump itself (symbols/datasyms.go); the -dbg
// package's System.map is fetched so that tests can compare the two
// readings. The generator boots them
// under qemu-system-aarch64 (TCG, -M virt -cpu max); they are kept apart
// from Kernels so that the x86_64 matrix and its tests are unchanged.
var Arm64Kernels = []Kernel{
	{ID: "arm64-6.1", Suite: "bookworm", Packages: []Package{
		{"linux-image-6.1.0-50-cloud-arm64-unsigned", "6.1.176-1"},
	}, Debug: &Package{"linux-image-6.1.0-50-cloud-arm64-dbg", "6.1.176-1"}},
	// sid's 7.x kernel is split like the x86 sid one (guests.go): the
	// image and the modules are two packages. Under -cpu max it runs a
	// 52-bit kernel VA with LPA2 (TCR_EL1.DS, 4 KB pages, five levels).
	{ID: "arm64-sid", Suite: "sid", Packages: []Package{
		{"linux-binary-unsigned-7.2.13+deb14-cloud-arm64", "7.2.13-1"},
		{"linux-modules-7.2.13+deb14-cloud-arm64", "7.2.13-1"},
	}, Debug: &Package{"linux-image-7.2.13+deb14-cloud-arm64-dbg", "7.2.13-1"}},
	// The same kernel built for 16 KiB pages (Debian's arm64-16k flavour;
	// Debian ships no 64 KiB one): another page size through translation,
	// struct page and folio arithmetic, stacks and the kdump format. Its
	// -dbg package (1.1 GB) is not fetched: the guest is read with the
	// dump alone.
	{ID: "arm64-16k", Suite: "sid", Packages: []Package{
		{"linux-binary-unsigned-7.2.13+deb14-arm64-16k", "7.2.13-1"},
		{"linux-modules-7.2.13+deb14-arm64-16k", "7.2.13-1"},
	}},
}

// Arm64Guests are the aarch64 guests. PagingLevels is 4: the generator's
// check that the guest did not enable x86 LA57 holds trivially (the sid
// kernel's five-level LPA2 tables are not x86's LA57).
var Arm64Guests = []Guest{
	{Name: GuestHangs, Kernel: "arm64-6.1", Scenarios: hangs, PagingLevels: 4, MemoryMB: 512, CPUs: 2},
	{Name: GuestHangs, Kernel: "arm64-sid", Scenarios: hangs, PagingLevels: 4, MemoryMB: 512, CPUs: 2},
	{Name: GuestHangs, Kernel: "arm64-16k", Scenarios: hangs, PagingLevels: 4, MemoryMB: 512, CPUs: 2},
	{Name: GuestStuck2, Kernel: "arm64-6.1", Scenarios: stuck2, PagingLevels: 4, MemoryMB: 512, CPUs: 2, Modules: []string{"loop", "dm_mod", "nbd"}},
	{Name: GuestStuck, Kernel: "arm64-sid", Scenarios: stuck, PagingLevels: 4, MemoryMB: 512, CPUs: 2, Modules: []string{"loop"}},
	{Name: GuestStuck2, Kernel: "arm64-sid", Scenarios: stuck2, PagingLevels: 4, MemoryMB: 512, CPUs: 2, Modules: []string{"loop", "dm_mod", "nbd"}},
	{Name: GuestStuck3, Kernel: "arm64-sid", Scenarios: stuck3Ufutex, PagingLevels: 4, MemoryMB: 512, CPUs: 2, Modules: []string{"loop", "dm_mod", "nfsv3"}},
}

// Arm64KernelByID returns the pinned aarch64 kernel with the given ID.
func Arm64KernelByID(id string) (Kernel, bool) {
	for _, k := range Arm64Kernels {
		if k.ID == id {
			return k, true
		}
	}
	return Kernel{}, false
}

// IsArm64 reports whether g is an aarch64 guest.
func IsArm64(g Guest) bool {
	_, ok := Arm64KernelByID(g.Kernel)
	return ok
}

// RequireArm64 returns the aarch64 dump of kernel and guest, skipping the
// test when it has not been generated (failing it with
// KWALK_REQUIRE_DUMPS=1).
func RequireArm64(t testing.TB, kernel, guest string) *Dump {
	t.Helper()
	for _, g := range Arm64Guests {
		if g.Kernel != kernel || g.Name != guest {
			continue
		}
		k, _ := Arm64KernelByID(kernel)
		k, err := ResolveKernel(k)
		if err != nil {
			t.Fatal(err)
		}
		d, err := LoadDir(DumpDir(g, k))
		if err == nil {
			if root, err := DebugRoot(k); err == nil {
				d.DebugRoot = root
			}
			return d
		}
		msg := fmt.Sprintf("MISSING real dump %s/%s (%v)\n  generate it with: go run ./testdata/gen -only %s/%s   (cache: %s)",
			kernel, guest, err, kernel, guest, CacheDir())
		if os.Getenv("KWALK_REQUIRE_DUMPS") == "1" {
			t.Fatal(msg)
		}
		t.Skip("SKIP: " + msg)
	}
	t.Fatalf("no aarch64 guest %s/%s in Arm64Guests", kernel, guest)
	return nil
}

// EachArm64 runs fn in a subtest (named by the kernel) on the dump of
// guest of every pinned aarch64 kernel that has one, each required as
// RequireArm64 does.
func EachArm64(t *testing.T, guest string, fn func(t *testing.T, d *Dump)) {
	t.Helper()
	n := 0
	for _, g := range Arm64Guests {
		if g.Name != guest {
			continue
		}
		n++
		t.Run(g.Kernel, func(t *testing.T) {
			fn(t, RequireArm64(t, g.Kernel, guest))
		})
	}
	if n == 0 {
		t.Fatalf("no aarch64 guest %s in Arm64Guests", guest)
	}
}

// Arm64Dumps returns the dumps of the aarch64 guests that have been
// generated, for tests that read them with nothing but the dump. A
// missing one is logged (a failure with KWALK_REQUIRE_DUMPS=1).
func Arm64Dumps(t testing.TB) []*Dump {
	t.Helper()
	var out []*Dump
	for _, g := range Arm64Guests {
		k, _ := Arm64KernelByID(g.Kernel)
		k, err := ResolveKernel(k)
		if err == nil {
			var d *Dump
			if d, err = LoadDir(DumpDir(g, k)); err == nil {
				if root, err := DebugRoot(k); err == nil {
					d.DebugRoot = root
				}
				out = append(out, d)
				continue
			}
		}
		msg := fmt.Sprintf("MISSING real dump %s/%s (%v): go run ./testdata/gen -only %s/%s", g.Kernel, g.Name, err, g.Kernel, g.Name)
		if os.Getenv("KWALK_REQUIRE_DUMPS") == "1" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
	return out
}
