package repl

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// Node is a decoded value of a kernel type: the form that struct, p and
// task print, as crash-style text (WriteText) or as JSON (MarshalJSON:
// structs become objects keyed by member name, arrays lists, char arrays
// strings, pointers and addresses "0x..." strings, enums their enumerator
// name, bools true/false, numbers numbers).
type Node struct {
	Name string // member name; "" for array elements and the top
	Type *symbols.Type
	// Value of scalars: the raw bits (sign-extended for signed types).
	Bits uint64
	// Str is a char array's contents, or the string a char pointer points at.
	Str    string
	HasStr bool
	Sym    string // pointer target's symbol, "" if none
	Float  float64
	// Children of a struct, union or array.
	Children []*Node
	// Omitted counts array elements left out (MaxArrayElems).
	Omitted uint64
	Err     string // why the value could not be read
}

// Formatting limits: bounded output for huge arrays and objects.
const (
	MaxArrayElems  = 256
	maxObjectBytes = 1 << 20
	maxDepth       = 32
	maxPtrString   = 128
)

// DecodeObject reads o (a struct, scalar or array in memory) in one read
// and decodes it into a Node tree.
func DecodeObject(o symbols.Object) *Node {
	t := o.Type()
	r := t.Resolve()
	n := &Node{Type: t}
	if r == nil || r.Size == 0 {
		n.Err = fmt.Sprintf("%s has no size", t)
		return n
	}
	if r.Size > maxObjectBytes {
		n.Err = fmt.Sprintf("%s is %d bytes, more than the %d printed", t, r.Size, maxObjectBytes)
		return n
	}
	b, err := o.Read()
	if err != nil {
		// Bitfield members and values have no address: Uint still works.
		if v, uerr := o.Uint(); uerr == nil {
			var buf [8]byte
			binary.LittleEndian.PutUint64(buf[:], v)
			b = buf[:min(int(r.Size), 8)]
		} else {
			n.Err = err.Error()
			return n
		}
	}
	d := decoder{prog: o.Prog()}
	return d.decode("", t, b, 0, 0, 0)
}

type decoder struct {
	prog *symbols.Program
}

// decode decodes type t from b; bitOff/bitSize select a bitfield.
func (d *decoder) decode(name string, t *symbols.Type, b []byte, bitOff, bitSize uint64, depth int) *Node {
	n := &Node{Name: name, Type: t}
	r := t.Resolve()
	if r == nil {
		n.Err = "void"
		return n
	}
	if depth > maxDepth {
		n.Err = "nested too deep"
		return n
	}
	if bitSize != 0 {
		n.Bits = extractBits(b, bitOff, bitSize, isSignedType(r))
		return n
	}
	if uint64(len(b)) < r.Size {
		n.Err = fmt.Sprintf("%d bytes short", r.Size-uint64(len(b)))
		return n
	}
	switch r.Kind {
	case symbols.KindInt, symbols.KindEnum:
		n.Bits = readScalar(b, r.Size, isSignedType(r))
	case symbols.KindPointer:
		n.Bits = readScalar(b, 8, false)
		d.describePointer(n, r)
	case symbols.KindFloat:
		switch r.Size {
		case 4:
			n.Float = float64(math.Float32frombits(binary.LittleEndian.Uint32(b)))
		case 8:
			n.Float = math.Float64frombits(binary.LittleEndian.Uint64(b))
		}
	case symbols.KindStruct, symbols.KindUnion:
		for _, m := range r.Members {
			if m.BitSize != 0 {
				n.Children = append(n.Children, d.decode(m.Name, m.Type, b, m.BitOffset, m.BitSize, depth+1))
				continue
			}
			sz := m.Type.Resolve()
			end := m.Offset
			if sz != nil {
				end += sz.Size
			}
			if m.Offset > uint64(len(b)) || end > uint64(len(b)) {
				n.Children = append(n.Children, &Node{Name: m.Name, Type: m.Type, Err: "beyond the object"})
				continue
			}
			n.Children = append(n.Children, d.decode(m.Name, m.Type, b[m.Offset:end], 0, 0, depth+1))
		}
	case symbols.KindArray:
		et := r.Elem.Resolve()
		if et == nil || et.Size == 0 {
			return n
		}
		if isCharType(et) {
			n.Str, n.HasStr = cString(b[:min(r.Len, uint64(len(b)))]), true
			return n
		}
		cnt := r.Len
		if cnt > MaxArrayElems {
			n.Omitted = cnt - MaxArrayElems
			cnt = MaxArrayElems
		}
		for i := uint64(0); i < cnt; i++ {
			off := i * et.Size
			if off+et.Size > uint64(len(b)) || off+et.Size < off {
				// The array claims more than the object holds (a flexible
				// array member, or inconsistent type information).
				n.Omitted += cnt - i
				break
			}
			n.Children = append(n.Children, d.decode("", r.Elem, b[off:off+et.Size], 0, 0, depth+1))
		}
	}
	return n
}

// describePointer adds the symbol a pointer points at, and the string a
// char pointer points at.
func (d *decoder) describePointer(n *Node, r *symbols.Type) {
	if n.Bits == 0 || d.prog == nil {
		return
	}
	if d.prog.Syms != nil {
		if s, off, ok := d.prog.Syms.LookupAddr(n.Bits); ok && (off == 0 || s.IsText()) {
			n.Sym = d.prog.SymbolizeAddr(n.Bits)
		}
	}
	if et := r.Elem.Resolve(); et != nil && isCharType(et) {
		if s, err := d.prog.ReadString(n.Bits, maxPtrString); err == nil {
			n.Str, n.HasStr = s, true
		}
	}
}

func isCharType(t *symbols.Type) bool {
	return t.Kind == symbols.KindInt && t.Size == 1 && (t.Encoding == symbols.IntChar || t.Name == "char" || t.Name == "signed char" || t.Name == "unsigned char")
}

func isSignedType(t *symbols.Type) bool {
	return (t.Kind == symbols.KindInt || t.Kind == symbols.KindEnum) && t.Signed
}

func readScalar(b []byte, size uint64, signed bool) uint64 {
	var buf [8]byte
	copy(buf[:], b[:min(size, 8)])
	v := binary.LittleEndian.Uint64(buf[:])
	if signed && size < 8 && size > 0 {
		sh := 64 - 8*size
		v = uint64(int64(v<<sh) >> sh)
	}
	return v
}

func extractBits(b []byte, off, size uint64, signed bool) uint64 {
	if size == 0 || size > 64 {
		return 0
	}
	var v uint64
	for i := uint64(0); i < size; i++ {
		bit := off + i
		if bit/8 < uint64(len(b)) && b[bit/8]&(1<<(bit%8)) != 0 {
			v |= 1 << i
		}
	}
	if signed && size < 64 && v&(1<<(size-1)) != 0 {
		v |= ^uint64(0) << size
	}
	return v
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// ScalarText renders a scalar node's value as crash does: decimal integers,
// hex pointers with the symbol, enum names, quoted strings.
func (n *Node) ScalarText() string {
	if n.Err != "" {
		return "<" + n.Err + ">"
	}
	r := n.Type.Resolve()
	if r == nil {
		return "void"
	}
	switch r.Kind {
	case symbols.KindPointer:
		s := fmt.Sprintf("%#x", n.Bits)
		if n.Bits == 0 {
			s = "0x0"
		}
		if n.Sym != "" {
			s += " <" + n.Sym + ">"
		}
		if n.HasStr {
			s += " " + strconv.Quote(n.Str)
		}
		return s
	case symbols.KindEnum:
		for _, e := range r.Enumerators {
			if uint64(e.Value) == n.Bits || (r.Size < 8 && uint64(e.Value)&(1<<(8*r.Size)-1) == n.Bits&(1<<(8*r.Size)-1)) {
				return e.Name
			}
		}
		return strconv.FormatInt(int64(n.Bits), 10)
	case symbols.KindFloat:
		return strconv.FormatFloat(n.Float, 'g', -1, 64)
	case symbols.KindInt:
		switch {
		case r.Encoding == symbols.IntBool:
			if n.Bits != 0 {
				return "true"
			}
			return "false"
		case isCharType(r):
			c := byte(n.Bits)
			if c >= 0x20 && c < 0x7f {
				return fmt.Sprintf("%d '%c'", int8(c), c)
			}
			return strconv.Itoa(int(int8(c)))
		case r.Signed:
			return strconv.FormatInt(int64(n.Bits), 10)
		}
		return strconv.FormatUint(n.Bits, 10)
	case symbols.KindArray:
		if n.HasStr {
			return strconv.Quote(n.Str)
		}
	}
	return "?"
}

// WriteText writes the node crash style ("name = value,"), indent spaces in.
func (n *Node) WriteText(w io.Writer) error {
	var b strings.Builder
	n.text(&b, 0, true)
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

func (n *Node) isCompound() bool {
	if n.Err != "" {
		return false
	}
	r := n.Type.Resolve()
	if r == nil {
		return false
	}
	switch r.Kind {
	case symbols.KindStruct, symbols.KindUnion:
		return true
	case symbols.KindArray:
		return !n.HasStr
	}
	return false
}

// text renders the value (no name) at depth.
func (n *Node) text(b *strings.Builder, depth int, top bool) {
	if !n.isCompound() {
		b.WriteString(n.ScalarText())
		return
	}
	r := n.Type.Resolve()
	ind := strings.Repeat("  ", depth+1)
	if r.Kind == symbols.KindArray {
		// Arrays of scalars on one line, of aggregates one per line.
		if len(n.Children) > 0 && !n.Children[0].isCompound() {
			b.WriteByte('{')
			for i, c := range n.Children {
				if i > 0 {
					b.WriteString(", ")
				}
				c.text(b, depth, false)
			}
			if n.Omitted > 0 {
				fmt.Fprintf(b, ", <%d more>", n.Omitted)
			}
			b.WriteByte('}')
			return
		}
		b.WriteString("{")
		for i, c := range n.Children {
			if i > 0 {
				b.WriteString(", ")
			}
			c.text(b, depth, false)
		}
		if n.Omitted > 0 {
			fmt.Fprintf(b, ", <%d more>", n.Omitted)
		}
		b.WriteString("}")
		return
	}
	if top && n.Name == "" {
		b.WriteString(n.Type.String() + " ")
	}
	b.WriteString("{\n")
	for i, c := range n.Children {
		b.WriteString(ind)
		if c.Name != "" {
			b.WriteString(c.Name + " = ")
		}
		c.text(b, depth+1, false)
		if i < len(n.Children)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(strings.Repeat("  ", depth) + "}")
}

// MarshalJSON implements json.Marshaler (see Node).
func (n *Node) MarshalJSON() ([]byte, error) {
	return json.Marshal(n.jsonValue())
}

func (n *Node) jsonValue() any {
	if n.Err != "" {
		return map[string]string{"error": n.Err}
	}
	r := n.Type.Resolve()
	if r == nil {
		return nil
	}
	switch r.Kind {
	case symbols.KindStruct, symbols.KindUnion:
		m := make(orderedObject, 0, len(n.Children))
		for _, c := range n.Children {
			if c.Name == "" {
				// Anonymous member: hoist its members, as C does.
				if inner, ok := c.jsonValue().(orderedObject); ok {
					m = append(m, inner...)
					continue
				}
			}
			m = append(m, kv{c.Name, c.jsonValue()})
		}
		return m
	case symbols.KindArray:
		if n.HasStr {
			return n.Str
		}
		out := make([]any, 0, len(n.Children))
		for _, c := range n.Children {
			out = append(out, c.jsonValue())
		}
		return out
	case symbols.KindPointer:
		return Hex(n.Bits)
	case symbols.KindEnum:
		return n.ScalarText()
	case symbols.KindFloat:
		return n.Float
	case symbols.KindInt:
		if r.Encoding == symbols.IntBool {
			return n.Bits != 0
		}
		if r.Signed {
			return int64(n.Bits)
		}
		return n.Bits
	}
	return nil
}

// orderedObject is a JSON object that keeps member order.
type orderedObject []kv

type kv struct {
	k string
	v any
}

// MarshalJSON implements json.Marshaler.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}
