package repl

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

func registerStruct(r *Registry) {
	for _, kw := range []string{"struct", "union"} {
		kw := kw
		r.Add(&Command{
			Name:    kw,
			Summary: "show a " + kw + " definition, member offsets, or an object at an address",
			Usage:   kw + " [-o] [-r] [-l OFFSET] NAME[.MEMBER[,MEMBER...]] [ADDR [COUNT]]",
			Help: `Without ADDR, shows the definition of ` + kw + ` NAME (with -o, each member's
offset), or of one member ("` + kw + ` NAME.MEMBER").
With ADDR (a hex address, symbol or symbol+offset), prints the object at
ADDR member by member, crash style: nested structs and arrays in braces,
char arrays as strings, pointers in hex with the symbol they point at.
A member list after the name ("task_struct.comm,pid") prints only those
members; members may be paths ("se.vruntime", "mm->total_vm").
COUNT prints that many consecutive objects (a negative count goes back).
-l OFFSET says ADDR points at a member inside the object (a list_head
on a list, say), not at its start: OFFSET is "TYPE.MEMBER" or a number of
bytes, taken off ADDR. -r prints the object's raw bytes as 64-bit words
instead of its members.

JSON: the definition is a TypeDef (name, kind, size, members with byte
offset, bit_offset, bit_size); an object is {"type","address","value"}
with value an object keyed by member name (see schema.md).`,
			Flags: []Flag{
				{Name: "o", Help: "show member offsets (definition) or the address of each member (object)"},
				{Name: "x", Help: "print integers in hex"},
				{Name: "l", Arg: "OFFSET", Help: "ADDR is at this member (TYPE.MEMBER or bytes) inside the object"},
				{Name: "r", Help: "print the object's raw bytes as 64-bit words"},
			},
			Examples: []string{kw + " task_struct", kw + " -o task_struct", kw + " task_struct ffff888003a1c000",
				kw + " task_struct.comm,pid,se.vruntime ffff888003a1c000", kw + " list_head init_task+0x10",
				kw + " -l task_struct.tasks task_struct ffff888003a1c9a8", kw + " -r list_head init_task+0x10"},
			Complete: completeTypeThenSymbol,
			Run:      func(c *Call) (Result, error) { return runStruct(c, kw) },
		})
	}
	r.Add(&Command{
		Name:    "whatis",
		Summary: "show the type of a symbol, or a type's definition",
		Usage:   "whatis [-o] SYMBOL|[struct|union|enum] TYPE|TYPE.MEMBER",
		Help: `For a global variable, prints its declaration ("struct task_struct init_task;");
for a function symbol, its address; for a type, its definition like
"struct" ("whatis struct X" as crash users write it, or "whatis X"); -o
shows the members' offsets.`,
		Flags:    []Flag{{Name: "o", Help: "show member offsets"}},
		Examples: []string{"whatis init_task", "whatis task_struct", "whatis struct task_struct", "whatis -o struct list_head", "whatis u64", "whatis task_struct.se"},
		Complete: completeTypeThenSymbol,
		Run:      runWhatis,
	})
}

func completeTypeThenSymbol(c *Completion) []string {
	if len(c.Args) == 0 {
		t := c.Types()
		if strings.ContainsAny(c.Word, ".-[") {
			return t
		}
		return append(t, c.Symbols()...)
	}
	return c.Symbols()
}

// ObjectResult is an object printed by struct, p and task. JSON:
// {"expr","type","address","value"} or, with a member list,
// {"type","address","members":[{"name","value"}]}.
type ObjectResult struct {
	Expr    string         `json:"expr,omitempty"`
	Type    string         `json:"type"`
	Address *Hex           `json:"address,omitempty"`
	Value   *Node          `json:"value,omitempty"`
	Members []MemberResult `json:"members,omitempty"`
	// Hex prints integers in hex in text.
	hex bool
}

// MemberResult is one selected member in ObjectResult.
type MemberResult struct {
	Name    string `json:"name"`
	Address *Hex   `json:"address,omitempty"`
	Value   *Node  `json:"value"`
}

// ObjectList is several objects (struct NAME ADDR COUNT, task PID PID).
// JSON: {"objects":[ObjectResult...]}; struct streams it (a Stream of
// ObjectResult rows).
type ObjectList struct {
	Objects []ObjectResult `json:"objects"`
}

// WriteText implements Result.
func (l ObjectList) WriteText(w io.Writer) error {
	for _, o := range l.Objects {
		if err := o.WriteText(w); err != nil {
			return err
		}
	}
	return nil
}

// WriteText implements Result.
func (o ObjectResult) WriteText(w io.Writer) error {
	var b strings.Builder
	switch {
	case o.Members != nil:
		for _, m := range o.Members {
			b.WriteString("  ")
			if m.Address != nil {
				fmt.Fprintf(&b, "[%x] ", uint64(*m.Address))
			}
			b.WriteString(m.Name + " = ")
			m.Value.text(&b, 1, false)
			b.WriteString(",\n")
		}
	case o.Expr != "":
		b.WriteString(o.Expr + " = ")
		o.Value.text(&b, 0, false)
		b.WriteByte('\n')
	default:
		o.Value.text(&b, 0, true)
		b.WriteByte('\n')
	}
	s := b.String()
	if o.hex {
		s = hexifyInts(s)
	}
	_, err := io.WriteString(w, s)
	return err
}

func runStruct(c *Call, kw string) (Result, error) {
	if err := c.NeedArgs(1, 3); err != nil {
		return nil, err
	}
	name, members, _ := strings.Cut(c.Args[0], ".")
	if i := strings.Index(c.Args[0], "->"); i >= 0 && (strings.IndexByte(c.Args[0], '.') < 0 || i < strings.IndexByte(c.Args[0], '.')) {
		name, members = c.Args[0][:i], c.Args[0][i+2:]
	}
	t, err := lookupTypeLoose(c.Prog, kw+" "+name)
	if err != nil {
		if t, err = lookupTypeLoose(c.Prog, name); err != nil {
			return nil, err
		}
	}
	if len(c.Args) == 1 {
		if members != "" {
			return memberDef(c.Prog, t, members, c.Bool("o"))
		}
		return newTypeDef(t, c.Bool("o")), nil
	}
	addr, err := evalAddr(c.Prog, c.Args[1])
	if err != nil {
		return nil, err
	}
	if l := c.String("l"); l != "" {
		off, err := memberOffsetArg(c, l)
		if err != nil {
			return nil, err
		}
		addr -= off
	}
	count := int64(1)
	if len(c.Args) == 3 {
		if count, err = parseSignedCount(c.Args[2]); err != nil {
			return nil, err
		}
	}
	size := typeSize(t)
	step, n := int64(1), count
	if count < 0 {
		step, n = -1, -count
	}
	if n > 4096 {
		return nil, UsageErrorf("count %d: at most 4096 objects", count)
	}
	if c.Bool("r") {
		if n != 1 || members != "" {
			return nil, UsageErrorf("%s -r: one whole object only", kw)
		}
		return rawObject(c, addr, size)
	}
	if n == 1 {
		return objectAt(c, t, addr, members, c.Bool("o"))
	}
	// Several objects are written one by one as they are read (4096
	// task_structs would be over a GB held at once).
	return &Stream{Field: "objects", Rows: func(emit func(Result) error) (any, error) {
		for i := int64(0); i < n; i++ {
			if err := c.Ctx.Err(); err != nil {
				return nil, err
			}
			a := addr + uint64(i*step)*size
			or, err := objectAt(c, t, a, members, c.Bool("o"))
			if err != nil {
				return nil, err
			}
			if err := emit(or); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}}, nil
}

func parseSignedCount(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	v, err := parseCount(strings.TrimPrefix(s, "-"))
	if err != nil {
		return 0, err
	}
	if neg {
		return -int64(v), nil
	}
	return int64(v), nil
}

// objectAt builds the ObjectResult for type t at addr, all members or the
// comma-separated member paths.
func objectAt(c *Call, t *symbols.Type, addr uint64, members string, memberAddrs bool) (ObjectResult, error) {
	obj := c.Prog.ObjectAt(t, addr)
	h := Hex(addr)
	res := ObjectResult{Type: t.String(), Address: &h, hex: c.Bool("x")}
	if members == "" {
		res.Value = DecodeObject(obj)
		if res.Value.Err != "" {
			return res, fmt.Errorf("%s at %#x: %s", t, addr, res.Value.Err)
		}
		return res, nil
	}
	res.Members = []MemberResult{}
	for _, m := range strings.Split(members, ",") {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		mo, err := obj.Member(m)
		if err != nil {
			return res, err
		}
		mr := MemberResult{Name: m, Value: DecodeObject(mo)}
		mr.Value.Name = m
		if a, ok := mo.Address(); ok && memberAddrs {
			ah := Hex(a)
			mr.Address = &ah
		}
		res.Members = append(res.Members, mr)
	}
	return res, nil
}

// memberDef describes one member of t: its declaration and offset.
func memberDef(prog *symbols.Program, t *symbols.Type, path string, offsets bool) (Result, error) {
	off, err := prog.OffsetOfType(t, path)
	if err != nil {
		return nil, err
	}
	mt, err := memberType(t, path)
	if err != nil {
		return nil, err
	}
	last := path
	if i := strings.LastIndexAny(path, ".>"); i >= 0 {
		last = path[i+1:]
	}
	td := newTypeDef(mt, offsets)
	decl := mt.Declare(last) + ";"
	if offsets {
		decl = fmt.Sprintf("[%#x] %s", off, decl)
	}
	if mt.IsAggregate() {
		var b strings.Builder
		b.WriteString(decl + "\n")
		writeBody(&b, mt.Resolve(), offsets, 0)
		b.WriteString(";")
		decl = b.String()
	}
	td.Decl = decl
	return td, nil
}

// memberType returns the type of member path in t (pointers not followed).
func memberType(t *symbols.Type, path string) (*symbols.Type, error) {
	cur := t
	for _, name := range strings.Split(strings.ReplaceAll(path, "->", "."), ".") {
		idx := 0
		if i := strings.IndexByte(name, '['); i >= 0 {
			idx = strings.Count(name[i:], "[")
			name = name[:i]
		}
		m, ok := cur.FindMember(name)
		if !ok {
			return nil, fmt.Errorf("%w: %s has no member %q", symbols.ErrNoMember, cur, name)
		}
		cur = m.Type
		for ; idx > 0; idx-- {
			r := cur.Resolve()
			if r == nil || (r.Kind != symbols.KindArray && r.Kind != symbols.KindPointer) {
				return nil, fmt.Errorf("%s: index into %s", path, cur)
			}
			cur = r.Elem
		}
		cur = derefPointers(cur)
	}
	return cur, nil
}

// hexifyInts rewrites " = 123" decimal integers as hex in struct text.
func hexifyInts(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		i := strings.Index(line, " = ")
		if i < 0 {
			b.WriteString(line)
			continue
		}
		val := strings.TrimRight(line[i+3:], ",\n")
		tail := line[i+3+len(val):]
		if n, err := strconv.ParseInt(val, 10, 64); err == nil {
			val = fmt.Sprintf("%#x", uint64(n))
		} else if u, err := strconv.ParseUint(val, 10, 64); err == nil {
			val = fmt.Sprintf("%#x", u)
		}
		b.WriteString(line[:i+3] + val + tail)
	}
	return b.String()
}

func runWhatis(c *Call) (Result, error) {
	if err := c.NeedArgs(1, 2); err != nil {
		return nil, err
	}
	arg := c.Args[0]
	if len(c.Args) == 2 {
		switch arg {
		case "struct", "union", "enum":
			// "whatis struct X": the keyword names the kind.
			t, err := lookupTypeLoose(c.Prog, arg+" "+c.Args[1])
			if err != nil {
				return nil, err
			}
			return newTypeDef(t, c.Bool("o")), nil
		}
		return nil, UsageErrorf("usage: %s", c.cmd.Usage)
	}
	if !strings.ContainsAny(arg, ".>") {
		if v, err := c.Prog.Variable(arg); err == nil {
			return TypeDef{Name: v.Type().String(), Kind: v.Type().Kind.String(), Size: typeSize(v.Type()),
				Decl: v.Type().Declare(arg) + ";", typ: v.Type()}, nil
		}
		if c.Prog.Syms != nil {
			if s, err := c.Prog.Syms.Lookup(arg); err == nil {
				return TypeDef{Name: arg, Kind: "symbol", Decl: fmt.Sprintf("%s: %c symbol at %#x (type unknown)", arg, s.Type, s.Addr)}, nil
			}
		}
	}
	name, members, _ := strings.Cut(arg, ".")
	t, err := lookupTypeLoose(c.Prog, name)
	if err != nil {
		// An expression over a global: "init_task.sched_class".
		if o, oerr := evalObject(c.Prog, arg); oerr == nil {
			last := arg
			if i := strings.LastIndexAny(arg, ".>"); i >= 0 {
				last = arg[i+1:]
			}
			ot := o.Type()
			return TypeDef{Name: ot.String(), Kind: ot.Kind.String(), Size: typeSize(ot), Decl: ot.Declare(last) + ";", typ: ot}, nil
		}
		return nil, fmt.Errorf("not a symbol with a known type, nor a type: %w", err)
	}
	if members != "" {
		return memberDef(c.Prog, t, members, c.Bool("o"))
	}
	return newTypeDef(t, c.Bool("o")), nil
}

// memberOffsetArg reads struct -l's OFFSET: "TYPE.MEMBER" or a number.
func memberOffsetArg(c *Call, s string) (uint64, error) {
	if v, err := strconv.ParseUint(s, 0, 64); err == nil {
		return v, nil
	}
	typ, member, ok := strings.Cut(s, ".")
	if !ok {
		return 0, UsageErrorf("-l %s: give TYPE.MEMBER or a number of bytes", s)
	}
	t, err := lookupTypeLoose(c.Prog, typ)
	if err != nil {
		return 0, err
	}
	return c.Prog.OffsetOfType(t, member)
}

// StructRaw is the result of struct -r.
type StructRaw struct {
	Address Hex    `json:"address"`
	Size    uint64 `json:"size"`
	Words   []Hex  `json:"words"` // 64-bit little-endian words; a partial last word is zero-padded
}

// maxRawObject bounds struct -r (task_struct is ~10 KB).
const maxRawObject = 1 << 20

func rawObject(c *Call, addr, size uint64) (StructRaw, error) {
	if size == 0 || size > maxRawObject {
		return StructRaw{}, fmt.Errorf("-r: an object of %d bytes", size)
	}
	buf := make([]byte, (size+7)&^7)
	if err := c.Prog.Mem.ReadVirt(buf[:size], addr); err != nil {
		return StructRaw{}, fmt.Errorf("%d bytes at %#x: %w", size, addr, err)
	}
	r := StructRaw{Address: Hex(addr), Size: size}
	for i := 0; i < len(buf); i += 8 {
		r.Words = append(r.Words, Hex(binary.LittleEndian.Uint64(buf[i:])))
	}
	return r, nil
}

// WriteText implements Result, rd -64's layout.
func (r StructRaw) WriteText(w io.Writer) error {
	var b strings.Builder
	for i, v := range r.Words {
		if i%2 == 0 {
			fmt.Fprintf(&b, "%016x:  ", uint64(r.Address)+uint64(8*i))
		}
		fmt.Fprintf(&b, "%016x", uint64(v))
		if i%2 == 1 || i == len(r.Words)-1 {
			b.WriteByte('\n')
		} else {
			b.WriteByte(' ')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// typeSize is the size of t after typedefs, 0 for void.
func typeSize(t *symbols.Type) uint64 {
	if r := t.Resolve(); r != nil {
		return r.Size
	}
	return 0
}
