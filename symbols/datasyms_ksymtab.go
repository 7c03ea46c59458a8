package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/kcore"
)

// The export table. EXPORT_SYMBOL(x) puts a struct kernel_symbol in
// __ksymtab (or __ksymtab_gpl), sorted by name (include/asm-generic/
// vmlinux.lds.h: SORT(___ksymtab+*)), in the read-only data between _etext
// and the init text. Its layout (include/linux/export.h up to 6.4,
// include/linux/export-internal.h and module_symbol.h since):
//
//   - CONFIG_HAVE_ARCH_PREL32_RELOCATIONS (arm64, x86_64): 32-bit offsets
//     relative to each field, { int value_offset; int name_offset; int
//     namespace_offset; } since 5.4, without the namespace before;
//   - otherwise absolute pointers { unsigned long value; const char *name;
//     const char *namespace; } (no namespace before 5.4).
//
// The table is found by its entries for functions: an entry whose value is
// the address kallsyms gives a text symbol and whose name is that symbol's
// name. Runs of such entries, stride apart, are the table; every entry in
// a run whose name is a C identifier is taken, and those whose value is
// not text are the exported variables.

// maxKsymtabScan bounds the read-only data read for the scan.
const maxKsymtabScan = 256 << 20

// ksymLayout is one way an entry may be laid out.
type ksymLayout struct {
	rel    bool // PREL32 offsets, else absolute pointers
	stride uint64
}

var ksymLayouts = []ksymLayout{{true, 12}, {true, 8}, {false, 24}, {false, 16}}

// minKsymtabHits is how many kallsyms-confirmed entries, stride apart, a
// layout needs to be taken.
const minKsymtabHits = 16

// scanKsymtab finds the exported variables of the kernel image.
func scanKsymtab(mem kcore.Memory, syms SymbolTable, img imageLayout) ([]Symbol, error) {
	lo, hi := img.etext, img.sinittext
	if hi-lo > maxKsymtabScan {
		hi = lo + maxKsymtabScan
	}
	buf, err := readRegion(mem, lo, hi)
	if err != nil {
		return nil, err
	}
	text := textSymbolsByAddr(syms)
	if len(text) == 0 {
		return nil, errors.New("kallsyms has no text symbols to recognise entries by")
	}
	r := ksymReader{buf: buf, base: lo, mem: mem}

	// Candidate entries: value is a text symbol and the name is its name.
	best, bestHits := ksymLayout{}, 0
	var bestConfirmed []uint64
	for _, lay := range ksymLayouts {
		if lay.stride == 8 && bestHits > 0 || lay.stride == 16 && bestHits > 0 {
			continue // the longer layout of the same kind was found
		}
		align := uint64(4)
		if !lay.rel {
			align = 8
		}
		var confirmed []uint64
		set := map[uint64]bool{}
		for off := (align - lo%align) % align; off+lay.stride <= uint64(len(buf)); off += align {
			v, ok := r.value(lay, off)
			if !ok {
				continue
			}
			names, ok := text[v]
			if !ok {
				continue
			}
			n, ok := r.name(lay, off)
			if !ok {
				continue
			}
			for _, cand := range names {
				if cand == n {
					confirmed = append(confirmed, off)
					set[off] = true
					break
				}
			}
		}
		hits := 0
		for _, off := range confirmed {
			if set[off+lay.stride] {
				hits++
			}
		}
		if hits > bestHits {
			best, bestHits, bestConfirmed = lay, hits, confirmed
		}
	}
	if bestHits < minKsymtabHits {
		return nil, fmt.Errorf("no export table found in %#x-%#x (%d entries stride apart)", lo, hi, bestHits)
	}

	// Extend every confirmed entry both ways while entries decode.
	seen := map[uint64]bool{}
	var out []Symbol
	take := func(off uint64) bool {
		if seen[off] {
			return false
		}
		n, ok := r.name(best, off)
		if !ok {
			return false
		}
		v, ok := r.value(best, off)
		if !ok {
			return false
		}
		seen[off] = true
		if !img.isText(v) {
			out = append(out, Symbol{Name: n, Addr: v, Type: 'D'})
		}
		return true
	}
	for _, off := range bestConfirmed {
		if seen[off] {
			continue
		}
		take(off)
		for o := off + best.stride; o+best.stride <= uint64(len(buf)) && take(o); o += best.stride {
		}
		for o := off; o >= best.stride && take(o-best.stride); o -= best.stride {
		}
	}
	return out, nil
}

// ksymReader decodes entries of the scanned region.
type ksymReader struct {
	buf  []byte
	base uint64
	mem  kcore.Memory
}

func (r ksymReader) value(lay ksymLayout, off uint64) (uint64, bool) {
	if off+8 > uint64(len(r.buf)) {
		return 0, false
	}
	if lay.rel {
		rel := int32(binary.LittleEndian.Uint32(r.buf[off:]))
		if rel == 0 {
			return 0, false
		}
		return r.base + off + uint64(int64(rel)), true
	}
	v := binary.LittleEndian.Uint64(r.buf[off:])
	return v, v != 0
}

// maxSymbolName bounds an exported name (KSYM_NAME_LEN is 512 since 6.1).
const maxExportName = 512

func (r ksymReader) name(lay ksymLayout, off uint64) (string, bool) {
	var at uint64
	if lay.rel {
		if off+8 > uint64(len(r.buf)) {
			return "", false
		}
		rel := int32(binary.LittleEndian.Uint32(r.buf[off+4:]))
		at = r.base + off + 4 + uint64(int64(rel))
	} else {
		if off+16 > uint64(len(r.buf)) {
			return "", false
		}
		at = binary.LittleEndian.Uint64(r.buf[off+8:])
	}
	var b []byte
	if at >= r.base && at-r.base < uint64(len(r.buf)) {
		b = r.buf[at-r.base:]
		if len(b) > maxExportName+1 {
			b = b[:maxExportName+1]
		}
	} else {
		tmp := make([]byte, 128)
		if err := r.mem.ReadVirt(tmp, at); err != nil {
			return "", false
		}
		b = tmp
	}
	for i, c := range b {
		if c == 0 {
			if i == 0 {
				return "", false
			}
			return string(b[:i]), true
		}
		if !(c == '_' || c == '.' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' && i > 0) {
			return "", false
		}
	}
	return "", false
}

// textSymbolsByAddr maps each text symbol's address to its names.
func textSymbolsByAddr(syms SymbolTable) map[uint64][]string {
	out := map[uint64][]string{}
	if l, ok := syms.(interface{ Symbols() []Symbol }); ok {
		for _, s := range l.Symbols() {
			if s.IsText() && s.Module == "" {
				out[s.Addr] = append(out[s.Addr], s.Name)
			}
		}
		return out
	}
	for _, n := range syms.Names() {
		if s, err := syms.Lookup(n); err == nil && s.IsText() && s.Module == "" {
			out[s.Addr] = append(out[s.Addr], s.Name)
		}
	}
	return out
}

// regionChunk is how much one read of readRegion asks for.
const regionChunk = 1 << 20

// readRegion reads [lo, hi) of kernel memory; pages that cannot be read
// (a filtered dump, freed init memory) are left zero. It fails only when
// nothing could be read.
func readRegion(mem kcore.Memory, lo, hi uint64) ([]byte, error) {
	if hi <= lo {
		return nil, fmt.Errorf("empty region %#x-%#x", lo, hi)
	}
	buf := make([]byte, hi-lo)
	readAny := false
	var firstErr error
	for at := lo; at < hi; at += regionChunk {
		end := min(at+regionChunk, hi)
		b := buf[at-lo : end-lo]
		if err := mem.ReadVirt(b, at); err == nil {
			readAny = true
			continue
		}
		clear(b)
		for pg := at; pg < end; {
			next := min((pg|4095)+1, end)
			if err := mem.ReadVirt(buf[pg-lo:next-lo], pg); err == nil {
				readAny = true
			} else {
				clear(buf[pg-lo : next-lo])
				if firstErr == nil {
					firstErr = err
				}
			}
			pg = next
		}
	}
	if !readAny {
		return nil, fmt.Errorf("reading %#x-%#x: %w", lo, hi, firstErr)
	}
	return buf, nil
}
