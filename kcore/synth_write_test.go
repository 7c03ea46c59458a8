package kcore

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// Writers that turn a synthMachine into each image format.

// ---- notes ----

func appendNote(b []byte, name string, typ uint32, desc []byte) []byte {
	nm := append([]byte(name), 0)
	var h [12]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(len(nm)))
	binary.LittleEndian.PutUint32(h[4:], uint32(len(desc)))
	binary.LittleEndian.PutUint32(h[8:], typ)
	b = append(b, h[:]...)
	b = append(b, nm...)
	b = append(b, make([]byte, align4(uint64(len(nm)))-uint64(len(nm)))...)
	b = append(b, desc...)
	return append(b, make([]byte, align4(uint64(len(desc)))-uint64(len(desc)))...)
}

func prstatus(c CPUState) []byte {
	d := make([]byte, 336)
	binary.LittleEndian.PutUint32(d[prstatusPIDOff:], uint32(c.PID))
	r := c.Regs
	for i, v := range []uint64{r.R15, r.R14, r.R13, r.R12, r.BP, r.BX, r.R11, r.R10, r.R9, r.R8,
		r.AX, r.CX, r.DX, r.SI, r.DI, r.OrigAX, r.IP, r.CS, r.Flags, r.SP, r.SS, r.FSBase, r.GSBase,
		r.DS, r.ES, r.FS, r.GS} {
		binary.LittleEndian.PutUint64(d[prstatusRegOff+8*i:], v)
	}
	return d
}

func qemuState(c CPUState) []byte {
	d := make([]byte, qemuKernelGSBaseOff+8)
	binary.LittleEndian.PutUint32(d[0:], 1)
	binary.LittleEndian.PutUint32(d[4:], uint32(len(d)))
	binary.LittleEndian.PutUint64(d[qemuCROff+3*8:], c.CR3)
	binary.LittleEndian.PutUint64(d[qemuCROff+4*8:], c.CR4)
	binary.LittleEndian.PutUint64(d[qemuKernelGSBaseOff:], c.KernelGSBase)
	return d
}

type noteOpts struct {
	qemu       bool // QEMU notes, pr_pid = cpu+1
	vmcoreinfo bool
}

func (m *synthMachine) notes(o noteOpts) []byte {
	var b []byte
	for _, c := range m.cpus {
		if o.qemu {
			c.PID = c.CPU + 1
		}
		b = appendNote(b, "CORE", ntPRStatus, prstatus(c))
	}
	if o.qemu {
		for _, c := range m.cpus {
			b = appendNote(b, "QEMU", 0, qemuState(c))
		}
	}
	if o.vmcoreinfo {
		b = appendNote(b, "VMCOREINFO", 0, []byte(m.vmcoreinfo))
	}
	return b
}

// ---- ELF ----

type elfKind int

const (
	elfKdump         elfKind = iota // PT_LOAD p_vaddr = direct map, + kernel text
	elfQEMU                         // p_vaddr == p_paddr or 0, QEMU notes
	elfKcore                        // /proc/kcore: virtual PT_LOADs, vmalloc with p_paddr -1
	elfKdumpBadVaddr                // kdump whose RAM p_vaddr use a wrong page_offset_base
)

// writeELF writes an ELF vmcore. With exclTail, the last page of each RAM
// range is left out via p_filesz < p_memsz.
func (m *synthMachine) writeELF(t testing.TB, kind elfKind, vmcoreinfo, exclTail bool) string {
	t.Helper()
	notes := m.notes(noteOpts{qemu: kind == elfQEMU, vmcoreinfo: vmcoreinfo})
	type load struct {
		vaddr, paddr, memsz, filesz uint64
		data                        []byte // instead of RAM at paddr
	}
	var loads []load
	if kind == elfKdump || kind == elfKcore {
		text := load{vaddr: m.kernelVA, paddr: m.kernelPA, memsz: 2 << 20, filesz: 2 << 20}
		if exclTail {
			text.filesz -= synthPage
		}
		loads = append(loads, text)
	}
	if kind == elfKcore {
		notes = appendNote(notes, "CORE", ntTaskStruct, make([]byte, 64))
		var vm []byte
		for i := 0; i < m.vmalloc4KN; i++ {
			pa := uint64(0x300000 - (i+1)*synthPage*3)
			if i == 3 {
				pa = 4<<30 + 0x3000
			}
			vm = append(vm, m.mem[pa/synthPage]...)
		}
		loads = append(loads, load{vaddr: m.vmalloc4K, paddr: noPaddr, memsz: uint64(len(vm)), filesz: uint64(len(vm)), data: vm})
	}
	for i, r := range m.ram {
		l := load{paddr: r.lo, memsz: r.hi - r.lo, filesz: r.hi - r.lo}
		switch kind {
		case elfKdump, elfKcore:
			l.vaddr = m.directBase + r.lo
		case elfKdumpBadVaddr:
			l.vaddr = m.directBase + 1<<40 + r.lo
		case elfQEMU:
			if i%2 == 0 {
				l.vaddr = r.lo
			}
		}
		if exclTail {
			l.filesz -= synthPage
		}
		loads = append(loads, l)
	}
	phnum := 1 + len(loads)
	var f bytes.Buffer
	eh := make([]byte, elfHdrSize)
	copy(eh, "\x7fELF\x02\x01\x01")
	le := binary.LittleEndian
	le.PutUint16(eh[16:], etCore)
	le.PutUint16(eh[18:], emX86_64)
	le.PutUint32(eh[20:], 1)
	le.PutUint64(eh[32:], elfHdrSize)
	le.PutUint16(eh[52:], elfHdrSize)
	le.PutUint16(eh[54:], phdrSize)
	le.PutUint16(eh[56:], uint16(phnum))
	f.Write(eh)
	dataOff := uint64(elfHdrSize + phnum*phdrSize)
	ph := func(typ uint32, off, vaddr, paddr, filesz, memsz uint64) {
		p := make([]byte, phdrSize)
		le.PutUint32(p[0:], typ)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], vaddr)
		le.PutUint64(p[24:], paddr)
		le.PutUint64(p[32:], filesz)
		le.PutUint64(p[40:], memsz)
		f.Write(p)
	}
	ph(ptNote, dataOff, 0, 0, uint64(len(notes)), uint64(len(notes)))
	off := align4k(dataOff + uint64(len(notes)))
	offs := make([]uint64, len(loads))
	for i, l := range loads {
		offs[i] = off
		ph(ptLoad, off, l.vaddr, l.paddr, l.filesz, l.memsz)
		off += l.filesz
	}
	f.Write(notes)
	for i, l := range loads {
		f.Write(make([]byte, offs[i]-uint64(f.Len())))
		if l.data != nil {
			f.Write(l.data)
			continue
		}
		ps := m.pageSize()
		for pa := l.paddr; pa < l.paddr+l.filesz; pa += ps {
			f.Write(m.mem[pa/ps])
		}
	}
	return writeTemp(t, "vmcore.elf", f.Bytes())
}

func align4k(n uint64) uint64 { return (n + 4095) &^ 4095 }

func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// ---- kdump-compressed ----

type kdumpOpts struct {
	version     int
	compression uint32 // dumpCompressed* flag or 0
	signature   string // default "KDUMP   "
	shareZero   bool   // zero pages share one descriptor (QEMU)
	vmcoreinfo  bool
	notes       bool
	// incompleteAt > 0 flags the dump incomplete and leaves the page
	// descriptors from that index on empty.
	incompleteAt int
}

// writeKdump returns the bytes of a kdump-compressed file.
func (m *synthMachine) writeKdump(t testing.TB, o kdumpOpts) []byte {
	t.Helper()
	le := binary.LittleEndian
	bs := m.pageSize()
	alignBS := func(n uint64) uint64 { return (n + bs - 1) &^ (bs - 1) }
	maxMapnr := m.maxPFN()
	bitmapBytes := alignBS((maxMapnr + 7) / 8)
	bitmapBlocks := 2 * bitmapBytes / bs
	notes := m.notes(noteOpts{vmcoreinfo: o.vmcoreinfo})
	vmci := []byte(m.vmcoreinfo)
	// Sub-header block(s): the struct, then notes, then vmcoreinfo.
	subLen := uint64(subHeaderBytes)
	noteOff := bs + subLen
	vmciOff := noteOff + uint64(len(notes))
	subBlocks := alignBS(subLen+uint64(len(notes))+uint64(len(vmci))) / bs
	out := make([]byte, (1+subBlocks+bitmapBlocks)*bs)
	sig := o.signature
	if sig == "" {
		sig = kdumpSignature
	}
	copy(out, sig)
	le.PutUint32(out[dhVersion:], uint32(o.version))
	copy(out[dhUtsname+4*utsFieldLen:], "x86_64")
	copy(out[dhUtsname:], "Linux")
	copy(out[dhUtsname+2*utsFieldLen:], "6.99.0-synth")
	le.PutUint64(out[dhTimestamp:], 1600000000)
	le.PutUint32(out[dhStatus:], o.compression)
	le.PutUint32(out[dhBlockSize:], uint32(bs))
	le.PutUint32(out[dhSubHdrSize:], uint32(subBlocks))
	le.PutUint32(out[dhBitmapBlocks:], uint32(bitmapBlocks))
	le.PutUint32(out[dhMaxMapnr:], uint32(maxMapnr))
	le.PutUint32(out[dhNrCPUs:], uint32(len(m.cpus)))
	sh := out[bs:]
	le.PutUint64(sh[shPhysBase:], m.physBase)
	le.PutUint32(sh[shDumpLevel:], 31)
	if o.version >= 3 && o.vmcoreinfo {
		le.PutUint64(sh[shOffVMCI:], vmciOff)
		le.PutUint64(sh[shSizeVMCI:], uint64(len(vmci)))
	}
	if o.version >= 4 && o.notes {
		le.PutUint64(sh[shOffNote:], noteOff)
		le.PutUint64(sh[shSizeNote:], uint64(len(notes)))
	}
	if o.version >= 6 {
		le.PutUint64(sh[shMaxMapnr64:], maxMapnr)
		le.PutUint64(sh[shEndPFN64:], maxMapnr)
	}
	copy(out[noteOff:], notes)
	copy(out[vmciOff:], vmci)
	bm1 := out[(1+subBlocks)*bs:]
	bm2 := bm1[bitmapBytes:]
	pfns := make([]uint64, 0, len(m.mem))
	for pfn := range m.mem {
		pfns = append(pfns, pfn)
	}
	slices.Sort(pfns)
	var dumped []uint64
	for _, pfn := range pfns {
		bm1[pfn/8] |= 1 << (pfn % 8)
		if !m.excluded[pfn] {
			bm2[pfn/8] |= 1 << (pfn % 8)
			dumped = append(dumped, pfn)
		}
	}
	descOff := uint64(len(out))
	dataOff := descOff + uint64(len(dumped))*pageDescSize
	descs := make([]byte, len(dumped)*pageDescSize)
	var data []byte
	zeroAt := int64(-1)
	for i, pfn := range dumped {
		pg := m.mem[pfn]
		d := descs[i*pageDescSize:]
		if o.shareZero && allZero(pg) && zeroAt >= 0 {
			copy(d, descs[zeroAt*pageDescSize:(zeroAt+1)*pageDescSize])
			continue
		}
		if o.shareZero && allZero(pg) {
			zeroAt = int64(i)
		}
		c, flags := compressPage(t, o.compression, pg)
		le.PutUint64(d[0:], dataOff+uint64(len(data)))
		le.PutUint32(d[8:], uint32(len(c)))
		le.PutUint32(d[12:], flags)
		data = append(data, c...)
	}
	if o.incompleteAt > 0 {
		clear(descs[o.incompleteAt*pageDescSize:])
		le.PutUint32(out[dhStatus:], o.compression|dumpIncomplete)
	}
	out = append(out, descs...)
	return append(out, data...)
}

// compressPage compresses like makedumpfile: the compressed form only when
// smaller. LZO pages use a literal-only stream (always stored, to exercise
// the decoder).
func compressPage(t testing.TB, flag uint32, pg []byte) ([]byte, uint32) {
	var c []byte
	switch flag {
	case 0:
		return pg, 0
	case dumpCompressedZlib:
		var b bytes.Buffer
		w := zlib.NewWriter(&b)
		w.Write(pg)
		w.Close()
		c = b.Bytes()
	case dumpCompressedSnappy:
		c = snappy.Encode(nil, pg)
	case dumpCompressedZstd:
		c = zstdEnc.EncodeAll(pg, nil)
	case dumpCompressedLZO:
		return lzoLiterals(pg), flag
	}
	if len(c) >= len(pg) {
		return pg, 0
	}
	return c, flag
}

// zstdEnc is reused: creating an encoder per page is slow.
var zstdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))

// lzoLiterals encodes b as one LZO1X literal run and the end marker
// (Documentation/staging/lzo.rst): 0x00 starts a long literal run of
// 18 + 255*zeros + last bytes; 0x11 0x00 0x00 ends the stream.
func lzoLiterals(b []byte) []byte {
	n := len(b) - 18
	out := []byte{0x00}
	for ; n > 255; n -= 255 {
		out = append(out, 0)
	}
	out = append(out, byte(n))
	out = append(out, b...)
	return append(out, 0x11, 0, 0)
}

// flatten writes plain in the makedumpfile flattened format: records of
// at most chunk bytes, shuffled, with some regions written twice (stale
// garbage first, the real bytes later).
func flatten(plain []byte, chunk int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	type rec struct {
		off  int
		data []byte
	}
	var recs []rec
	for off := 0; off < len(plain); off += chunk {
		end := min(off+chunk, len(plain))
		recs = append(recs, rec{off, plain[off:end]})
	}
	rng.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	var stale []rec
	for i := 0; i < 5 && len(plain) > 100; i++ {
		off := rng.IntN(len(plain) - 100)
		stale = append(stale, rec{off, bytes.Repeat([]byte{0xee}, 1+rng.IntN(100))})
	}
	recs = append(stale, recs...)
	out := make([]byte, flatHeaderSize)
	copy(out, flatSignature)
	binary.BigEndian.PutUint64(out[16:], 1)
	binary.BigEndian.PutUint64(out[24:], 1)
	var h [16]byte
	for _, r := range recs {
		binary.BigEndian.PutUint64(h[0:], uint64(r.off))
		binary.BigEndian.PutUint64(h[8:], uint64(len(r.data)))
		out = append(out, h[:]...)
		out = append(out, r.data...)
	}
	binary.BigEndian.PutUint64(h[0:], ^uint64(0))
	binary.BigEndian.PutUint64(h[8:], 0)
	return append(out, h[:]...)
}
