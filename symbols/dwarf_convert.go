package symbols

import (
	"debug/dwarf"
)

// dwarfConverter turns debug/dwarf types into *Type, memoised by the
// dwarf.Type (debug/dwarf itself caches one dwarf.Type per DIE offset), so
// a DIE always yields the same *Type and pointer cycles terminate. A
// struct declaration (DW_AT_declaration) becomes KindFwd: resolve it by
// name through LookupType. Not safe for concurrent use.
type dwarfConverter struct {
	memo map[dwarf.Type]*Type
	void *Type
}

func newDWARFConverter() *dwarfConverter {
	return &dwarfConverter{memo: make(map[dwarf.Type]*Type), void: &Type{Kind: KindVoid, Name: "void"}}
}

func (c *dwarfConverter) convert(dt dwarf.Type) *Type {
	for i := 0; i < maxQualifierChain; i++ {
		q, ok := dt.(*dwarf.QualType)
		if !ok {
			break
		}
		dt = q.Type
	}
	if dt == nil {
		return c.void
	}
	if _, ok := dt.(*dwarf.QualType); ok {
		return c.void
	}
	if _, ok := dt.(*dwarf.VoidType); ok {
		return c.void
	}
	if t, ok := c.memo[dt]; ok {
		return t
	}
	t := &Type{}
	c.memo[dt] = t
	switch v := dt.(type) {
	case *dwarf.IntType:
		c.basic(t, &v.BasicType, IntSigned, true)
	case *dwarf.UintType:
		c.basic(t, &v.BasicType, IntUnsigned, false)
	case *dwarf.CharType:
		c.basic(t, &v.BasicType, IntChar, true)
	case *dwarf.UcharType:
		c.basic(t, &v.BasicType, IntChar, false)
	case *dwarf.BoolType:
		c.basic(t, &v.BasicType, IntBool, false)
	case *dwarf.AddrType:
		c.basic(t, &v.BasicType, IntUnsigned, false)
	case *dwarf.FloatType:
		t.Kind, t.Name, t.Size = KindFloat, v.Name, uint64(max(v.ByteSize, 0))
	case *dwarf.ComplexType:
		t.Kind, t.Name, t.Size = KindFloat, v.Name, uint64(max(v.ByteSize, 0))
	case *dwarf.PtrType:
		t.Kind, t.Size = KindPointer, pointerSize
		t.Elem = c.convert(v.Type)
	case *dwarf.ArrayType:
		t.Kind = KindArray
		t.Elem = c.convert(v.Type)
		if v.Count > 0 {
			t.Len = uint64(v.Count)
		}
		if v.ByteSize > 0 {
			t.Size = uint64(v.ByteSize)
		} else if es := t.Elem.Resolve(); es != nil && t.Len > 0 && es.Size > 0 && t.Len <= (1<<62)/es.Size {
			t.Size = t.Len * es.Size
		}
	case *dwarf.StructType:
		c.structType(t, v)
	case *dwarf.EnumType:
		t.Kind, t.Name, t.Size = KindEnum, v.EnumName, uint64(max(v.ByteSize, 0))
		t.Enumerators = make([]Enumerator, len(v.Val))
		for i, ev := range v.Val {
			t.Enumerators[i] = Enumerator{Name: ev.Name, Value: ev.Val}
			if ev.Val < 0 {
				t.Signed = true
			}
		}
	case *dwarf.TypedefType:
		t.Kind, t.Name = KindTypedef, v.Name
		t.Elem = c.convert(v.Type)
		if r := t.Elem.Resolve(); r != nil {
			t.Size = r.Size
		}
	case *dwarf.FuncType:
		t.Kind = KindFunc
		if r := c.convert(v.ReturnType); r.Kind != KindVoid {
			t.Elem = r
		}
		for _, p := range v.ParamType {
			if _, ok := p.(*dwarf.DotDotDotType); ok {
				t.Variadic = true
				continue
			}
			t.Params = append(t.Params, Param{Type: c.convert(p)})
		}
	case *dwarf.UnspecifiedType:
		t.Kind, t.Name = KindVoid, v.Name
	default:
		t.Kind, t.Name = KindVoid, dt.String()
	}
	return t
}

func (c *dwarfConverter) basic(t *Type, b *dwarf.BasicType, enc IntEncoding, signed bool) {
	t.Kind, t.Name, t.Encoding, t.Signed = KindInt, b.Name, enc, signed
	t.Size = uint64(max(b.ByteSize, 0))
	if enc == IntChar && !isCharName(b.Name) {
		// DW_ATE_signed_char/unsigned_char on a non-char name (e.g. int8_t
		// as a base type): keep it an integer.
		t.Encoding = IntSigned
		if !signed {
			t.Encoding = IntUnsigned
		}
	}
}

func (c *dwarfConverter) structType(t *Type, v *dwarf.StructType) {
	switch v.Kind {
	case "union":
		t.Kind = KindUnion
	default:
		t.Kind = KindStruct
	}
	t.Name = v.StructName
	if v.Incomplete {
		t.Union = t.Kind == KindUnion
		t.Kind = KindFwd
		return
	}
	t.Size = uint64(max(v.ByteSize, 0))
	t.Members = make([]Member, 0, len(v.Field))
	for _, f := range v.Field {
		mt := c.convert(f.Type)
		m := Member{Name: f.Name, Type: mt}
		byteOff := uint64(max(f.ByteOffset, 0))
		switch {
		case f.BitSize == 0:
			m.Offset, m.BitOffset = byteOff, byteOff*8
		case f.BitOffset != 0:
			// DWARF 2/3 DW_AT_bit_offset counts from the most significant bit
			// of a storage unit of DW_AT_byte_size at DW_AT_data_member_location;
			// on little-endian machines the field's first bit is:
			unitBits := uint64(max(f.ByteSize, 0)) * 8
			if unitBits == 0 {
				unitBits = mt.Resolve().Size * 8
			}
			m.BitOffset = byteOff*8 + unitBits - uint64(f.BitOffset) - uint64(f.BitSize)
			m.BitSize = uint64(f.BitSize)
		default:
			// DW_AT_data_bit_offset: bits from the start of the struct.
			m.BitOffset = uint64(max(f.DataBitOffset, 0)) + byteOff*8
			m.BitSize = uint64(f.BitSize)
		}
		if m.BitSize != 0 {
			m.Offset = storageUnitOffset(m.BitOffset, m.BitSize, mt.Resolve().Size)
		}
		t.Members = append(t.Members, m)
	}
}
