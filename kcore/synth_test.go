package kcore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// A synthetic x86_64 machine: sparse physical memory with known contents,
// kernel page tables (4 or 5 levels, 4K/2M/1G leaves), VMCOREINFO and CPU
// registers. Writers below turn it into each image format.

const synthPage = 4096

type synthRange struct{ lo, hi uint64 } // physical RAM [lo, hi)

type synthMachine struct {
	levels   int
	ram      []synthRange
	mem      map[uint64][]byte // pfn → contents (RAM pages only)
	excluded map[uint64]bool   // RAM pages a dump leaves out
	zero     map[uint64]bool   // pages left all zero

	physBase   uint64 // as uint64 (may be "negative")
	kaslr      uint64
	kernelVA   uint64 // _text
	kernelPA   uint64
	directBase uint64
	vmalloc2M  uint64 // va of a 2 MiB leaf
	vmalloc4K  uint64 // va of 4 KiB leaves
	vmalloc4KN int
	unmapped   uint64 // a va in a present table but not mapped
	root       uint64 // pa of the top table
	nextTable  uint64 // pfn allocator for tables
	vmcoreinfo string
	cpus       []CPUState
}

// newSynth builds the machine. The layout:
//
//	RAM  [0, 4 MiB)              tables from pfn 0x10, data pages
//	hole [4 MiB, 16 MiB)
//	RAM  [16 MiB, 18 MiB)        the kernel image
//	RAM  [4 GiB, 4 GiB + 64 KiB) high memory
func newSynth(t testing.TB, levels int, seed uint64) *synthMachine {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	m := &synthMachine{
		levels:   levels,
		ram:      []synthRange{{0, 4 << 20}, {16 << 20, 18 << 20}, {4 << 30, 4<<30 + 64<<10}},
		mem:      map[uint64][]byte{},
		excluded: map[uint64]bool{},
		zero:     map[uint64]bool{},
		kaslr:    0x2000000,
		kernelPA: 16 << 20,
	}
	for _, r := range m.ram {
		for pa := r.lo; pa < r.hi; pa += synthPage {
			pg := make([]byte, synthPage)
			for i := 0; i < synthPage; i += 8 {
				binary.LittleEndian.PutUint64(pg[i:], (pa+uint64(i))*0x9e3779b97f4a7c15^seed)
			}
			m.mem[pa/synthPage] = pg
		}
	}
	// Some pages compress well, some are zero, some are excluded.
	for i := 0; i < 40; i++ {
		pfn := uint64(0x200 + rng.IntN(0x100))
		switch i % 3 {
		case 0:
			clear(m.mem[pfn])
			m.zero[pfn] = true
		case 1:
			pg := m.mem[pfn]
			for j := range pg {
				pg[j] = byte(j / 512)
			}
		case 2:
			m.excluded[pfn] = true
		}
	}
	m.kernelVA = startKernelMap + 0x1000000 + m.kaslr
	m.physBase = m.kernelPA - (m.kernelVA - startKernelMap) // negative here
	if levels == 5 {
		m.directBase, m.vmalloc2M = 0xff11000000000000, 0xffa0000000000000
	} else {
		m.directBase, m.vmalloc2M = 0xffff888000000000, 0xffffc90000000000
	}
	m.vmalloc4K = m.vmalloc2M + 0x400000
	m.vmalloc4KN = 8
	m.unmapped = m.vmalloc4K + uint64(m.vmalloc4KN+1)*synthPage
	m.nextTable = 0x10
	m.root = m.allocTable()
	// Direct map with 1 GiB leaves over [0, 5 GiB).
	for g := uint64(0); g < 5; g++ {
		m.mapLeaf(m.directBase+g<<30, g<<30, 3)
	}
	// Kernel image with 2 MiB leaves.
	m.mapLeaf(m.kernelVA, m.kernelPA, 2)
	// vmalloc: one 2 MiB leaf and scattered 4 KiB leaves, in reverse
	// physical order so neighbours are not physically contiguous; one
	// of them is in high memory.
	m.mapLeaf(m.vmalloc2M, 0x200000, 2)
	for i := 0; i < m.vmalloc4KN; i++ {
		pa := uint64(0x300000 - (i+1)*synthPage*3)
		if i == 3 {
			pa = 4<<30 + 0x3000
		}
		m.mapLeaf(m.vmalloc4K+uint64(i)*synthPage, pa, 1)
	}
	initTopPgt := m.root - m.physBase + startKernelMap
	m.vmcoreinfo = fmt.Sprintf("OSRELEASE=6.99.0-synth\nBUILD-ID=%040x\nPAGESIZE=4096\n"+
		"SYMBOL(init_uts_ns)=%x\nOFFSET(uts_namespace.name)=4\nSIZE(page)=64\nLENGTH(mem_section)=2048\n"+
		"SYMBOL(swapper_pg_dir)=%x\nNUMBER(phys_base)=%d\nSYMBOL(init_top_pgt)=%x\nNUMBER(pgtable_l5_enabled)=%d\n"+
		"KERNELOFFSET=%x\nNUMBER(KERNEL_IMAGE_SIZE)=1073741824\nNUMBER(sme_mask)=0\nCRASHTIME=1700000000\n",
		seed, m.kernelVA+0x1000, initTopPgt, int64(m.physBase), initTopPgt, b2i(levels == 5), m.kaslr)
	for c := 0; c < 2; c++ {
		var r Regs
		r.IP = m.kernelVA + uint64(0x100*c)
		r.SP = m.vmalloc4K + 0x800
		r.CS = 0x10
		r.GSBase = m.directBase + uint64(c)<<20
		m.cpus = append(m.cpus, CPUState{CPU: c, PID: 100 + c, Regs: r, CR3: m.root, CR4: uint64(b2i(levels == 5)) << 12, KernelGSBase: r.GSBase})
	}
	return m
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (m *synthMachine) allocTable() uint64 {
	pa := m.nextTable * synthPage
	m.nextTable++
	clear(m.mem[pa/synthPage])
	delete(m.zero, pa/synthPage)
	delete(m.excluded, pa/synthPage)
	return pa
}

func (m *synthMachine) entry(table, idx uint64) uint64 {
	return binary.LittleEndian.Uint64(m.mem[table/synthPage][idx*8:])
}

func (m *synthMachine) setEntry(table, idx, v uint64) {
	binary.LittleEndian.PutUint64(m.mem[table/synthPage][idx*8:], v)
}

// mapLeaf maps va → pa with a leaf at level (1: 4K, 2: 2M, 3: 1G).
func (m *synthMachine) mapLeaf(va, pa uint64, leaf int) {
	table := m.root
	for level := m.levels; level > leaf; level-- {
		idx := (va >> (12 + 9*(level-1))) & 0x1ff
		e := m.entry(table, idx)
		if e&ptePresent == 0 {
			e = m.allocTable() | 0x63
			m.setEntry(table, idx, e)
		}
		table = e & pteAddrMask
	}
	idx := (va >> (12 + 9*(leaf-1))) & 0x1ff
	e := pa | 0x63
	if leaf > 1 {
		e |= ptePSE
	}
	m.setEntry(table, idx, e)
}

// expect returns the bytes at pa and the error an image must give: pages
// outside RAM are not in the dump; with o.excluded the excluded pages, with
// o.exclTail the last page of each RAM range, are left out.
func (m *synthMachine) expect(pa uint64, n int, o checkOpts) ([]byte, error) {
	out := make([]byte, 0, n)
	for len(out) < n {
		pfn := pa / synthPage
		pg, ok := m.mem[pfn]
		if !ok {
			return nil, ErrNotInDump
		}
		if o.excluded && m.excluded[pfn] {
			return nil, ErrExcluded
		}
		if o.exclTail {
			for _, r := range m.ram {
				if pfn == r.hi/synthPage-1 {
					return nil, ErrExcluded
				}
			}
		}
		k := min(n-len(out), synthPage-int(pa%synthPage))
		out = append(out, pg[pa%synthPage:pa%synthPage+uint64(k)]...)
		pa += uint64(k)
	}
	return out, nil
}

func (m *synthMachine) maxPFN() uint64 {
	return m.ram[len(m.ram)-1].hi / m.pageSize()
}

// pageSize is the size of the machine's pages (4 KiB, smaller for fuzz seeds).
func (m *synthMachine) pageSize() uint64 {
	for _, pg := range m.mem {
		return uint64(len(pg))
	}
	return synthPage
}

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

// ---- checks shared by every format ----

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

func readFileT(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
