package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Object is a typed value: an object at an address in kernel memory, or a
// value held outside memory (a register, a computed pointer). Objects are
// small values; copy them freely. The zero Object is invalid.
//
// Errors from an Object name the path that led to it
// ("init_task.tasks.next: read virtual address 0x…: page excluded").
type Object struct {
	prog *Program
	typ  *Type
	path string

	addr    uint64 // object in memory, when !isValue
	isValue bool
	value   uint64 // scalar value when isValue (pointers, integers ≤ 8 bytes)

	// bitfield member: bits [bitOff, bitOff+bitSize) counted from addr.
	bitOff, bitSize uint64
}

// Object returns the object of type typeName at addr.
func (p *Program) Object(typeName string, addr uint64) (Object, error) {
	t, err := p.Type(typeName)
	if err != nil {
		return Object{}, err
	}
	return p.ObjectAt(t, addr), nil
}

// ObjectAt returns the object of type t at addr.
func (p *Program) ObjectAt(t *Type, addr uint64) Object {
	return Object{prog: p, typ: t, addr: addr, path: fmt.Sprintf("(%s)%#x", t, addr)}
}

// Value returns a value (not in memory) of scalar type t, e.g. a pointer
// taken from a register.
func (p *Program) Value(t *Type, v uint64) Object {
	return Object{prog: p, typ: t, isValue: true, value: v, path: fmt.Sprintf("(%s)%#x", t, v)}
}

// Pointer returns a value of type "typeName *" pointing at addr.
func (p *Program) Pointer(typeName string, addr uint64) (Object, error) {
	t, err := p.Type(typeName)
	if err != nil {
		return Object{}, err
	}
	return p.Value(PointerTo(t), addr), nil
}

// PointerTo returns a pointer type to t (not interned; for values only).
func PointerTo(t *Type) *Type { return &Type{Kind: KindPointer, Size: 8, Elem: t} }

// Variable returns the global variable name as an object. Its type comes
// from the type source when it knows variables (DWARF, BTF per-CPU VARs),
// else from the table of globals in globals.go.
func (p *Program) Variable(name string) (Object, error) {
	addr, err := p.Symbol(name)
	if err != nil {
		return Object{}, err
	}
	t, err := p.variableType(name)
	if err != nil {
		return Object{}, err
	}
	o := p.ObjectAt(t, addr)
	o.path = name
	return o, nil
}

func (p *Program) variableType(name string) (*Type, error) {
	if vt, ok := p.Types.(VariableTyper); ok {
		if t, err := vt.VariableType(name); err == nil {
			return t, nil
		}
	}
	if tn, ok := GlobalType(name); ok {
		return p.Type(tn)
	}
	return nil, fmt.Errorf("%w: type of global %q unknown (no DWARF, and not in kwalk's table of globals)", ErrNoType, name)
}

// Prog returns the program the object belongs to.
func (o Object) Prog() *Program { return o.prog }

// Type returns the object's type (typedefs not stripped).
func (o Object) Type() *Type { return o.typ }

// Path returns the expression that produced the object, for messages.
func (o Object) Path() string { return o.path }

// IsValid reports whether o was produced by a constructor.
func (o Object) IsValid() bool { return o.prog != nil && o.typ != nil }

// Address returns the object's address; ok is false for values.
func (o Object) Address() (addr uint64, ok bool) {
	if o.isValue || o.bitSize != 0 {
		return 0, false
	}
	return o.addr, true
}

// Addr returns the object's address, or 0 for values.
func (o Object) Addr() uint64 {
	a, _ := o.Address()
	return a
}

func (o Object) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", o.path, fmt.Errorf(format, args...))
}

func (o Object) wrap(err error) error {
	return fmt.Errorf("%s: %w", o.path, err)
}

// Member returns a member by path: "se.sum_exec_runtime", "comm",
// "thread_pid->numbers[0].nr", "files.fdt.fd". Pointers to structs met
// along the way are dereferenced automatically ("a.b" where a is a pointer
// reads the pointer), as are "->" separators.
func (o Object) Member(path string) (Object, error) {
	cur := o
	toks, err := splitPath(path)
	if err != nil {
		return Object{}, o.wrap(err)
	}
	for _, tk := range toks {
		if tk.index != nil {
			cur, err = cur.Index(*tk.index)
		} else {
			cur, err = cur.member1(tk.name)
		}
		if err != nil {
			return Object{}, err
		}
	}
	return cur, nil
}

type pathTok struct {
	name  string
	index *int64
}

// splitPath splits "a.b[3]->c" into a, b, [3], c.
func splitPath(path string) ([]pathTok, error) {
	var toks []pathTok
	s := strings.ReplaceAll(path, "->", ".")
	for len(s) > 0 {
		switch s[0] {
		case '.':
			s = s[1:]
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("member path %q: missing ]", path)
			}
			n, err := strconv.ParseInt(strings.TrimSpace(s[1:end]), 0, 64)
			if err != nil {
				return nil, fmt.Errorf("member path %q: bad index %q", path, s[1:end])
			}
			toks = append(toks, pathTok{index: &n})
			s = s[end+1:]
		default:
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			name := strings.TrimSpace(s[:end])
			if name == "" {
				return nil, fmt.Errorf("member path %q: empty member name", path)
			}
			toks = append(toks, pathTok{name: name})
			s = s[end:]
		}
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty member path")
	}
	return toks, nil
}

func (o Object) member1(name string) (Object, error) {
	if !o.IsValid() {
		return Object{}, fmt.Errorf("member %s of an invalid object", name)
	}
	t := o.typ.Resolve()
	if t != nil && t.Kind == KindPointer {
		d, err := o.Deref()
		if err != nil {
			return Object{}, err
		}
		return d.member1(name)
	}
	if t != nil && t.Kind == KindFwd {
		// A compile unit that only declares the struct (DWARF does this for
		// task_struct.files and friends): use the definition from elsewhere.
		t = CompleteType(o.prog.Types, t).Resolve()
	}
	if t == nil || (t.Kind != KindStruct && t.Kind != KindUnion) {
		return Object{}, o.errorf("%w: %s is %s, not a struct or union", ErrNoMember, name, o.typ)
	}
	if o.isValue {
		return Object{}, o.errorf("member %s of a value that is not in memory", name)
	}
	m, ok := t.FindMember(name)
	if !ok {
		return Object{}, o.errorf("%w: %s has no member %q", ErrNoMember, o.typ, name)
	}
	r := Object{prog: o.prog, typ: m.Type, path: o.path + "." + name}
	if m.BitSize != 0 {
		r.addr = o.addr
		r.bitOff = m.BitOffset
		r.bitSize = m.BitSize
	} else {
		r.addr = o.addr + m.Offset
	}
	return r, nil
}

// Deref follows a pointer: the object the pointer points at.
func (o Object) Deref() (Object, error) {
	t := o.typ.Resolve()
	if t == nil || t.Kind != KindPointer {
		return Object{}, o.errorf("dereference of %s, which is not a pointer", o.typ)
	}
	v, err := o.Uint()
	if err != nil {
		return Object{}, err
	}
	if v == 0 {
		return Object{}, o.errorf("NULL pointer dereference")
	}
	if t.Elem == nil || t.Elem.Resolve() == nil || t.Elem.Resolve().Kind == KindVoid {
		return Object{}, o.errorf("dereference of a void pointer")
	}
	return Object{prog: o.prog, typ: CompleteType(o.prog.Types, t.Elem), addr: v, path: "*" + o.path}, nil
}

// Index returns element i of an array, or *(p+i) for a pointer.
func (o Object) Index(i int64) (Object, error) {
	t := o.typ.Resolve()
	if t == nil {
		return Object{}, o.errorf("index of void")
	}
	var base uint64
	switch t.Kind {
	case KindArray:
		if o.isValue {
			return Object{}, o.errorf("index of an array value not in memory")
		}
		if t.Len != 0 && (i < 0 || uint64(i) >= t.Len) {
			return Object{}, o.errorf("index %d out of bounds for %s", i, o.typ)
		}
		base = o.addr
	case KindPointer:
		v, err := o.Uint()
		if err != nil {
			return Object{}, err
		}
		if v == 0 {
			return Object{}, o.errorf("NULL pointer dereference")
		}
		base = v
	default:
		return Object{}, o.errorf("index of %s, which is neither array nor pointer", o.typ)
	}
	elem := CompleteType(o.prog.Types, t.Elem)
	esz := elem.Resolve().sizeOr0()
	return Object{prog: o.prog, typ: elem, addr: base + uint64(i)*esz, path: fmt.Sprintf("%s[%d]", o.path, i)}, nil
}

func (t *Type) sizeOr0() uint64 {
	if t == nil {
		return 0
	}
	return t.Size
}

// Read returns the object's bytes (size of its type).
func (o Object) Read() ([]byte, error) {
	if o.isValue {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint64(b, o.value)
		n := o.typ.Resolve().sizeOr0()
		if n > 8 {
			n = 8
		}
		return b[:n], nil
	}
	n := o.typ.Resolve().sizeOr0()
	if n == 0 {
		return nil, o.errorf("read of %s, which has no size", o.typ)
	}
	if n > 1<<24 {
		return nil, o.errorf("read of %s: size %d too large", o.typ, n)
	}
	b := make([]byte, n)
	if err := o.prog.Mem.ReadVirt(b, o.addr); err != nil {
		return nil, o.wrap(err)
	}
	return b, nil
}

// Uint returns an integer, enum, bool, char or pointer value as uint64
// (bitfields extracted; signed values sign-extended then reinterpreted).
func (o Object) Uint() (uint64, error) {
	if o.bitSize != 0 {
		return o.readBits()
	}
	t := o.typ.Resolve()
	if t == nil {
		return 0, o.errorf("value of void")
	}
	switch t.Kind {
	case KindInt, KindEnum, KindPointer:
	default:
		return 0, o.errorf("%s is not a scalar", o.typ)
	}
	if o.isValue {
		return o.value, nil
	}
	var buf [8]byte
	n := t.Size
	if n == 0 || n > 8 {
		return 0, o.errorf("%s has unsupported size %d", o.typ, n)
	}
	if err := o.prog.Mem.ReadVirt(buf[:n], o.addr); err != nil {
		return 0, o.wrap(err)
	}
	v := binary.LittleEndian.Uint64(buf[:])
	if t.Kind != KindPointer && isSigned(t) && n < 8 {
		shift := 64 - 8*n
		v = uint64(int64(v<<shift) >> shift)
	}
	return v, nil
}

func isSigned(t *Type) bool {
	return t.Kind == KindInt && t.Signed || t.Kind == KindEnum && t.Signed
}

func (o Object) readBits() (uint64, error) {
	first := o.bitOff / 8
	last := (o.bitOff + o.bitSize + 7) / 8
	n := last - first
	if n > 9 || o.bitSize > 64 {
		return 0, o.errorf("bitfield of %d bits unsupported", o.bitSize)
	}
	var buf [16]byte
	if err := o.prog.Mem.ReadVirt(buf[:n], o.addr+first); err != nil {
		return 0, o.wrap(err)
	}
	lo := binary.LittleEndian.Uint64(buf[:8])
	hi := binary.LittleEndian.Uint64(buf[8:])
	sh := o.bitOff % 8
	v := lo >> sh
	if sh != 0 {
		v |= hi << (64 - sh)
	}
	if o.bitSize < 64 {
		v &= (1 << o.bitSize) - 1
		if t := o.typ.Resolve(); t != nil && isSigned(t) && v&(1<<(o.bitSize-1)) != 0 {
			v |= ^uint64(0) << o.bitSize
		}
	}
	return v, nil
}

// Int returns the value as a signed integer.
func (o Object) Int() (int64, error) {
	v, err := o.Uint()
	return int64(v), err
}

// Bool returns whether the scalar value is non-zero.
func (o Object) Bool() (bool, error) {
	v, err := o.Uint()
	return v != 0, err
}

// Float returns a float or double value.
func (o Object) Float() (float64, error) {
	t := o.typ.Resolve()
	if t == nil || t.Kind != KindFloat {
		return 0, o.errorf("%s is not a floating-point type", o.typ)
	}
	b, err := o.Read()
	if err != nil {
		return 0, err
	}
	switch len(b) {
	case 4:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), nil
	case 8:
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	}
	return 0, o.errorf("float of size %d unsupported", len(b))
}

// MaxString bounds string reads.
const MaxString = 4096

// String reads a C string: the contents of a char array (up to its first
// NUL), or the NUL-terminated string a char pointer points at (at most
// MaxString bytes).
func (o Object) String() (string, error) {
	t := o.typ.Resolve()
	if t == nil {
		return "", o.errorf("string of void")
	}
	switch t.Kind {
	case KindArray:
		if o.isValue {
			return "", o.errorf("array value not in memory")
		}
		n := t.Len * t.Elem.Resolve().sizeOr0()
		if n == 0 || n > MaxString {
			n = MaxString
			return o.prog.ReadString(o.addr, int(n))
		}
		b := make([]byte, n)
		if err := o.prog.Mem.ReadVirt(b, o.addr); err != nil {
			return "", o.wrap(err)
		}
		return cstring(b), nil
	case KindPointer:
		v, err := o.Uint()
		if err != nil {
			return "", err
		}
		if v == 0 {
			return "", o.errorf("NULL string pointer")
		}
		s, err := o.prog.ReadString(v, MaxString)
		if err != nil {
			return "", o.wrap(err)
		}
		return s, nil
	}
	return "", o.errorf("%s is not a char array or pointer", o.typ)
}

func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// ReadString reads a NUL-terminated string of at most max bytes at addr,
// reading page by page so a string near the end of a mapping still reads.
func (p *Program) ReadString(addr uint64, max int) (string, error) {
	var out []byte
	for len(out) < max {
		chunk := 256 - int(addr%256)
		if rem := max - len(out); chunk > rem {
			chunk = rem
		}
		b := make([]byte, chunk)
		if err := p.Mem.ReadVirt(b, addr); err != nil {
			if len(out) > 0 {
				return string(out), nil
			}
			return "", err
		}
		for i, c := range b {
			if c == 0 {
				return string(append(out, b[:i]...)), nil
			}
		}
		out = append(out, b...)
		addr += uint64(chunk)
	}
	return string(out), nil
}

// Cast reinterprets the object as another type: a value keeps its bits, an
// object in memory keeps its address.
func (o Object) Cast(typeName string) (Object, error) {
	t, err := o.prog.Type(typeName)
	if err != nil {
		return Object{}, err
	}
	return o.CastTo(t), nil
}

// CastTo is Cast with a resolved type.
func (o Object) CastTo(t *Type) Object {
	r := o
	r.typ = t
	r.path = fmt.Sprintf("((%s)%s)", t, o.path)
	return r
}

// ContainerOf returns the structure of type typeName that contains, at
// member path memberPath, the object o points at (o a pointer value) or o
// itself (o in memory): the kernel's container_of.
func (o Object) ContainerOf(typeName, memberPath string) (Object, error) {
	var addr uint64
	if t := o.typ.Resolve(); t != nil && t.Kind == KindPointer {
		v, err := o.Uint()
		if err != nil {
			return Object{}, err
		}
		addr = v
	} else if a, ok := o.Address(); ok {
		addr = a
	} else {
		return Object{}, o.errorf("container_of a value that is neither a pointer nor in memory")
	}
	return o.prog.ContainerOf(addr, typeName, memberPath)
}

// ContainerOf returns the typeName object whose member memberPath is at addr.
func (p *Program) ContainerOf(addr uint64, typeName, memberPath string) (Object, error) {
	t, err := p.Type(typeName)
	if err != nil {
		return Object{}, err
	}
	off, err := p.OffsetOfType(t, memberPath)
	if err != nil {
		return Object{}, err
	}
	if addr == 0 {
		return Object{}, fmt.Errorf("container_of(NULL, %s, %s)", typeName, memberPath)
	}
	o := p.ObjectAt(t, addr-off)
	o.path = fmt.Sprintf("container_of(%#x, %s, %s)", addr, typeName, memberPath)
	return o, nil
}

// OffsetOf returns the byte offset of memberPath ("a.b.c", "d[2]") in typeName.
func (p *Program) OffsetOf(typeName, memberPath string) (uint64, error) {
	t, err := p.Type(typeName)
	if err != nil {
		return 0, err
	}
	return p.OffsetOfType(t, memberPath)
}

// OffsetOfType is OffsetOf with a resolved type. Pointers are not followed.
func (p *Program) OffsetOfType(t *Type, memberPath string) (uint64, error) {
	toks, err := splitPath(memberPath)
	if err != nil {
		return 0, err
	}
	var off uint64
	cur := t
	for _, tk := range toks {
		r := cur.Resolve()
		if tk.index != nil {
			if r == nil || r.Kind != KindArray {
				return 0, fmt.Errorf("offsetof(%s, %s): index into non-array %s", t, memberPath, cur)
			}
			off += uint64(*tk.index) * r.Elem.Resolve().sizeOr0()
			cur = r.Elem
			continue
		}
		m, ok := cur.FindMember(tk.name)
		if !ok {
			return 0, fmt.Errorf("%w: offsetof(%s, %s): no member %q in %s", ErrNoMember, t, memberPath, tk.name, cur)
		}
		if m.BitSize != 0 {
			return 0, fmt.Errorf("offsetof(%s, %s): %s is a bitfield", t, memberPath, tk.name)
		}
		off += m.Offset
		cur = m.Type
	}
	return off, nil
}

// SizeOf returns the size of a type by name.
func (p *Program) SizeOf(typeName string) (uint64, error) {
	t, err := p.Type(typeName)
	if err != nil {
		return 0, err
	}
	r := t.Resolve()
	if r == nil || r.Size == 0 {
		return 0, fmt.Errorf("sizeof(%s): incomplete type", typeName)
	}
	return r.Size, nil
}

// ReadU64 reads a little-endian u64 at addr.
func (p *Program) ReadU64(addr uint64) (uint64, error) {
	var b [8]byte
	if err := p.Mem.ReadVirt(b[:], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// ReadU32 reads a little-endian u32 at addr.
func (p *Program) ReadU32(addr uint64) (uint32, error) {
	var b [4]byte
	if err := p.Mem.ReadVirt(b[:], addr); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

// MemberUint reads an integer member: o.Member(path).Uint().
func (o Object) MemberUint(path string) (uint64, error) {
	m, err := o.Member(path)
	if err != nil {
		return 0, err
	}
	return m.Uint()
}

// MemberString reads a string member: o.Member(path).String().
func (o Object) MemberString(path string) (string, error) {
	m, err := o.Member(path)
	if err != nil {
		return "", err
	}
	return m.String()
}

// IsNull reports whether a pointer object is NULL.
func (o Object) IsNull() (bool, error) {
	v, err := o.Uint()
	return v == 0, err
}

// ErrCycle is returned by iterators that meet a node twice.
var ErrCycle = errors.New("cycle in list")
