package symtest

import "github.com/kwalk/kwalk/symbols"

// Field is a member laid out by Layout, LayoutInto and Union: its offset
// follows from the members before it and natural alignment, as a C
// compiler for x86_64 would place it.
type Field struct {
	Name string // "" for an anonymous struct or union member
	Type *symbols.Type
}

// M makes a Field (a member placed by Layout).
func M(name string, ty *symbols.Type) Field { return Field{Name: name, Type: ty} }

// Int returns an integer type.
func Int(name string, size uint64, signed bool) *symbols.Type {
	return &symbols.Type{Kind: symbols.KindInt, Name: name, Size: size, Signed: signed}
}

// Ptr returns a pointer to elem (nil elem: void *).
func Ptr(elem *symbols.Type) *symbols.Type {
	if elem == nil {
		elem = &symbols.Type{Kind: symbols.KindVoid, Name: "void"}
	}
	return &symbols.Type{Kind: symbols.KindPointer, Size: 8, Elem: elem}
}

// Array returns elem[n].
func Array(elem *symbols.Type, n uint64) *symbols.Type {
	return &symbols.Type{Kind: symbols.KindArray, Size: elem.Resolve().Size * n, Elem: elem, Len: n}
}

// Layout returns (without registering it) struct name with fields at their
// natural alignment; name "" makes an anonymous struct.
func Layout(name string, fields ...Field) *symbols.Type {
	return LayoutInto(&symbols.Type{Kind: symbols.KindStruct, Name: name}, fields)
}

// LayoutInto lays fields out in an already allocated struct: declare the
// struct first, point members at it, then fill it (self-referencing and
// mutually referencing types).
func LayoutInto(t *symbols.Type, fields []Field) *symbols.Type {
	var off, maxAlign uint64 = 0, 1
	for _, f := range fields {
		a := alignOf(f.Type)
		maxAlign = max(maxAlign, a)
		off = (off + a - 1) / a * a
		t.Members = append(t.Members, symbols.Member{Name: f.Name, Type: f.Type, Offset: off, BitOffset: off * 8})
		off += f.Type.Resolve().Size
	}
	t.Size = (off + maxAlign - 1) / maxAlign * maxAlign
	return t
}

// Union returns (without registering it) union name of fields, all at
// offset 0; name "" makes an anonymous union.
func Union(name string, fields ...Field) *symbols.Type {
	t := &symbols.Type{Kind: symbols.KindUnion, Name: name}
	var size, maxAlign uint64 = 0, 1
	for _, f := range fields {
		t.Members = append(t.Members, symbols.Member{Name: f.Name, Type: f.Type})
		size = max(size, f.Type.Resolve().Size)
		maxAlign = max(maxAlign, alignOf(f.Type))
	}
	t.Size = (size + maxAlign - 1) / maxAlign * maxAlign
	return t
}

// alignOf is t's natural alignment on x86_64: its size for scalars up to 8
// bytes, its strictest member's for aggregates.
func alignOf(t *symbols.Type) uint64 {
	r := t.Resolve()
	switch r.Kind {
	case symbols.KindArray:
		return alignOf(r.Elem)
	case symbols.KindStruct, symbols.KindUnion:
		a := uint64(1)
		for _, m := range r.Members {
			a = max(a, alignOf(m.Type))
		}
		return a
	}
	switch {
	case r.Size == 0:
		return 1
	case r.Size > 8:
		return 8
	}
	return r.Size
}
