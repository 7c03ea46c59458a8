package repl

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
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
Stops after COUNT hits (default 1000). Ctrl-C interrupts.

JSON: {"hits":[{"address","physical","value"}],"scanned_bytes","skipped_pages","truncated"}.`,
		Flags: []Flag{
			{Name: "s", Arg: "START", Help: "scan the kernel virtual range from START (needs -e)"},
			{Name: "e", Arg: "END", Help: "end of the virtual range (exclusive)"},
			{Name: "m", Arg: "MASK", Help: "ignore the bits set in MASK when comparing"},
			{Name: "c", Arg: "COUNT", Default: "1000", Help: "stop after COUNT hits"},
		},
		Examples: []string{"search ffff8a83c20d8da0", "search -m 0xfff ffff8a83c120c000", "search -s _sdata -e _edata init_task"},
		Run:      runSearch,
	})
}

// SearchResult is the result of search (see its help for the JSON).
type SearchResult struct {
	Hits         []SearchHit `json:"hits"`
	ScannedBytes uint64      `json:"scanned_bytes"`
	SkippedPages uint64      `json:"skipped_pages"`
	Truncated    bool        `json:"truncated"`
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
	if r.Truncated {
		b.WriteString("search: stopped at the hit limit (-c)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

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
		if end <= start || end-start > 1<<40 {
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
	res := SearchResult{Hits: []SearchHit{}}
	buf := make([]byte, searchChunk)
	match := func(w uint64) bool {
		for _, v := range values {
			if w&^mask == v&^mask {
				return true
			}
		}
		return false
	}
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
			res.Hits = append(res.Hits, h)
			if int64(len(res.Hits)) >= limit {
				res.Truncated = true
				return false
			}
		}
		return true
	}
	for at := start; at < end; {
		if err := c.Ctx.Err(); err != nil {
			return nil, err
		}
		n := min(uint64(searchChunk)-at%searchChunk, end-at)
		c.Progress("search: %d MiB of %d MiB, %d hits", (at-start)>>20, (end-start)>>20, len(res.Hits))
		if err := read(buf[:n], at); err == nil {
			res.ScannedBytes += n
			if !scan(buf[:n], at) {
				break
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
						return res, nil
					}
				}
				p += pn
			}
		}
		at += n
	}
	return res, nil
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
