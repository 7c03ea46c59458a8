package repl

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

func registerEval(r *Registry) {
	r.Add(&Command{
		Name:    "eval",
		Summary: "evaluate an integer expression, in hex, decimal, octal and binary",
		Usage:   "eval EXPRESSION",
		Help: `Evaluates 64-bit unsigned arithmetic: + - * / % << >> & | ^ ~,
unary minus and parentheses, with C precedence. Operands are numbers
(0x hex, 0 octal... as in C; decimal otherwise; a word of hex digits with
letters, like ffff8a83c2830000, is hex) or symbols (their address).
Shows the value in hex, decimal (signed when negative), octal and binary,
and the symbol it falls in. Put | and > inside parentheses: outside they
pipe and redirect the output ("eval (1 << 12 | 0xff)").

JSON: {"value","decimal","signed","octal","binary","symbol"}.`,
		Examples: []string{"eval 0x1000 + 16", "eval init_task + 0x980", "eval (1 << 12) - 1", "eval (0x1000 | 0xff)", "eval ffff8a83c2830000 & ~0xfff"},
		Run:      runEval,
	})
}

// EvalResult is the result of eval (see its help for the JSON).
type EvalResult struct {
	Value   Hex    `json:"value"`
	Decimal uint64 `json:"decimal"`
	Signed  int64  `json:"signed"`
	Octal   string `json:"octal"`
	Binary  string `json:"binary"`
	Symbol  string `json:"symbol,omitempty"`
}

// WriteText implements Result, crash's layout.
func (e EvalResult) WriteText(w io.Writer) error {
	dec := strconv.FormatUint(e.Decimal, 10)
	if e.Signed < 0 {
		dec += fmt.Sprintf("  (%d)", e.Signed)
	}
	s := fmt.Sprintf("hexadecimal: %x\n    decimal: %s\n      octal: %s\n     binary: %s\n", uint64(e.Value), dec, e.Octal, e.Binary)
	if e.Symbol != "" {
		s += "     symbol: " + e.Symbol + "\n"
	}
	_, err := io.WriteString(w, s)
	return err
}

func runEval(c *Call) (Result, error) {
	if len(c.Args) == 0 {
		return nil, UsageErrorf("usage: eval EXPRESSION")
	}
	p := &arith{prog: c.Prog, s: strings.Join(c.Args, " ")}
	v, err := p.parse()
	if err != nil {
		return nil, err
	}
	r := EvalResult{Value: Hex(v), Decimal: v, Signed: int64(v), Octal: strconv.FormatUint(v, 8), Binary: strconv.FormatUint(v, 2)}
	if c.Prog != nil && c.Prog.Syms != nil && v != 0 {
		if _, _, ok := c.Prog.Syms.LookupAddr(v); ok {
			r.Symbol = c.Prog.SymbolizeAddr(v)
		}
	}
	return r, nil
}

// arith is a small recursive-descent evaluator with C precedence:
// | ^ & << >> + - * / % and unary - ~.
type arith struct {
	prog  *symbols.Program
	s     string
	pos   int
	depth int // nesting of unary operators and parentheses, bounded by maxExprDepth
}

func (a *arith) parse() (uint64, error) {
	v, err := a.binary(0)
	if err != nil {
		return 0, err
	}
	a.skip()
	if a.pos < len(a.s) {
		return 0, UsageErrorf("eval: unexpected %q", abbreviate(a.s[a.pos:]))
	}
	return v, nil
}

var arithLevels = [][]string{{"|"}, {"^"}, {"&"}, {"<<", ">>"}, {"+", "-"}, {"*", "/", "%"}}

func (a *arith) skip() {
	for a.pos < len(a.s) && (a.s[a.pos] == ' ' || a.s[a.pos] == '\t') {
		a.pos++
	}
}

func (a *arith) binary(level int) (uint64, error) {
	if level == len(arithLevels) {
		return a.unary()
	}
	l, err := a.binary(level + 1)
	if err != nil {
		return 0, err
	}
	for {
		a.skip()
		op := ""
		for _, o := range arithLevels[level] {
			if strings.HasPrefix(a.s[a.pos:], o) {
				op = o
			}
		}
		if op == "" {
			return l, nil
		}
		a.pos += len(op)
		r, err := a.binary(level + 1)
		if err != nil {
			return 0, err
		}
		switch op {
		case "|":
			l |= r
		case "^":
			l ^= r
		case "&":
			l &= r
		case "<<", ">>":
			// C leaves shifts by the width or more undefined; wrapping the
			// count (1<<64 == 1) would be silently wrong.
			if r >= 64 {
				return 0, UsageErrorf("eval: shift count %d is not below 64 (values are 64-bit)", r)
			}
			if op == "<<" {
				l <<= r
			} else {
				l >>= r
			}
		case "+":
			l += r
		case "-":
			l -= r
		case "*":
			l *= r
		case "/", "%":
			if r == 0 {
				return 0, UsageErrorf("eval: division by zero")
			}
			if op == "/" {
				l /= r
			} else {
				l %= r
			}
		}
	}
}

func (a *arith) unary() (uint64, error) {
	a.depth++
	defer func() { a.depth-- }()
	if a.depth > maxExprDepth {
		return 0, UsageErrorf("eval: expression nested more than %d deep", maxExprDepth)
	}
	a.skip()
	if a.pos >= len(a.s) {
		return 0, UsageErrorf("eval: expression ends early")
	}
	switch a.s[a.pos] {
	case '-':
		a.pos++
		v, err := a.unary()
		return -v, err
	case '~':
		a.pos++
		v, err := a.unary()
		return ^v, err
	case '(':
		a.pos++
		v, err := a.binary(0)
		if err != nil {
			return 0, err
		}
		a.skip()
		if a.pos >= len(a.s) || a.s[a.pos] != ')' {
			return 0, UsageErrorf("eval: missing )")
		}
		a.pos++
		return v, nil
	}
	start := a.pos
	for a.pos < len(a.s) && (isIdentByte(a.s[a.pos])) {
		a.pos++
	}
	word := a.s[start:a.pos]
	if word == "" {
		return 0, UsageErrorf("eval: unexpected %q", abbreviate(a.s[a.pos:]))
	}
	return a.operand(word)
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// operand is a C number, a bare hex word with letters, or a symbol.
func (a *arith) operand(w string) (uint64, error) {
	v, err := strconv.ParseUint(w, 0, 64)
	if err == nil {
		return v, nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, UsageErrorf("eval: %s does not fit in 64 bits", abbreviate(w))
	}
	if a.prog != nil {
		if v, err := a.prog.Symbol(w); err == nil {
			return v, nil
		}
	}
	v, err = strconv.ParseUint(w, 16, 64)
	if err == nil {
		return v, nil
	}
	if errors.Is(err, strconv.ErrRange) {
		return 0, UsageErrorf("eval: %s does not fit in 64 bits", abbreviate(w))
	}
	return 0, UsageErrorf("eval: %q is neither a number nor a symbol", abbreviate(w))
}
