package kcore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	lzo "github.com/anchore/go-lzo"
	"github.com/golang/snappy"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// Page compression flags of kdump-compressed page descriptors
// (makedumpfile diskdump_mod.h DUMP_DH_COMPRESSED_*).
const (
	dumpCompressedZlib   = 0x1
	dumpCompressedLZO    = 0x2
	dumpCompressedSnappy = 0x4
	dumpIncomplete       = 0x8
	dumpExcludedVmemmap  = 0x10
	dumpCompressedZstd   = 0x20

	dumpCompressionMask = dumpCompressedZlib | dumpCompressedLZO | dumpCompressedSnappy | dumpCompressedZstd
)

// compressionName names the compressions set in a flag word.
func compressionName(flags uint32) string {
	var names []string
	for _, c := range []struct {
		bit  uint32
		name string
	}{{dumpCompressedZlib, "zlib"}, {dumpCompressedLZO, "lzo"}, {dumpCompressedSnappy, "snappy"}, {dumpCompressedZstd, "zstd"}} {
		if flags&c.bit != 0 {
			names = append(names, c.name)
		}
	}
	if len(names) == 0 {
		return "uncompressed"
	}
	var b bytes.Buffer
	for i, n := range names {
		if i > 0 {
			b.WriteByte('+')
		}
		b.WriteString(n)
	}
	return b.String()
}

// decompressor decodes kdump pages. It is safe for concurrent use; readers
// and the zstd decoder are created on first use and reused.
type decompressor struct {
	zlibPool sync.Pool // *zlibState

	zstdOnce sync.Once
	zstdDec  *zstd.Decoder
	zstdErr  error
}

type zlibState struct {
	src bytes.Reader
	r   io.ReadCloser
}

// decode decodes src, compressed as flags says, into dst, which must come
// out exactly full.
func (d *decompressor) decode(flags uint32, src, dst []byte) error {
	switch {
	case flags&dumpCompressedZlib != 0:
		return d.zlib(src, dst)
	case flags&dumpCompressedLZO != 0:
		n, err := lzo.Decompress(src, dst)
		if err != nil {
			return fmt.Errorf("lzo: %w", err)
		}
		if n != len(dst) {
			return fmt.Errorf("lzo: page decodes to %d bytes, want %d", n, len(dst))
		}
		return nil
	case flags&dumpCompressedSnappy != 0:
		n, err := snappy.DecodedLen(src)
		if err != nil {
			return fmt.Errorf("snappy: %w", err)
		}
		if n != len(dst) {
			return fmt.Errorf("snappy: page decodes to %d bytes, want %d", n, len(dst))
		}
		if _, err := snappy.Decode(dst, src); err != nil {
			return fmt.Errorf("snappy: %w", err)
		}
		return nil
	case flags&dumpCompressedZstd != 0:
		return d.zstd(src, dst)
	}
	return fmt.Errorf("unknown page compression flags %#x", flags)
}

func (d *decompressor) zlib(src, dst []byte) error {
	st, _ := d.zlibPool.Get().(*zlibState)
	if st == nil {
		st = new(zlibState)
	}
	st.src.Reset(src)
	var err error
	if st.r == nil {
		st.r, err = zlib.NewReader(&st.src)
	} else {
		err = st.r.(zlib.Resetter).Reset(&st.src, nil)
	}
	if err != nil {
		return fmt.Errorf("zlib: %w", err)
	}
	n, err := io.ReadFull(st.r, dst)
	d.zlibPool.Put(st)
	if err != nil {
		return fmt.Errorf("zlib: page decodes to %d bytes, want %d: %w", n, len(dst), err)
	}
	return nil
}

func (d *decompressor) zstd(src, dst []byte) error {
	d.zstdOnce.Do(func() {
		// Pages are at most a few 64 KiB; cap memory so a lying frame
		// header cannot make the decoder allocate much.
		d.zstdDec, d.zstdErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(1<<22),
			zstd.WithDecoderMaxWindow(1<<22),
			zstd.WithDecodeAllCapLimit(true))
	})
	if d.zstdErr != nil {
		return fmt.Errorf("zstd: %w", d.zstdErr)
	}
	out, err := d.zstdDec.DecodeAll(src, dst[:0])
	if err != nil {
		return fmt.Errorf("zstd: %w", err)
	}
	if len(out) != len(dst) {
		return fmt.Errorf("zstd: page decodes to %d bytes, want %d", len(out), len(dst))
	}
	if &out[0] != &dst[0] {
		copy(dst, out)
	}
	return nil
}

func (d *decompressor) close() {
	if d.zstdDec != nil {
		d.zstdDec.Close()
	}
}

var errShortPage = errors.New("short page")
