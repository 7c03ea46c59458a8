package symbols

import (
	"fmt"
	"strings"
)

// Kind classifies a Type.
type Kind int

const (
	KindVoid Kind = iota
	KindInt       // integers, chars and bool (Encoding says which)
	KindFloat
	KindPointer
	KindArray
	KindStruct
	KindUnion
	KindEnum
	KindTypedef
	KindFunc // a function prototype
	KindFwd  // forward declaration of a struct/union with no body in this source
)

var kindNames = [...]string{"void", "int", "float", "pointer", "array", "struct", "union", "enum", "typedef", "func", "fwd"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// IntEncoding refines KindInt.
type IntEncoding uint8

const (
	IntUnsigned IntEncoding = iota
	IntSigned
	IntChar // char: signedness in Signed
	IntBool
)

// Type is one kernel type. Types are built by a TypeSource (BTF or DWARF) and
// are immutable afterwards; share them freely. Qualifiers (const, volatile,
// restrict) and BTF type tags are dropped when a source builds its types.
type Type struct {
	Kind Kind
	Name string // "task_struct" (no "struct " prefix), "u64", "" when anonymous
	Size uint64 // bytes; 0 for void, func and incomplete types

	// KindInt
	Encoding IntEncoding
	Signed   bool

	// KindPointer, KindArray, KindTypedef: the target/element type.
	// KindEnum: nil. KindFunc: the return type (nil for void).
	Elem *Type
	// KindArray: number of elements (0 for a flexible array member).
	Len uint64

	// KindStruct, KindUnion
	Members []Member
	// KindEnum
	Enumerators []Enumerator
	// KindFunc
	Params   []Param
	Variadic bool
	// KindFwd: Union tells whether it was declared "union X".
	Union bool
}

// Member is a struct/union member. Anonymous struct/union members have an
// empty Name; lookups search through them.
type Member struct {
	Name      string
	Type      *Type
	Offset    uint64 // byte offset of the member (of the storage unit for bitfields)
	BitOffset uint64 // bit offset from the start of the containing struct (Offset*8 unless a bitfield)
	BitSize   uint64 // 0 unless a bitfield
}

// Enumerator is one value of an enum.
type Enumerator struct {
	Name  string
	Value int64
}

// Param is one parameter of a function prototype.
type Param struct {
	Name string
	Type *Type
}

// Resolve strips typedefs.
func (t *Type) Resolve() *Type {
	for i := 0; t != nil && t.Kind == KindTypedef && i < 64; i++ {
		t = t.Elem
	}
	return t
}

// IsAggregate reports whether t (after typedefs) is a struct or union.
func (t *Type) IsAggregate() bool {
	r := t.Resolve()
	return r != nil && (r.Kind == KindStruct || r.Kind == KindUnion)
}

// String returns the C spelling of the type, e.g. "struct task_struct *".
func (t *Type) String() string {
	return t.Declare("")
}

// Declare returns a C declaration of name with type t, e.g.
// Declare("comm") on char[16] gives "char comm[16]". Types that refer to
// themselves without a name in between (a pointer to itself, from damaged
// debug info) end in "<cycle>" instead of recursing forever.
func (t *Type) Declare(name string) string {
	budget := maxDeclareNodes
	return t.declare(name, 0, &budget)
}

// Bounds of Declare: declarator nesting, and types visited in all (a
// function type's parameters branch).
const (
	maxDeclareDepth = 32
	maxDeclareNodes = 256
)

func (t *Type) declare(name string, depth int, budget *int) string {
	if t == nil {
		return joinDecl("void", name)
	}
	*budget--
	if depth > maxDeclareDepth || *budget < 0 {
		return joinDecl("<cycle>", name)
	}
	switch t.Kind {
	case KindVoid:
		return joinDecl("void", name)
	case KindStruct, KindUnion, KindEnum, KindFwd:
		return joinDecl(t.tagName(), name)
	case KindPointer:
		inner := "*" + name
		if e := t.Elem; e != nil && (e.Kind == KindArray || e.Kind == KindFunc) {
			inner = "(" + inner + ")"
		}
		return t.Elem.declare(inner, depth+1, budget)
	case KindArray:
		if t.Len == 0 {
			return t.Elem.declare(name+"[]", depth+1, budget)
		}
		return t.Elem.declare(fmt.Sprintf("%s[%d]", name, t.Len), depth+1, budget)
	case KindFunc:
		var ps []string
		for _, p := range t.Params {
			ps = append(ps, p.Type.declare(p.Name, depth+1, budget))
		}
		if t.Variadic {
			ps = append(ps, "...")
		}
		if len(ps) == 0 {
			ps = []string{"void"}
		}
		return t.Elem.declare(name+"("+strings.Join(ps, ", ")+")", depth+1, budget)
	default:
		if t.Name == "" {
			return joinDecl("<anonymous "+t.Kind.String()+">", name)
		}
		return joinDecl(t.Name, name)
	}
}

func (t *Type) tagName() string {
	kw := "struct"
	switch {
	case t.Kind == KindUnion, t.Kind == KindFwd && t.Union:
		kw = "union"
	case t.Kind == KindEnum:
		kw = "enum"
	}
	if t.Name == "" {
		return kw + " {...}"
	}
	return kw + " " + t.Name
}

func joinDecl(base, name string) string {
	if name == "" {
		return base
	}
	if strings.HasPrefix(name, "*") {
		return base + " " + name
	}
	return base + " " + name
}

// FindMember looks a member up by name in a struct or union (after typedefs),
// searching anonymous members recursively. The returned Member's offsets are
// relative to t.
func (t *Type) FindMember(name string) (Member, bool) {
	r := t.Resolve()
	if r == nil || (r.Kind != KindStruct && r.Kind != KindUnion) {
		return Member{}, false
	}
	return findMember(r, name, 0)
}

func findMember(t *Type, name string, depth int) (Member, bool) {
	if depth > 16 {
		return Member{}, false
	}
	for _, m := range t.Members {
		if m.Name == name {
			return m, true
		}
	}
	for _, m := range t.Members {
		if m.Name != "" {
			continue
		}
		inner := m.Type.Resolve()
		if inner == nil || (inner.Kind != KindStruct && inner.Kind != KindUnion) {
			continue
		}
		if found, ok := findMember(inner, name, depth+1); ok {
			found.Offset += m.Offset
			found.BitOffset += m.BitOffset
			return found, true
		}
	}
	return Member{}, false
}

// HasMember reports whether t has a member called name (searching anonymous
// members). It is the primitive for feature detection:
// taskType.HasMember("__state").
func (t *Type) HasMember(name string) bool {
	_, ok := t.FindMember(name)
	return ok
}

// EnumValue returns the value of enumerator name in enum t.
func (t *Type) EnumValue(name string) (int64, bool) {
	r := t.Resolve()
	if r == nil || r.Kind != KindEnum {
		return 0, false
	}
	for _, e := range r.Enumerators {
		if e.Name == name {
			return e.Value, true
		}
	}
	return 0, false
}

// TypeSource finds types by name. BTF and DWARF implement it.
type TypeSource interface {
	// LookupType finds a type by C name: "struct task_struct", "union
	// thread_union", "enum pid_type", "task_struct" (any of struct, union,
	// enum or typedef with that name, preferring a complete struct), "u64",
	// "unsigned long", or pointer/array spellings "struct page *", "char[16]".
	// A missing type gives an error wrapping ErrNoType that names it.
	LookupType(name string) (*Type, error)
	// TypeNames returns the names a user could complete on, sorted, each as
	// spelled for LookupType ("struct task_struct", "u64"...).
	TypeNames() []string
	// Describe names the source for messages ("BTF from dump memory (vmlinux + 43 modules)").
	Describe() string
}
