package repl

import (
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"
)

func registerDis(r *Registry) {
	r.Add(&Command{
		Name:    "dis",
		Summary: "disassemble kernel code (x86_64, arm64)",
		Usage:   "dis [-r|-f] [-l] [-i] [-b] SYMBOL|ADDR [COUNT]",
		Help: `Disassembles at a symbol or address, AT&T syntax like crash (-i: Intel);
arm64 code in GNU syntax, PC-relative targets as addresses.
Given a function name and no COUNT, the whole function is shown; given an
address, COUNT instructions (default 1). -r shows the function from its
start up to and including ADDR (useful for a return address from a
backtrace); -f from ADDR to the function's end. Call and jump targets are
shown with their symbol. -l shows the source file and line of each
instruction (where it changes), from the DWARF line table: it needs a
vmlinux with debug info (--vmlinux, or found by kwalk).

JSON: {"instructions":[{"address","symbol","bytes","text","source"}]},
source ("file:line") only with -l.`,
		Flags: []Flag{
			{Name: "r", Help: "from the start of the function up to ADDR"},
			{Name: "f", Help: "from ADDR to the end of the function"},
			{Name: "i", Help: "Intel syntax"},
			{Name: "b", Help: "show the instruction bytes"},
			{Name: "l", Help: "show source file and line (needs DWARF debug info)"},
		},
		Examples: []string{"dis schedule", "dis -r ffffffff81a2c5e1", "dis do_exit 10", "dis -i -b schedule 5"},
		Run:      runDis,
	})
}

// DisResult is the result of dis (see its help for the JSON).
type DisResult struct {
	Instructions []Instruction `json:"instructions"`
	Error        string        `json:"error,omitempty"`
	showBytes    bool
}

// Instruction is one decoded instruction.
type Instruction struct {
	Address Hex    `json:"address"`
	Symbol  string `json:"symbol"`
	Bytes   string `json:"bytes"`
	Text    string `json:"text"`
	Source  string `json:"source,omitempty"`
}

// maxDisBytes bounds how much code one dis decodes.
const maxDisBytes = 1 << 20

func runDis(c *Call) (Result, error) {
	if err := c.NeedArgs(1, 2); err != nil {
		return nil, err
	}
	arm64 := false
	if d := c.Prog.Dump; d != nil {
		switch d.Arch() {
		case kcore.ArchX86_64:
		case kcore.ArchARM64:
			arm64 = true
			if c.Bool("i") {
				return nil, UsageErrorf("dis -i: Intel syntax is x86's; arm64 code is shown in GNU syntax")
			}
		default:
			return nil, fmt.Errorf("dis: instructions of %s are not decoded", d.Arch())
		}
	}
	start, err := evalAddr(c.Prog, c.Args[0])
	if err != nil {
		return nil, err
	}
	if c.Prog.Syms == nil {
		return nil, fmt.Errorf("no symbol table loaded")
	}
	count := uint64(1)
	end := uint64(0) // exclusive, when haveEnd; else count instructions
	haveEnd := false
	sym, off, haveSym := c.Prog.Syms.LookupAddr(start)
	isSymName := false
	if s, err := c.Prog.Syms.Lookup(c.Args[0]); err == nil && s.Addr == start {
		isSymName = true
	}
	funcEnd := uint64(0)
	if haveSym && sym.Size != 0 {
		funcEnd = sym.Addr + sym.Size
	}
	switch {
	case len(c.Args) == 2:
		if count, err = parseCount(c.Args[1]); err != nil {
			return nil, err
		}
	case c.Bool("r"):
		if !haveSym {
			return nil, fmt.Errorf("dis -r: no symbol contains %#x", start)
		}
		if start == ^uint64(0) {
			return nil, fmt.Errorf("dis -r: %#x is the last byte of the 64-bit address space", start)
		}
		end, haveEnd = start+1, true // include the instruction at ADDR
		start -= off
		count = 0
	case c.Bool("f"), isSymName:
		if funcEnd == 0 {
			if isSymName {
				count = 32 // unknown size: a screenful
				break
			}
			return nil, fmt.Errorf("dis -f: size of the function at %#x unknown", start)
		}
		end, haveEnd, count = funcEnd, true, 0
	}
	if haveEnd && end <= start {
		return nil, fmt.Errorf("dis: the range %#x-%#x runs past the end of the 64-bit address space", start, end)
	}
	if haveEnd && end-start > maxDisBytes {
		return nil, fmt.Errorf("dis: %d bytes is more than %d", end-start, maxDisBytes)
	}
	if count > 1<<16 {
		return nil, UsageErrorf("dis: at most 65536 instructions")
	}
	syntax := x86asm.GNUSyntax
	if c.Bool("i") {
		syntax = x86asm.IntelSyntax
	}
	// Targets print as addresses; annotateTargets adds "<symbol+off>".
	symname := func(uint64) (string, uint64) { return "", 0 }
	res := &DisResult{Instructions: []Instruction{}, showBytes: c.Bool("b")}
	var lines symbols.LineLocator
	if c.Bool("l") {
		ll, ok := c.Prog.Types.(symbols.LineLocator)
		if !ok {
			return nil, fmt.Errorf("-l: no line information: types come from %s; give a vmlinux with DWARF (--vmlinux)", describeTypes(c.Prog))
		}
		lines = ll
	}
	// Read code a page at a time; instructions are at most 15 bytes.
	var buf []byte
	bufAt := start
	pc := start
	for n := uint64(0); ; n++ {
		if count != 0 && n >= count || haveEnd && pc >= end {
			break
		}
		if err := c.Ctx.Err(); err != nil {
			return nil, err
		}
		// Fewer than 15 bytes (the longest instruction) buffered at pc:
		// read on. pc-bufAt cannot overflow where pc+15 could.
		if uint64(len(buf))-(pc-bufAt) < 15 {
			nb, rerr := readCode(c, pc)
			if len(nb) == 0 {
				if len(res.Instructions) == 0 {
					return nil, rerr
				}
				res.Error = rerr.Error()
				break
			}
			buf, bufAt = nb, pc
		}
		code := buf[pc-bufAt:]
		var text string
		var length int
		if arm64 {
			text, length = disARM64(c, code, pc)
		} else {
			text, length = disX86(c, code, pc, syntax, symname)
		}
		if length > len(code) {
			res.Error = fmt.Sprintf("the instruction at %#x runs past readable memory", pc)
			break
		}
		in := Instruction{
			Address: Hex(pc), Symbol: c.Prog.SymbolizeAddr(pc),
			Bytes: fmt.Sprintf("% x", code[:length]), Text: text,
		}
		if lines != nil {
			if file, line, _, err := lines.LineForAddr(pc); err == nil {
				in.Source = fmt.Sprintf("%s: %d", file, line)
			}
		}
		res.Instructions = append(res.Instructions, in)
		if pc > ^uint64(0)-uint64(length) {
			if count == 0 || n+1 < count {
				res.Error = fmt.Sprintf("reached the end of the 64-bit address space after %#x", pc)
			}
			break
		}
		pc += uint64(length)
	}
	return res, nil
}

// disX86 decodes one x86_64 instruction at pc.
func disX86(c *Call, code []byte, pc uint64, syntax func(x86asm.Inst, uint64, x86asm.SymLookup) string, symname x86asm.SymLookup) (string, int) {
	if cet := cetInstruction(code); cet != "" {
		// x86asm does not know the CET landing pads functions start with
		// (CONFIG_X86_KERNEL_IBT, 6.2+).
		return cet, 4
	}
	inst, err := x86asm.Decode(code, 64)
	if err != nil {
		return "(bad)", 1
	}
	return annotateTargets(c, inst, pc, syntax(inst, pc, symname)), inst.Len
}

// disARM64 decodes one arm64 instruction at pc (GNU syntax): PC-relative
// operands (branches, ADR, ADRP's page) are shown as addresses, with the
// symbol of a branch or ADR target.
func disARM64(c *Call, code []byte, pc uint64) (string, int) {
	if len(code) < 4 {
		return "(bad)", len(code) + 1
	}
	inst, err := arm64asm.Decode(code[:4])
	if err != nil {
		return fmt.Sprintf(".inst\t%#08x", binary.LittleEndian.Uint32(code)), 4
	}
	text := strings.TrimSpace(arm64asm.GNUSyntax(inst))
	if inst.Op == arm64asm.HINT {
		if name, ok := arm64Hints[text]; ok {
			return name, 4
		}
	}
	for _, a := range inst.Args {
		rel, ok := a.(arm64asm.PCRel)
		if !ok {
			continue
		}
		target := uint64(int64(pc) + int64(rel))
		if inst.Op == arm64asm.ADRP {
			target = uint64(int64(pc&^0xfff) + int64(rel))
		}
		text = strings.Replace(text, rel.String(), fmt.Sprintf("%#x", target), 1)
		if s := c.Prog.SymbolizeAddr(target); !strings.HasPrefix(s, "0x") && inst.Op != arm64asm.ADRP {
			text += " <" + s + ">"
		}
	}
	return text, 4
}

// arm64Hints name the HINT instructions arm64 kernels are full of
// (pointer authentication and branch target identification; Arm ARM
// C6.2 PACIASP, AUTIASP, BTI), which arm64asm prints by number.
var arm64Hints = map[string]string{
	"hint #0x19": "paciasp", "hint #0x1b": "pacibsp", "hint #0x1d": "autiasp", "hint #0x1f": "autibsp",
	"hint #0x20": "bti", "hint #0x22": "bti c", "hint #0x24": "bti j", "hint #0x26": "bti jc",
}

// readCode reads up to a page (and at least the bytes up to the page end
// plus the next page when it is readable) at pc.
func readCode(c *Call, pc uint64) ([]byte, error) {
	n := 4096 - pc%4096 + 4096
	if toTop := ^uint64(0) - pc + 1; pc != 0 && n > toTop {
		n = toTop // the address space ends first
	}
	for n > 0 {
		b := make([]byte, n)
		err := c.Prog.Mem.ReadVirt(b, pc)
		if err == nil {
			return b, nil
		}
		if n <= 4096-pc%4096 {
			return nil, err
		}
		n = 4096 - pc%4096
	}
	return nil, fmt.Errorf("dis: nothing readable at %#x", pc)
}

// annotateTargets adds "<symbol+off>" after call/jump targets GNU syntax
// printed as bare addresses.
func annotateTargets(c *Call, inst x86asm.Inst, pc uint64, text string) string {
	for _, a := range inst.Args {
		rel, ok := a.(x86asm.Rel)
		if !ok {
			continue
		}
		target := uint64(int64(pc) + int64(inst.Len) + int64(rel))
		if s := c.Prog.SymbolizeAddr(target); !strings.HasPrefix(s, "0x") {
			return fmt.Sprintf("%s <%s>", text, s)
		}
	}
	return text
}

// WriteText implements Result: "0xffffffff81000100 <do_exit>:  push %rbp".
func (r *DisResult) WriteText(w io.Writer) error {
	var b strings.Builder
	width := 0
	for _, in := range r.Instructions {
		width = max(width, len(in.Symbol))
	}
	lastSource := ""
	for _, in := range r.Instructions {
		if in.Source != "" && in.Source != lastSource {
			b.WriteString(in.Source + "\n")
			lastSource = in.Source
		}
		fmt.Fprintf(&b, "%#x <%s>:%s ", uint64(in.Address), in.Symbol, strings.Repeat(" ", width-len(in.Symbol)))
		if r.showBytes {
			fmt.Fprintf(&b, "%-30s ", in.Bytes)
		}
		b.WriteString(in.Text + "\n")
	}
	if r.Error != "" {
		fmt.Fprintf(&b, "dis: stopped: %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func describeTypes(p *symbols.Program) string {
	if p.Types == nil {
		return "nowhere"
	}
	return p.Types.Describe()
}

// cetInstruction names the CET instructions x86asm cannot decode: endbr64
// (f3 0f 1e fa) and endbr32 (f3 0f 1e fb).
func cetInstruction(code []byte) string {
	if len(code) >= 4 && code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e {
		switch code[3] {
		case 0xfa:
			return "endbr64"
		case 0xfb:
			return "endbr32"
		}
	}
	return ""
}
