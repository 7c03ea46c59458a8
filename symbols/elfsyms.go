package symbols

import (
	"debug/elf"
	"errors"
	"fmt"
)

// LoadVmlinuxSymbols reads the symbol table of a vmlinux ELF file and
// relocates it like a System.map (see LoadSystemMap). Symbol sizes come from
// the ELF; LookupAddr is bounded by the allocated sections.
func LoadVmlinuxSymbols(path string, info VMCoreInfo) (*SymTable, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vmlinux: %w", err)
	}
	defer f.Close()
	syms, ranges, err := elfSymbols(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	slide, how, err := kaslrSlide(syms, info)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	relocate(syms, slide)
	for i := range ranges {
		if ranges[i].Lo >= kernelHalf {
			ranges[i].Lo += slide
			ranges[i].Hi += slide
		}
	}
	return NewSymTable(fmt.Sprintf("vmlinux %s, %d symbols, %s", path, len(syms), how), syms, ranges), nil
}

// elfSymbols converts an ELF symbol table to Symbols with nm type letters,
// and returns the kernel-space allocated sections as ranges.
func elfSymbols(f *elf.File) ([]Symbol, []SymRange, error) {
	esyms, err := f.Symbols()
	if err != nil {
		if errors.Is(err, elf.ErrNoSymbols) {
			return nil, nil, errors.New("no symbol table (stripped vmlinux?)")
		}
		return nil, nil, fmt.Errorf("symbol table: %w", err)
	}
	var ranges []SymRange
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && s.Size > 0 && s.Addr >= kernelHalf {
			ranges = append(ranges, SymRange{Lo: s.Addr, Hi: s.Addr + s.Size, Name: s.Name})
		}
	}
	syms := make([]Symbol, 0, len(esyms))
	for _, es := range esyms {
		typ, ok := nmType(f, es)
		if !ok || es.Name == "" {
			continue
		}
		syms = append(syms, Symbol{Name: es.Name, Addr: es.Value, Size: es.Size, Type: typ})
	}
	if len(syms) == 0 {
		return nil, nil, errors.New("symbol table has no defined symbols")
	}
	return syms, ranges, nil
}

// nmType gives the nm(1) letter of an ELF symbol; ok is false for symbols
// nm would not list as definitions (undefined, section, file symbols).
func nmType(f *elf.File, s elf.Symbol) (byte, bool) {
	st := elf.ST_TYPE(s.Info)
	if st == elf.STT_SECTION || st == elf.STT_FILE || s.Section == elf.SHN_UNDEF {
		return 0, false
	}
	var c byte
	switch {
	case s.Section == elf.SHN_ABS:
		c = 'a'
	case s.Section == elf.SHN_COMMON:
		c = 'c'
	case int(s.Section) < len(f.Sections):
		sec := f.Sections[s.Section]
		switch {
		case sec.Flags&elf.SHF_ALLOC == 0:
			return 0, false
		case sec.Type == elf.SHT_NOBITS:
			c = 'b'
		case sec.Flags&elf.SHF_EXECINSTR != 0:
			c = 't'
		case sec.Flags&elf.SHF_WRITE != 0:
			c = 'd'
		default:
			c = 'r'
		}
	default:
		return 0, false
	}
	switch elf.ST_BIND(s.Info) {
	case elf.STB_GLOBAL:
		c -= 'a' - 'A'
	case elf.STB_WEAK:
		if st == elf.STT_OBJECT {
			c = 'V'
		} else {
			c = 'W'
		}
	}
	return c, true
}
