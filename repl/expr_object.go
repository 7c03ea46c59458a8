package repl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kwalk/kwalk/symbols"
)

// evalObject evaluates a C-like expression over globals, as "p" takes it:
//
//	expr    := '*' expr | '&' expr | postfix
//	postfix := primary ( '.' NAME | '->' NAME | '[' INT ']' )*
//	primary := '(' TYPE ')' expr | '(' expr ')' | NAME | NUMBER
//
// NAME is a global variable; NUMBER (0x hex, decimal, or bare hex of 8+
// digits) is only meaningful under a cast: "((struct task_struct
// *)0xffff8880...)->comm", "*(struct list_head *)init_task.tasks.next".
// Pointers are followed by "." as well as "->".
//
// Nesting (unary operators, parentheses and casts together) is bounded by
// maxExprDepth, so a hostile line cannot exhaust the stack; parsing is
// linear in the length of the expression.
func evalObject(prog *symbols.Program, expr string) (symbols.Object, error) {
	src := abbreviate(expr)
	toks, err := tokenizeExpr(expr)
	if err != nil {
		return symbols.Object{}, err
	}
	p := &exprParser{prog: prog, toks: toks, match: matchParens(toks), src: src}
	v, err := p.unary()
	if err != nil {
		return symbols.Object{}, err
	}
	if p.pos < len(p.toks) {
		return symbols.Object{}, UsageErrorf("%s: unexpected %q", src, abbreviate(p.toks[p.pos]))
	}
	if v.untyped != "" {
		return symbols.Object{}, p.untypedError(v)
	}
	if !v.isObj {
		return symbols.Object{}, UsageErrorf("%s: a bare number has no type (cast it: (struct T *)ADDR)", src)
	}
	return v.obj, nil
}

// maxExprDepth bounds how deeply an expression nests: unary * and &,
// parentheses and casts each count one level. Real expressions use a
// handful; the bound keeps recursion far from the stack limit.
const maxExprDepth = 256

// maxExprEcho is how much of an expression error messages repeat.
const maxExprEcho = 80

// abbreviate shortens s for error messages.
func abbreviate(s string) string {
	if len(s) <= maxExprEcho {
		return s
	}
	n := maxExprEcho
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:n], len(s))
}

// matchParens returns, for each "(" token, the index of its matching ")"
// (-1 when unmatched): one pass with a stack, so that finding a cast's
// end is O(1) instead of a scan per parenthesis.
func matchParens(toks []string) []int {
	match := make([]int, len(toks))
	var open []int
	for i, t := range toks {
		match[i] = -1
		switch t {
		case "(":
			open = append(open, i)
		case ")":
			if len(open) == 0 {
				continue // reported where the parser meets it
			}
			match[open[len(open)-1]] = i
			open = open[:len(open)-1]
		}
	}
	return match
}

type exprVal struct {
	obj   symbols.Object
	isObj bool
	num   uint64
	// untyped names a global kallsyms knows but no type source types
	// (BTF has no VAR for it, no DWARF): num is its address. A cast reads
	// it as that type, & takes its address; anything else is an error
	// that says how to type it.
	untyped string
}

// untypedError is the error for a global whose type is unknown, used
// where a type is needed.
func (p *exprParser) untypedError(v exprVal) error {
	msg := fmt.Sprintf("%s: type of global %q unknown (no DWARF, and BTF types no variable of that name); it is at %#x", p.src, v.untyped, v.num)
	if w, err := p.prog.ReadU64(v.num); err == nil {
		msg += fmt.Sprintf(", first word %#x", w)
	}
	return fmt.Errorf("%w: %s: give it a type, p (TYPE)%s or p *(TYPE *)&%s, read it (rd %s), or give kwalk the kernel's DWARF, which types every global (--vmlinux from the linux-image-RELEASE-dbg package, or $DEBUGINFOD_URLS)", symbols.ErrNoType, msg, v.untyped, v.untyped, v.untyped)
}

type exprParser struct {
	prog  *symbols.Program
	toks  []string
	match []int // match[i]: the ")" closing the "(" at i, or -1
	pos   int
	depth int    // current nesting, bounded by maxExprDepth
	src   string // the expression, abbreviated, for messages
}

func (p *exprParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *exprParser) next() string {
	t := p.peek()
	p.pos++
	return t
}

func (p *exprParser) unary() (exprVal, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxExprDepth {
		return exprVal{}, UsageErrorf("%s: expression nested more than %d deep", p.src, maxExprDepth)
	}
	switch p.peek() {
	case "*":
		p.next()
		v, err := p.unary()
		if err != nil {
			return v, err
		}
		if v.untyped != "" {
			return v, p.untypedError(v)
		}
		if !v.isObj {
			return v, UsageErrorf("%s: dereference of a bare number (cast it first)", p.src)
		}
		d, err := v.obj.Deref()
		return exprVal{obj: d, isObj: true}, err
	case "&":
		p.next()
		v, err := p.unary()
		if err != nil {
			return v, err
		}
		if v.untyped != "" {
			// &NAME of an untyped global: a void pointer to it.
			return exprVal{obj: p.prog.Value(symbols.PointerTo(&symbols.Type{Kind: symbols.KindVoid}), v.num), isObj: true}, nil
		}
		if !v.isObj {
			return v, UsageErrorf("%s: address of a number", p.src)
		}
		a, ok := v.obj.Address()
		if !ok {
			return v, fmt.Errorf("%s: %s is not in memory", p.src, v.obj.Path())
		}
		return exprVal{obj: p.prog.Value(symbols.PointerTo(v.obj.Type()), a), isObj: true}, nil
	}
	return p.postfix()
}

func (p *exprParser) postfix() (exprVal, error) {
	v, err := p.primary()
	if err != nil {
		return v, err
	}
	for {
		if v.untyped != "" && (p.peek() == "." || p.peek() == "->" || p.peek() == "[") {
			return v, p.untypedError(v)
		}
		switch p.peek() {
		case ".", "->":
			p.next()
			name := p.next()
			if !isIdent(name) {
				return v, UsageErrorf("%s: member name expected, got %q", p.src, abbreviate(name))
			}
			if !v.isObj {
				return v, UsageErrorf("%s: member of a bare number (cast it first)", p.src)
			}
			if v.obj, err = v.obj.Member(name); err != nil {
				return v, err
			}
		case "[":
			p.next()
			n, err := strconv.ParseInt(p.next(), 0, 64)
			if err != nil || p.next() != "]" {
				return v, UsageErrorf("%s: [INDEX] expected", p.src)
			}
			if !v.isObj {
				return v, UsageErrorf("%s: index of a bare number", p.src)
			}
			if v.obj, err = v.obj.Index(n); err != nil {
				return v, err
			}
		default:
			return v, nil
		}
	}
}

func (p *exprParser) primary() (exprVal, error) {
	t := p.next()
	switch {
	case t == "(":
		// A cast when the parenthesised words name a type.
		end := p.matching(p.pos - 1)
		if end < 0 {
			return exprVal{}, UsageErrorf("%s: missing )", p.src)
		}
		if typ, ok := p.castType(p.toks[p.pos:end]); ok {
			p.pos = end + 1
			v, err := p.unary()
			if err != nil {
				return v, err
			}
			if v.untyped != "" {
				// (TYPE)NAME of an untyped global: read it as TYPE.
				o := p.prog.ObjectAt(typ, v.num)
				return exprVal{obj: o, isObj: true}, nil
			}
			if v.isObj {
				if r := typ.Resolve(); r != nil && r.Kind == symbols.KindPointer {
					if vt := v.obj.Type().Resolve(); vt != nil && (vt.Kind == symbols.KindPointer || vt.Kind == symbols.KindInt) {
						u, err := v.obj.Uint()
						if err != nil {
							return v, err
						}
						return exprVal{obj: p.prog.Value(typ, u), isObj: true}, nil
					}
				}
				return exprVal{obj: v.obj.CastTo(typ), isObj: true}, nil
			}
			if r := typ.Resolve(); r != nil && (r.Kind == symbols.KindPointer || r.Kind == symbols.KindInt) {
				return exprVal{obj: p.prog.Value(typ, v.num), isObj: true}, nil
			}
			// (struct T)ADDR: the object at ADDR, crash style.
			return exprVal{obj: p.prog.ObjectAt(typ, v.num), isObj: true}, nil
		}
		v, err := p.unary()
		if err != nil {
			return v, err
		}
		if p.next() != ")" {
			return v, UsageErrorf("%s: missing )", p.src)
		}
		return v, nil
	case isIdent(t):
		if o, err := p.prog.Variable(t); err == nil {
			if p.peek() == ":" {
				// NAME:CPU, a CPU's copy of a per-CPU variable (crash syntax).
				p.next()
				cpu, err := strconv.Atoi(p.next())
				if err != nil {
					return exprVal{}, UsageErrorf("%s: NAME:CPU needs a CPU number", p.src)
				}
				o, err = p.prog.PerCPUVariable(t, cpu)
				return exprVal{obj: o, isObj: true}, err
			}
			if isPerCPU(p.prog, o.Addr()) {
				return exprVal{}, &perCPUError{name: t}
			}
			return exprVal{obj: o, isObj: true}, nil
		} else if n, ok := parseBareNumber(t); ok {
			return exprVal{num: n}, nil
		} else if addr, serr := p.prog.Symbol(t); serr == nil && errors.Is(err, symbols.ErrNoType) {
			return exprVal{untyped: t, num: addr}, nil
		} else {
			return exprVal{}, err
		}
	case t != "":
		if n, ok := parseBareNumber(t); ok {
			return exprVal{num: n}, nil
		}
	}
	return exprVal{}, UsageErrorf("%s: unexpected %q", p.src, abbreviate(t))
}

// matching returns the index of the ")" matching the "(" at open, or -1.
func (p *exprParser) matching(open int) int { return p.match[open] }

// castType reports whether toks spell a type ("struct task_struct *").
func (p *exprParser) castType(toks []string) (*symbols.Type, bool) {
	if len(toks) == 0 {
		return nil, false
	}
	for _, t := range toks {
		if t != "*" && !isIdent(t) {
			return nil, false
		}
	}
	// A lone identifier that is a variable is a parenthesised expression.
	if len(toks) == 1 {
		if _, err := p.prog.Symbol(toks[0]); err == nil {
			return nil, false
		}
	}
	name := strings.ReplaceAll(strings.Join(toks, " "), " *", "*")
	name = strings.Replace(name, "*", " *", 1)
	t, err := p.prog.Type(name)
	if err != nil {
		return nil, false
	}
	return t, true
}

func parseBareNumber(s string) (uint64, bool) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		v, err := strconv.ParseUint(s[2:], 16, 64)
		return v, err == nil
	}
	if len(s) >= 8 {
		if v, err := strconv.ParseUint(s, 16, 64); err == nil {
			return v, true
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// tokenizeExpr splits an expression into names, numbers and operators.
func tokenizeExpr(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '-' && i+1 < len(s) && s[i+1] == '>':
			toks = append(toks, "->")
			i += 2
		case strings.IndexByte("()*&.[]:", c) >= 0:
			toks = append(toks, string(c))
			i++
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			j := i
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, UsageErrorf("%s: unexpected character %q", abbreviate(s), c)
		}
	}
	if len(toks) == 0 {
		return nil, UsageErrorf("empty expression")
	}
	return toks, nil
}

// isPerCPU reports whether addr lies in the per-CPU section
// [__per_cpu_start, __per_cpu_end) (include/asm-generic/vmlinux.lds.h):
// such a variable's symbol is an offset, not an address.
func isPerCPU(p *symbols.Program, addr uint64) bool {
	start, err1 := p.Symbol("__per_cpu_start")
	end, err2 := p.Symbol("__per_cpu_end")
	return err1 == nil && err2 == nil && addr >= start && addr < end
}

// perCPUError is evaluating a per-CPU variable without a CPU.
type perCPUError struct{ name string }

func (e *perCPUError) Error() string {
	return fmt.Sprintf("%s is a per-CPU variable: say which CPU's copy, %s:0", e.name, e.name)
}
