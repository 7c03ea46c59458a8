package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// The kernel's compressed symbol table, as emitted by scripts/kallsyms.c and
// read by kernel/kallsyms.c:
//
//	kallsyms_num_syms      u32
//	kallsyms_names         per symbol: a length, then that many token indices
//	kallsyms_markers       u32 per 256 symbols: offset of symbol 256k in names
//	kallsyms_token_table   256 NUL-terminated strings
//	kallsyms_token_index   256 u16 offsets into the token table
//	kallsyms_offsets       s32 per symbol (or kallsyms_addresses, unsigned long)
//	kallsyms_relative_base unsigned long (gone in 7.0)
//
// A symbol's expansion starts with its nm type letter. The length is one byte
// before 6.1; from 6.1 (73bbb94466fd3 "kallsyms: support big kernel symbols")
// a length byte with bit 0x80 set is the low half of a 2-byte ULEB128.

const (
	// maxKallsyms bounds kallsyms_num_syms: real kernels have ~10^5.
	maxKallsyms = 1 << 22
	// maxSymbolName bounds one expanded name: KSYM_NAME_LEN is 512 since
	// 6.1 (include/linux/kallsyms.h), 128 before.
	maxSymbolName = 1024
	// maxToken bounds one token-table string.
	maxToken = 512
)

// addrEncoding is how kallsyms_offsets/kallsyms_addresses give an address
// (kernel/kallsyms.c kallsyms_sym_address of each era).
type addrEncoding int

const (
	// encAbsolute: kallsyms_addresses[i], unsigned long (no BASE_RELATIVE; removed 6.11).
	encAbsolute addrEncoding = iota
	// encBaseRelative: relative_base + (u32)offsets[i] (4.6 – 6.19).
	encBaseRelative
	// encAbsolutePercpu: offsets[i] >= 0 ? offsets[i] : relative_base - 1 - offsets[i]
	// (CONFIG_KALLSYMS_ABSOLUTE_PERCPU, default on x86_64 SMP, 4.6 – 6.14).
	encAbsolutePercpu
	// encPlaceRelative: &offsets[i] + (s32)offsets[i] (7.0+, a081b5789255d).
	encPlaceRelative
)

func (e addrEncoding) String() string {
	switch e {
	case encAbsolute:
		return "absolute addresses"
	case encBaseRelative:
		return "base-relative offsets"
	case encAbsolutePercpu:
		return "absolute-percpu offsets"
	case encPlaceRelative:
		return "place-relative offsets"
	}
	return fmt.Sprintf("encoding(%d)", int(e))
}

// kallsymsRaw is the kallsyms tables as bytes read from the kernel.
type kallsymsRaw struct {
	numSyms     int
	names       []byte // from kallsyms_names; may run past the last entry
	tokenTable  []byte // from kallsyms_token_table; may run past its end
	tokenIndex  []byte // 512 bytes
	markers     []byte // kallsyms_markers, or nil when not located
	offsets     []byte // kallsyms_offsets (4 bytes a symbol) or kallsyms_addresses (8)
	offsetsAddr uint64 // virtual address of offsets (place-relative encoding)
	relBase     uint64
	hasRelBase  bool
	addresses   bool // offsets is kallsyms_addresses
}

// kallsymsNames is the decoded names stream.
type kallsymsNames struct {
	all    string   // every name, concatenated
	ends   []uint32 // name i is all[ends[i-1]:ends[i]]
	types  []byte   // nm type letter of each symbol
	starts []uint32 // offset in kallsyms_names of symbols 0, 256, 512, ...
	end    int      // offset just past the last entry
	big    bool     // decoded with 2-byte lengths
}

func (n *kallsymsNames) name(i int) string {
	lo := uint32(0)
	if i > 0 {
		lo = n.ends[i-1]
	}
	return n.all[lo:n.ends[i]]
}

// decodeTokens expands kallsyms_token_index into the 256 token strings.
func decodeTokens(table, index []byte) (*[256]string, error) {
	if len(index) < 512 {
		return nil, fmt.Errorf("kallsyms_token_index: %d bytes, need 512", len(index))
	}
	var toks [256]string
	prev := -1
	for i := range 256 {
		off := int(binary.LittleEndian.Uint16(index[2*i:]))
		if off <= prev {
			return nil, fmt.Errorf("kallsyms_token_index[%d]=%d does not increase (previous %d)", i, off, prev)
		}
		if i == 0 && off != 0 {
			return nil, fmt.Errorf("kallsyms_token_index[0]=%d, want 0", off)
		}
		if off >= len(table) {
			return nil, fmt.Errorf("kallsyms_token_index[%d]=%d is past the %d bytes of kallsyms_token_table read", i, off, len(table))
		}
		rest := table[off:min(len(table), off+maxToken+1)]
		nul := slices.Index(rest, 0)
		if nul < 0 {
			return nil, fmt.Errorf("kallsyms_token_table entry %d at offset %d has no NUL within %d bytes", i, off, maxToken)
		}
		// Each string ends where the next one starts (scripts/kallsyms.c
		// writes them back to back).
		if i > 0 && prev+len(toks[i-1])+1 != off {
			return nil, fmt.Errorf("kallsyms_token_index[%d]=%d does not follow token %d (%q at %d)", i, off, i-1, toks[i-1], prev)
		}
		toks[i] = string(rest[:nul])
		prev = off
	}
	return &toks, nil
}

// decodeNames expands n symbols from the kallsyms_names stream. big selects
// the 6.1+ 2-byte length form. Every name must expand to a type letter and
// printable characters. A first pass finds where each entry starts (from the
// length bytes alone); the expansion then runs in parallel over ranges of
// entries (kallsyms_names_decode.go).
func decodeNames(names []byte, n int, toks *[256]string, big bool) (*kallsymsNames, error) {
	if n <= 0 || n > maxKallsyms {
		return nil, fmt.Errorf("kallsyms_num_syms=%d is implausible (want 1..%d)", n, maxKallsyms)
	}
	offs, end, err := entryOffsets(names, n, big)
	if err != nil {
		return nil, err
	}
	out, err := expandNames(names, offs, toks, big)
	if err != nil {
		return nil, err
	}
	out.starts = make([]uint32, 0, (n+255)/256)
	for i := 0; i < n; i += 256 {
		out.starts = append(out.starts, offs[i])
	}
	out.end = end
	out.big = big
	return out, nil
}

// entryBounds reads the length of the entry at pos and returns where its
// token indices start and where the next entry starts.
func entryBounds(names []byte, pos int, big bool) (body, next int, err error) {
	if pos >= len(names) {
		return 0, 0, fmt.Errorf("starts past the %d bytes read", len(names))
	}
	l := int(names[pos])
	pos++
	if big && l&0x80 != 0 {
		if pos >= len(names) {
			return 0, 0, errors.New("2-byte length cut off")
		}
		l = l&0x7f | int(names[pos])<<7
		pos++
	}
	if l == 0 {
		return 0, 0, errors.New("length 0")
	}
	if pos+l > len(names) {
		return 0, 0, fmt.Errorf("%d tokens run past the %d bytes read", l, len(names))
	}
	return pos, pos + l, nil
}

// entryOffsets returns the offset of each of the n entries and the offset
// just past the last. The slice grows with what the lengths allow (each
// entry takes at least 2 bytes), not with a count that may lie.
func entryOffsets(names []byte, n int, big bool) ([]uint32, int, error) {
	offs := make([]uint32, 0, min(n, len(names)/2+1))
	pos := 0
	for i := range n {
		_, next, err := entryBounds(names, pos, big)
		if err != nil {
			return nil, 0, fmt.Errorf("kallsyms_names: symbol %d of %d at offset %d: %w", i, n, pos, err)
		}
		offs = append(offs, uint32(pos))
		pos = next
	}
	return offs, pos, nil
}

// expandName expands the entry at pos into scratch (type letter first) and
// returns the offset of the next entry. The expansion must be a type letter
// and printable characters.
func expandName(names []byte, pos int, toks *[256]string, big bool, scratch []byte) ([]byte, int, error) {
	body, next, err := entryBounds(names, pos, big)
	if err != nil {
		return nil, 0, err
	}
	exp := scratch
	for _, b := range names[body:next] {
		tok := toks[b]
		if len(exp)+len(tok) > maxSymbolName+1 {
			return nil, 0, fmt.Errorf("expands past %d characters", maxSymbolName)
		}
		exp = append(exp, tok...)
	}
	if len(exp) < 2 {
		return nil, 0, fmt.Errorf("expands to %q: no name after the type", exp)
	}
	if !isTypeLetter(exp[0]) {
		return nil, 0, fmt.Errorf("type %q is not a letter", exp[0])
	}
	for _, c := range exp[1:] {
		if c <= ' ' || c > '~' {
			return nil, 0, fmt.Errorf("byte %#x in the name", c)
		}
	}
	return exp, next, nil
}

// namesLookValid reports whether the first k entries (or n, if fewer) at
// names expand cleanly: a cheap test before a full decode.
func namesLookValid(names []byte, n, k int, toks *[256]string, big bool) bool {
	var scratch [maxSymbolName + maxToken]byte
	pos := 0
	for range min(n, k) {
		_, next, err := expandName(names, pos, toks, big, scratch[:0])
		if err != nil {
			return false
		}
		pos = next
	}
	return true
}

func isTypeLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// checkMarkers compares kallsyms_markers with the offsets the decode found.
func (n *kallsymsNames) checkMarkers(markers []byte) error {
	if len(markers) < 4*len(n.starts) {
		return fmt.Errorf("kallsyms_markers: %d bytes, need %d", len(markers), 4*len(n.starts))
	}
	for k, want := range n.starts {
		if got := binary.LittleEndian.Uint32(markers[4*k:]); got != want {
			return fmt.Errorf("kallsyms_markers[%d]=%d but symbol %d starts at offset %d of kallsyms_names", k, got, 256*k, want)
		}
	}
	return nil
}

// decodeNamesEitherLength decodes with the 2-byte length form first and then
// the 1-byte form, keeping the first decode that checks out: every name
// expands, and the markers (when known) agree. Kernels before 6.1 never set
// bit 0x80 in a length byte in practice (names are under 128 tokens), so
// both forms agree there; a wrong guess fails on the next symbol.
func decodeNamesEitherLength(raw *kallsymsRaw, toks *[256]string) (*kallsymsNames, error) {
	var errs []error
	for _, big := range []bool{true, false} {
		n, err := decodeNames(raw.names, raw.numSyms, toks, big)
		if err == nil && raw.markers != nil {
			err = n.checkMarkers(raw.markers)
		}
		if err == nil {
			return n, nil
		}
		form := "1-byte lengths"
		if big {
			form = "2-byte lengths"
		}
		errs = append(errs, fmt.Errorf("with %s: %w", form, err))
	}
	return nil, errors.Join(errs...)
}

// encodings lists the address encodings raw's tables could use.
func (raw *kallsymsRaw) encodings() []addrEncoding {
	switch {
	case raw.addresses:
		return []addrEncoding{encAbsolute}
	case raw.hasRelBase:
		return []addrEncoding{encAbsolutePercpu, encBaseRelative, encPlaceRelative}
	default:
		return []addrEncoding{encPlaceRelative}
	}
}

// address decodes symbol i's address; ok is false when the table is short.
func (raw *kallsymsRaw) address(i int, enc addrEncoding) (uint64, bool) {
	if enc == encAbsolute {
		if 8*i+8 > len(raw.offsets) {
			return 0, false
		}
		return binary.LittleEndian.Uint64(raw.offsets[8*i:]), true
	}
	if 4*i+4 > len(raw.offsets) {
		return 0, false
	}
	u := binary.LittleEndian.Uint32(raw.offsets[4*i:])
	s := int32(u)
	switch enc {
	case encBaseRelative:
		return raw.relBase + uint64(u), true
	case encAbsolutePercpu:
		if s >= 0 {
			return uint64(s), true
		}
		return raw.relBase - 1 - uint64(int64(s)), true
	case encPlaceRelative:
		return raw.offsetsAddr + uint64(4*i) + uint64(int64(s)), true
	}
	return 0, false
}

// chooseEncoding picks the encoding under which the symbol(s) called _stext
// decode to stext, the way makedumpfile validates its kallsyms read. Without
// a known _stext it takes the first encoding that leaves the table sorted by
// address (scripts/kallsyms.c sorts it).
func chooseEncoding(raw *kallsymsRaw, names *kallsymsNames, stext uint64, haveStext bool) (addrEncoding, error) {
	encs := raw.encodings()
	if haveStext {
		var idx []int
		for i := range raw.numSyms {
			if names.name(i) == "_stext" {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			return 0, errors.New("kallsyms has no _stext symbol to check the address encoding against")
		}
		var tried []string
		for _, enc := range encs {
			for _, i := range idx {
				a, ok := raw.address(i, enc)
				if ok && a == stext {
					return enc, nil
				}
				tried = append(tried, fmt.Sprintf("%v gives %#x", enc, a))
			}
		}
		return 0, fmt.Errorf("no address encoding decodes _stext to VMCOREINFO's %#x (%s)", stext, joinComma(tried))
	}
	for _, enc := range encs {
		sorted := true
		prev := uint64(0)
		for i := range raw.numSyms {
			a, ok := raw.address(i, enc)
			if !ok || a < prev {
				sorted = false
				break
			}
			prev = a
		}
		if sorted {
			return enc, nil
		}
	}
	return 0, errors.New("no address encoding gives a table sorted by address")
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

// kallsymsResult is a full decode.
type kallsymsResult struct {
	syms  []Symbol
	enc   addrEncoding
	names *kallsymsNames
}

// decodeKallsyms decodes raw completely and checks it against _stext.
func decodeKallsyms(raw *kallsymsRaw, stext uint64, haveStext bool) (*kallsymsResult, error) {
	if raw.numSyms <= 0 || raw.numSyms > maxKallsyms {
		return nil, fmt.Errorf("kallsyms_num_syms=%d is implausible (want 1..%d)", raw.numSyms, maxKallsyms)
	}
	per := 4
	if raw.addresses {
		per = 8
	}
	if len(raw.offsets) < per*raw.numSyms {
		return nil, fmt.Errorf("kallsyms address table: %d bytes for %d symbols", len(raw.offsets), raw.numSyms)
	}
	toks, err := decodeTokens(raw.tokenTable, raw.tokenIndex)
	if err != nil {
		return nil, err
	}
	names, err := decodeNamesEitherLength(raw, toks)
	if err != nil {
		return nil, err
	}
	enc, err := chooseEncoding(raw, names, stext, haveStext)
	if err != nil {
		return nil, err
	}
	syms := make([]Symbol, raw.numSyms)
	for i := range syms {
		a, _ := raw.address(i, enc)
		syms[i] = Symbol{Name: names.name(i), Addr: a, Type: names.types[i]}
	}
	return &kallsymsResult{syms: syms, enc: enc, names: names}, nil
}

// kernelHalf is the lowest x86_64/arm64 kernel-space address; kallsyms
// entries below it are per-CPU offsets (absolute-percpu) or absolute values.
const kernelHalf = 0xffff800000000000

// vmlinuxRanges derives the address ranges a vmlinux symbol table answers
// for: the kernel image from its lowest kernel-space symbol to _end (or the
// last symbol). Per-CPU offsets are left out on purpose, so small numbers are
// not rendered as "fixed_percpu_data+0x10".
func vmlinuxRanges(syms []Symbol) []SymRange {
	var lo, hi, end uint64
	found := false
	for _, s := range syms {
		if s.Addr < kernelHalf {
			continue
		}
		if !found || s.Addr < lo {
			lo = s.Addr
		}
		if s.Addr+1 > hi {
			hi = s.Addr + 1
		}
		if s.Name == "_end" {
			end = s.Addr
		}
		found = true
	}
	if !found {
		return nil
	}
	if end > hi {
		hi = end
	}
	return []SymRange{{Lo: lo, Hi: hi, Name: "kernel image"}}
}
