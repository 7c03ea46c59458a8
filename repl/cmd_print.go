package repl

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

func registerPrint(r *Registry) {
	r.Add(&Command{
		Name:    "p",
		Aliases: []string{"print"},
		Summary: "print an expression: a global, its members, casts of addresses, per-CPU copies",
		Usage:   "p [-x] EXPRESSION",
		Help: `Prints a global variable's value: integers in decimal (-x: hex), structs
member by member, char arrays as strings, pointers in hex with their
symbol. A member path may follow, with "." or "->" (pointers are followed
either way) and [INDEX] for arrays and pointers. "&EXPR" prints the
address, "*EXPR" follows a pointer, NAME:CPU is a CPU's copy of a per-CPU
variable ("p runqueues:1.nr_running"; a per-CPU NAME alone lists the
copies' addresses), and "(TYPE)EXPR" casts: a number cast
to a pointer type is that pointer ("((struct task_struct *)ADDR)->comm"),
to a struct type the object at that address. The type comes from DWARF when a vmlinux is loaded, else BTF and
kwalk's table of well-known globals. A global none of them types (most
are untyped without DWARF: BTF types only per-CPU variables) is still
read under a cast or through its address: "p (unsigned long)max_pfn",
"p *(atomic_long_t *)&_totalram_pages", "p &max_pfn".

JSON: {"expr","type","address","value"}, value as for struct.`,
		Flags: []Flag{{Name: "x", Help: "print integers in hex"}},
		Examples: []string{"p jiffies", "p init_task.comm", "p init_task.se.vruntime", "p &init_task", "p -x init_task.tasks",
			"p ((struct task_struct *)0xffff8880031d0000)->comm", "p *init_task.tasks.next", "p (struct list_head)0xffffffff82a1aa50", "p runqueues", "p runqueues:0.curr->comm"},
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
	var pe *perCPUError
	if errors.As(err, &pe) && strings.TrimSpace(expr) == pe.name {
		return perCPUAddresses(c, pe.name)
	}
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

// PerCPUResult is "p NAME" for a per-CPU variable: its type and each CPU's
// copy. JSON: {"name","type","addresses":[{"cpu","address"}]}.
type PerCPUResult struct {
	Name      string       `json:"name"`
	Type      string       `json:"type"`
	Addresses []PerCPUAddr `json:"addresses"`
}

// PerCPUAddr is one CPU's copy in PerCPUResult.
type PerCPUAddr struct {
	CPU     int `json:"cpu"`
	Address Hex `json:"address"`
}

func perCPUAddresses(c *Call, name string) (Result, error) {
	v, err := c.Prog.Variable(name)
	if err != nil {
		return nil, err
	}
	cpus, err := c.Prog.PossibleCPUs()
	if err != nil {
		return nil, fmt.Errorf("%s: listing CPUs: %w", name, err)
	}
	res := PerCPUResult{Name: name, Type: v.Type().Declare(name), Addresses: []PerCPUAddr{}}
	for _, cpu := range cpus {
		a, err := c.Prog.PerCPUAddr(v.Addr(), cpu)
		if err != nil {
			return nil, err
		}
		res.Addresses = append(res.Addresses, PerCPUAddr{CPU: cpu, Address: Hex(a)})
	}
	return res, nil
}

// WriteText implements Result, crash's layout.
func (r PerCPUResult) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "PER-CPU DATA TYPE:\n  %s;\nPER-CPU ADDRESSES:\n", r.Type)
	for _, a := range r.Addresses {
		fmt.Fprintf(&b, "  [%d]: %x\n", a.CPU, uint64(a.Address))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
