package symbols

import (
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// maxQualifierChain bounds how many const/volatile/restrict/type-tag
// wrappers are stripped in a row; BTF that loops through qualifiers only
// (which cilium/ebpf accepts) ends as void instead of hanging.
const maxQualifierChain = 64

// btfConverter turns cilium/ebpf BTF types into the project's *Type. It
// memoises by BTF type, so one BTF type always yields the same *Type and
// cycles (a struct pointing to itself) terminate: a Type is registered
// before its members are converted. VARs are not memoised (they stand for
// their type), so a VAR whose type leads back to itself is detected
// instead: the conversion fails with an error naming the type id. It is
// not safe for concurrent use; the owner serialises calls.
type btfConverter struct {
	memo map[btf.Type]*Type
	void *Type
	// typeID names a BTF type's id in errors (nil: ids unknown).
	typeID func(btf.Type) (btf.TypeID, bool)

	// State of the conversion under way (see convertChecked).
	err   error      // the first cycle met
	added []btf.Type // memo entries it created
}

func newBTFConverter() *btfConverter {
	return &btfConverter{
		memo: make(map[btf.Type]*Type),
		void: &Type{Kind: KindVoid, Name: "void"},
	}
}

// convertChecked converts bt and reports a reference cycle met on the
// way. A failed conversion leaves nothing memoised, so converting the
// same type again fails the same way.
func (c *btfConverter) convertChecked(bt btf.Type) (*Type, error) {
	c.err, c.added = nil, c.added[:0]
	t := c.convert(bt)
	err := c.err
	if err != nil {
		for _, a := range c.added {
			delete(c.memo, a)
		}
	}
	c.err, c.added = nil, c.added[:0]
	return t, err
}

// describe names a BTF type for errors: kind, name and type id.
func (c *btfConverter) describe(bt btf.Type) string {
	var s string
	switch bt.(type) {
	case *btf.Var:
		s = "VAR"
	case *btf.Const:
		s = "CONST"
	case *btf.Volatile:
		s = "VOLATILE"
	case *btf.Restrict:
		s = "RESTRICT"
	case *btf.TypeTag:
		s = "TYPE_TAG"
	default:
		s = fmt.Sprintf("%T", bt)
	}
	if n := bt.TypeName(); n != "" {
		s += fmt.Sprintf(" %q", n)
	}
	if c.typeID != nil {
		if id, ok := c.typeID(bt); ok {
			s += fmt.Sprintf(" (type id %d)", id)
		}
	}
	return s
}

// skipVars follows VARs and qualifiers to the type they stand for. A chain
// longer than maxQualifierChain is a cycle (BTF that cilium/ebpf accepts
// can loop: a VAR whose type is itself); it gives nil and records the error.
func (c *btfConverter) skipVars(bt btf.Type) btf.Type {
	start := bt
	for i := 0; i < maxQualifierChain; i++ {
		switch q := bt.(type) {
		case *btf.Const:
			bt = q.Type
		case *btf.Volatile:
			bt = q.Type
		case *btf.Restrict:
			bt = q.Type
		case *btf.TypeTag:
			bt = q.Type
		case *btf.Var:
			bt = q.Type
		default:
			return bt
		}
	}
	if c.err == nil {
		c.err = fmt.Errorf("BTF %s refers to itself: more than %d VAR and qualifier links in a row", c.describe(start), maxQualifierChain)
	}
	return nil
}

// stripQualifiers follows const, volatile, restrict and type tags.
func stripQualifiers(t btf.Type) btf.Type {
	for i := 0; i < maxQualifierChain; i++ {
		switch q := t.(type) {
		case *btf.Const:
			t = q.Type
		case *btf.Volatile:
			t = q.Type
		case *btf.Restrict:
			t = q.Type
		case *btf.TypeTag:
			t = q.Type
		default:
			return t
		}
	}
	return nil
}

// sizeOf is btf.Sizeof without the error: 0 for types without a size or
// whose size cannot be computed (cycles, overflow).
func sizeOf(t btf.Type) uint64 {
	if t == nil {
		return 0
	}
	n, err := btf.Sizeof(t)
	if err != nil || n < 0 {
		return 0
	}
	return uint64(n)
}

// convert returns the *Type for a BTF type; a VAR stands for its type.
// Callers outside the converter use convertChecked.
func (c *btfConverter) convert(bt btf.Type) *Type {
	bt = c.skipVars(bt)
	if bt == nil {
		return c.void
	}
	if _, ok := bt.(*btf.Void); ok {
		return c.void
	}
	if t, ok := c.memo[bt]; ok {
		return t
	}
	t := &Type{}
	c.memo[bt] = t
	c.added = append(c.added, bt)
	switch v := bt.(type) {
	case *btf.Int:
		t.Kind = KindInt
		t.Name = v.Name
		t.Size = uint64(v.Size)
		switch {
		case v.Encoding&btf.Bool != 0:
			t.Encoding = IntBool
		case v.Encoding&btf.Char != 0 || isCharName(v.Name):
			t.Encoding = IntChar
			t.Signed = v.Encoding&btf.Signed != 0
		case v.Encoding&btf.Signed != 0:
			t.Encoding = IntSigned
			t.Signed = true
		default:
			t.Encoding = IntUnsigned
		}
	case *btf.Float:
		t.Kind = KindFloat
		t.Name = v.Name
		t.Size = uint64(v.Size)
	case *btf.Pointer:
		t.Kind = KindPointer
		t.Size = pointerSize
		t.Elem = c.convert(v.Target)
	case *btf.Array:
		t.Kind = KindArray
		t.Len = uint64(v.Nelems)
		t.Elem = c.convert(v.Type)
		t.Size = sizeOf(v)
	case *btf.Struct:
		t.Kind = KindStruct
		t.Name = v.Name
		t.Size = uint64(v.Size)
		t.Members = c.members(v.Members)
	case *btf.Union:
		t.Kind = KindUnion
		t.Name = v.Name
		t.Size = uint64(v.Size)
		t.Members = c.members(v.Members)
	case *btf.Enum:
		t.Kind = KindEnum
		t.Name = v.Name
		t.Size = uint64(v.Size)
		t.Signed = v.Signed
		t.Enumerators = make([]Enumerator, len(v.Values))
		for i, ev := range v.Values {
			val := int64(ev.Value)
			if v.Signed && v.Size <= 4 {
				val = int64(int32(uint32(ev.Value)))
			}
			t.Enumerators[i] = Enumerator{Name: ev.Name, Value: val}
		}
	case *btf.Fwd:
		t.Kind = KindFwd
		t.Name = v.Name
		t.Union = v.Kind == btf.FwdUnion
	case *btf.Typedef:
		t.Kind = KindTypedef
		t.Name = v.Name
		t.Elem = c.convert(v.Type)
		t.Size = sizeOf(v)
	case *btf.FuncProto:
		c.funcProto(t, v)
	case *btf.Func:
		if fp, ok := v.Type.(*btf.FuncProto); ok {
			c.funcProto(t, fp)
		} else {
			t.Kind = KindFunc
		}
		t.Name = v.Name
	case *btf.Datasec:
		t.Kind = KindStruct
		t.Name = v.Name
		t.Size = uint64(v.Size)
		for _, vs := range v.Vars {
			name := ""
			var vt btf.Type = vs.Type
			if vv, ok := vs.Type.(*btf.Var); ok {
				name = vv.Name
				vt = vv.Type
			}
			t.Members = append(t.Members, Member{
				Name: name, Type: c.convert(vt),
				Offset: uint64(vs.Offset), BitOffset: uint64(vs.Offset) * 8,
			})
		}
	default:
		// Kinds this model has no use for (decl tags never reach here).
		t.Kind = KindVoid
		t.Name = bt.TypeName()
	}
	return t
}

func (c *btfConverter) funcProto(t *Type, fp *btf.FuncProto) {
	t.Kind = KindFunc
	if r := c.convert(fp.Return); r.Kind != KindVoid {
		t.Elem = r
	}
	for i, p := range fp.Params {
		if _, isVoid := stripQualifiers(p.Type).(*btf.Void); isVoid && p.Name == "" && i == len(fp.Params)-1 {
			t.Variadic = true
			break
		}
		t.Params = append(t.Params, Param{Name: p.Name, Type: c.convert(p.Type)})
	}
}

// members converts struct/union members. A bitfield's Offset is the byte
// offset of its storage unit: the naturally aligned unit of the member's
// type that holds every bit of the field, or the byte holding its first bit
// when no such unit exists (packed structs). BitOffset is always the exact
// bit offset from the start of the struct.
func (c *btfConverter) members(ms []btf.Member) []Member {
	out := make([]Member, len(ms))
	for i, m := range ms {
		mt := c.convert(m.Type)
		bitOff := uint64(m.Offset)
		out[i] = Member{
			Name:      m.Name,
			Type:      mt,
			BitOffset: bitOff,
			BitSize:   uint64(m.BitfieldSize),
			Offset:    storageUnitOffset(bitOff, uint64(m.BitfieldSize), sizeOf(m.Type)),
		}
	}
	return out
}

// storageUnitOffset returns the byte offset at which to read a member: for a
// plain member bitOff/8; for a bitfield the start of the unitSize-aligned
// unit containing all its bits (or bitOff/8 when it straddles one).
func storageUnitOffset(bitOff, bitSize, unitSize uint64) uint64 {
	if bitSize == 0 || unitSize == 0 || unitSize > 16 {
		return bitOff / 8
	}
	unitBits := unitSize * 8
	start := bitOff / unitBits * unitBits
	if bitOff+bitSize <= start+unitBits {
		return start / 8
	}
	return bitOff / 8
}

func isCharName(name string) bool {
	switch name {
	case "char", "signed char", "unsigned char":
		return true
	}
	return false
}
