package kcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// flattenInOrder writes plain as makedumpfile and QEMU do: records of at
// most chunk bytes in file order, then the end marker.
func flattenInOrder(plain []byte, chunk int) []byte {
	out := make([]byte, flatHeaderSize)
	copy(out, flatSignature)
	binary.BigEndian.PutUint64(out[16:], 1)
	binary.BigEndian.PutUint64(out[24:], 1)
	var h [16]byte
	for off := 0; off < len(plain); off += chunk {
		end := min(off+chunk, len(plain))
		binary.BigEndian.PutUint64(h[0:], uint64(off))
		binary.BigEndian.PutUint64(h[8:], uint64(end-off))
		out = append(append(out, h[:]...), plain[off:end]...)
	}
	binary.BigEndian.PutUint64(h[0:], ^uint64(0))
	binary.BigEndian.PutUint64(h[8:], 0)
	return append(out, h[:]...)
}

// A dump file cut short opens with its truncation reported (how much page
// data is missing), and every page reads as in the whole file or fails
// with ErrTruncated: never other bytes, never "not in the dump".
func TestTruncatedImages(t *testing.T) {
	m := newTinySynth()
	kdZlib := m.writeKdump(t, kdumpOpts{version: 6, compression: dumpCompressedZlib, vmcoreinfo: true, notes: true, shareZero: true})
	kdRaw := m.writeKdump(t, kdumpOpts{version: 6, vmcoreinfo: true, notes: true})
	elf := readFileT(t, m.writeELF(t, elfQEMU, true, false))
	ps := m.pageSize()
	// Cuts from the page descriptors (ELF: the first PT_LOAD's data) on
	// must open: the headers and bitmaps are before them.
	descOff := func(b []byte) int {
		k, err := openKdump(bytes.NewReader(b), int64(len(b)), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		return int(k.descOff)
	}
	const chunk = 300
	flatPos := func(off int) int {
		return flatHeaderSize + off/chunk*(flatRecHdrSize+chunk) + flatRecHdrSize + off%chunk
	}
	e, err := openELF(bytes.NewReader(elf), int64(len(elf)))
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []struct {
		name string
		data []byte
		from int
	}{
		{"kdump zlib", kdZlib, descOff(kdZlib)},
		{"kdump uncompressed", kdRaw, descOff(kdRaw)},
		{"flattened", flattenInOrder(kdZlib, chunk), flatPos(descOff(kdZlib))},
		{"ELF", elf, int(e.loads[0].offset)},
	} {
		t.Run(img.name, func(t *testing.T) {
			whole, err := Open(writeTemp(t, "whole", img.data), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer whole.Close()
			if tr := whole.Truncation(); tr != nil || len(whole.Warnings()) > 0 {
				t.Fatalf("whole file: truncation %+v, warnings %q", tr, whole.Warnings())
			}
			want := map[uint64][]byte{}
			for pfn := range m.mem {
				b := make([]byte, ps)
				if whole.ReadPhys(b, pfn*ps) == nil {
					want[pfn] = b
				}
			}
			rest := len(img.data) - img.from
			sawMissing := false
			for _, cut := range []int{img.from, img.from + 1, img.from + rest/4, img.from + rest/2, img.from + rest*9/10, len(img.data) - 17, len(img.data) - 1} {
				path := writeTemp(t, "cut", img.data[:cut])
				d, err := Open(path, Options{})
				if err != nil {
					t.Errorf("cut at %d of %d: %v", cut, len(img.data), err)
					continue
				}
				failed := 0
				for pfn, w := range want {
					b := make([]byte, ps)
					err := d.ReadPhys(b, pfn*ps)
					switch {
					case err == nil && !bytes.Equal(b, w):
						t.Errorf("cut at %d: PFN %#x reads other bytes than the whole file", cut, pfn)
					case err != nil && !errors.Is(err, ErrTruncated):
						t.Errorf("cut at %d: PFN %#x: %v, want ErrTruncated", cut, pfn, err)
					case err != nil:
						var te *TruncatedError
						if !errors.As(err, &te) || !strings.Contains(err.Error(), "past the end of the truncated dump file") {
							t.Errorf("cut at %d: PFN %#x: %v is not a *TruncatedError", cut, pfn, err)
						}
						failed++
					}
				}
				sawMissing = sawMissing || failed > 0
				tr := d.Truncation()
				switch {
				case failed > 0 && tr == nil:
					t.Errorf("cut at %d: %d pages unreadable, but no truncation reported", cut, failed)
				case tr != nil && img.name != "ELF" && tr.MissingPages != uint64(failed):
					// Shared zero pages: each PFN counts once, as the
					// dump's descriptors do.
					if !(img.name == "kdump zlib" || img.name == "flattened") || tr.MissingPages < uint64(failed) {
						t.Errorf("cut at %d: %d pages missing reported, %d unreadable", cut, tr.MissingPages, failed)
					}
				case tr != nil:
					w := d.Warnings()
					if len(w) == 0 || !strings.Contains(w[0], path+": truncated: ") || !strings.Contains(w[0], "past the end of the file") {
						t.Errorf("cut at %d: warnings %q", cut, w)
					}
					if tr.MissingBytes == 0 || tr.MissingBytes > tr.TotalBytes || tr.FileSize != int64(cut) {
						t.Errorf("cut at %d: %+v", cut, tr)
					}
				}
				d.Close()
			}
			if !sawMissing {
				t.Error("no cut made a page unreadable: the test tests nothing")
			}
		})
	}
}

// Cut inside the headers or bitmaps, an image does not open, and the error
// names the file; a flattened file's error says it is truncated.
func TestTruncatedHeaders(t *testing.T) {
	m := newTinySynth()
	kd := m.writeKdump(t, kdumpOpts{version: 6, compression: dumpCompressedZlib, vmcoreinfo: true, notes: true})
	flat := flattenInOrder(kd, 300)
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"kdump in the header", kd[:300], "header"},
		{"kdump in the bitmaps", kd[:int(m.pageSize())*4], "past the end"},
		{"flattened in the header", flat[:flatHeaderSize+16+100], "truncated"},
		{"flattened without records", flat[:flatHeaderSize+8], "truncated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, "cut", c.data)
			d, err := Open(path, Options{})
			if err == nil {
				d.Close()
				t.Fatalf("Open succeeded")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q should name %s and say %q", err, path, c.want)
			}
		})
	}
}

// A flattened file that lacks only its end marker holds everything: it
// opens without a warning.
func TestFlattenedNoEndMarker(t *testing.T) {
	m := newTinySynth()
	kd := m.writeKdump(t, kdumpOpts{version: 6, compression: dumpCompressedZlib, vmcoreinfo: true, notes: true})
	f := flattenInOrder(kd, 300)
	d, err := Open(writeTemp(t, "noend", f[:len(f)-16]), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if w := d.Warnings(); len(w) > 0 {
		t.Errorf("warnings %q", w)
	}
}

func TestSizeString(t *testing.T) {
	for _, c := range []struct {
		n    uint64
		want string
	}{
		{0, "0 bytes"}, {1023, "1023 bytes"}, {1536, "1.5 KB"}, {412 << 20, "412 MB"}, {1 << 30, "1.0 GB"}, {26 << 20, "26 MB"},
	} {
		if got := sizeString(c.n); got != c.want {
			t.Errorf("sizeString(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// OpenReaderAt reads an image in memory as Open reads the file.
func TestOpenReaderAt(t *testing.T) {
	m := newTinySynth()
	kd := m.writeKdump(t, kdumpOpts{version: 6, compression: dumpCompressedZlib, vmcoreinfo: true, notes: true})
	for _, c := range []struct {
		name string
		data []byte
	}{{"kdump", kd}, {"flattened", flattenInOrder(kd, 300)}, {"cut", kd[:len(kd)-40]}} {
		t.Run(c.name, func(t *testing.T) {
			path := writeTemp(t, "img", c.data)
			f, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := OpenReaderAt(bytes.NewReader(c.data), int64(len(c.data)), path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if f.Format() != r.Format() || !reflect.DeepEqual(f.Warnings(), r.Warnings()) {
				t.Errorf("file: %s %q; reader: %s %q", f.Format(), f.Warnings(), r.Format(), r.Warnings())
			}
			for pfn := range m.mem {
				a, b := make([]byte, 512), make([]byte, 512)
				ea, eb := f.ReadPhys(a, pfn*512), r.ReadPhys(b, pfn*512)
				if (ea == nil) != (eb == nil) || !bytes.Equal(a, b) {
					t.Errorf("PFN %#x: file %v, reader %v", pfn, ea, eb)
				}
			}
		})
	}
}
