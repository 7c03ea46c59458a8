package kcore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestELFImages(t *testing.T) {
	for _, levels := range []int{4, 5} {
		for _, tc := range []struct {
			name       string
			kind       elfKind
			vmcoreinfo bool
			exclTail   bool
			format     string
		}{
			{"kdump", elfKdump, true, false, "ELF (kdump)"},
			{"kdump-filesz-short", elfKdump, true, true, "ELF (kdump)"},
			{"kdump-wrong-vaddr", elfKdumpBadVaddr, true, false, "ELF (kdump)"},
			{"qemu-vmcoreinfo", elfQEMU, true, false, "ELF (QEMU, physical)"},
			{"qemu-cr3-only", elfQEMU, false, false, "ELF (QEMU, physical)"},
		} {
			t.Run(fmt.Sprintf("%s/%d-level", tc.name, levels), func(t *testing.T) {
				m := newSynth(t, levels, uint64(levels))
				path := m.writeELF(t, tc.kind, tc.vmcoreinfo, tc.exclTail)
				d, err := Open(path, Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				if d.Format() != tc.format {
					t.Errorf("Format = %q, want %q", d.Format(), tc.format)
				}
				if (d.VMCoreInfo() != nil) != tc.vmcoreinfo {
					t.Errorf("VMCoreInfo present = %v", d.VMCoreInfo() != nil)
				}
				m.checkDump(t, d, checkOpts{vmcoreinfo: tc.vmcoreinfo, exclTail: tc.exclTail})
				if tc.kind == elfQEMU {
					for i, c := range d.CPUs() {
						if c.CPU != i || c.PID != i+1 || c.CR3 != m.root || c.KernelGSBase != m.cpus[i].KernelGSBase {
							t.Errorf("QEMU CPU %d: %+v", i, c)
						}
					}
				} else {
					for i, c := range d.CPUs() {
						if c.PID != m.cpus[i].PID || c.Regs != m.cpus[i].Regs {
							t.Errorf("kdump CPU %d: %+v", i, c)
						}
					}
				}
				if want := uint64(4<<20 + 2<<20 + 64<<10); d.MemorySize() != want {
					t.Errorf("MemorySize = %d, want %d", d.MemorySize(), want)
				}
				if want := uint64(b2i(tc.exclTail) * len(m.ram)); d.Stats().ExcludedPages != want {
					t.Errorf("ExcludedPages = %d, want %d", d.Stats().ExcludedPages, want)
				}
			})
		}
	}
}

func TestELFZeroExcluded(t *testing.T) {
	m := newSynth(t, 4, 1)
	path := m.writeELF(t, elfKdump, true, true)
	d, err := Open(path, Options{ZeroExcluded: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := []byte{1, 2, 3, 4}
	if err := d.ReadPhys(b, 4<<20-8); err != nil || string(b) != "\x00\x00\x00\x00" {
		t.Errorf("ReadPhys of a filesz<memsz page = %v, %v; want zeros", b, err)
	}
}

var compressions = []struct {
	name string
	flag uint32
}{{"uncompressed", 0}, {"zlib", dumpCompressedZlib}, {"lzo", dumpCompressedLZO}, {"snappy", dumpCompressedSnappy}, {"zstd", dumpCompressedZstd}}

func TestKdumpImages(t *testing.T) {
	for _, levels := range []int{4, 5} {
		for _, c := range compressions {
			for _, flat := range []bool{false, true} {
				name := fmt.Sprintf("%s/%d-level/flat=%v", c.name, levels, flat)
				t.Run(name, func(t *testing.T) {
					m := newSynth(t, levels, uint64(levels)*7)
					b := m.writeKdump(t, kdumpOpts{version: 6, compression: c.flag, vmcoreinfo: true, notes: true, shareZero: flat})
					want := "kdump-compressed (" + c.name + ")"
					if flat {
						b = flatten(b, 5000, uint64(levels))
						want = "kdump-compressed (flattened, " + c.name + ")"
					}
					d, err := Open(writeTemp(t, "vmcore", b), Options{CacheBytes: 256 << 10})
					if err != nil {
						t.Fatal(err)
					}
					defer d.Close()
					if d.Format() != want {
						t.Errorf("Format = %q, want %q", d.Format(), want)
					}
					m.checkDump(t, d, checkOpts{vmcoreinfo: true, excluded: true})
					st := d.Stats()
					if st.ExcludedPages != uint64(len(m.excluded)) || st.PresentPages != uint64(len(m.mem)) {
						t.Errorf("Stats = %+v, want %d excluded of %d", st, len(m.excluded), len(m.mem))
					}
					if u := d.Utsname(); u.Machine != "x86_64" || u.Release != "6.99.0-synth" {
						t.Errorf("Utsname = %+v", u)
					}
					if cs := d.CacheStats(); cs.Bytes > cs.MaxBytes || cs.MaxBytes > 256<<10 {
						t.Errorf("cache exceeds its bound: %+v", cs)
					}
				})
			}
		}
	}
}

// Header versions 1..6: older ones have no VMCOREINFO / notes in the
// sub-header, so translation falls back to the sub-header phys_base (no
// root) and fails clearly; physical reads work in every version.
func TestKdumpVersions(t *testing.T) {
	for v := 1; v <= 6; v++ {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			m := newSynth(t, 4, 3)
			b := m.writeKdump(t, kdumpOpts{version: v, compression: dumpCompressedZlib, vmcoreinfo: true, notes: true})
			d, err := Open(writeTemp(t, "vmcore", b), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			m.checkPhysOnly(t, d)
			if v >= 3 {
				m.checkDump(t, d, checkOpts{vmcoreinfo: true, excluded: true, noNotes: v < 4})
			} else if err := d.ReadVirt(make([]byte, 8), m.directBase); err == nil {
				t.Errorf("version %d has no page-table root, yet ReadVirt worked", v)
			}
			if v >= 1 && d.Stats().DumpLevel != 31 {
				t.Errorf("dump level %d", d.Stats().DumpLevel)
			}
		})
	}
	t.Run("DISKDUMP", func(t *testing.T) {
		m := newSynth(t, 4, 3)
		b := m.writeKdump(t, kdumpOpts{version: 5, signature: diskdumpSignature})
		d, err := Open(writeTemp(t, "vmcore", b), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		m.checkPhysOnly(t, d)
	})
}

func (m *synthMachine) checkPhysOnly(t *testing.T, d *Dump) {
	t.Helper()
	for pfn, pg := range m.mem {
		got := make([]byte, synthPage)
		err := d.ReadPhys(got, pfn*synthPage)
		switch {
		case m.excluded[pfn]:
			if !errors.Is(err, ErrExcluded) {
				t.Fatalf("excluded PFN %#x: %v", pfn, err)
			}
		case err != nil:
			t.Fatalf("PFN %#x: %v", pfn, err)
		case string(got) != string(pg):
			t.Fatalf("PFN %#x: wrong bytes", pfn)
		}
	}
}

func TestKdumpZeroExcluded(t *testing.T) {
	m := newSynth(t, 4, 2)
	b := m.writeKdump(t, kdumpOpts{version: 6, compression: dumpCompressedSnappy, vmcoreinfo: true})
	d, err := Open(writeTemp(t, "vmcore", b), Options{ZeroExcluded: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for pfn := range m.excluded {
		got := []byte{1, 2, 3}
		if err := d.ReadVirt(got, m.directBase+pfn*synthPage); err != nil || string(got) != "\x00\x00\x00" {
			t.Errorf("excluded PFN %#x with ZeroExcluded: %v %v", pfn, got, err)
		}
	}
	// Outside RAM stays an error.
	if err := d.ReadPhys(make([]byte, 8), 8<<20); !errors.Is(err, ErrNotInDump) {
		t.Errorf("hole with ZeroExcluded: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	m := newSynth(t, 4, 1)
	kd := m.writeKdump(t, kdumpOpts{version: 6, compression: dumpCompressedZlib, vmcoreinfo: true})
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a kernel memory image"},
		{"text", []byte("hello, this is not a dump at all\n"), "not a kernel memory image"},
		{"truncated kdump", kd[:5000], "bitmap"},
		{"truncated flattened", flatten(kd, 4096, 1)[:9000], "flattened"},
		{"ELF exec", append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 100)...), "ET_CORE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "bad", tc.data)
			d, err := Open(path, Options{})
			if err == nil {
				d.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q should name %s and say %q", err, path, tc.want)
			}
		})
	}
	if _, err := Open("/nonexistent/vmcore", Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// A /proc/kcore-shaped image read through the live code path: virtual
// reads go straight to the segments, physical ones through RAM segments,
// and VirtToPhys walks the page tables.
func TestKcoreLayout(t *testing.T) {
	for _, levels := range []int{4, 5} {
		t.Run(fmt.Sprint(levels, "-level"), func(t *testing.T) {
			m := newSynth(t, levels, 11)
			path := m.writeELF(t, elfKcore, true, false)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			d := &Dump{path: path, file: f}
			fi, _ := f.Stat()
			if err := d.openKcore(f, fi.Size()); err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if !d.Live() || d.Format() != ProcKcore || len(d.CPUs()) != 0 {
				t.Errorf("Live %v Format %q CPUs %d", d.Live(), d.Format(), len(d.CPUs()))
			}
			if want := uint64(4<<20 + 2<<20 + 64<<10); d.MemorySize() != want {
				t.Errorf("MemorySize = %d, want %d", d.MemorySize(), want)
			}
			for i := 0; i < m.vmalloc4KN; i++ {
				va := m.vmalloc4K + uint64(i)*synthPage
				pa, err := d.VirtToPhys(va)
				if err != nil {
					t.Fatal(err)
				}
				got, want := make([]byte, 100), make([]byte, 100)
				if err := d.ReadVirt(got, va); err != nil {
					t.Fatal(err)
				}
				if err := d.ReadPhys(want, pa); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("vmalloc page %d: kcore segment and physical page differ", i)
				}
			}
			if base, err := d.DirectMapBase(); err != nil || base != m.directBase {
				t.Errorf("DirectMapBase = %#x, %v; want %#x", base, err, m.directBase)
			}
			got := make([]byte, 16)
			if err := d.ReadVirt(got, m.kernelVA+0x100); err != nil {
				t.Error(err)
			}
			if err := d.ReadVirt(got, m.vmalloc2M); !errors.Is(err, ErrNotInDump) {
				t.Errorf("read outside kcore segments: %v", err)
			}
		})
	}
}

// Without /proc/kcore the live open fails with an error that says why.
func TestOpenLiveError(t *testing.T) {
	d, err := OpenLive(Options{})
	if err == nil {
		defer d.Close()
		if !d.Live() || d.VMCoreInfo() == nil {
			t.Errorf("live image: Live %v, VMCOREINFO %v", d.Live(), d.VMCoreInfo() != nil)
		}
		b := make([]byte, 64)
		stext, _ := d.VMCoreInfo().Symbol("_stext")
		if err := d.ReadVirt(b, stext); err != nil {
			t.Errorf("reading _stext live: %v", err)
		}
		return
	}
	if !strings.Contains(err.Error(), ProcKcore) {
		t.Errorf("error %q does not name %s", err, ProcKcore)
	}
	t.Logf("live open: %v", err)
}

// An incomplete dump (makedumpfile ran out of space) reads what was
// written and names the rest as not in the dump.
func TestKdumpIncomplete(t *testing.T) {
	m := newSynth(t, 4, 5)
	b := m.writeKdump(t, kdumpOpts{version: 6, compression: dumpCompressedZlib, vmcoreinfo: true, incompleteAt: 600})
	d, err := Open(writeTemp(t, "vmcore", b), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !d.Stats().Incomplete {
		t.Error("Stats().Incomplete is false")
	}
	buf := make([]byte, 8)
	if err := d.ReadPhys(buf, 0x10000); err != nil {
		t.Errorf("early page: %v", err)
	}
	err = d.ReadPhys(buf, 4<<30)
	if !errors.Is(err, ErrNotInDump) || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("late page: %v", err)
	}
}

// A kdump ELF without VMCOREINFO (or CR3): kernel text translates with the
// phys_base its text PT_LOAD implies, the direct map with the base its RAM
// PT_LOADs imply, and anything else fails saying there is no root.
func TestELFKdumpNoVMCoreInfo(t *testing.T) {
	m := newSynth(t, 4, 4)
	d, err := Open(m.writeELF(t, elfKdump, false, false), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, c := range []struct{ va, pa uint64 }{
		{m.kernelVA + 0x40, m.kernelPA + 0x40},
		{m.directBase + 0x5000, 0x5000},
	} {
		if pa, err := d.VirtToPhys(c.va); err != nil || pa != c.pa {
			t.Errorf("VirtToPhys(%#x) = %#x, %v; want %#x", c.va, pa, err, c.pa)
		}
	}
	err = d.ReadVirt(make([]byte, 8), m.vmalloc4K)
	if err == nil || !strings.Contains(err.Error(), "no page-table root") {
		t.Errorf("vmalloc read without a root: %v", err)
	}
}
