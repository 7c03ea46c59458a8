package repl

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

func registerRd(r *Registry) {
	r.Add(&Command{
		Name:    "rd",
		Summary: "read memory: words in hex, with symbols or as ASCII",
		Usage:   "rd [-p] [-8|-16|-32|-64] [-s] [-a] [-d] ADDR [COUNT]",
		Help: `Reads COUNT units (default 1) at ADDR and shows them in hex, 16 bytes a
line with the ASCII beside. ADDR is a kernel virtual address (hex, with or
without 0x), a symbol, or symbol+offset ("init_task+0x10"; after + and -
numbers are decimal unless 0x). With -p ADDR is physical.
An unreadable page ends the output with the reason (excluded from the
dump, not mapped...).

JSON: {"address","physical","width","values":["0x..."],"symbols":[...],
"text","error"}: values in hex strings; symbols (with -s) the symbol each
value points into, "" if none; text (with -a) the string read.`,
		Flags: []Flag{
			{Name: "p", Help: "ADDR is a physical address"},
			{Name: "8", Help: "show bytes"},
			{Name: "16", Help: "show 16-bit values"},
			{Name: "32", Help: "show 32-bit values"},
			{Name: "64", Help: "show 64-bit values (the default)"},
			{Name: "s", Help: "show 64-bit values symbolically where they point at a symbol"},
			{Name: "a", Help: "show the memory as an ASCII string (COUNT bytes, to the first NUL)"},
			{Name: "d", Help: "show values in signed decimal"},
		},
		Examples: []string{"rd jiffies", "rd -64 init_task 8", "rd -s init_task+0x10 4", "rd -a linux_banner", "rd -p 1000 4"},
		Run:      runRd,
	})
}

// RdResult is the result of rd (see its help for the JSON).
type RdResult struct {
	Address  Hex      `json:"address"`
	Physical bool     `json:"physical"`
	Width    int      `json:"width"`
	Values   []Hex    `json:"values,omitempty"`
	Symbols  []string `json:"symbols,omitempty"`
	Text     *string  `json:"text,omitempty"`
	Error    string   `json:"error,omitempty"`
	decimal  bool
	raw      []byte
}

// maxRdBytes bounds one rd.
const maxRdBytes = 16 << 20

func runRd(c *Call) (Result, error) {
	if err := c.NeedArgs(1, 2); err != nil {
		return nil, err
	}
	addr, err := evalAddr(c.Prog, c.Args[0])
	if err != nil {
		return nil, err
	}
	width := 8
	for _, w := range []int{8, 16, 32} {
		if c.Bool(itoa(w)) {
			width = w / 8
		}
	}
	count := uint64(1)
	if len(c.Args) == 2 {
		if count, err = parseCount(c.Args[1]); err != nil {
			return nil, err
		}
	}
	res := &RdResult{Address: Hex(addr), Physical: c.Bool("p"), Width: width, decimal: c.Bool("d")}
	if c.Bool("a") {
		if len(c.Args) == 1 {
			count = 4096
		}
		width, res.Width = 1, 1
	}
	n := count * uint64(width)
	if n > maxRdBytes || count > maxRdBytes {
		return nil, UsageErrorf("rd: %d bytes is more than %d", n, maxRdBytes)
	}
	res.raw = make([]byte, 0, n)
	// Read page by page so an unreadable page keeps what came before.
	for done := uint64(0); done < n; {
		if err := c.Ctx.Err(); err != nil {
			return nil, err
		}
		a := addr + done
		chunk := min(4096-a%4096, n-done)
		buf := make([]byte, chunk)
		var rerr error
		if res.Physical {
			rerr = c.Prog.Mem.ReadPhys(buf, a)
		} else {
			rerr = c.Prog.Mem.ReadVirt(buf, a)
		}
		if rerr != nil {
			if done == 0 {
				return nil, rerr
			}
			res.Error = rerr.Error()
			break
		}
		res.raw = append(res.raw, buf...)
		done += chunk
		c.Progress("rd: %d of %d bytes", done, n)
	}
	if c.Bool("a") {
		s := cString(res.raw)
		res.Text = &s
		return res, nil
	}
	for i := 0; i+width <= len(res.raw); i += width {
		var v uint64
		switch width {
		case 1:
			v = uint64(res.raw[i])
		case 2:
			v = uint64(binary.LittleEndian.Uint16(res.raw[i:]))
		case 4:
			v = uint64(binary.LittleEndian.Uint32(res.raw[i:]))
		default:
			v = binary.LittleEndian.Uint64(res.raw[i:])
		}
		res.Values = append(res.Values, Hex(v))
		if c.Bool("s") && width == 8 && c.Prog.Syms != nil {
			sym := ""
			if _, _, ok := c.Prog.Syms.LookupAddr(v); ok && v != 0 {
				sym = c.Prog.SymbolizeAddr(v)
			}
			res.Symbols = append(res.Symbols, sym)
		}
	}
	return res, nil
}

// WriteText implements Result: crash's layout, 16 bytes a line.
func (r *RdResult) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.Text != nil {
		fmt.Fprintf(&b, "%16x:  %s\n", uint64(r.Address), strings.TrimRight(*r.Text, "\n"))
	} else {
		per := 16 / r.Width
		digits := 2 * r.Width
		for i := 0; i < len(r.Values); i += per {
			end := min(i+per, len(r.Values))
			fmt.Fprintf(&b, "%16x:  ", uint64(r.Address)+uint64(i*r.Width))
			for j := i; j < end; j++ {
				switch {
				case r.Symbols != nil && r.Symbols[j] != "":
					fmt.Fprintf(&b, "%-*s ", digits, r.Symbols[j])
				case r.decimal:
					fmt.Fprintf(&b, "%*d ", digits, signExtend(uint64(r.Values[j]), r.Width))
				default:
					fmt.Fprintf(&b, "%0*x ", digits, uint64(r.Values[j]))
				}
			}
			if r.Symbols == nil {
				for j := end; j < i+per; j++ {
					b.WriteString(strings.Repeat(" ", digits+1))
				}
				b.WriteString("  ")
				for _, ch := range r.raw[i*r.Width : end*r.Width] {
					if ch >= 0x20 && ch < 0x7f {
						b.WriteByte(ch)
					} else {
						b.WriteByte('.')
					}
				}
			}
			b.WriteByte('\n')
			if b.Len() > 64<<10 {
				if _, err := io.WriteString(w, b.String()); err != nil {
					return err
				}
				b.Reset()
			}
		}
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "rd: stopped: %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func signExtend(v uint64, width int) int64 {
	sh := uint(64 - 8*width)
	return int64(v<<sh) >> sh
}
