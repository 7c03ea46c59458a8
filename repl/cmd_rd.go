package repl

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kwalk/kwalk/walkers/mm"
	"github.com/kwalk/kwalk/walkers/sched"
)

func registerRd(r *Registry) {
	r.Add(&Command{
		Name:    "rd",
		Summary: "read memory: words in hex, with symbols or as ASCII",
		Usage:   "rd [-p] [-u] [-8|-16|-32|-64] [-s|-S] [-a] [-d] [-N] [-o OFFSET] [-e END | -r FILE] ADDR [COUNT]",
		Help: `Reads COUNT units (default 1) at ADDR and shows them in hex, 16 bytes a
line with the ASCII beside. ADDR is a kernel virtual address (hex, with or
without 0x), a symbol, or symbol+offset ("init_task+0x10"; after + and -
numbers are decimal unless 0x). With -p ADDR is physical; with -u it is
a user address of the current task (set), read through its page tables
(a page the dump left out, or that is swapped, ends the read). -o adds
OFFSET to ADDR; -e END reads up to END instead of COUNT units. -S is -s
and also names the slab cache of values that point into a slab object
([CACHE]). -N shows the values in network (big-endian) byte order. -r
FILE writes COUNT bytes (ADDR to END with -e) to FILE, raw.
An unreadable page ends the output with the reason (excluded from the
dump, not mapped...).

JSON: {"address","physical","width","values":["0x..."],"symbols":[...],
"text","user","pid","file","bytes","error"}: values in hex strings;
symbols (with -s/-S) the symbol each value points into ("[CACHE]" for a
slab object with -S), "" if none; text (with -a) the string read; user and
pid with -u; file and bytes with -r.`,
		Flags: []Flag{
			{Name: "p", Help: "ADDR is a physical address"},
			{Name: "8", Help: "show bytes"},
			{Name: "16", Help: "show 16-bit values"},
			{Name: "32", Help: "show 32-bit values"},
			{Name: "64", Help: "show 64-bit values (the default)"},
			{Name: "s", Help: "show 64-bit values symbolically where they point at a symbol"},
			{Name: "a", Help: "show the memory as an ASCII string (COUNT bytes, to the first NUL)"},
			{Name: "d", Help: "show values in signed decimal"},
			{Name: "u", Help: "ADDR is a user address of the current task"},
			{Name: "S", Help: "as -s, and name the slab cache of values pointing into slab objects"},
			{Name: "N", Help: "show values in network (big-endian) byte order"},
			{Name: "o", Arg: "OFFSET", Help: "add OFFSET to ADDR"},
			{Name: "e", Arg: "END", Help: "read up to END instead of COUNT units"},
			{Name: "r", Arg: "FILE", Help: "write the bytes read to FILE, raw"},
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
	// User: ADDR was a user address of task PID (-u).
	User bool `json:"user,omitempty"`
	PID  int  `json:"pid,omitempty"`
	// File and Bytes: -r wrote Bytes bytes to File.
	File    string `json:"file,omitempty"`
	Bytes   uint64 `json:"bytes,omitempty"`
	Error   string `json:"error,omitempty"`
	decimal bool
	network bool
	raw     []byte
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
	if c.Bool("p") && c.Bool("u") {
		return nil, UsageErrorf("rd: -p and -u: an address is physical or a user one")
	}
	if c.IsSet("e") && len(c.Args) == 2 {
		return nil, UsageErrorf("rd: -e END and COUNT: give one")
	}
	if o := c.String("o"); o != "" {
		off, err := parseCount(o)
		if err != nil {
			return nil, UsageErrorf("rd -o %s: an offset", o)
		}
		addr += off
	}
	width := 8
	for _, w := range []int{8, 16, 32} {
		if c.Bool(itoa(w)) {
			width = w / 8
		}
	}
	if c.IsSet("r") || c.Bool("a") {
		width = 1 // -r counts bytes
	}
	count := uint64(1)
	if len(c.Args) == 2 {
		if count, err = parseCount(c.Args[1]); err != nil {
			return nil, err
		}
	} else if c.Bool("a") {
		count = 4096
	}
	if e := c.String("e"); e != "" {
		end, err := evalAddr(c.Prog, e)
		if err != nil {
			return nil, err
		}
		if end <= addr {
			return nil, UsageErrorf("rd -e %s: END %#x is not above ADDR %#x", e, end, addr)
		}
		count = (end - addr + uint64(width) - 1) / uint64(width)
	}
	res := &RdResult{Address: Hex(addr), Physical: c.Bool("p"), Width: width, decimal: c.Bool("d"), network: c.Bool("N")}
	// read fills buf from addr: kernel virtual, physical, or a user
	// address of the current task through its page tables.
	read := func(buf []byte, a uint64) error {
		if res.Physical {
			return c.Prog.Mem.ReadPhys(buf, a)
		}
		return c.Prog.Mem.ReadVirt(buf, a)
	}
	if c.Bool("u") {
		ur, pid, err := userReader(c)
		if err != nil {
			return nil, err
		}
		read, res.User, res.PID = ur, true, pid
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
		if rerr := read(buf, a); rerr != nil {
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
	if f := c.String("r"); f != "" {
		if err := os.WriteFile(f, res.raw, 0o644); err != nil {
			return nil, fmt.Errorf("rd -r: %w", err)
		}
		res.File, res.Bytes = f, uint64(len(res.raw))
		res.raw = nil
		return res, nil
	}
	if c.Bool("a") {
		s := cString(res.raw)
		res.Text = &s
		return res, nil
	}
	for i := 0; i+width <= len(res.raw); i += width {
		var v uint64
		var order binary.ByteOrder = binary.LittleEndian
		if res.network {
			order = binary.BigEndian
		}
		switch width {
		case 1:
			v = uint64(res.raw[i])
		case 2:
			v = uint64(order.Uint16(res.raw[i:]))
		case 4:
			v = uint64(order.Uint32(res.raw[i:]))
		default:
			v = order.Uint64(res.raw[i:])
		}
		res.Values = append(res.Values, Hex(v))
		if (c.Bool("s") || c.Bool("S")) && width == 8 && !res.network {
			sym := ""
			if c.Prog.Syms != nil {
				if _, _, ok := c.Prog.Syms.LookupAddr(v); ok && v != 0 {
					sym = c.Prog.SymbolizeAddr(v)
				}
			}
			if sym == "" && c.Bool("S") && v >= btKernelHalf && len(res.Symbols) < maxBtIdentify {
				if id, _ := mm.Identify(c.Ctx, c.Prog, v); id != nil && id.Kind == mm.KindSlab && id.Cache != "" {
					sym = "[" + id.Cache + "]"
				}
			}
			res.Symbols = append(res.Symbols, sym)
		}
	}
	return res, nil
}

// userReader reads user memory of the current task: each page through
// its mm's page tables (mm.TranslateUser), then physically.
func userReader(c *Call) (func([]byte, uint64) error, int, error) {
	if !c.Task.IsValid() {
		return nil, 0, fmt.Errorf("rd -u: no current task: \"set PID\" first")
	}
	t, err := sched.TaskFromObject(c.Task)
	if err != nil {
		return nil, 0, err
	}
	m, ok, err := mm.TaskMM(c.Prog, t)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return nil, 0, fmt.Errorf("rd -u: %s (pid %d) has no user address space", t.Comm, t.PID)
	}
	return func(buf []byte, a uint64) error {
		up := mm.TranslateUser(c.Prog, m.PGD, a)
		switch {
		case up.Err != "":
			return fmt.Errorf("user address %#x of pid %d: %s", a, t.PID, up.Err)
		case !up.Present:
			return fmt.Errorf("user address %#x of pid %d: not present (never touched, or swapped)", a, t.PID)
		case !up.InDump:
			return fmt.Errorf("user address %#x of pid %d (physical %#x): the dump left the page out", a, t.PID, up.Phys)
		}
		return c.Prog.Mem.ReadPhys(buf, up.Phys)
	}, t.PID, nil
}

// WriteText implements Result: crash's layout, 16 bytes a line.
func (r *RdResult) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.File != "" {
		_, err := fmt.Fprintf(w, "%d bytes copied from 0x%x to %s\n", r.Bytes, uint64(r.Address), r.File)
		return err
	}
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
