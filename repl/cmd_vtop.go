package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/kcore"
)

func registerVtop(r *Registry) {
	r.Add(&Command{
		Name:    "vtop",
		Summary: "translate kernel virtual addresses to physical",
		Usage:   "vtop ADDR...",
		Help: `Translates each kernel virtual address (hex, symbol, symbol+offset or
member path) through the kernel page tables of the dump, and shows the
page size of the mapping that covers it.

JSON: {"translations":[{"virtual","physical","page_size","error"}]}.`,
		Examples: []string{"vtop init_task", "vtop ffff8a83c120c180 jiffies"},
		Run:      runVtop,
	})
	r.Add(&Command{
		Name:    "ptov",
		Summary: "translate physical addresses to their direct-map virtual address",
		Usage:   "ptov PADDR...",
		Help: `Adds page_offset_base, the base of the kernel's direct mapping of all
physical memory (arch/x86/mm/kaslr.c; __PAGE_OFFSET_BASE when KASLR is
off), to each physical address (hex).

JSON: {"translations":[{"virtual","physical"}]}.`,
		Examples: []string{"ptov 1000000"},
		Run:      runPtov,
	})
}

// Translations is the result of vtop and ptov (see their help for the JSON).
type Translations struct {
	Translations []Translation `json:"translations"`
}

// Translation is one address in Translations.
type Translation struct {
	Virtual  Hex    `json:"virtual"`
	Physical *Hex   `json:"physical,omitempty"`
	PageSize uint64 `json:"page_size,omitempty"`
	Error    string `json:"error,omitempty"`
}

// WriteText implements Result.
func (t Translations) WriteText(w io.Writer) error {
	var b strings.Builder
	page := ""
	for _, x := range t.Translations {
		if x.PageSize != 0 {
			page = "  PAGE"
		}
	}
	fmt.Fprintf(&b, "%-18s  %-18s%s\n", "VIRTUAL", "PHYSICAL", page)
	for _, x := range t.Translations {
		switch {
		case x.Error != "":
			fmt.Fprintf(&b, "%-18x  %s\n", uint64(x.Virtual), x.Error)
		case x.PageSize != 0:
			fmt.Fprintf(&b, "%-18x  %-18x  %s\n", uint64(x.Virtual), uint64(*x.Physical), pageSizeName(x.PageSize))
		default:
			fmt.Fprintf(&b, "%-18x  %x\n", uint64(x.Virtual), uint64(*x.Physical))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pageSizeName(n uint64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dG", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	}
	return fmt.Sprintf("%dK", n>>10)
}

func runVtop(c *Call) (Result, error) {
	if err := c.NeedArgs(1, -1); err != nil {
		return nil, err
	}
	d := c.Prog.Dump
	if d == nil {
		return nil, fmt.Errorf("no dump: address translation needs the dump's page tables")
	}
	res := Translations{Translations: []Translation{}}
	for _, a := range c.Args {
		va, err := evalAddr(c.Prog, a)
		if err != nil {
			return nil, err
		}
		x := Translation{Virtual: Hex(va)}
		pa, err := d.VirtToPhys(va)
		if err != nil {
			x.Error = err.Error()
		} else {
			h := Hex(pa)
			x.Physical = &h
			// The leaf mapping gives the page size (4K, 2M, 1G).
			d.Mappings(va, va+1, func(m kcore.Mapping) bool {
				x.PageSize = m.Size
				return false
			})
		}
		res.Translations = append(res.Translations, x)
	}
	return res, nil
}

// maxPhysBits is x86_64's architectural limit on physical address width
// (MAXPHYADDR, at most 52).
const maxPhysBits = 52

func runPtov(c *Call) (Result, error) {
	if err := c.NeedArgs(1, -1); err != nil {
		return nil, err
	}
	base, err := c.Prog.Variable("page_offset_base")
	if err != nil {
		return nil, err
	}
	off, err := base.Uint()
	if err != nil {
		return nil, err
	}
	res := Translations{Translations: []Translation{}}
	for _, a := range c.Args {
		pa, err := evalTerm(nil, strings.TrimSpace(a), true)
		if err != nil {
			return nil, UsageErrorf("%s: not a physical address: %v", a, err)
		}
		// x86_64 physical addresses have at most 52 bits (MAXPHYADDR),
		// and page_offset_base+pa must not wrap.
		if pa >= 1<<maxPhysBits {
			return nil, UsageErrorf("ptov %#x: beyond the %d-bit physical address space of x86_64", pa, maxPhysBits)
		}
		if pa > ^uint64(0)-off {
			return nil, UsageErrorf("ptov %#x: page_offset_base %#x + %#x passes the end of the 64-bit address space: the direct map holds no such address", pa, off, pa)
		}
		h := Hex(pa)
		res.Translations = append(res.Translations, Translation{Virtual: Hex(off + pa), Physical: &h})
	}
	return res, nil
}
