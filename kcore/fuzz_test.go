package kcore

// Fuzz targets for every parser that reads untrusted bytes.
//
// The image targets do not fuzz whole images: they fuzz the pieces of a
// tiny image (header fields, sub-header, bitmaps, page descriptors, page
// data, notes, program headers), each a small argument that the test lays
// at a fixed place. The fuzzer's minimizer is quadratic in the length of
// an argument, so with whole images of several KiB it spent the run
// minimizing (FuzzKdump: 37 inputs in 3 minutes). Raw page contents are
// given as sparse 8-byte writes, so page tables cost a few bytes each.
//
//	go test -run XXX -fuzz '^FuzzKdump$' -fuzztime 20s ./kcore/

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"unicode"
)

// newTinySynth is a machine small enough for fuzz seeds: 12 pages of 512
// bytes, no page tables.
func newTinySynth() *synthMachine {
	const ps = 512
	m := &synthMachine{
		levels:     4,
		ram:        []synthRange{{0, 8 * ps}, {12 * ps, 16 * ps}},
		mem:        map[uint64][]byte{},
		excluded:   map[uint64]bool{3: true},
		zero:       map[uint64]bool{},
		vmcoreinfo: "OSRELEASE=6.99\nPAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff82a10000\nNUMBER(phys_base)=-33554432\n",
		cpus:       []CPUState{{CPU: 0, PID: 1, CR3: 0x1000}},
	}
	for _, r := range m.ram {
		for pa := r.lo; pa < r.hi; pa += ps {
			pg := make([]byte, ps)
			if pa%(2*ps) == 0 {
				for i := range pg {
					pg[i] = byte(pa>>9) + byte(i%7)
				}
			}
			m.mem[pa/ps] = pg
		}
	}
	return m
}

func FuzzVMCoreInfo(f *testing.F) {
	f.Add([]byte(newTinySynth().vmcoreinfo))
	f.Add([]byte("SYMBOL(x)=ffffffffffffffffff\nNUMBER(y)=-0x10\nOFFSET(a.b)=0x\nCRASHTIME=-9223372036854775808\n"))
	f.Add([]byte("\x00\x00=\n=\n==\nKERNELOFFSET=0x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVMCoreInfo(b)
		if err != nil {
			return
		}
		for _, k := range v.Keys() {
			if _, ok := v.Get(k); !ok {
				t.Fatalf("key %q listed but absent", k)
			}
		}
		v.OSRelease()
		v.BuildID()
		v.PageSize()
		v.KernelOffset()
		v.CrashTime()
		v.Symbol("x")
		v.Number("y")
		v.Offset("a.b")
		v.Size("page")
		v.Length("mem_section")
	})
}

func FuzzNotes(f *testing.F) {
	m := newTinySynth()
	f.Add(m.notes(noteOpts{qemu: true, vmcoreinfo: true}))
	f.Add(m.notes(noteOpts{vmcoreinfo: true}))
	f.Add(appendNote(nil, "CORE", ntPRStatus, []byte{1, 2, 3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		notes, _ := parseNotes(b, binary.LittleEndian)
		ni := interpretNotes(notes, binary.LittleEndian)
		if len(ni.cpus) > len(b)/12+1 {
			t.Fatalf("%d CPUs from %d bytes", len(ni.cpus), len(b))
		}
	})
}

// ---- the tiny images ----

// Virtual addresses the seeds map: the x86_64 direct map without KASLR
// (page_offset_base), through one 1 GiB leaf onto physical 0.
const fzDirectMap = 0xffff888000000000

// fzVMCOREINFO is the seeds' VMCOREINFO: the page-table root at physical
// 0x1000 (kdump) or 0 (ELF), phys_base 0.
const (
	fzVMCOREINFOKdump = "OSRELEASE=6.1.0-fuzz\nPAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff80001000\nNUMBER(phys_base)=0\nKERNELOFFSET=0\nCRASHTIME=1700000000\n"
	fzVMCOREINFOELF   = "OSRELEASE=6.1.0-fuzz\nPAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff80000000\nNUMBER(phys_base)=0\n"
)

// sparseWrites applies w, a list of 10-byte records {u16 word index, u64
// value} (little-endian), to dst as 8-byte words; indexes past dst wrap.
// Page tables and other mostly-zero pages cost a few bytes this way.
func sparseWrites(dst, w []byte) {
	words := len(dst) / 8
	if words == 0 {
		return
	}
	for ; len(w) >= 10; w = w[10:] {
		i := int(binary.LittleEndian.Uint16(w)) % words
		copy(dst[i*8:], w[2:10])
	}
}

// sparse encodes word writes for sparseWrites.
func sparse(words map[uint16]uint64) []byte {
	var b []byte
	for i := uint16(0); i < 0xffff; i++ {
		if v, ok := words[i]; ok {
			b = binary.LittleEndian.AppendUint16(b, i)
			b = binary.LittleEndian.AppendUint64(b, v)
		}
	}
	return b
}

// cpuNotes builds a CPU's notes from a compact description, little-endian:
// CR3, CS and CR4 as u64, pid as u32, then flags (bit 0: add a QEMU note;
// bit 1: leave out NT_PRSTATUS). Missing bytes are zero; no bytes, no
// notes. PRSTATUS and QEMU notes are a few hundred bytes each: as fuzz
// arguments they would be slow to minimize.
func cpuNotes(cpu []byte) []byte {
	if len(cpu) == 0 {
		return nil
	}
	var w [29]byte
	copy(w[:], cpu)
	le := binary.LittleEndian
	c := CPUState{CR3: le.Uint64(w[0:]), CR4: le.Uint64(w[16:]), PID: int(int32(le.Uint32(w[24:])))}
	c.Regs.CS = le.Uint64(w[8:])
	var b []byte
	if w[28]&2 == 0 {
		b = appendNote(b, "CORE", ntPRStatus, prstatus(c))
	}
	if w[28]&1 != 0 {
		b = appendNote(b, "QEMU", 0, qemuState(c))
	}
	return b
}

func cpuDesc(cr3, cs, cr4 uint64, pid uint32, flags byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, cr3)
	b = binary.LittleEndian.AppendUint64(b, cs)
	b = binary.LittleEndian.AppendUint64(b, cr4)
	b = binary.LittleEndian.AppendUint32(b, pid)
	return append(b, flags)
}

// The kdump-compressed image (512-byte blocks) and the fixed slots of its
// pieces.
const (
	fzBlock    = 512
	fzSubLen   = 128                                 // the 104-byte kdump_sub_header
	fzNotesOff = fzBlock + fzSubLen                  // notes: up to 384 bytes
	fzVMCIOff  = 2 * fzBlock                         // VMCOREINFO: one block
	fzBitmap1  = 3 * fzBlock                         // bitmap_blocks = 2
	fzBitmap2  = 4 * fzBlock                         //
	fzDescOff  = 5 * fzBlock                         // page descriptors
	fzMaxDescs = 16                                  //
	fzZDataOff = fzDescOff + fzMaxDescs*pageDescSize // compressed pages: 1 KiB
	fzRawOff   = fzZDataOff + 1024                   // raw pages, by sparse writes
	fzRawPages = 5                                   //
	fzKdumpLen = fzRawOff + fzRawPages*fzBlock       //
	fzHdrTail  = dhTimestamp                         // hdr[4:] covers [dhTimestamp, dhSize)
	fzHdrLen   = 4 + dhSize - fzHdrTail              // version + the tail
	fzUtsLen   = dhTimestamp - dhUtsname             // hdr past fzHdrLen overlays utsname
	fzMaxMapnr = 16                                  // PFNs of the seeds
)

// kdumpPieces are the fuzzed parts of a tiny kdump-compressed image.
type kdumpPieces struct {
	hdr     []byte // header_version, then disk_dump_header from timestamp to its end; more: utsname
	sub     []byte // kdump_sub_header
	bitmaps []byte // 1st bitmap, then 2nd bitmap (halves)
	descs   []byte // page descriptors
	zdata   []byte // compressed page data
	raw     []byte // sparse writes into the raw pages
	notes   []byte // raw ELF notes
	cpu     []byte // a CPU's notes, compactly (cpuNotes)
	vmci    []byte // VMCOREINFO
}

// image lays the pieces out; cut shortens the file (a truncated dump).
func (k kdumpPieces) image(diskdump bool, cut uint16) []byte {
	img := make([]byte, fzKdumpLen)
	if diskdump {
		copy(img, diskdumpSignature)
	} else {
		copy(img, kdumpSignature)
	}
	copy(img[dhUtsname:], "Linux")
	copy(img[dhUtsname+2*utsFieldLen:], "6.1.0-fuzz")
	copy(img[dhUtsname+4*utsFieldLen:], "x86_64")
	copy(img[dhVersion:dhVersion+4], k.hdr)
	if len(k.hdr) > 4 {
		copy(img[fzHdrTail:dhSize], k.hdr[4:])
	}
	if len(k.hdr) > fzHdrLen {
		copy(img[dhUtsname:dhUtsname+fzUtsLen], k.hdr[fzHdrLen:])
	}
	copy(img[fzBlock:fzNotesOff], k.sub)
	notes := append(append([]byte(nil), k.notes...), cpuNotes(k.cpu)...)
	copy(img[fzNotesOff:fzVMCIOff], notes)
	copy(img[fzVMCIOff:fzBitmap1], k.vmci)
	half := len(k.bitmaps) / 2
	copy(img[fzBitmap1:fzBitmap2], k.bitmaps[:half])
	copy(img[fzBitmap2:fzDescOff], k.bitmaps[half:])
	copy(img[fzDescOff:fzZDataOff], k.descs)
	copy(img[fzZDataOff:fzRawOff], k.zdata)
	sparseWrites(img[fzRawOff:], k.raw)
	if int(cut) < len(img) {
		img = img[:len(img)-int(cut)]
	}
	return img
}

// lzoRun encodes a page of one repeated byte as LZO1X
// (Documentation/staging/lzo.rst): a first byte of 18 (one literal), the
// literal, an M3 match of distance 1 for the rest, and the end marker.
func lzoRun(v byte, n int) []byte {
	rest := n - 1 - 2 - 31 // M3 length = 2 + 31 + 255*zeros + last
	out := []byte{18, v, 0x20}
	for ; rest > 255; rest -= 255 {
		out = append(out, 0)
	}
	return append(out, byte(rest), 0, 0, 0x11, 0, 0)
}

// tinyKdump returns consistent pieces: 16 PFNs of RAM, of which 0, 1, 2,
// 8 and 12 are dumped (the others are excluded). The page-table root is at
// 0x1000 (PFNs 8-15): PFN 12 holds its kernel-half entry, pointing at PFN
// 0, whose entry 0 maps the direct map with a 1 GiB leaf. PFNs 0 and 12
// are raw pages; PFN 1 (all 0x11), 2 (all 0x22) and 8 (zero) are
// compressed as compression says (raw pages when 0).
func tinyKdump(t testing.TB, compression uint32, version int, withCPU bool) kdumpPieces {
	t.Helper()
	le := binary.LittleEndian
	var k kdumpPieces
	vmci := []byte(fzVMCOREINFOKdump)
	if withCPU {
		k.cpu = cpuDesc(0x1000, 0x10, 0, 1, 0)
	}
	notes := len(cpuNotes(k.cpu))

	k.hdr = make([]byte, fzHdrLen)
	le.PutUint32(k.hdr, uint32(version))
	hdr32 := func(off int, v uint32) { le.PutUint32(k.hdr[4+off-fzHdrTail:], v) }
	le.PutUint64(k.hdr[4+dhTimestamp-fzHdrTail:], 1700000000)
	hdr32(dhStatus, compression)
	hdr32(dhBlockSize, fzBlock)
	hdr32(dhSubHdrSize, 2)
	hdr32(dhBitmapBlocks, 2)
	hdr32(dhMaxMapnr, fzMaxMapnr)
	hdr32(dhNrCPUs, 1)

	k.sub = make([]byte, subHeaderBytes)
	le.PutUint32(k.sub[shDumpLevel:], 31)
	le.PutUint64(k.sub[shEndPFN:], fzMaxMapnr)
	if version >= 3 {
		le.PutUint64(k.sub[shOffVMCI:], fzVMCIOff)
		le.PutUint64(k.sub[shSizeVMCI:], uint64(len(vmci)))
		k.vmci = vmci
	}
	if version >= 4 && notes > 0 {
		le.PutUint64(k.sub[shOffNote:], fzNotesOff)
		le.PutUint64(k.sub[shSizeNote:], uint64(notes))
	}
	if version >= 6 {
		le.PutUint64(k.sub[shEndPFN64:], fzMaxMapnr)
		le.PutUint64(k.sub[shMaxMapnr64:], fzMaxMapnr)
	}
	k.bitmaps = []byte{0xff, 0xff, 0x07, 0x11}

	desc := func(off uint64, size int, flags uint32) {
		var d [pageDescSize]byte
		le.PutUint64(d[0:], off)
		le.PutUint32(d[8:], uint32(size))
		le.PutUint32(d[12:], flags)
		k.descs = append(k.descs, d[:]...)
	}
	// Raw page 0 is PFN 0, raw page 1 PFN 12: PML4[273] (0xffff888000000000)
	// at 0x1000+273*8 is PFN 12 + 136.
	words := map[uint16]uint64{0: 0x83, fzBlock/8 + 136/8: 0x3}
	page := func(rawPage int, v byte) {
		if compression == 0 {
			desc(uint64(fzRawOff+rawPage*fzBlock), fzBlock, 0)
			if v != 0 {
				words[uint16(rawPage*fzBlock/8)] = 0x0101010101010101 * uint64(v)
			}
			return
		}
		c, flags := lzoRun(v, fzBlock), uint32(dumpCompressedLZO)
		if compression != dumpCompressedLZO {
			c, flags = compressPage(t, compression, bytes.Repeat([]byte{v}, fzBlock))
		}
		if flags == 0 {
			t.Fatalf("compression %#x: a page of %#x did not compress", compression, v)
		}
		desc(uint64(fzZDataOff+len(k.zdata)), len(c), flags)
		k.zdata = append(k.zdata, c...)
	}
	desc(fzRawOff, fzBlock, 0) // PFN 0
	page(2, 0x11)              // PFN 1
	page(3, 0x22)              // PFN 2
	page(4, 0)                 // PFN 8
	desc(fzRawOff+fzBlock, fzBlock, 0)
	k.raw = sparse(words)
	if len(k.zdata) > fzRawOff-fzZDataOff {
		t.Fatalf("compressed pages of %d bytes overflow their slot", len(k.zdata))
	}
	return k
}

func FuzzKdump(f *testing.F) {
	for _, c := range compressions {
		k := tinyKdump(f, c.flag, 6, c.flag == dumpCompressedZlib)
		f.Add(k.hdr, k.sub, k.bitmaps, k.descs, k.zdata, k.raw, k.notes, k.cpu, k.vmci, false, uint16(0))
	}
	for _, v := range []int{1, 2, 5} {
		k := tinyKdump(f, dumpCompressedSnappy, v, v == 5)
		f.Add(k.hdr, k.sub, k.bitmaps, k.descs, k.zdata, k.raw, k.notes, k.cpu, k.vmci, v == 1, uint16(100))
	}
	f.Fuzz(func(t *testing.T, hdr, sub, bitmaps, descs, zdata, raw, notes, cpu, vmci []byte, diskdump bool, cut uint16) {
		k := kdumpPieces{hdr: hdr, sub: sub, bitmaps: bitmaps, descs: descs, zdata: zdata, raw: raw, notes: notes, cpu: cpu, vmci: vmci}
		fuzzReadImage(t, k.image(diskdump, cut))
	})
}

// tinyFlatKdump is the image the flattened target rearranges.
func tinyFlatKdump(t testing.TB) []byte {
	return tinyKdump(t, dumpCompressedZlib, 6, true).image(false, 0)
}

// Bounds of flatImage, so that a grown plan cannot make a large image.
const (
	fzMaxFlatRecs = 64
	fzMaxFlatRec  = 8 << 10
)

// flatPlan encodes records for flatImage: {u16 offset in 8-byte units,
// u16 size} each, little-endian.
func flatPlan(recs ...[2]int) []byte {
	var b []byte
	for _, r := range recs {
		b = binary.LittleEndian.AppendUint16(b, uint16(r[0]/8))
		b = binary.LittleEndian.AppendUint16(b, uint16(r[1]))
	}
	return b
}

// flatImage writes img in the makedumpfile flattened format as plan says
// (at most fzMaxFlatRecs records of img's bytes, zeros past its end, sizes
// modulo fzMaxFlatRec), then extra raw bytes, then the end marker unless
// noEnd. hdr overlays the type and version fields.
func flatImage(img, hdr, plan, extra []byte, noEnd bool) []byte {
	out := make([]byte, flatHeaderSize)
	copy(out, flatSignature)
	binary.BigEndian.PutUint64(out[16:], flatType)
	binary.BigEndian.PutUint64(out[24:], 1)
	copy(out[16:32], hdr)
	var h [flatRecHdrSize]byte
	for n := 0; len(plan) >= 4 && n < fzMaxFlatRecs; n, plan = n+1, plan[4:] {
		off := int(binary.LittleEndian.Uint16(plan)) * 8
		size := int(binary.LittleEndian.Uint16(plan[2:])) % fzMaxFlatRec
		binary.BigEndian.PutUint64(h[0:], uint64(off))
		binary.BigEndian.PutUint64(h[8:], uint64(size))
		out = append(out, h[:]...)
		data := make([]byte, size)
		if off < len(img) {
			copy(data, img[off:])
		}
		out = append(out, data...)
	}
	out = append(out, extra...)
	if !noEnd {
		binary.BigEndian.PutUint64(h[0:], ^uint64(0))
		binary.BigEndian.PutUint64(h[8:], 0)
		out = append(out, h[:]...)
	}
	return out
}

func FuzzFlattened(f *testing.F) {
	img := tinyFlatKdump(f)
	n := len(img)
	var inOrder, shuffled [][2]int
	for off := 0; off < n; off += 512 {
		inOrder = append(inOrder, [2]int{off, min(512, n-off)})
	}
	for i := range inOrder {
		shuffled = append(shuffled, inOrder[(i*7)%len(inOrder)])
	}
	f.Add([]byte(nil), flatPlan(inOrder...), []byte(nil), false)
	// Stale bytes first, overwritten by later records; records split at
	// odd places; a hole (zeros) where no record writes.
	stale := append([][2]int{{fzDescOff, 40}, {8, 600}}, shuffled...)
	f.Add([]byte(nil), flatPlan(stale...), []byte(nil), false)
	f.Add([]byte(nil), flatPlan([2]int{0, 3000}, [2]int{3000, n - 3000 - 512}), []byte(nil), false)
	// Truncated: no end marker, a record running past the end.
	f.Add([]byte(nil), flatPlan(inOrder[:3]...), []byte{0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x20, 0}, true)
	f.Fuzz(func(t *testing.T, hdr, plan, extra []byte, noEnd bool) {
		fuzzReadImage(t, flatImage(img, hdr, plan, extra, noEnd))
	})
}

// The ELF image and its slots: the header, 8 program headers, 1 KiB of
// notes, then 8 KiB of memory.
const (
	fzPhdrOff  = elfHdrSize
	fzMaxPhdrs = 8
	fzENotes   = fzPhdrOff + fzMaxPhdrs*phdrSize // 512
	fzEMemOff  = fzENotes + 1024
	fzEMemLen  = 8 << 10
)

// elfPieces are the fuzzed parts of a tiny ELF core.
type elfPieces struct {
	ehdr  []byte // ELF header after the magic
	phdrs []byte
	notes []byte // raw notes
	cpu   []byte // a CPU's notes, compactly (cpuNotes)
	mem   []byte // sparse writes into the memory
}

func (e elfPieces) image(cut uint16) []byte {
	img := make([]byte, fzEMemOff+fzEMemLen)
	copy(img, "\x7fELF")
	copy(img[4:elfHdrSize], e.ehdr)
	copy(img[fzPhdrOff:fzENotes], e.phdrs)
	notes := append(append([]byte(nil), e.notes...), cpuNotes(e.cpu)...)
	copy(img[fzENotes:fzEMemOff], notes)
	sparseWrites(img[fzEMemOff:], e.mem)
	if int(cut) < len(img) {
		img = img[:len(img)-int(cut)]
	}
	return img
}

// tinyELF returns consistent pieces of a kdump (VMCOREINFO note, RAM
// PT_LOADs at their direct-map addresses, a kernel-text PT_LOAD) or QEMU
// (CPU notes with CR3, physical PT_LOADs) ELF core. Memory: 8 KiB of RAM
// (QEMU: 4 KiB), 2 KiB of it left out (p_filesz < p_memsz); page tables
// map the direct map with a 1 GiB leaf (root at 0 for kdump, 0x1000 for
// QEMU).
func tinyELF(t testing.TB, qemu bool) elfPieces {
	t.Helper()
	le := binary.LittleEndian
	var e elfPieces
	e.ehdr = make([]byte, elfHdrSize-4)
	e.ehdr[0], e.ehdr[1], e.ehdr[2] = 2, 1, 1 // ELF64, little-endian, version 1
	le.PutUint16(e.ehdr[16-4:], etCore)
	le.PutUint16(e.ehdr[18-4:], emX86_64)
	le.PutUint32(e.ehdr[20-4:], 1)
	le.PutUint64(e.ehdr[32-4:], fzPhdrOff)
	le.PutUint16(e.ehdr[52-4:], elfHdrSize)
	le.PutUint16(e.ehdr[54-4:], phdrSize)

	if qemu {
		e.cpu = cpuDesc(0x1000, 0x10, 0, 1, 1)
	} else {
		e.notes = appendNote(nil, "VMCOREINFO", 0, []byte(fzVMCOREINFOELF))
	}
	notesLen := len(e.notes) + len(cpuNotes(e.cpu))
	ph := func(typ uint32, off, vaddr, paddr, filesz, memsz uint64) {
		p := make([]byte, phdrSize)
		le.PutUint32(p[0:], typ)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], vaddr)
		le.PutUint64(p[24:], paddr)
		le.PutUint64(p[32:], filesz)
		le.PutUint64(p[40:], memsz)
		e.phdrs = append(e.phdrs, p...)
	}
	ph(ptNote, fzENotes, 0, 0, uint64(notesLen), uint64(notesLen))
	if qemu {
		ph(ptLoad, fzEMemOff, 0, 0, 0x800, 0x1000) // the second half left out
		ph(ptLoad, fzEMemOff+0x1000, 0x1000, 0x1000, 0x1000, 0x1000)
	} else {
		ph(ptLoad, fzEMemOff+0x1000, startKernelMap+0x1000, 0x1000, 0x800, 0x800) // kernel text
		ph(ptLoad, fzEMemOff, fzDirectMap, 0, 0x1800, 0x2000)
	}
	le.PutUint16(e.ehdr[56-4:], uint16(len(e.phdrs)/phdrSize))
	if qemu {
		// Root 0x1000: PML4[273] at 0x1888 -> PDPT at 0; entry 0 a 1 GiB leaf.
		e.mem = sparse(map[uint16]uint64{0: 0x83, 0x1888 / 8: 0x3})
	} else {
		// Root 0: PML4[273] at 0x888 -> PDPT at 0x1000; entry 0 a 1 GiB leaf.
		e.mem = sparse(map[uint16]uint64{0x888 / 8: 0x1003, 0x1000 / 8: 0x83, 0x1080 / 8: 0x1122334455667788})
	}
	return e
}

func FuzzELF(f *testing.F) {
	for _, qemu := range []bool{false, true} {
		e := tinyELF(f, qemu)
		f.Add(e.ehdr, e.phdrs, e.notes, e.cpu, e.mem, uint16(0))
		f.Add(e.ehdr, e.phdrs, e.notes, e.cpu, e.mem, uint16(3000))
	}
	f.Fuzz(func(t *testing.T, ehdr, phdrs, notes, cpu, mem []byte, cut uint16) {
		e := elfPieces{ehdr: ehdr, phdrs: phdrs, notes: notes, cpu: cpu, mem: mem}
		fuzzReadImage(t, e.image(cut))
	})
}

// fuzzReadImage opens an image from memory and reads a little of it; any
// error is fine, a panic, a hang or a raw control byte in a message is
// not.
func fuzzReadImage(t *testing.T, b []byte) {
	r := bytes.NewReader(b)
	d := &Dump{nrCPUs: -1}
	var err error
	switch {
	case isFlattened(b):
		var fr *flatReader
		if fr, err = newFlatReader(r, int64(len(b))); err == nil {
			buf := make([]byte, 100)
			fr.ReadAt(buf, 0)
			fr.ReadAt(buf, fr.size/2)
			err = d.openKdump(fr, fr.size, int64(len(b)))
		}
	case isKdump(b):
		err = d.openKdump(r, int64(len(b)), int64(len(b)))
	case isELF(b):
		err = d.openELF(r, int64(len(b)))
	default:
		return
	}
	if err != nil {
		checkPrintable(t, err)
		return
	}
	defer d.Close()
	buf := make([]byte, 700)
	for pa := uint64(0); pa < (fzMaxMapnr+2)*fzBlock; pa += fzBlock - 100 {
		checkPrintable(t, d.ReadPhys(buf, pa))
	}
	for _, va := range []uint64{fzDirectMap + 0x200, fzDirectMap + 0x1ff0, startKernelMap + 0x1000, startKernelMap + 0x1000000, 0xffffc90000000000} {
		checkPrintable(t, d.ReadVirt(buf[:64], va))
		_, err := d.VirtToPhys(va)
		checkPrintable(t, err)
	}
	checkPrintable(t, d.Mappings(fzDirectMap, fzDirectMap+4<<20, func(Mapping) bool { return true }))
	_, _ = d.Stats(), d.Release()
	_, _, _ = d.CPUs(), d.NumCPUs(), d.CrashTime()
	d.KernelOffset()
	d.PhysBase()
	d.PageTableRoot()
}

// checkPrintable fails on an error message with raw control characters:
// bytes from the image must be quoted.
func checkPrintable(t *testing.T, err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	if i := strings.IndexFunc(msg, func(r rune) bool { return !unicode.IsPrint(r) && r != '\n' && r != '\t' }); i >= 0 {
		t.Fatalf("raw control character in error: %q", msg)
	}
}

// TestFuzzSeedsRead checks that the fuzz seeds are the images they are
// meant to be, so the fuzzers start from dumps that read: the direct map
// and the kernel text translate, pages decode, excluded pages are named.
func TestFuzzSeedsRead(t *testing.T) {
	check := func(t *testing.T, d *Dump, kdump bool) {
		t.Helper()
		b := make([]byte, 8)
		if err := d.ReadVirt(b, fzDirectMap+0x200); err != nil {
			t.Fatalf("direct map: %v", err)
		}
		want := byte(0x11)
		if !kdump {
			want = 0
		}
		if b[0] != want {
			t.Errorf("direct map +0x200 = %x, want %#x", b, want)
		}
		if kdump {
			if err := d.ReadPhys(b, 3*fzBlock); err == nil {
				t.Error("excluded PFN 3 read")
			}
			if err := d.ReadPhys(b, 2*fzBlock); err != nil || b[0] != 0x22 {
				t.Errorf("PFN 2: %x, %v", b, err)
			}
		}
	}
	for _, c := range compressions {
		for _, v := range []int{1, 2, 5, 6} {
			k := tinyKdump(t, c.flag, v, v == 6)
			img := k.image(false, 0)
			d := &Dump{nrCPUs: -1}
			if err := d.openKdump(bytes.NewReader(img), int64(len(img)), int64(len(img))); err != nil {
				t.Fatalf("%s v%d: %v", c.name, v, err)
			}
			if v >= 3 {
				check(t, d, true)
			}
			if v == 6 && c.flag == dumpCompressedZlib && len(d.CPUs()) != 1 {
				t.Errorf("%s v%d: %d CPUs", c.name, v, len(d.CPUs()))
			}
			d.Close()
		}
	}
	for _, qemu := range []bool{false, true} {
		img := tinyELF(t, qemu).image(0)
		d := &Dump{nrCPUs: -1}
		if err := d.openELF(bytes.NewReader(img), int64(len(img))); err != nil {
			t.Fatalf("ELF qemu=%v: %v", qemu, err)
		}
		check(t, d, false)
		if !qemu {
			b := make([]byte, 8)
			if err := d.ReadVirt(b, startKernelMap+0x1080); err != nil || binary.LittleEndian.Uint64(b) != 0x1122334455667788 {
				t.Errorf("kernel text: %x, %v", b, err)
			}
		}
		d.Close()
	}
	flat := flatImage(tinyFlatKdump(t), nil, flatPlan([2]int{0, 3000}, [2]int{3000, fzKdumpLen - 3000}), nil, false)
	fr, err := newFlatReader(bytes.NewReader(flat), int64(len(flat)))
	if err != nil {
		t.Fatal(err)
	}
	d := &Dump{nrCPUs: -1}
	if err := d.openKdump(fr, fr.size, int64(len(flat))); err != nil {
		t.Fatal(err)
	}
	check(t, d, true)
	d.Close()
}
