package repl

import (
	"fmt"
	"io"
	"strings"
)

func registerPrint(r *Registry) {
	r.Add(&Command{
		Name:    "p",
		Aliases: []string{"print"},
		Summary: "print a global variable or a member path of one",
		Usage:   "p [-x] EXPRESSION",
		Help: `Prints a global variable's value: integers in decimal (-x: hex), structs
member by member, char arrays as strings, pointers in hex with their
symbol. A member path may follow, with "." or "->" (pointers are followed
either way) and [INDEX] for arrays and pointers. "&EXPR" prints the
address, "*EXPR" follows a pointer, and "(TYPE)EXPR" casts: a number cast
to a pointer type is that pointer ("((struct task_struct *)ADDR)->comm"),
to a struct type the object at that address. The type comes from DWARF when a vmlinux is loaded, else BTF and
kwalk's table of well-known globals.

JSON: {"expr","type","address","value"}, value as for struct.`,
		Flags: []Flag{{Name: "x", Help: "print integers in hex"}},
		Examples: []string{"p jiffies", "p init_task.comm", "p init_task.se.vruntime", "p &init_task", "p -x init_task.tasks",
			"p ((struct task_struct *)0xffff8880031d0000)->comm", "p *init_task.tasks.next", "p (struct list_head)0xffffffff82a1aa50"},
		Run: runPrint,
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
	expr := strings.Join(c.Args, " ")
	o, err := evalObject(c.Prog, expr)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(expr, "&") {
		// &EXPR is a pointer value: show the address it holds.
		a, err := o.Uint()
		if err != nil {
			return nil, err
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
