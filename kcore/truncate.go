package kcore

import (
	"errors"
	"fmt"
)

// ErrTruncated: the page lies past the end of a dump file that was cut
// short (a partial copy, a disk that filled while the dump was written).
// Reads of such pages fail with a *TruncatedError, which wraps it.
var ErrTruncated = errors.New("past the end of the truncated dump file")

// TruncatedError is the error of a read whose data lies past the end of a
// truncated dump file. errors.Is(err, ErrTruncated) holds for it.
type TruncatedError struct {
	What     string // what was to be read: "page data of PFN 0x1234"
	Offset   int64  // where the headers put it (of the reassembled image for a flattened file)
	FileSize int64  // the bytes the file has
}

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("%s at offset %#x lies past the end of the truncated dump file (%d bytes)", e.What, e.Offset, e.FileSize)
}

// Unwrap makes errors.Is(err, ErrTruncated) true.
func (e *TruncatedError) Unwrap() error { return ErrTruncated }

// Truncation describes a dump file that ends before the data its headers
// promise: kdump-compressed page descriptors or page data past the end of
// the file, a makedumpfile-flattened file without its end marker, ELF
// PT_LOAD segments whose file data runs past the end.
type Truncation struct {
	FileSize int64 // bytes the file has
	// MissingBytes of TotalBytes of page data lie past the end of the
	// file: memory bytes (pages times the page size) for kdump-compressed
	// images, PT_LOAD file bytes for ELF.
	MissingBytes, TotalBytes uint64
	// MissingPages of TotalPages dumped pages cannot be read (kdump;
	// for ELF the bytes in pages of the dump's page size).
	MissingPages, TotalPages uint64
	// NoEndMarker: a flattened file that lacks its end record.
	NoEndMarker bool
}

// Warning is the truncation as one line naming the file and how much is
// missing: "vmcore: truncated: 412 MB of 1.0 GB of page data past the end
// of the file (…)".
func (t *Truncation) Warning(path string) string {
	return fmt.Sprintf("%s: truncated: %s of %s of page data past the end of the file "+
		"(%d of %d dumped pages cannot be read; the file has %d bytes): reads of them fail, and what is built from them (tasks, stacks, locks) may be missing",
		path, sizeString(t.MissingBytes), sizeString(t.TotalBytes), t.MissingPages, t.TotalPages, t.FileSize)
}

// Truncation reports how the image file is truncated, or nil when it holds
// all the data its headers promise.
func (d *Dump) Truncation() *Truncation {
	switch {
	case d.kdump != nil && d.kdump.trunc != nil:
		t := *d.kdump.trunc
		return &t
	case d.elf != nil && d.elf.trunc != nil:
		t := *d.elf.trunc
		return &t
	}
	return nil
}

// Warnings are what every analysis of the image should say about it: a
// truncated file, a dump its tool flagged incomplete.
func (d *Dump) Warnings() []string {
	var out []string
	if t := d.Truncation(); t != nil {
		out = append(out, t.Warning(d.path))
	}
	for _, p := range d.noteProblems {
		out = append(out, fmt.Sprintf("%s: damaged CPU notes: %s", d.path, p))
	}
	if d.stats.Incomplete {
		out = append(out, fmt.Sprintf("%s: the dump tool flagged the dump incomplete (it stopped writing, e.g. the disk was full): pages it did not write cannot be read", d.path))
	}
	return out
}

// sizeString renders a byte count like "412 MB" or "1.0 GB" (1024-based).
func sizeString(n uint64) string {
	units := []string{"bytes", "KB", "MB", "GB", "TB", "PB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	switch {
	case i == 0:
		return fmt.Sprintf("%d bytes", n)
	case f < 10:
		return fmt.Sprintf("%.1f %s", f, units[i])
	}
	return fmt.Sprintf("%.0f %s", f, units[i])
}
