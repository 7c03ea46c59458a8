package symbols

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// This file holds the C type-name grammar shared by the BTF and DWARF
// sources: "struct task_struct", "task_struct", "unsigned long",
// "struct page *", "char[16]", "struct list_head **", "unsigned long[]".

// pointerSize is the size of a kernel pointer. kwalk reads 64-bit kernels
// only (x86_64, arm64); neither BTF nor DWARF pointer types carry a size
// BTF can express, so it is fixed here.
const pointerSize = 8

// maxArrayDims bounds how many "[N]" suffixes a spelling may carry.
const maxArrayDims = 8

// tagKind says which keyword preceded a name.
type tagKind int

const (
	tagNone tagKind = iota
	tagStruct
	tagUnion
	tagEnum
)

// typeSpelling is a parsed type name: a base name, then pointer levels,
// then array dimensions (outermost first; -1 for "[]").
type typeSpelling struct {
	tag      tagKind
	base     string // without the keyword; canonical GCC spelling for base types
	pointers int
	dims     []int64
}

// parseTypeSpelling splits a C type name into its parts. Qualifiers
// (const, volatile, restrict) are dropped, as the type model drops them.
func parseTypeSpelling(name string) (typeSpelling, error) {
	var sp typeSpelling
	s := strings.TrimSpace(name)
	if s == "" {
		return sp, fmt.Errorf("%w: empty type name", ErrNoType)
	}
	// Array dimensions, rightmost last: "char[2][3]".
	for strings.HasSuffix(s, "]") {
		open := strings.LastIndexByte(s, '[')
		if open < 0 {
			return sp, fmt.Errorf("%w: %q: unbalanced ']'", ErrNoType, name)
		}
		inner := strings.TrimSpace(s[open+1 : len(s)-1])
		n := int64(-1)
		if inner != "" {
			v, err := strconv.ParseUint(inner, 0, 32)
			if err != nil {
				return sp, fmt.Errorf("%w: %q: bad array length %q", ErrNoType, name, inner)
			}
			n = int64(v)
		}
		if len(sp.dims) >= maxArrayDims {
			return sp, fmt.Errorf("%w: %q: too many array dimensions", ErrNoType, name)
		}
		sp.dims = append([]int64{n}, sp.dims...)
		s = strings.TrimSpace(s[:open])
	}
	// Pointer levels (qualifiers may sit between them: "char * const *").
	for {
		s = strings.TrimSpace(s)
		switch {
		case strings.HasSuffix(s, "*"):
			sp.pointers++
			s = s[:len(s)-1]
			continue
		case hasWordSuffix(s, "const"), hasWordSuffix(s, "volatile"), hasWordSuffix(s, "restrict"):
			s = s[:strings.LastIndexAny(s, " \t*")+1]
			continue
		}
		break
	}
	if sp.pointers > 16 {
		return sp, fmt.Errorf("%w: %q: too many pointer levels", ErrNoType, name)
	}
	var words []string
	for _, w := range strings.Fields(s) {
		switch w {
		case "const", "volatile", "restrict", "__restrict":
			continue
		}
		words = append(words, w)
	}
	if len(words) == 0 {
		return sp, fmt.Errorf("%w: %q: no base type", ErrNoType, name)
	}
	switch words[0] {
	case "struct":
		sp.tag = tagStruct
	case "union":
		sp.tag = tagUnion
	case "enum":
		sp.tag = tagEnum
	}
	if sp.tag != tagNone {
		if len(words) != 2 {
			return sp, fmt.Errorf("%w: %q: expected one name after %q", ErrNoType, name, words[0])
		}
		sp.base = words[1]
		return sp, nil
	}
	sp.base = strings.Join(words, " ")
	return sp, nil
}

// hasWordSuffix reports whether s ends in the word w (preceded by a space,
// a '*' or nothing).
func hasWordSuffix(s, w string) bool {
	if !strings.HasSuffix(s, w) {
		return false
	}
	rest := s[:len(s)-len(w)]
	return rest == "" || strings.HasSuffix(rest, " ") || strings.HasSuffix(rest, "\t") || strings.HasSuffix(rest, "*")
}

// canonicalBaseName returns GCC's spelling of a C integer type written any
// way C allows ("unsigned long" → "long unsigned int"), the spelling both
// BTF (pahole copies it from DWARF) and DWARF use. ok is false when name is
// not made of integer keywords only.
func canonicalBaseName(name string) (string, bool) {
	var signed, unsigned, short, char, intw, boolw bool
	longs := 0
	for _, w := range strings.Fields(name) {
		switch w {
		case "signed", "__signed__":
			signed = true
		case "unsigned":
			unsigned = true
		case "short":
			short = true
		case "long":
			longs++
		case "char":
			char = true
		case "int":
			intw = true
		case "_Bool":
			boolw = true
		default:
			return "", false
		}
	}
	_ = intw
	switch {
	case boolw:
		return "_Bool", true
	case char:
		switch {
		case unsigned:
			return "unsigned char", true
		case signed:
			return "signed char", true
		}
		return "char", true
	case short:
		if unsigned {
			return "short unsigned int", true
		}
		return "short int", true
	case longs >= 2:
		if unsigned {
			return "long long unsigned int", true
		}
		return "long long int", true
	case longs == 1:
		if unsigned {
			return "long unsigned int", true
		}
		return "long int", true
	case unsigned:
		return "unsigned int", true
	}
	return "int", true
}

// baseNameCandidates lists the spellings to try for a base name: as
// written, then GCC's canonical integer spelling.
func baseNameCandidates(base string) []string {
	out := []string{base}
	if c, ok := canonicalBaseName(base); ok && c != base {
		out = append(out, c)
	}
	return out
}

// derivedTypes builds and memoises pointer and array types made from a
// spelling, so that "struct page *" always gives the same *Type.
type derivedTypes struct {
	mu     sync.Mutex
	ptr    map[*Type]*Type
	arrays map[arrayKey]*Type
}

type arrayKey struct {
	elem *Type
	n    int64
}

func (d *derivedTypes) pointerTo(t *Type) *Type {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ptr == nil {
		d.ptr = make(map[*Type]*Type)
	}
	if p, ok := d.ptr[t]; ok {
		return p
	}
	p := &Type{Kind: KindPointer, Size: pointerSize, Elem: t}
	d.ptr[t] = p
	return p
}

func (d *derivedTypes) arrayOf(t *Type, n int64) *Type {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.arrays == nil {
		d.arrays = make(map[arrayKey]*Type)
	}
	k := arrayKey{t, n}
	if a, ok := d.arrays[k]; ok {
		return a
	}
	a := &Type{Kind: KindArray, Elem: t}
	if n > 0 {
		a.Len = uint64(n)
		if es := t.Resolve(); es != nil && es.Size > 0 && uint64(n) <= (1<<62)/es.Size {
			a.Size = uint64(n) * es.Size
		}
	}
	d.arrays[k] = a
	return a
}

// apply wraps base in the spelling's pointers and arrays.
func (d *derivedTypes) apply(base *Type, sp typeSpelling) *Type {
	t := base
	for i := 0; i < sp.pointers; i++ {
		t = d.pointerTo(t)
	}
	for i := len(sp.dims) - 1; i >= 0; i-- {
		t = d.arrayOf(t, sp.dims[i])
	}
	return t
}

// spellingName renders the tag and base back for error messages.
func (sp typeSpelling) baseSpelling() string {
	switch sp.tag {
	case tagStruct:
		return "struct " + sp.base
	case tagUnion:
		return "union " + sp.base
	case tagEnum:
		return "enum " + sp.base
	}
	return sp.base
}

// typeRank orders the candidates for a name: with "struct"/"union"/"enum",
// a complete type before a declaration; without a keyword, a complete struct
// first, then a union, typedef, enum, base type, and a forward declaration
// last. Lower is better; -1 means "not a candidate". fwdUnion applies to
// KindFwd, empty to KindEnum (an enum without enumerators is a declaration).
func typeRank(sp typeSpelling, kind Kind, fwdUnion, empty bool) int {
	switch sp.tag {
	case tagStruct:
		switch {
		case kind == KindStruct:
			return 0
		case kind == KindFwd && !fwdUnion:
			return 1
		}
		return -1
	case tagUnion:
		switch {
		case kind == KindUnion:
			return 0
		case kind == KindFwd && fwdUnion:
			return 1
		}
		return -1
	case tagEnum:
		switch {
		case kind == KindEnum && !empty:
			return 0
		case kind == KindEnum:
			return 1
		}
		return -1
	}
	switch kind {
	case KindStruct:
		return 0
	case KindUnion:
		return 1
	case KindTypedef:
		return 2
	case KindEnum:
		return 3
	case KindInt, KindFloat, KindVoid:
		return 4
	case KindFwd:
		return 5
	}
	return -1
}

// CompleteType returns the definition of a forward-declared struct or
// union: DWARF describes a struct only by declaration in units that never
// include its definition (task_struct.files points to a declared struct
// files_struct in most units), and BTF keeps a few forward declarations
// too. When t (after typedefs) is KindFwd, CompleteType looks its name up
// in ts and returns the complete type; otherwise, or when no definition
// exists, it returns t unchanged. Dereferencing code calls it before
// reading members.
func CompleteType(ts TypeSource, t *Type) *Type {
	r := t.Resolve()
	if r == nil || r.Kind != KindFwd || r.Name == "" || ts == nil {
		return t
	}
	kw := "struct "
	if r.Union {
		kw = "union "
	}
	c, err := ts.LookupType(kw + r.Name)
	if err != nil || c.Kind == KindFwd {
		return t
	}
	return c
}
