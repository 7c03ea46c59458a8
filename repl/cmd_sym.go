package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

func registerSym(r *Registry) {
	r.Add(&Command{
		Name:    "sym",
		Summary: "translate a symbol to its address or an address to a symbol",
		Usage:   "sym [-l] [-q STRING] [SYMBOL|ADDR]...",
		Help: `For a symbol name, shows its address and type letter (nm style: T text,
D data, B bss, R read-only; lower case for local). For an address (hex),
shows the symbol containing it and the offset into it. -l lists every
symbol in address order; -q lists the symbols whose name contains STRING.

JSON: {"symbols":[{"name","address","type","size","module","offset"}]},
offset present for address lookups.`,
		Flags: []Flag{
			{Name: "l", Help: "list all symbols, by address"},
			{Name: "q", Arg: "STRING", Help: "list the symbols whose name contains STRING"},
		},
		Examples: []string{"sym schedule", "sym ffffffff81000000", "sym -q mutex_lock", "sym -l | head"},
		Run:      runSym,
	})
}

// SymResult is the result of sym (see its help for the JSON).
type SymResult struct {
	Symbols []SymEntry `json:"symbols"`
}

// SymEntry is one symbol in SymResult.
type SymEntry struct {
	Name    string  `json:"name"`
	Address Hex     `json:"address"`
	Type    string  `json:"type"`
	Size    uint64  `json:"size,omitempty"`
	Module  string  `json:"module,omitempty"`
	Offset  *uint64 `json:"offset,omitempty"`
}

func symEntry(s symbols.Symbol) SymEntry {
	return SymEntry{Name: s.Name, Address: Hex(s.Addr), Type: string(rune(s.Type)), Size: s.Size, Module: s.Module}
}

// maxSymList bounds sym -l/-q.
const maxSymList = 1 << 22

func runSym(c *Call) (Result, error) {
	if c.Prog.Syms == nil {
		return nil, fmt.Errorf("no symbol table loaded")
	}
	res := SymResult{Symbols: []SymEntry{}}
	if c.Bool("l") || c.IsSet("q") {
		q := c.String("q")
		names := c.Prog.Syms.Names()
		for i, n := range names {
			if i%4096 == 0 {
				if err := c.Ctx.Err(); err != nil {
					return nil, err
				}
				c.Progress("sym: %d of %d", i, len(names))
			}
			if q != "" && !strings.Contains(n, q) {
				continue
			}
			s, err := c.Prog.Syms.Lookup(n)
			if err != nil {
				continue
			}
			res.Symbols = append(res.Symbols, symEntry(s))
			if len(res.Symbols) >= maxSymList {
				break
			}
		}
		sortSymEntries(res.Symbols)
		return res, nil
	}
	if len(c.Args) == 0 {
		return nil, UsageErrorf("usage: sym [-l] [-q STRING] [SYMBOL|ADDR]...")
	}
	for _, a := range c.Args {
		if s, err := c.Prog.Syms.Lookup(a); err == nil {
			res.Symbols = append(res.Symbols, symEntry(s))
			continue
		}
		addr, err := evalAddr(c.Prog, a)
		if err != nil {
			return nil, fmt.Errorf("%s: not a symbol or address: %w", a, err)
		}
		s, off, ok := c.Prog.Syms.LookupAddr(addr)
		if !ok {
			return nil, fmt.Errorf("%#x: no symbol contains it", addr)
		}
		e := symEntry(s)
		e.Address = Hex(addr)
		e.Offset = &off
		res.Symbols = append(res.Symbols, e)
	}
	return res, nil
}

func sortSymEntries(s []SymEntry) {
	// Names come sorted by name; crash lists by address.
	sortSlice(s, func(a, b SymEntry) bool {
		if a.Address != b.Address {
			return a.Address < b.Address
		}
		return a.Name < b.Name
	})
}

// WriteText implements Result: "ffffffff81000000 (T) _stext".
func (r SymResult) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, s := range r.Symbols {
		name := s.Name
		if s.Offset != nil && *s.Offset != 0 {
			name += fmt.Sprintf("+%d", *s.Offset)
		}
		if s.Module != "" {
			name += " [" + s.Module + "]"
		}
		fmt.Fprintf(&b, "%016x (%s) %s\n", uint64(s.Address), s.Type, name)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
