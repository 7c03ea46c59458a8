package kcore

import (
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
)

// The makedumpfile flattened format (makedumpfile.h MAKEDUMPFILE_SIGNATURE,
// struct makedumpfile_header / makedumpfile_data_header): a 4096-byte header
// {char signature[16] = "makedumpfile"; int64 type = 1; int64 version = 1},
// then records {int64 offset; int64 buf_size; data[buf_size]} that say where
// each piece goes in the reassembled file, ended by offset == -1. All header
// integers are big-endian (makedumpfile writes them with cpu_to_be64;
// libkdumpfile flatmap.c reads them with be64toh).
const (
	flatSignature  = "makedumpfile"
	flatHeaderSize = 4096
	flatRecHdrSize = 16
	flatType       = 1
	// maxFlatRecords bounds the index. A record holds at least one byte plus
	// a 16-byte header, so a file can never hold more than size/17 records;
	// the bound below only caps memory for absurd inputs.
	maxFlatRecords = 1 << 26
)

// flatSeg maps [off, off+size) of the reassembled file to file position pos.
type flatSeg struct {
	off, size, pos int64
}

// flatReader is an io.ReaderAt over the reassembled view of a flattened
// file, read in place. Unwritten holes read as zeros, as in the file
// `makedumpfile -R` would produce.
type flatReader struct {
	r    io.ReaderAt
	segs []flatSeg // sorted by off, non-overlapping
	size int64     // logical size: end of the last record
	recs int
	// truncated: the file ends before its end marker (inside a record,
	// or between records); what the records hold is kept. truncNote
	// says where.
	truncated bool
	truncNote string
}

func isFlattened(hdr []byte) bool {
	return len(hdr) >= 16 && string(hdr[:len(flatSignature)]) == flatSignature &&
		allZero(hdr[len(flatSignature):16])
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// newFlatReader builds the offset index by walking the record headers:
// O(number of records) reads of 16 bytes, never the data. A file that ends
// before its end marker is kept as far as it goes, with truncated set.
func newFlatReader(r io.ReaderAt, fileSize int64) (*flatReader, error) {
	var hdr [32]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return nil, fmt.Errorf("flattened header: %w", err)
	}
	if !isFlattened(hdr[:]) {
		return nil, errors.New("not a makedumpfile flattened file")
	}
	if t := int64(binary.BigEndian.Uint64(hdr[16:])); t != flatType {
		return nil, fmt.Errorf("flattened header: type %d, want %d", t, flatType)
	}
	type rec struct {
		off, size, pos int64
		seq            int
	}
	var recs []rec
	pos := int64(flatHeaderSize)
	// Read record headers through a one-page window: runs of small records
	// cost one read, and a big record costs one read of its header.
	br := newBlockReader(r, fileSize)
	ended := false
	note := ""
	for pos+flatRecHdrSize <= fileSize {
		var rh [flatRecHdrSize]byte
		// After a big record the next header is far away: read just it
		// rather than a window of data that will not be used.
		br.narrow = len(recs) > 0 && recs[len(recs)-1].size > 1024
		if err := br.readAt(rh[:], pos); err != nil {
			return nil, fmt.Errorf("flattened record %d at %#x: %w", len(recs), pos, err)
		}
		off := int64(binary.BigEndian.Uint64(rh[0:]))
		size := int64(binary.BigEndian.Uint64(rh[8:]))
		if off == -1 {
			ended = true
			break
		}
		if off < 0 || size < 0 || off > (1<<62)-size {
			return nil, fmt.Errorf("flattened record %d at %#x: bad offset %d or size %d", len(recs), pos, off, size)
		}
		if len(recs) >= maxFlatRecords {
			return nil, fmt.Errorf("flattened file has more than %d records", maxFlatRecords)
		}
		if avail := fileSize - pos - flatRecHdrSize; size > avail {
			// The file ends inside this record: keep what it has.
			note = fmt.Sprintf("truncated: record %d at %#x promises %d bytes, the %d-byte file has %d of them past the end", len(recs), pos, size, fileSize, size-max(avail, 0))
			if avail > 0 {
				recs = append(recs, rec{off, avail, pos + flatRecHdrSize, len(recs)})
			}
			break
		}
		if size > 0 {
			recs = append(recs, rec{off, size, pos + flatRecHdrSize, len(recs)})
		}
		pos += flatRecHdrSize + size
	}
	if !ended && note == "" {
		note = fmt.Sprintf("truncated: no end marker after %d records (at %#x of %d bytes)", len(recs), pos, fileSize)
	}
	if !ended && len(recs) == 0 {
		return nil, fmt.Errorf("flattened file %s", note)
	}
	fr := &flatReader{r: r, recs: len(recs), truncated: !ended, truncNote: note}
	// QEMU interleaves page descriptors and page data, so records are not
	// in offset order; they rarely overlap. Sort, and only resolve
	// overlaps (later record wins) when there are some.
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].off < recs[j].off })
	overlap := false
	for i := 1; i < len(recs); i++ {
		if recs[i].off < recs[i-1].off+recs[i-1].size {
			overlap = true
			break
		}
	}
	if !overlap {
		fr.segs = make([]flatSeg, 0, len(recs))
		for _, rc := range recs {
			fr.appendSeg(flatSeg{rc.off, rc.size, rc.pos})
		}
	} else {
		fr.segs = resolveOverlaps(recs2segs(len(recs), func(i int) (int64, int64, int64, int) {
			return recs[i].off, recs[i].size, recs[i].pos, recs[i].seq
		}))
	}
	for _, s := range fr.segs {
		fr.size = max(fr.size, s.off+s.size)
	}
	return fr, nil
}

// appendSeg adds s, merging it with the previous segment when both the
// logical and the file ranges are contiguous.
func (f *flatReader) appendSeg(s flatSeg) {
	if n := len(f.segs); n > 0 {
		last := &f.segs[n-1]
		if last.off+last.size == s.off && last.pos+last.size == s.pos {
			last.size += s.size
			return
		}
	}
	f.segs = append(f.segs, s)
}

type seqSeg struct {
	flatSeg
	seq int
}

func recs2segs(n int, get func(int) (int64, int64, int64, int)) []seqSeg {
	out := make([]seqSeg, n)
	for i := range out {
		off, size, pos, seq := get(i)
		out[i] = seqSeg{flatSeg{off, size, pos}, seq}
	}
	return out
}

// resolveOverlaps turns records written in sequence into disjoint segments
// where a later record wins over an earlier one for the bytes both cover,
// which is what reassembly by seek-and-write produces. Sweep over the
// boundaries with a max-heap (by sequence) of the records covering them.
func resolveOverlaps(recs []seqSeg) []flatSeg {
	sort.Slice(recs, func(i, j int) bool { return recs[i].off < recs[j].off })
	var bounds []int64
	for _, r := range recs {
		bounds = append(bounds, r.off, r.off+r.size)
	}
	sort.Slice(bounds, func(i, j int) bool { return bounds[i] < bounds[j] })
	var out []flatSeg
	h := &seqHeap{}
	next := 0
	for i := 0; i+1 < len(bounds); i++ {
		lo, hi := bounds[i], bounds[i+1]
		if lo == hi {
			continue
		}
		for next < len(recs) && recs[next].off <= lo {
			heap.Push(h, recs[next])
			next++
		}
		for h.Len() > 0 && (*h)[0].off+(*h)[0].size <= lo {
			heap.Pop(h)
		}
		// The top may end before hi only if another boundary lies in
		// between, which the sweep excludes; but lower-seq records that have
		// ended stay buried until they surface, so check the top only.
		if h.Len() == 0 {
			continue
		}
		top := (*h)[0]
		s := flatSeg{off: lo, size: hi - lo, pos: top.pos + (lo - top.off)}
		if n := len(out); n > 0 && out[n-1].off+out[n-1].size == s.off && out[n-1].pos+out[n-1].size == s.pos {
			out[n-1].size += s.size
		} else {
			out = append(out, s)
		}
	}
	return out
}

type seqHeap []seqSeg

func (h seqHeap) Len() int           { return len(h) }
func (h seqHeap) Less(i, j int) bool { return h[i].seq > h[j].seq }
func (h seqHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *seqHeap) Push(x any)        { *h = append(*h, x.(seqSeg)) }
func (h *seqHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// covered tells whether the records hold every byte of [off, off+n).
func (f *flatReader) covered(off, n int64) bool {
	if off < 0 || n < 0 || off > f.size-n {
		return false
	}
	end := off + n
	i := sort.Search(len(f.segs), func(i int) bool { return f.segs[i].off+f.segs[i].size > off })
	for ; off < end; i++ {
		if i == len(f.segs) || f.segs[i].off > off {
			return false
		}
		off = f.segs[i].off + f.segs[i].size
	}
	return true
}

// ReadAt reads the reassembled view. Holes read as zeros; reading past the
// end returns io.EOF with the bytes read so far.
func (f *flatReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("flattened: negative offset")
	}
	n := 0
	for n < len(p) {
		cur := off + int64(n)
		if cur >= f.size {
			return n, io.EOF
		}
		// First segment ending after cur.
		i := sort.Search(len(f.segs), func(i int) bool { return f.segs[i].off+f.segs[i].size > cur })
		want := p[n:]
		if i == len(f.segs) {
			return n, io.EOF
		}
		s := f.segs[i]
		if cur < s.off { // hole
			gap := min(int64(len(want)), s.off-cur)
			clear(want[:gap])
			n += int(gap)
			continue
		}
		chunk := min(int64(len(want)), s.off+s.size-cur)
		m, err := f.r.ReadAt(want[:chunk], s.pos+(cur-s.off))
		n += m
		if err != nil && m < int(chunk) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	return n, nil
}

// blockReader serves small reads from a 4 KiB window of r, for scanning
// headers without a syscall each.
type blockReader struct {
	narrow bool // read only what is asked on a miss
	r      io.ReaderAt
	size   int64
	buf    []byte
	start  int64
	n      int
}

func newBlockReader(r io.ReaderAt, size int64) *blockReader {
	return &blockReader{r: r, size: size, buf: make([]byte, 4096), start: -1}
}

func (b *blockReader) readAt(p []byte, off int64) error {
	if b.start >= 0 && off >= b.start && off+int64(len(p)) <= b.start+int64(b.n) {
		copy(p, b.buf[off-b.start:])
		return nil
	}
	if len(p) > len(b.buf) || b.narrow {
		_, err := readFullAt(b.r, p, off)
		return err
	}
	n, err := b.r.ReadAt(b.buf, off)
	b.start, b.n = off, n
	if n < len(p) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	copy(p, b.buf)
	return nil
}
