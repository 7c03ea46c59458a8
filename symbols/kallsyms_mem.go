package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/kwalk/kwalk/kcore"
)

// VMCoreInfo is what symbol loading needs from the dump's VMCOREINFO note.
// *kcore.VMCoreInfo implements it.
type VMCoreInfo interface {
	// Symbol is SYMBOL(name): a runtime (relocated) address.
	Symbol(name string) (uint64, bool)
	// Number is NUMBER(name).
	Number(name string) (int64, bool)
	// KernelOffset is KERNELOFFSET, the KASLR slide.
	KernelOffset() (uint64, bool)
	// OSRelease is the kernel release string.
	OSRelease() string
}

// nilInfo reports whether info is nil or a typed nil pointer.
func nilInfo(info VMCoreInfo) bool {
	if info == nil {
		return true
	}
	v := reflect.ValueOf(info)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

const (
	// readChunk is the size of one ReadVirt when reading a table.
	readChunk = 1 << 20
	// maxNamesBytes bounds kallsyms_names (real kernels: a few MiB).
	maxNamesBytes = 64 << 20
)

// readTable reads n bytes at addr in chunks, naming what it reads in errors.
func readTable(mem kcore.Memory, addr uint64, n int, what string) ([]byte, error) {
	if n < 0 || n > maxNamesBytes+readChunk {
		return nil, fmt.Errorf("%s at %#x: %d bytes is more than the %d accepted", what, addr, n, maxNamesBytes+readChunk)
	}
	buf := make([]byte, n)
	for off := 0; off < n; off += readChunk {
		end := min(n, off+readChunk)
		if err := mem.ReadVirt(buf[off:end], addr+uint64(off)); err != nil {
			return nil, fmt.Errorf("%s at %#x (+%#x of %#x bytes): %w", what, addr, off, n, err)
		}
	}
	return buf, nil
}

// readTablePrefix reads up to n bytes at addr, stopping at the first chunk that
// cannot be read (the tables may sit at the end of mapped rodata). It fails
// only when not even atLeast bytes are readable.
func readTablePrefix(mem kcore.Memory, addr uint64, n, atLeast int, what string) ([]byte, error) {
	buf := make([]byte, 0, min(n, readChunk))
	for len(buf) < n {
		step := min(readChunk, n-len(buf))
		buf = slices.Grow(buf, step)
		got, err := readPrefixInto(mem, buf[len(buf):len(buf)+step], addr+uint64(len(buf)))
		buf = buf[:len(buf)+got]
		if got < step {
			if len(buf) < atLeast {
				return nil, fmt.Errorf("%s at %#x: only %d of the %d bytes needed are readable: %w", what, addr, len(buf), atLeast, err)
			}
			break
		}
	}
	return buf, nil
}

// readPrefixInto fills as much of dst from addr as is readable without a
// gap, trying page by page after a failed whole read, and returns how many
// bytes it filled and the error that stopped it.
func readPrefixInto(mem kcore.Memory, dst []byte, addr uint64) (int, error) {
	err := mem.ReadVirt(dst, addr)
	if err == nil {
		return len(dst), nil
	}
	const page = 4096
	for off := 0; off < len(dst); {
		end := min(len(dst), off+page-int((addr+uint64(off))%page))
		if e := mem.ReadVirt(dst[off:end], addr+uint64(off)); e != nil {
			return off, e
		}
		off = end
	}
	return len(dst), nil
}

func readTableU32(mem kcore.Memory, addr uint64, what string) (uint32, error) {
	var b [4]byte
	if err := mem.ReadVirt(b[:], addr); err != nil {
		return 0, fmt.Errorf("%s at %#x: %w", what, addr, err)
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

func readTableU64(mem kcore.Memory, addr uint64, what string) (uint64, error) {
	var b [8]byte
	if err := mem.ReadVirt(b[:], addr); err != nil {
		return 0, fmt.Errorf("%s at %#x: %w", what, addr, err)
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// errNoVMCoreInfoKallsyms says VMCOREINFO has no kallsyms symbols (kernels
// before 6.0: 5fd8fea935a10 "vmcoreinfo: include kallsyms symbols").
var errNoVMCoreInfoKallsyms = errors.New("no kallsyms in VMCOREINFO (kernel < 6.0)")

// kallsymsAddrs are the table addresses the kernel published.
type kallsymsAddrs struct {
	names, numSyms, tokenTable, tokenIndex uint64
	offsets, relBase                       uint64
	hasRelBase, addresses                  bool
	markers                                uint64 // 0 when unknown
}

func kallsymsFromVMCoreInfo(info VMCoreInfo) (kallsymsAddrs, error) {
	var a kallsymsAddrs
	var ok bool
	get := func(name string) uint64 {
		v, found := info.Symbol(name)
		ok = ok && found
		return v
	}
	ok = true
	a.names = get("kallsyms_names")
	a.numSyms = get("kallsyms_num_syms")
	a.tokenTable = get("kallsyms_token_table")
	a.tokenIndex = get("kallsyms_token_index")
	if !ok {
		return a, errNoVMCoreInfoKallsyms
	}
	if v, found := info.Symbol("kallsyms_offsets"); found {
		a.offsets = v
		a.relBase, a.hasRelBase = info.Symbol("kallsyms_relative_base")
	} else if v, found := info.Symbol("kallsyms_addresses"); found {
		a.offsets, a.addresses = v, true
	} else {
		return a, errors.New("VMCOREINFO has kallsyms_names but neither SYMBOL(kallsyms_offsets) nor SYMBOL(kallsyms_addresses)")
	}
	// Not exported by the kernel today; taken when a future one does.
	a.markers, _ = info.Symbol("kallsyms_markers")
	return a, nil
}

// readKallsyms reads the tables at a from memory. kallsyms_names is read up
// to the token table when that follows it (every layout scripts/kallsyms.c
// has written: names, markers[, seqs_of_names], token_table), else up to
// maxNamesBytes of what is readable.
func readKallsyms(mem kcore.Memory, a kallsymsAddrs) (*kallsymsRaw, error) {
	raw := &kallsymsRaw{hasRelBase: a.hasRelBase, addresses: a.addresses, offsetsAddr: a.offsets}
	n, err := readTableU32(mem, a.numSyms, "kallsyms_num_syms")
	if err != nil {
		return nil, err
	}
	if n == 0 || n > maxKallsyms {
		return nil, fmt.Errorf("kallsyms_num_syms at %#x is %d: implausible (want 1..%d)", a.numSyms, n, maxKallsyms)
	}
	raw.numSyms = int(n)
	if raw.tokenIndex, err = readTable(mem, a.tokenIndex, 512, "kallsyms_token_index"); err != nil {
		return nil, err
	}
	maxIdx := 0
	for i := range 256 {
		maxIdx = max(maxIdx, int(binary.LittleEndian.Uint16(raw.tokenIndex[2*i:])))
	}
	tokLen := maxIdx + maxToken + 1
	if a.tokenIndex > a.tokenTable && a.tokenIndex-a.tokenTable < uint64(tokLen) {
		tokLen = int(a.tokenIndex - a.tokenTable)
	}
	if raw.tokenTable, err = readTablePrefix(mem, a.tokenTable, tokLen, maxIdx+1, "kallsyms_token_table"); err != nil {
		return nil, err
	}
	namesLen := maxNamesBytes
	if a.tokenTable > a.names && a.tokenTable-a.names < maxNamesBytes {
		namesLen = int(a.tokenTable - a.names)
	}
	// Each symbol takes at least 2 bytes (a length and one token). Bounded
	// by the token table, the whole stream is normally readable: read it in
	// parallel, and only on a failure what is readable of it.
	if namesLen < maxNamesBytes {
		raw.names, err = readParallel(mem, a.names, uint64(namesLen))
	}
	if raw.names == nil || err != nil {
		if raw.names, err = readTablePrefix(mem, a.names, namesLen, 2*raw.numSyms, "kallsyms_names"); err != nil {
			return nil, err
		}
	}
	per := 4
	if a.addresses {
		per = 8
	}
	what := "kallsyms_offsets"
	if a.addresses {
		what = "kallsyms_addresses"
	}
	if raw.offsets, err = readParallel(mem, a.offsets, uint64(per*raw.numSyms)); err != nil {
		return nil, fmt.Errorf("%s at %#x: %w", what, a.offsets, err)
	}
	if a.hasRelBase {
		if raw.relBase, err = readTableU64(mem, a.relBase, "kallsyms_relative_base"); err != nil {
			return nil, err
		}
	}
	if a.markers != 0 {
		if raw.markers, err = readTable(mem, a.markers, 4*((raw.numSyms+255)/256), "kallsyms_markers"); err != nil {
			return nil, err
		}
	}
	return raw, nil
}

// findMarkersAfterNames locates kallsyms_markers right after the names
// stream (scripts/kallsyms.c emits it next, aligned to 4 or 8 bytes) inside
// the bytes already read, and returns them when they agree with the decode.
func findMarkersAfterNames(names []byte, dec *kallsymsNames) []byte {
	need := 4 * len(dec.starts)
	for _, align := range []int{4, 8} {
		at := (dec.end + align - 1) &^ (align - 1)
		if at+need <= len(names) && dec.checkMarkers(names[at:at+need]) == nil {
			return names[at : at+need]
		}
	}
	return nil
}

// KallsymsInfo describes how a kallsyms table was decoded.
type KallsymsInfo struct {
	NumSyms        int
	Encoding       string // "absolute-percpu offsets", ...
	BigLengths     bool   // 2-byte name lengths were in use (some name needed them)
	MarkersChecked bool   // kallsyms_markers were found and agree with the decode
	NamesAddr      uint64
	Scanned        bool // found by scanning memory rather than from VMCOREINFO
}

// loadKallsymsVMCoreInfo reads and decodes kallsyms through the addresses in
// VMCOREINFO and checks the result against SYMBOL(_stext).
func loadKallsymsVMCoreInfo(mem kcore.Memory, info VMCoreInfo) (*SymTable, KallsymsInfo, error) {
	a, err := kallsymsFromVMCoreInfo(info)
	if err != nil {
		return nil, KallsymsInfo{}, err
	}
	raw, err := readKallsyms(mem, a)
	if err != nil {
		return nil, KallsymsInfo{}, fmt.Errorf("kallsyms from VMCOREINFO: %w", err)
	}
	stext, haveStext := info.Symbol("_stext")
	t, ki, err := buildKallsymsTable(raw, stext, haveStext, "kallsyms from dump memory (VMCOREINFO)")
	if err != nil {
		return nil, ki, fmt.Errorf("kallsyms from VMCOREINFO (kallsyms_names at %#x): %w", a.names, err)
	}
	ki.NamesAddr = a.names
	return t, ki, nil
}

// buildKallsymsTable decodes raw and wraps the result in a SymTable.
func buildKallsymsTable(raw *kallsymsRaw, stext uint64, haveStext bool, desc string) (*SymTable, KallsymsInfo, error) {
	res, err := decodeKallsyms(raw, stext, haveStext)
	if err != nil {
		return nil, KallsymsInfo{}, err
	}
	ki := KallsymsInfo{NumSyms: raw.numSyms, Encoding: res.enc.String(), MarkersChecked: raw.markers != nil}
	ki.BigLengths = res.names.big && usesBigLength(raw.names, res.names)
	if !ki.MarkersChecked {
		// Look for kallsyms_markers right after the names we decoded.
		ki.MarkersChecked = findMarkersAfterNames(raw.names, res.names) != nil
	}
	checked := "markers not found"
	if ki.MarkersChecked {
		checked = "markers agree"
	}
	stextNote := "_stext checked"
	if !haveStext {
		stextNote = "_stext unknown"
	}
	full := fmt.Sprintf("%s, %d symbols, %s, %s, %s", desc, raw.numSyms, res.enc, stextNote, checked)
	t := NewSymTable(full, res.syms, vmlinuxRanges(res.syms))
	// Indexing the names of ~10^5 symbols costs several ms: the first
	// lookups (__start_BTF, ...) scan instead, and the loader of BTF starts
	// the index in the background (IndexNamesInBackground).
	t.deferIndex(kallsymsLazyScans)
	return t, ki, nil
}

// kallsymsLazyScans is how many lookups a kallsyms table answers by scanning
// before it builds its name index (when nothing started it before).
const kallsymsLazyScans = 16

// usesBigLength reports whether any entry of the stream used a 2-byte length.
func usesBigLength(names []byte, dec *kallsymsNames) bool {
	pos := 0
	for pos < dec.end {
		l := int(names[pos])
		if l&0x80 != 0 {
			return true
		}
		pos += 1 + l
	}
	return false
}
