package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

func registerPrint(r *Registry) {
	r.Add(&Command{
		Name:    "p",
		Aliases: []string{"print"},
		Summary: "print a global variable or a member path of one",
		Usage:   "p [-x] [&]SYMBOL[.MEMBER|->MEMBER|[INDEX]...]",
		Help: `Prints a global variable's value: integers in decimal (-x: hex), structs
member by member, char arrays as strings, pointers in hex with their
symbol. A member path may follow, with "." or "->" (pointers are followed
either way) and [INDEX] for arrays and pointers. "&SYMBOL" prints the
address. The type comes from DWARF when a vmlinux is loaded, else BTF and
kwalk's table of well-known globals.

JSON: {"expr","type","address","value"}, value as for struct.`,
		Flags:    []Flag{{Name: "x", Help: "print integers in hex"}},
		Examples: []string{"p jiffies", "p init_task.comm", "p init_task.se.vruntime", "p &init_task", "p -x init_task.tasks"},
		Run:      runPrint,
	})
}

// AddressResult is "p &SYM". JSON: {"expr","address"}.
type AddressResult struct {
	Expr    string `json:"expr"`
	Address Hex    `json:"address"`
}

// WriteText implements Result.
func (a AddressResult) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%s = %#x\n", a.Expr, uint64(a.Address))
	return err
}

func runPrint(c *Call) (Result, error) {
	if len(c.Args) == 0 {
		return nil, UsageErrorf("usage: p [-x] [&]SYMBOL[.MEMBER...]")
	}
	expr := strings.Join(c.Args, "")
	o, err := evalObject(c.Prog, expr)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(expr, "&") {
		a, ok := o.Address()
		if !ok {
			return nil, fmt.Errorf("%s: not in memory, has no address", expr)
		}
		return AddressResult{Expr: expr, Address: Hex(a)}, nil
	}
	res := ObjectResult{Expr: expr, Type: o.Type().String(), Value: DecodeObject(o), hex: c.Bool("x")}
	if a, ok := o.Address(); ok {
		h := Hex(a)
		res.Address = &h
	}
	if res.Value.Err != "" {
		return nil, fmt.Errorf("%s: %s", expr, res.Value.Err)
	}
	return res, nil
}

// evalObject evaluates "[&]name[path]" to an object.
func evalObject(prog *symbols.Program, expr string) (symbols.Object, error) {
	e := strings.TrimPrefix(strings.TrimSpace(expr), "&")
	name, path := e, ""
	if i := strings.IndexAny(e, ".-["); i > 0 {
		name, path = e[:i], e[i:]
	}
	v, err := prog.Variable(name)
	if err != nil {
		return symbols.Object{}, err
	}
	if path == "" {
		return v, nil
	}
	return v.Member(strings.TrimPrefix(path, "."))
}
