package symbols

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// dwarfFile is one ELF file's DWARF (vmlinux or a module), with its lazy
// name index and its converted types. Callers serialise access.
type dwarfFile struct {
	name string // "vmlinux" or the module name
	path string
	data *dwarf.Data
	mm   []byte // the file mapping, nil when sections were read
	str  []byte // .debug_str, for mentions
	skim *skimScanner
	// funcs indexes a module's functions for line lookups (built once).
	funcs map[string]modFunc
	idx   *dwarfIndex
	conv  *dwarfConverter
}

// dwarfSections are the sections debug/dwarf reads.
var dwarfSectionNames = []string{
	"abbrev", "aranges", "frame", "info", "line", "pubnames", "ranges", "str",
	"addr", "line_str", "loclists", "rnglists", "str_offsets",
}

// openDWARFFile opens path's DWARF. A linked file (vmlinux) is mapped and
// its sections used in place, so opening a 600 MB vmlinux costs neither
// time nor memory up front; a relocatable module (.ko) is read with its
// relocations applied by debug/elf.
func openDWARFFile(path, name string) (*dwarfFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("DWARF: %w", err)
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, fmt.Errorf("DWARF %s: %w", path, err)
	}
	if ef.Section(".debug_info") == nil {
		return nil, fmt.Errorf("DWARF %s: no .debug_info section (stripped; install the -dbg package)", path)
	}
	df := &dwarfFile{name: name, path: path}
	if ef.Type == elf.ET_REL || hasCompressedDebug(ef) {
		df.data, err = ef.DWARF()
		if err != nil {
			return nil, fmt.Errorf("DWARF %s: %w", path, err)
		}
		if s := ef.Section(".debug_str"); s != nil {
			if df.str, err = s.Data(); err != nil {
				return nil, fmt.Errorf("DWARF %s: .debug_str: %w", path, err)
			}
		}
	} else {
		if err := df.mapSections(f, ef); err != nil {
			return nil, err
		}
	}
	if df.skim != nil {
		df.idx = newDWARFIndex(df.skim)
	} else {
		df.idx = newDWARFIndex(&readerScanner{r: df.data.Reader()})
	}
	df.conv = newDWARFConverter()
	return df, nil
}

func hasCompressedDebug(ef *elf.File) bool {
	for _, s := range ef.Sections {
		if strings.HasPrefix(s.Name, ".zdebug") || (strings.HasPrefix(s.Name, ".debug_") && s.Flags&elf.SHF_COMPRESSED != 0) {
			return true
		}
	}
	return false
}

// mapSections maps the whole file and hands debug/dwarf slices of it.
func (df *dwarfFile) mapSections(f *os.File, ef *elf.File) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("DWARF %s: %w", df.path, err)
	}
	size := st.Size()
	if size <= 0 || size > 1<<40 {
		return fmt.Errorf("DWARF %s: implausible file size %d", df.path, size)
	}
	mm, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("DWARF %s: mmap: %w", df.path, err)
	}
	sec := func(short string) ([]byte, error) {
		s := ef.Section(".debug_" + short)
		if s == nil || s.Type == elf.SHT_NOBITS {
			return nil, nil
		}
		if s.Offset > uint64(size) || s.Size > uint64(size)-s.Offset {
			return nil, fmt.Errorf("DWARF %s: section .debug_%s [%#x+%#x] past the end of the file", df.path, short, s.Offset, s.Size)
		}
		return mm[s.Offset : s.Offset+s.Size : s.Offset+s.Size], nil
	}
	secs := make(map[string][]byte, len(dwarfSectionNames))
	for _, n := range dwarfSectionNames {
		b, err := sec(n)
		if err != nil {
			unix.Munmap(mm)
			return err
		}
		secs[n] = b
	}
	d, err := dwarf.New(secs["abbrev"], secs["aranges"], secs["frame"], secs["info"], secs["line"], secs["pubnames"], secs["ranges"], secs["str"])
	if err != nil {
		unix.Munmap(mm)
		return fmt.Errorf("DWARF %s: %w", df.path, err)
	}
	for _, n := range []string{"addr", "line_str", "loclists", "rnglists", "str_offsets"} {
		if b := secs[n]; b != nil {
			if err := d.AddSection(".debug_"+n, b); err != nil {
				unix.Munmap(mm)
				return fmt.Errorf("DWARF %s: .debug_%s: %w", df.path, n, err)
			}
		}
	}
	df.data, df.mm, df.str = d, mm, secs["str"]
	if ef.ByteOrder == binary.LittleEndian {
		df.skim = &skimScanner{info: secs["info"], abbrev: secs["abbrev"], str: secs["str"],
			lineStr: secs["line_str"], strOffsets: secs["str_offsets"]}
	}
	return nil
}

// close unmaps the file. Types already converted stay valid (they are
// plain Go values); the file must not be used afterwards.
func (df *dwarfFile) close() {
	if df.mm != nil {
		unix.Munmap(df.mm)
		df.mm = nil
	}
	df.data = nil
}

// mentions reports whether name may be a DW_AT_name in this file: GCC puts
// every name longer than three bytes in .debug_str (shorter ones inline),
// and linkers merge string tails, so a name present is "name\0" somewhere.
// A false answer is certain; it spares scanning every unit for a name the
// file cannot define.
func (df *dwarfFile) mentions(name string) bool {
	if len(name) < 4 || df.str == nil {
		return true
	}
	return bytes.Contains(df.str, append([]byte(name), 0))
}

func (df *dwarfFile) mentionsAny(names []string) bool {
	for _, n := range names {
		if df.mentions(n) {
			return true
		}
	}
	return false
}
