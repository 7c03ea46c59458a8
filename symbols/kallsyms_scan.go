package symbols

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/kcore"
)

// Finding kallsyms without VMCOREINFO's help (kernels before 6.0), the way
// vmlinux-to-elf does it on a raw image. scripts/kallsyms.c of 5.10 .. 6.1
// writes, each label aligned (ALGN = .balign 8 on 64-bit):
//
//	kallsyms_offsets        s32 × num      (or kallsyms_addresses, u64 × num)
//	kallsyms_relative_base  u64            (only with offsets)
//	kallsyms_num_syms       u32
//	kallsyms_names          len, tokens... × num
//	kallsyms_markers        u32 × ceil(num/256)
//	kallsyms_token_table    256 NUL-terminated strings
//	kallsyms_token_index    u16 × 256
//
// Later kernels (and Debian's 6.1 stable) add kallsyms_seqs_of_names (3
// bytes a symbol) between the markers and the token table, later ones move
// the address table after the token index, and 7.x aligns labels to 4 and
// drops kallsyms_relative_base. The scan accepts all of these.
//
// The anchor is the token table: every character used in a symbol name has
// a token of its own in the slot of its own code, so "0\x001\x00...9\x00"
// appears in it; the token index that follows (256 increasing offsets
// starting at 0, each string ending where the next begins) confirms it.
// kallsyms_num_syms and the names are found backwards from it, the markers
// after the names must agree with them, and the whole decode is checked
// against SYMBOL(_stext).

// digitTokens is slots 0x30..0x39 of a token table.
var digitTokens = []byte("0\x001\x002\x003\x004\x005\x006\x007\x008\x009\x00")

const (
	// minScanSyms: a kallsyms_num_syms below this is not taken from a scan
	// (even a tiny kernel has a few thousand symbols); small numbers are
	// common in rodata.
	minScanSyms = 256
	scanChunk   = 2 << 20
	// scanMaxGap ends the scan after this many unreadable bytes in a row:
	// the kernel image mapping ends at _end (arch/x86/mm/init_64.c
	// cleanup_highmap).
	scanMaxGap = 64 << 20
	// scanDefaultLimit is how far past _stext to look without
	// NUMBER(KERNEL_IMAGE_SIZE).
	scanDefaultLimit = 1 << 30
)

// errNoTokenTable: the scan found no token table at all.
var errNoTokenTable = errors.New("found no token table")

// scanKallsyms looks for the kallsyms tables in [start, start+limit).
// It returns the first candidate whose decode checks out.
func scanKallsyms(mem kcore.Memory, start, limit, stext uint64, haveStext bool) (*kallsymsRaw, kallsymsAddrs, error) {
	end := start + limit
	if end < start {
		end = ^uint64(0)
	}
	var candidates []error
	gap := uint64(0)
	overlap := uint64(len(digitTokens) - 1)
	chunk := make([]byte, scanChunk+overlap)
	for addr := start; addr < end; addr += scanChunk {
		n := min(uint64(scanChunk)+overlap, end-addr)
		got, _ := readPrefixInto(mem, chunk[:n], addr)
		buf := chunk[:got]
		if len(buf) == 0 {
			gap += scanChunk
			if gap >= scanMaxGap {
				break
			}
			continue
		}
		if uint64(len(buf)) < n {
			gap += n - uint64(len(buf))
		} else {
			gap = 0
		}
		for off := 0; ; {
			i := bytes.Index(buf[off:], digitTokens)
			if i < 0 {
				break
			}
			p := addr + uint64(off+i)
			raw, a, err := locateKallsyms(mem, p, stext, haveStext)
			if err == nil {
				return raw, a, nil
			}
			candidates = append(candidates, fmt.Errorf("candidate token table digits at %#x: %w", p, err))
			off += i + 1
		}
		if gap >= scanMaxGap {
			break
		}
	}
	if len(candidates) == 0 {
		return nil, kallsymsAddrs{}, fmt.Errorf("scan of %#x..%#x %w", start, end, errNoTokenTable)
	}
	if len(candidates) > 4 {
		candidates = append(candidates[:4], fmt.Errorf("and %d more candidates", len(candidates)-4))
	}
	return nil, kallsymsAddrs{}, fmt.Errorf("scan of %#x..%#x found no table that decodes: %w", start, end, errors.Join(candidates...))
}

// locateKallsyms checks the token-table candidate whose '0' slot is at p and
// finds the other tables from it.
func locateKallsyms(mem kcore.Memory, p, stext uint64, haveStext bool) (*kallsymsRaw, kallsymsAddrs, error) {
	var a kallsymsAddrs
	// Walk slots 0x30..0xff to the end of the token table; then the index.
	fwd, err := readTablePrefix(mem, p, (0x100-0x30)*maxToken+512+8, 0, "token table")
	if err != nil {
		return nil, a, err
	}
	pos := 0
	for range 0x100 - 0x30 {
		nul := bytes.IndexByte(fwd[pos:min(len(fwd), pos+maxToken+1)], 0)
		if nul < 0 {
			return nil, a, errors.New("token strings after the digits do not end")
		}
		pos += nul + 1
	}
	tableEnd := p + uint64(pos)
	found := false
	var toks *[256]string
	var table []byte
	for pad := range uint64(8) {
		at := tableEnd + pad
		if at%2 != 0 || int(at-p)+512 > len(fwd) {
			continue
		}
		index := fwd[at-p : at-p+512]
		off30 := uint64(binary.LittleEndian.Uint16(index[2*0x30:]))
		if off30 > p {
			continue
		}
		t := p - off30
		tb, err := readTable(mem, t, int(tableEnd-t), "kallsyms_token_table")
		if err != nil {
			continue
		}
		if tk, err := decodeTokens(tb, index); err == nil && uint64(binary.LittleEndian.Uint16(index[2*0xff:]))+uint64(len(tk[0xff]))+1 == tableEnd-t {
			a.tokenTable, a.tokenIndex = t, at
			toks, table = tk, tb
			found = true
			break
		}
	}
	if !found {
		return nil, a, errors.New("no kallsyms_token_index after the strings agrees with them")
	}
	index := fwdIndex(fwd, a.tokenIndex-p)
	return findNamesBefore(mem, a, table, index, toks, stext, haveStext)
}

func fwdIndex(fwd []byte, off uint64) []byte { return fwd[off : off+512] }

// findNamesBefore walks back from the token table to kallsyms_names: an
// address S preceded by kallsyms_num_syms (a u32, then 4 bytes of padding
// where the labels are 8-aligned as in 5.10 .. 6.x; 7.x aligns them to 4). The names decoded from S must be followed by
// kallsyms_markers that agree with them. Markers are found forwards from the
// names, not backwards from the token table, because kallsyms_seqs_of_names
// (3 bytes a symbol, 6.2+ and 6.1 stable) may sit between the two.
//
// The window before the token table grows by doubling, so the
// usual few MiB of tables are read about twice.
func findNamesBefore(mem kcore.Memory, a kallsymsAddrs, table, index []byte, toks *[256]string, stext uint64, haveStext bool) (*kallsymsRaw, kallsymsAddrs, error) {
	const maxCandidates = 1024
	t := a.tokenTable &^ 3
	maxWindow := uint64(maxNamesBytes)
	if t < maxWindow+16 {
		maxWindow = t - 16
	}
	var errs []error
	tried := 0
	checked := uint64(0) // positions in [t-checked, t) are done
	for w := uint64(1 << 20); checked < maxWindow; w *= 2 {
		w = min(w, maxWindow)
		region, err := readTable(mem, t-w-16, int(w+16), "kallsyms tables")
		if err != nil {
			break // below the readable image
		}
		lo := t - w - 16 // address of region[0]
		for s := t - checked; s >= t-w && s > lo+16; s -= 4 {
			off := s - lo
			// kallsyms_num_syms just before the names, or before 4 bytes
			// of padding when the labels are 8-aligned.
			numAt := s - 4
			n := binary.LittleEndian.Uint32(region[off-4:])
			if n == 0 {
				numAt, n = s-8, binary.LittleEndian.Uint32(region[off-8:])
			}
			// A kernel has thousands of symbols, 2 bytes of names each at least.
			if n < minScanSyms || n > maxKallsyms || uint64(n)*2 > t-s {
				continue
			}
			// The first names must expand cleanly before a full decode.
			if !namesLookValid(region[off:], int(n), 16, toks, true) && !namesLookValid(region[off:], int(n), 16, toks, false) {
				continue
			}
			if tried++; tried > maxCandidates {
				break
			}
			raw, a2, err := tryNamesAt(mem, a, s, numAt, int(n), region[off:], table, index, toks, stext, haveStext)
			if err == nil {
				return raw, a2, nil
			}
			errs = append(errs, fmt.Errorf("names at %#x: %w", s, err))
		}
		checked = w
		if tried > maxCandidates {
			errs = append(errs, fmt.Errorf("gave up after %d kallsyms_num_syms candidates", maxCandidates))
			break
		}
	}
	if len(errs) == 0 {
		return nil, a, fmt.Errorf("no kallsyms_num_syms before the token table at %#x", a.tokenTable)
	}
	if len(errs) > 4 {
		errs = append(errs[:4], fmt.Errorf("and %d more", len(errs)-4))
	}
	return nil, a, errors.Join(errs...)
}

// tryNamesAt decodes n names from names (the bytes at s up to the token
// table) and checks the markers after them.
func tryNamesAt(mem kcore.Memory, a kallsymsAddrs, s, numAt uint64, n int, names, table, index []byte, toks *[256]string, stext uint64, haveStext bool) (*kallsymsRaw, kallsymsAddrs, error) {
	var errs []error
	for _, big := range []bool{true, false} {
		// Walk the lengths alone first: most candidates inside the names
		// stream fail here, without expanding a token or allocating.
		if err := walkNameLengths(names, n, big); err != nil {
			errs = append(errs, err)
			continue
		}
		dec, err := decodeNames(names, n, toks, big)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		mk := findMarkersAfterNames(names, dec)
		if mk == nil {
			errs = append(errs, fmt.Errorf("%d names decode, but no kallsyms_markers after them agree", n))
			continue
		}
		raw := &kallsymsRaw{numSyms: n, names: names, tokenTable: table, tokenIndex: index, markers: mk}
		a.names, a.numSyms = s, numAt
		return finishScan(mem, a, raw, stext, haveStext)
	}
	return nil, a, errors.Join(errs...)
}

// finishScan finds the address table and picks the layout under which
// _stext decodes right: before kallsyms_num_syms (the 5.10 .. 6.1 order), or
// after kallsyms_token_index (the order of later kernels, where 7.0+ has no
// kallsyms_relative_base and uses place-relative offsets).
func finishScan(mem kcore.Memory, a kallsymsAddrs, raw *kallsymsRaw, stext uint64, haveStext bool) (*kallsymsRaw, kallsymsAddrs, error) {
	n := uint64(raw.numSyms)
	type layout struct {
		offsets, relBase     uint64
		addresses, noRelBase bool
	}
	align8 := func(v uint64) uint64 { return (v + 7) &^ 7 }
	var layouts []layout
	// Before num_syms: offsets, relative_base, num_syms.
	relBase := (a.numSyms &^ 7) - 8
	if a.numSyms >= 16 {
		for _, size := range []uint64{align8(4 * n), 4 * n} {
			if relBase >= size {
				layouts = append(layouts, layout{offsets: relBase - size, relBase: relBase})
			}
		}
	}
	if a.numSyms&^7 >= 8*n {
		layouts = append(layouts, layout{offsets: (a.numSyms &^ 7) - 8*n, addresses: true})
	}
	// After the token index: offsets[, relative_base], the labels aligned
	// to 8 (6.x) or 4 (7.x).
	for _, after := range []uint64{a.tokenIndex + 512, align8(a.tokenIndex + 512)} {
		layouts = append(layouts,
			layout{offsets: after, relBase: align8(after + 4*n)},
			layout{offsets: after, noRelBase: true},
			layout{offsets: after, addresses: true})
		if after == align8(after) {
			break
		}
	}
	var errs []error
	for _, l := range layouts {
		r := *raw
		r.addresses, r.hasRelBase, r.offsetsAddr = l.addresses, !l.addresses && !l.noRelBase, l.offsets
		per := 4
		if l.addresses {
			per = 8
		}
		var err error
		if r.offsets, err = readTable(mem, l.offsets, per*raw.numSyms, "kallsyms address table"); err != nil {
			errs = append(errs, err)
			continue
		}
		if r.hasRelBase {
			if r.relBase, err = readTableU64(mem, l.relBase, "kallsyms_relative_base"); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if _, err := decodeKallsyms(&r, stext, haveStext); err != nil {
			errs = append(errs, fmt.Errorf("address table at %#x: %w", l.offsets, err))
			continue
		}
		a.offsets, a.relBase, a.hasRelBase, a.addresses = l.offsets, l.relBase, r.hasRelBase, l.addresses
		return &r, a, nil
	}
	return nil, a, fmt.Errorf("names at %#x decode, but no address table checks out: %w", a.names, errors.Join(errs...))
}

// loadKallsymsScan scans the kernel image from SYMBOL(_stext) for kallsyms.
func loadKallsymsScan(mem kcore.Memory, info VMCoreInfo) (*SymTable, KallsymsInfo, error) {
	if nilInfo(info) {
		return nil, KallsymsInfo{}, errors.New("the kallsyms scan needs VMCOREINFO's SYMBOL(_stext) to start from and to check against, and there is no VMCOREINFO")
	}
	stext, ok := info.Symbol("_stext")
	if !ok {
		return nil, KallsymsInfo{}, errors.New("the kallsyms scan needs SYMBOL(_stext) in VMCOREINFO, which is missing")
	}
	limit := uint64(scanDefaultLimit)
	if v, ok := info.Number("KERNEL_IMAGE_SIZE"); ok && v > 0 && uint64(v) < limit {
		limit = uint64(v)
	}
	raw, a, err := scanKallsyms(mem, stext&^0xfff, limit, stext, true)
	if err != nil {
		return nil, KallsymsInfo{}, fmt.Errorf("the kallsyms scan of the kernel image from _stext %#x: %w", stext, err)
	}
	t, ki, err := buildKallsymsTable(raw, stext, true, fmt.Sprintf("kallsyms found by scanning dump memory (names at %#x)", a.names))
	if err != nil {
		return nil, ki, err
	}
	ki.NamesAddr, ki.Scanned = a.names, true
	return t, ki, nil
}

// readTableBack returns the readable bytes just below end, up to n of them,
// reading a page at a time downwards from the page holding end-1.
func readTableBack(mem kcore.Memory, end uint64, n int) []byte {
	const page = 4096
	out := make([]byte, n)
	got := 0
	for got < n {
		hi := end - uint64(got)
		lo := (hi - 1) &^ (page - 1)
		if hi-lo > uint64(n-got) {
			lo = hi - uint64(n-got)
		}
		if lo > hi || hi == 0 {
			break
		}
		if err := mem.ReadVirt(out[n-got-int(hi-lo):n-got], lo); err != nil {
			break
		}
		got += int(hi - lo)
		if lo == 0 {
			break
		}
	}
	return out[n-got:]
}

// walkNameLengths steps over n entries by their lengths and checks that
// kallsyms_markers after them agree with the offsets of every 256th.
func walkNameLengths(names []byte, n int, big bool) error {
	starts := make([]uint32, 0, n/256+1)
	pos := 0
	for i := range n {
		if i&0xff == 0 {
			starts = append(starts, uint32(pos))
		}
		if pos >= len(names) {
			return fmt.Errorf("entry %d of %d starts past the %d bytes before the token table", i, n, len(names))
		}
		l := int(names[pos])
		pos++
		if big && l&0x80 != 0 {
			if pos >= len(names) {
				return fmt.Errorf("entry %d: 2-byte length cut off", i)
			}
			l = l&0x7f | int(names[pos])<<7
			pos++
		}
		if l == 0 {
			return fmt.Errorf("entry %d of %d has length 0", i, n)
		}
		pos += l
	}
	if pos > len(names) {
		return fmt.Errorf("%d entries run past the token table", n)
	}
	dec := &kallsymsNames{starts: starts, end: pos}
	if findMarkersAfterNames(names, dec) == nil {
		return fmt.Errorf("%d entries end at offset %d, but no kallsyms_markers after them agree", n, pos)
	}
	return nil
}
