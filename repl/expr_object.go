package repl

import (
	"fmt"
	"strconv"
	"strings"

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
func evalObject(prog *symbols.Program, expr string) (symbols.Object, error) {
	toks, err := tokenizeExpr(expr)
	if err != nil {
		return symbols.Object{}, err
	}
	p := &exprParser{prog: prog, toks: toks, src: expr}
	v, err := p.unary()
	if err != nil {
		return symbols.Object{}, err
	}
	if p.pos < len(p.toks) {
		return symbols.Object{}, UsageErrorf("%s: unexpected %q", expr, p.toks[p.pos])
	}
	if !v.isObj {
		return symbols.Object{}, UsageErrorf("%s: a bare number has no type (cast it: (struct T *)ADDR)", expr)
	}
	return v.obj, nil
}

type exprVal struct {
	obj   symbols.Object
	isObj bool
	num   uint64
}

type exprParser struct {
	prog *symbols.Program
	toks []string
	pos  int
	src  string
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
	switch p.peek() {
	case "*":
		p.next()
		v, err := p.unary()
		if err != nil {
			return v, err
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
		switch p.peek() {
		case ".", "->":
			p.next()
			name := p.next()
			if !isIdent(name) {
				return v, UsageErrorf("%s: member name expected, got %q", p.src, name)
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
		} else {
			return exprVal{}, err
		}
	case t != "":
		if n, ok := parseBareNumber(t); ok {
			return exprVal{num: n}, nil
		}
	}
	return exprVal{}, UsageErrorf("%s: unexpected %q", p.src, t)
}

// matching returns the index of the ")" matching the "(" at open.
func (p *exprParser) matching(open int) int {
	depth := 0
	for i := open; i < len(p.toks); i++ {
		switch p.toks[i] {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

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
			return nil, UsageErrorf("%s: unexpected character %q", s, c)
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
