package symbols

import (
	"github.com/cilium/ebpf/btf"
)

// maxQualifierChain bounds how many const/volatile/restrict/type-tag
// wrappers are stripped in a row; BTF that loops through qualifiers only
// (which cilium/ebpf accepts) ends as void instead of hanging.
const maxQualifierChain = 64

// btfConverter turns cilium/ebpf BTF types into the project's *Type. It
// memoises by BTF type, so one BTF type always yields the same *Type and
// cycles (a struct pointing to itself) terminate: a Type is registered
// before its members are converted. It is not safe for concurrent use; the
// owner serialises calls.
type btfConverter struct {
	memo map[btf.Type]*Type
	void *Type
}

func newBTFConverter() *btfConverter {
	return &btfConverter{
		memo: make(map[btf.Type]*Type),
		void: &Type{Kind: KindVoid, Name: "void"},
	}
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

// convert returns the *Type for a BTF type.
func (c *btfConverter) convert(bt btf.Type) *Type {
	bt = stripQualifiers(bt)
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
	case *btf.Var:
		// A variable stands for its type; only VariableType reaches here.
		delete(c.memo, bt)
		return c.convert(v.Type)
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
