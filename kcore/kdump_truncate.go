package kcore

import "fmt"

// descChunk is how many page descriptors one read of the truncation check
// covers (96 KiB).
const descChunk = 4096

// avail tells whether the file holds [off, off+n) of the image.
func (k *kdumpFile) avail(off, n int64) bool {
	if off < 0 || n < 0 {
		return false
	}
	if k.cover != nil {
		return k.cover(off, n)
	}
	return off <= k.size-n
}

// checkTruncation finds out at open whether the file ends before the
// page descriptors or page data its bitmap promises, and how much is
// missing (k.trunc). A complete file costs a read of the last page
// descriptors: both makedumpfile and QEMU write page data in PFN order,
// after one shared zero page at the start of the data, so the last
// descriptor whose offset differs from the final one's ends where the
// page data ends. Only a truncated file has all its descriptors read, to
// count the pages it lacks.
func (k *kdumpFile) checkTruncation() error {
	n := k.dumpedPages
	if n == 0 {
		return nil
	}
	suspect := k.cover != nil // a flattened file without its end marker
	if !suspect {
		if !k.avail(k.descOff, int64(n)*pageDescSize) {
			suspect = true
		} else {
			end, err := k.tailDataEnd()
			if err != nil {
				return err
			}
			suspect = end > k.size
		}
	}
	if !suspect {
		return nil
	}
	missing, err := k.countMissing()
	if err != nil {
		return err
	}
	if missing == 0 {
		return nil
	}
	ps := uint64(k.blockSize)
	k.trunc = &Truncation{
		FileSize:     k.backing,
		MissingBytes: missing * ps, TotalBytes: n * ps,
		MissingPages: missing, TotalPages: n,
		NoEndMarker: k.cover != nil,
	}
	return nil
}

// tailDataEnd reads page descriptors from the last one backwards until
// one whose data offset differs from the last one's, and returns the
// largest end of page data among them.
func (k *kdumpFile) tailDataEnd() (int64, error) {
	n := int64(k.dumpedPages)
	buf := make([]byte, min(n, descChunk)*pageDescSize)
	var maxEnd int64
	lastOff := int64(-1)
	for hi := n; hi > 0; {
		lo := max(0, hi-descChunk)
		b := buf[:(hi-lo)*pageDescSize]
		pos := k.descOff + lo*pageDescSize
		if _, err := readFullAt(k.r, b, pos); err != nil {
			return 0, fmt.Errorf("kdump page descriptors at %#x: %w", pos, err)
		}
		for i := hi - lo - 1; i >= 0; i-- {
			off := int64(k.bo.Uint64(b[i*pageDescSize:]))
			size := int64(k.bo.Uint32(b[i*pageDescSize+8:]))
			if off < 0 || off > k.size {
				maxEnd = max(maxEnd, k.size+1) // past the end (or garbage)
			} else {
				maxEnd = max(maxEnd, off+size)
			}
			if lastOff < 0 {
				lastOff = off
			} else if off != lastOff {
				return maxEnd, nil
			}
		}
		hi = lo
	}
	return maxEnd, nil
}

// countMissing counts the dumped pages whose descriptor or data the file
// does not hold.
func (k *kdumpFile) countMissing() (uint64, error) {
	n := int64(k.dumpedPages)
	buf := make([]byte, min(n, descChunk)*pageDescSize)
	var missing uint64
	for lo := int64(0); lo < n; lo += descChunk {
		cnt := min(descChunk, n-lo)
		pos := k.descOff + lo*pageDescSize
		b := buf[:cnt*pageDescSize]
		if k.cover == nil && !k.avail(pos, pageDescSize) {
			// A plain file ends before this chunk: every descriptor from
			// here on is missing.
			missing += uint64(n - lo)
			break
		}
		clear(b)
		if _, err := k.r.ReadAt(b, pos); err != nil && k.avail(pos, int64(len(b))) {
			return 0, fmt.Errorf("kdump page descriptors at %#x: %w", pos, err)
		}
		for i := int64(0); i < cnt; i++ {
			dpos := pos + i*pageDescSize
			if !k.avail(dpos, pageDescSize) {
				missing++
				continue
			}
			off := int64(k.bo.Uint64(b[i*pageDescSize:]))
			size := int64(k.bo.Uint32(b[i*pageDescSize+8:]))
			if off > 0 && size > 0 && !k.avail(off, size) {
				missing++
			}
		}
	}
	return missing, nil
}
