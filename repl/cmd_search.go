package repl

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/kcore"
)

func registerSearch(r *Registry) {
	r.Add(&Command{
		Name:    "search",
		Summary: "search memory for a 64-bit value (who points at this?)",
		Usage:   "search [-s START -e END] [-m MASK] [-c COUNT] VALUE...",
		Help: `Scans memory for 8-byte-aligned words equal to any VALUE (hex, symbol or
symbol+offset; under -m MASK, words whose bits outside MASK match). By
default all physical memory up to max_pfn (mm/memblock.c) is scanned and
hits are shown at their direct-map virtual address (page_offset_base +
physical), where slab objects, stacks and page tables live. With -s and
-e, the kernel virtual range [START, END) is scanned instead (the kernel
image's data, a vmalloc area). Pages the dump left out are skipped.
Stops after COUNT hits (default 1000, at most 1000000: a larger COUNT is
lowered to that, with a warning). Hits are written as they are found.
Ctrl-C interrupts. Stopping at the limit, and skipped pages, are warnings
(stderr in text mode).

JSON: {"hits":[{"address","physical","value"}],"scanned_bytes","skipped_pages","truncated","warnings"}.`,
		Flags: []Flag{
			{Name: "s", Arg: "START", Help: "scan the kernel virtual range from START (needs -e)"},
			{Name: "e", Arg: "END", Help: "end of the virtual range (exclusive)"},
			{Name: "m", Arg: "MASK", Help: "ignore the bits set in MASK when comparing"},
			{Name: "c", Arg: "COUNT", Default: "1000", Help: "stop after COUNT hits (at most 1000000)"},
		},
		Examples: []string{"search ffff8a83c20d8da0", "search -m 0xfff ffff8a83c120c000", "search -s _sdata -e _edata init_task"},
		Run:      runSearch,
	})
}

// SearchResult is the JSON document of search (see its help); search
// streams it: the hits as found, then searchTail.
type SearchResult struct {
	Hits         []SearchHit `json:"hits"`
	ScannedBytes uint64      `json:"scanned_bytes"`
	SkippedPages uint64      `json:"skipped_pages"`
	Truncated    bool        `json:"truncated"`
	Warnings     []string    `json:"warnings,omitempty"`
}

// maxSearchHits bounds -c: a search for a common value (0) would
// otherwise write, and once held, hundreds of millions of hits.
const maxSearchHits = 1000000

// searchTail is what ends search's document, after the hits.
type searchTail struct {
	ScannedBytes uint64   `json:"scanned_bytes"`
	SkippedPages uint64   `json:"skipped_pages"`
	Truncated    bool     `json:"truncated"`
	Warnings     []string `json:"warnings,omitempty"`
}

// ResultWarnings implements Warner.
func (t *searchTail) ResultWarnings() []string { return t.Warnings }

// WriteText implements Result: one line per hit.
func (h SearchHit) WriteText(w io.Writer) error {
	var err error
	if h.symbol != "" {
		_, err = fmt.Fprintf(w, "%x: %x  (%s)\n", uint64(h.Address), uint64(h.Value), h.symbol)
	} else {
		_, err = fmt.Fprintf(w, "%x: %x\n", uint64(h.Address), uint64(h.Value))
	}
	return err
}

// SearchHit is one match.
type SearchHit struct {
	Address  Hex  `json:"address"`
	Physical *Hex `json:"physical,omitempty"`
	Value    Hex  `json:"value"`
	symbol   string
}

// WriteText implements Result.
func (r SearchResult) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, h := range r.Hits {
		fmt.Fprintf(&b, "%x: %x", uint64(h.Address), uint64(h.Value))
		if h.symbol != "" {
			fmt.Fprintf(&b, "  (%s)", h.symbol)
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ResultWarnings implements Warner.
func (r SearchResult) ResultWarnings() []string { return r.Warnings }

// searchChunk is how much one read covers.
const searchChunk = 64 << 10

func runSearch(c *Call) (Result, error) {
	if err := c.NeedArgs(1, -1); err != nil {
		return nil, err
	}
	var values []uint64
	for _, a := range c.Args {
		v, err := evalAddr(c.Prog, a)
		if err != nil {
			return nil, err
		}
		values = append(values, v)
	}
	var mask uint64
	if m := c.String("m"); m != "" {
		v, err := evalTerm(nil, m, true)
		if err != nil {
			return nil, UsageErrorf("-m %s: %v", m, err)
		}
		mask = v
	}
	limit, err := c.Int("c")
	if err != nil || limit <= 0 {
		return nil, UsageErrorf("-c: a positive count")
	}
	tail := &searchTail{}
	if limit > maxSearchHits {
		tail.Warnings = append(tail.Warnings, fmt.Sprintf("-c %d is more than the limit of %d hits: stopping at %d", limit, maxSearchHits, maxSearchHits))
		limit = maxSearchHits
	}
	virt := c.IsSet("s") || c.IsSet("e")
	var start, end, base uint64
	read := c.Prog.Mem.ReadPhys
	if virt {
		if !c.IsSet("s") || !c.IsSet("e") {
			return nil, UsageErrorf("-s and -e go together")
		}
		if start, err = evalAddr(c.Prog, c.String("s")); err != nil {
			return nil, err
		}
		if end, err = evalAddr(c.Prog, c.String("e")); err != nil {
			return nil, err
		}
		if end <= start {
			return nil, UsageErrorf("bad range %#x-%#x", start, end)
		}
		read = c.Prog.Mem.ReadVirt
	} else {
		end, err = physLimit(c)
		if err != nil {
			return nil, err
		}
		if v, err := c.Prog.Variable("page_offset_base"); err == nil {
			base, _ = v.Uint()
		}
	}
	start &^= 7
	ranges := [][2]uint64{{start, end}}
	if virt {
		if ranges, err = mappedRanges(c, start, end); err != nil {
			return nil, err
		}
	}
	match := func(w uint64) bool {
		for _, v := range values {
			if w&^mask == v&^mask {
				return true
			}
		}
		return false
	}
	return &Stream{Field: "hits", Rows: func(emit func(Result) error) (any, error) {
		buf := make([]byte, searchChunk)
		var hits int64
		var emitErr error
		scan := func(b []byte, at uint64) bool {
			for i := 0; i+8 <= len(b); i += 8 {
				w := binary.LittleEndian.Uint64(b[i:])
				if !match(w) {
					continue
				}
				h := SearchHit{Address: Hex(at + uint64(i)), Value: Hex(w)}
				if !virt {
					pa := Hex(at + uint64(i))
					h.Physical = &pa
					h.Address = Hex(base + at + uint64(i))
				}
				if c.Prog.Syms != nil {
					if _, _, ok := c.Prog.Syms.LookupAddr(uint64(h.Address)); ok {
						h.symbol = c.Prog.SymbolizeAddr(uint64(h.Address))
					}
				}
				if emitErr = emit(h); emitErr != nil {
					return false
				}
				if hits++; hits >= limit {
					tail.Truncated = true
					return false
				}
			}
			return true
		}
		for _, rg := range ranges {
			if !scanRange(c, rg[0], rg[1], start, end, read, buf, tail, &hits, scan) {
				break
			}
		}
		if emitErr != nil {
			return nil, emitErr
		}
		if err := c.Ctx.Err(); err != nil {
			return nil, err
		}
		if tail.Truncated {
			tail.Warnings = append(tail.Warnings, fmt.Sprintf("stopped at the hit limit of %d (-c): there may be more hits", limit))
		}
		if tail.SkippedPages > 0 {
			tail.Warnings = append(tail.Warnings, fmt.Sprintf("%d pages could not be read (not in the dump) and were not searched", tail.SkippedPages))
		}
		return tail, nil
	}}, nil
}

// scanRange scans [from, to) chunk by chunk, page by page where a chunk
// cannot be read whole; false when the hit limit stopped it.
func scanRange(c *Call, from, to, start, end uint64, read func([]byte, uint64) error, buf []byte, res *searchTail, hits *int64, scan func([]byte, uint64) bool) bool {
	for at := from; at < to; {
		if c.Ctx.Err() != nil {
			return false
		}
		n := min(uint64(searchChunk)-at%searchChunk, to-at)
		c.Progress("search: %d MiB of %d MiB, %d hits", (at-start)>>20, (end-start)>>20, *hits)
		if err := read(buf[:n], at); err == nil {
			res.ScannedBytes += n
			if !scan(buf[:n], at) {
				return false
			}
		} else {
			// Page by page: keep what is readable.
			for p := at; p < at+n; {
				pn := min(4096-p%4096, at+n-p)
				if err := read(buf[:pn], p); err != nil {
					res.SkippedPages++
				} else {
					res.ScannedBytes += pn
					if !scan(buf[:pn], p) {
						return false
					}
				}
				p += pn
			}
		}
		at += n
	}
	return true
}

// maxBlindRange bounds a virtual scan without page tables to walk.
const maxBlindRange = 1 << 32

// mappedRanges returns the parts of [start, end) the kernel page tables
// map (so unmapped holes cost nothing), or the range itself when there
// are no page tables to walk (then at most maxBlindRange bytes).
func mappedRanges(c *Call, start, end uint64) ([][2]uint64, error) {
	d := c.Prog.Dump
	if d == nil || d.Live() {
		if end-start > maxBlindRange {
			return nil, UsageErrorf("range of %d bytes: at most %d without page tables", end-start, uint64(maxBlindRange))
		}
		return [][2]uint64{{start, end}}, nil
	}
	var out [][2]uint64
	err := d.Mappings(start, end, func(m kcore.Mapping) bool {
		lo, hi := max(m.Virt, start), min(m.Virt+m.Size, end)
		if n := len(out); n > 0 && out[n-1][1] == lo {
			out[n-1][1] = hi
		} else if lo < hi {
			out = append(out, [2]uint64{lo, hi})
		}
		return c.Ctx.Err() == nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking the page tables for %#x-%#x: %w", start, end, err)
	}
	return out, nil
}

// physLimit is the end of physical memory: max_pfn pages (mm/memblock.c),
// else the dump's memory size.
func physLimit(c *Call) (uint64, error) {
	if v, err := c.Prog.Variable("max_pfn"); err == nil {
		if n, err := v.Uint(); err == nil && n > 0 && n < 1<<40 {
			return n * 4096, nil
		}
	}
	if a, err := c.Prog.Symbol("max_pfn"); err == nil {
		if n, err := c.Prog.ReadU64(a); err == nil && n > 0 && n < 1<<40 {
			return n * 4096, nil
		}
	}
	if c.Prog.Dump != nil && c.Prog.Dump.MemorySize() > 0 {
		return c.Prog.Dump.MemorySize(), nil
	}
	return 0, fmt.Errorf("size of physical memory unknown (no max_pfn): give a range with -s/-e")
}
