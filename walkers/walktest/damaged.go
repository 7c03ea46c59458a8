package walktest

import (
	"fmt"
	"io"
	"os"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
)

// Damaged is a dump file as a test damages it, made without copying it:
// reads go to the file, which ends at Size (a truncated copy), with the
// bytes of Flips XORed in (bit flips). Nothing is written to disk.
type Damaged struct {
	f    *os.File
	Path string
	// Size is where the damaged file ends (at most the real file's size).
	Size int64
	// Flips XORs a mask into the byte at each offset.
	Flips map[int64]byte
	full  int64
}

// OpenDamaged opens path for damaging; it starts whole.
func OpenDamaged(path string) (*Damaged, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Damaged{f: f, Path: path, Size: fi.Size(), full: fi.Size(), Flips: map[int64]byte{}}, nil
}

// FullSize is the size of the file undamaged.
func (d *Damaged) FullSize() int64 { return d.full }

// ReadAt implements io.ReaderAt over the damaged file.
func (d *Damaged) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("damaged %s: negative offset %d", d.Path, off)
	}
	if off >= d.Size {
		return 0, io.EOF
	}
	want := len(p)
	if rest := d.Size - off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := d.f.ReadAt(p, off)
	for o, mask := range d.Flips {
		if o >= off && o < off+int64(n) {
			p[o-off] ^= mask
		}
	}
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

// Close closes the file.
func (d *Damaged) Close() error { return d.f.Close() }

// Open opens the damaged image as kwalk.Open opens a file: kcore reads it
// through d (named name in messages), then symbols and types load from it.
func (d *Damaged) Open(name string) (*symbols.Program, error) {
	dump, err := kcore.OpenReaderAt(d, d.Size, name, kcore.Options{})
	if err != nil {
		return nil, err
	}
	p, err := kwalk.Load(dump, kwalk.Options{})
	if err != nil {
		dump.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}
