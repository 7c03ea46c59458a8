package kcore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"strings"
	"time"
)

// kdump-compressed ("diskdump") layout, makedumpfile diskdump_mod.h and
// libkdumpfile diskdump.c; all fields in the dumped machine's byte order:
//
//	block 0                      struct disk_dump_header
//	blocks 1..sub_hdr_size       struct kdump_sub_header (+ notes, vmcoreinfo)
//	bitmap_blocks blocks         1st bitmap (RAM present), 2nd bitmap (page dumped)
//	page_desc[]                  one per set bit of the 2nd bitmap, in PFN order
//	page data
const (
	kdumpSignature    = "KDUMP   "
	diskdumpSignature = "DISKDUMP"

	// struct disk_dump_header on 64-bit targets.
	dhVersion       = 8
	dhUtsname       = 12
	dhTimestamp     = 408
	dhStatus        = 424
	dhBlockSize     = 428
	dhSubHdrSize    = 432
	dhBitmapBlocks  = 436
	dhMaxMapnr      = 440
	dhTotalRAM      = 444
	dhCurrentCPU    = 456
	dhNrCPUs        = 460
	dhSize          = 464
	utsFieldLen     = 65
	pageDescSize    = 24
	maxKdumpVersion = 1000

	// struct kdump_sub_header on 64-bit targets, by header_version.
	shPhysBase     = 0  // all
	shDumpLevel    = 8  // >= 1
	shSplit        = 12 // >= 2
	shStartPFN     = 16 // >= 2
	shEndPFN       = 24
	shOffVMCI      = 32 // >= 3
	shSizeVMCI     = 40
	shOffNote      = 48 // >= 4
	shSizeNote     = 56
	shOffErase     = 64 // >= 5
	shSizeErase    = 72
	shStartPFN64   = 80 // >= 6
	shEndPFN64     = 88
	shMaxMapnr64   = 96
	subHeaderBytes = 104

	// rankWords is how many bitmap words share one precomputed rank.
	rankWords = 8
)

// Utsname is the system identification a kdump-compressed header carries
// (struct new_utsname). QEMU fills only Machine; makedumpfile fills all.
type Utsname struct {
	Sysname, Nodename, Release, Version, Machine, Domainname string
}

// kdumpFile reads a kdump-compressed image through r, which is the file
// itself or the reassembled view of a flattened file.
type kdumpFile struct {
	r    io.ReaderAt
	size int64 // bytes readable through r
	// backing is the size of the file on disk. A flattened file's
	// logical size can be far larger (holes), so allocations sized from
	// headers are bounded by this instead.
	backing int64
	bo      binary.ByteOrder

	signature  string
	version    int32
	uts        Utsname
	timestamp  time.Time
	status     uint32
	blockSize  int
	nrCPUs     int32
	currentCPU uint32

	physBase        uint64
	havePhysBase    bool
	dumpLevel       int32
	split           bool
	startPFN        uint64
	endPFN          uint64 // exclusive; maxMapnr when not split
	maxMapnr        uint64
	vmcoreinfo      []byte
	notes           []byte
	bitmap1Off      int64
	bitmapLen       int64 // bytes of each bitmap
	descOff         int64
	bitmap2         []uint64 // little-endian words: bit i of word w is PFN 64w+i
	rank            []uint64 // set bits before word rankWords*i
	rankStart       uint64   // set bits before startPFN
	dumpedPages     uint64
	presentPages    uint64
	compressedFlags uint32 // union of the page flags seen in the header status

	// cover, set for a truncated flattened file, tells whether the
	// records hold [off, off+n) (its unwritten holes read as zeros);
	// nil means everything below size is there.
	cover func(off, n int64) bool
	// trunc is set when the file ends before the page descriptors or
	// page data the bitmap promises.
	trunc *Truncation

	dec decompressor
}

func isKdump(hdr []byte) bool {
	return len(hdr) >= 8 && (string(hdr[:8]) == kdumpSignature || string(hdr[:8]) == diskdumpSignature)
}

// openKdump reads the headers and the 2nd bitmap: O(headers + bitmap).
func openKdump(r io.ReaderAt, size, backing int64) (*kdumpFile, error) {
	if size < dhSize {
		return nil, fmt.Errorf("kdump header: file of %d bytes is shorter than the %d-byte header", size, dhSize)
	}
	hb := make([]byte, dhSize)
	if _, err := r.ReadAt(hb, 0); err != nil {
		return nil, fmt.Errorf("kdump header: %w", err)
	}
	if !isKdump(hb) {
		return nil, errors.New("kdump header: no KDUMP/DISKDUMP signature")
	}
	k := &kdumpFile{r: r, size: size, backing: backing, signature: string(hb[:8])}
	if fr, ok := r.(*flatReader); ok && fr.truncated {
		k.cover = fr.covered
	}
	// The header is in the dumped machine's byte order; the version is
	// small, which tells the order.
	k.bo = binary.LittleEndian
	if v := binary.LittleEndian.Uint32(hb[dhVersion:]); v > maxKdumpVersion {
		if binary.BigEndian.Uint32(hb[dhVersion:]) <= maxKdumpVersion {
			k.bo = binary.BigEndian
		} else {
			return nil, fmt.Errorf("kdump header: implausible header_version %#x", v)
		}
	}
	bo := k.bo
	k.version = int32(bo.Uint32(hb[dhVersion:]))
	u := func(i int) string {
		f := hb[dhUtsname+i*utsFieldLen : dhUtsname+(i+1)*utsFieldLen]
		if n := strings.IndexByte(string(f), 0); n >= 0 {
			f = f[:n]
		}
		return string(f)
	}
	k.uts = Utsname{u(0), u(1), u(2), u(3), u(4), u(5)}
	if sec := int64(bo.Uint64(hb[dhTimestamp:])); sec > 0 {
		k.timestamp = time.Unix(sec, int64(bo.Uint64(hb[dhTimestamp+8:]))*1000).UTC()
	}
	k.status = bo.Uint32(hb[dhStatus:])
	bs := int32(bo.Uint32(hb[dhBlockSize:]))
	subBlocks := int32(bo.Uint32(hb[dhSubHdrSize:]))
	bitmapBlocks := bo.Uint32(hb[dhBitmapBlocks:])
	k.maxMapnr = uint64(bo.Uint32(hb[dhMaxMapnr:]))
	k.currentCPU = bo.Uint32(hb[dhCurrentCPU:])
	k.nrCPUs = int32(bo.Uint32(hb[dhNrCPUs:]))

	if bs < 512 || bs > 1<<20 || bs&(bs-1) != 0 {
		return nil, fmt.Errorf("kdump header: block_size %d is not a power of two in [512, 1M]", bs)
	}
	k.blockSize = int(bs)
	if subBlocks < 0 || int64(subBlocks) > size/int64(bs) {
		return nil, fmt.Errorf("kdump header: sub_hdr_size %d blocks does not fit the %d-byte file", subBlocks, size)
	}
	if bitmapBlocks == 0 || bitmapBlocks%2 != 0 {
		return nil, fmt.Errorf("kdump header: bitmap_blocks %d is not a positive even number", bitmapBlocks)
	}
	k.bitmap1Off = int64(1+subBlocks) * int64(bs)
	k.bitmapLen = int64(bitmapBlocks/2) * int64(bs)
	k.descOff = k.bitmap1Off + 2*k.bitmapLen
	if k.descOff > size || 2*k.bitmapLen > backing {
		return nil, fmt.Errorf("kdump header: bitmaps of %d bytes end at %#x, past the end of the %d-byte file", 2*k.bitmapLen, k.descOff, size)
	}

	k.endPFN = k.maxMapnr
	if k.signature == kdumpSignature && subBlocks > 0 {
		if err := k.readSubHeader(); err != nil {
			return nil, err
		}
	}
	if capacity := uint64(k.bitmapLen) * 8; k.maxMapnr > capacity {
		return nil, fmt.Errorf("kdump header: max_mapnr %d is more than the %d PFNs the bitmap covers", k.maxMapnr, capacity)
	}
	if !k.split {
		k.startPFN, k.endPFN = 0, k.maxMapnr
	}
	if k.startPFN > k.endPFN || k.endPFN > k.maxMapnr {
		return nil, fmt.Errorf("kdump sub-header: PFN range [%#x, %#x) outside max_mapnr %#x", k.startPFN, k.endPFN, k.maxMapnr)
	}
	if err := k.loadBitmaps(); err != nil {
		return nil, err
	}
	if off, n := k.bitmap1Off+k.bitmapLen, int64((k.maxMapnr+7)/8); !k.avail(off, n) {
		return nil, fmt.Errorf("kdump 2nd bitmap at %#x: %w", off, &TruncatedError{What: "the 2nd bitmap", Offset: off, FileSize: backing})
	}
	if err := k.checkTruncation(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *kdumpFile) readSubHeader() error {
	sb := make([]byte, subHeaderBytes)
	off := int64(k.blockSize)
	if _, err := k.r.ReadAt(sb, off); err != nil && err != io.EOF {
		return fmt.Errorf("kdump sub-header at %#x: %w", off, err)
	}
	bo := k.bo
	v := k.version
	k.physBase = bo.Uint64(sb[shPhysBase:])
	k.havePhysBase = true
	if v >= 1 {
		k.dumpLevel = int32(bo.Uint32(sb[shDumpLevel:]))
	}
	if v >= 2 {
		k.split = bo.Uint32(sb[shSplit:]) != 0
		k.startPFN = bo.Uint64(sb[shStartPFN:])
		k.endPFN = bo.Uint64(sb[shEndPFN:])
	}
	blob := func(what string, o, s int) ([]byte, error) {
		boff, bsize := int64(bo.Uint64(sb[o:])), bo.Uint64(sb[s:])
		if bsize == 0 {
			return nil, nil
		}
		if boff <= 0 || boff >= k.size || bsize > uint64(k.size-boff) || bsize > uint64(k.backing) || bsize > maxNotes {
			return nil, fmt.Errorf("kdump sub-header: %s at %#x size %d lies outside the %d-byte file", what, boff, bsize, k.size)
		}
		b := make([]byte, bsize)
		if _, err := k.r.ReadAt(b, boff); err != nil {
			return nil, fmt.Errorf("kdump %s at %#x: %w", what, boff, err)
		}
		return b, nil
	}
	var err error
	if v >= 3 {
		if k.vmcoreinfo, err = blob("vmcoreinfo", shOffVMCI, shSizeVMCI); err != nil {
			return err
		}
	}
	if v >= 4 {
		if k.notes, err = blob("notes", shOffNote, shSizeNote); err != nil {
			return err
		}
	}
	if v >= 6 {
		k.maxMapnr = bo.Uint64(sb[shMaxMapnr64:])
		if k.split {
			k.startPFN = bo.Uint64(sb[shStartPFN64:])
			k.endPFN = bo.Uint64(sb[shEndPFN64:])
		}
	}
	return nil
}

// loadBitmaps keeps the 2nd bitmap with a rank index and counts the pages
// of the 1st. Only the words covering max_mapnr are kept.
func (k *kdumpFile) loadBitmaps() error {
	nbytes := int64((k.maxMapnr + 7) / 8)
	words := (k.maxMapnr + 63) / 64
	buf := make([]byte, words*8)
	if _, err := readFullAt(k.r, buf[:nbytes], k.bitmap1Off+k.bitmapLen); err != nil {
		return fmt.Errorf("kdump 2nd bitmap at %#x: %w", k.bitmap1Off+k.bitmapLen, err)
	}
	k.bitmap2 = make([]uint64, words)
	for i := range k.bitmap2 {
		k.bitmap2[i] = binary.LittleEndian.Uint64(buf[i*8:])
	}
	if rem := k.maxMapnr % 64; rem != 0 {
		k.bitmap2[words-1] &= 1<<rem - 1
	}
	k.rank = make([]uint64, (words+rankWords-1)/rankWords+1)
	var total uint64
	for i, w := range k.bitmap2 {
		if i%rankWords == 0 {
			k.rank[i/rankWords] = total
		}
		total += uint64(bits.OnesCount64(w))
	}
	k.rank[len(k.rank)-1] = total
	k.rankStart = k.rankOf(k.startPFN)
	k.dumpedPages = k.rankOf(k.endPFN) - k.rankStart

	// The 1st bitmap is counted in chunks and not kept.
	chunk := make([]byte, min(int64(1<<20), nbytes))
	var present uint64
	for done := int64(0); done < nbytes; {
		n := min(int64(len(chunk)), nbytes-done)
		if _, err := readFullAt(k.r, chunk[:n], k.bitmap1Off+done); err != nil {
			return fmt.Errorf("kdump 1st bitmap at %#x: %w", k.bitmap1Off+done, err)
		}
		i := int64(0)
		for ; i+8 <= n && uint64(done+i+8)*8 <= k.maxMapnr; i += 8 {
			present += uint64(bits.OnesCount64(binary.LittleEndian.Uint64(chunk[i:])))
		}
		for ; i < n; i++ {
			b := chunk[i]
			if pfn := uint64(done+i) * 8; pfn+8 > k.maxMapnr {
				b &= byte(1<<(k.maxMapnr-pfn) - 1)
			}
			present += uint64(bits.OnesCount8(b))
		}
		done += n
	}
	k.presentPages = present
	return nil
}

// rankOf counts set bits of the 2nd bitmap before pfn.
func (k *kdumpFile) rankOf(pfn uint64) uint64 {
	w := pfn / 64
	if w >= uint64(len(k.bitmap2)) {
		return k.rank[len(k.rank)-1]
	}
	r := k.rank[w/rankWords]
	for i := w &^ (rankWords - 1); i < w; i++ {
		r += uint64(bits.OnesCount64(k.bitmap2[i]))
	}
	if b := pfn % 64; b != 0 {
		r += uint64(bits.OnesCount64(k.bitmap2[w] & (1<<b - 1)))
	}
	return r
}

func (k *kdumpFile) dumped(pfn uint64) bool {
	return pfn < k.maxMapnr && k.bitmap2[pfn/64]&(1<<(pfn%64)) != 0
}

// present tests the 1st bitmap (RAM present) with a one-byte read; it is
// only asked on the error path.
func (k *kdumpFile) present(pfn uint64) bool {
	if pfn >= k.maxMapnr {
		return false
	}
	var b [1]byte
	if _, err := k.r.ReadAt(b[:], k.bitmap1Off+int64(pfn/8)); err != nil {
		return false
	}
	return b[0]&(1<<(pfn%8)) != 0
}

// pageDesc is struct page_desc.
type pageDesc struct {
	offset int64
	size   uint32
	flags  uint32
}

// readPage decodes page pfn into buf (blockSize bytes). Pages the dump
// does not hold give ErrExcluded (RAM left out) or ErrNotInDump.
func (k *kdumpFile) readPage(pfn uint64, buf []byte) error {
	if !k.dumped(pfn) {
		if k.present(pfn) {
			return ErrExcluded
		}
		return ErrNotInDump
	}
	if pfn < k.startPFN || pfn >= k.endPFN {
		return fmt.Errorf("%w (PFN %#x is in another file of a split dump)", ErrNotInDump, pfn)
	}
	idx := k.rankOf(pfn) - k.rankStart
	var db [pageDescSize]byte
	dpos := k.descOff + int64(idx)*pageDescSize
	if k.trunc != nil && !k.avail(dpos, pageDescSize) {
		return &TruncatedError{What: fmt.Sprintf("page descriptor of PFN %#x", pfn), Offset: dpos, FileSize: k.backing}
	}
	if _, err := readFullAt(k.r, db[:], dpos); err != nil {
		return fmt.Errorf("page descriptor %d of PFN %#x at %#x: %w", idx, pfn, dpos, err)
	}
	d := pageDesc{offset: int64(k.bo.Uint64(db[0:])), size: k.bo.Uint32(db[8:]), flags: k.bo.Uint32(db[12:])}
	if d.offset == 0 && d.size == 0 && k.status&dumpIncomplete != 0 {
		// makedumpfile stopped writing (ENOSPC ...) and flagged the
		// header incomplete; the rest of the descriptors are empty.
		return fmt.Errorf("%w (PFN %#x: the dump is incomplete, its page was never written)", ErrNotInDump, pfn)
	}
	if k.trunc != nil && d.offset > 0 && d.size > 0 && !k.avail(d.offset, int64(d.size)) {
		return &TruncatedError{What: fmt.Sprintf("page data of PFN %#x", pfn), Offset: d.offset, FileSize: k.backing}
	}
	if d.offset <= 0 || d.offset >= k.size || int64(d.size) > k.size-d.offset || d.size == 0 {
		return fmt.Errorf("page descriptor of PFN %#x: data at %#x size %d lies outside the %d-byte file", pfn, d.offset, d.size, k.size)
	}
	if d.flags&dumpCompressionMask == 0 {
		if int(d.size) != len(buf) {
			return fmt.Errorf("page descriptor of PFN %#x: uncompressed size %d, want %d", pfn, d.size, len(buf))
		}
		if _, err := readFullAt(k.r, buf, d.offset); err != nil {
			return fmt.Errorf("page data of PFN %#x at %#x: %w", pfn, d.offset, err)
		}
		return nil
	}
	if int(d.size) > 2*len(buf)+1024 {
		return fmt.Errorf("page descriptor of PFN %#x: compressed size %d is implausible for a %d-byte page", pfn, d.size, len(buf))
	}
	src := make([]byte, d.size)
	if _, err := readFullAt(k.r, src, d.offset); err != nil {
		return fmt.Errorf("page data of PFN %#x at %#x: %w", pfn, d.offset, err)
	}
	if err := k.dec.decode(d.flags, src, buf); err != nil {
		return fmt.Errorf("page of PFN %#x at %#x: %w", pfn, d.offset, err)
	}
	return nil
}

// compression names the page compression the header announces.
func (k *kdumpFile) compression() string { return compressionName(k.status & dumpCompressionMask) }

// readFullAt is ReadAt that treats a short read at EOF as an error.
func readFullAt(r io.ReaderAt, p []byte, off int64) (int, error) {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return n, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
