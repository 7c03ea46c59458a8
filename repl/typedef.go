package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// TypeDef is a type's definition, the result of "struct NAME", "whatis
// TYPE". JSON: {"name","kind","size","members":[{"name","type","offset",
// "bit_offset","bit_size"}],"enumerators":[{"name","value"}]}; offsets are
// bytes from the start of the type, bit_offset bits.
type TypeDef struct {
	Name        string      `json:"name"`
	Kind        string      `json:"kind"`
	Size        uint64      `json:"size"`
	Target      string      `json:"target,omitempty"` // typedef: what it names
	Members     []MemberDef `json:"members,omitempty"`
	Enumerators []EnumDef   `json:"enumerators,omitempty"`
	// Decl, when set, is a single declaration shown instead of a body
	// ("struct task_struct.pid" gives "pid_t pid;").
	Decl string `json:"decl,omitempty"`
	// Offsets shows member offsets in text (struct -o).
	Offsets bool `json:"-"`
	typ     *symbols.Type
}

// MemberDef is one member in TypeDef.
type MemberDef struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Offset    uint64 `json:"offset"`
	BitOffset uint64 `json:"bit_offset"`
	BitSize   uint64 `json:"bit_size,omitempty"`
}

// EnumDef is one enumerator in TypeDef.
type EnumDef struct {
	Name  string `json:"name"`
	Value int64  `json:"value"`
}

func newTypeDef(t *symbols.Type, offsets bool) TypeDef {
	r := t.Resolve()
	td := TypeDef{Name: t.String(), Kind: t.Kind.String(), Offsets: offsets, typ: t}
	if r != nil {
		td.Size = r.Size
		if t.Kind == symbols.KindTypedef {
			td.Target = r.String()
		}
		for _, m := range flatMembers(r, 0, 0) {
			td.Members = append(td.Members, MemberDef{Name: m.Name, Type: m.Type.String(), Offset: m.Offset, BitOffset: m.BitOffset, BitSize: m.BitSize})
		}
		for _, e := range r.Enumerators {
			td.Enumerators = append(td.Enumerators, EnumDef{e.Name, e.Value})
		}
	}
	return td
}

// flatMembers lists the members of a struct/union with anonymous members'
// members hoisted and offsets made absolute.
func flatMembers(t *symbols.Type, base, bitBase uint64) []symbols.Member {
	var out []symbols.Member
	if t == nil || (t.Kind != symbols.KindStruct && t.Kind != symbols.KindUnion) {
		return nil
	}
	for _, m := range t.Members {
		m.Offset += base
		m.BitOffset += bitBase
		if m.Name == "" {
			if inner := m.Type.Resolve(); inner != nil && (inner.Kind == symbols.KindStruct || inner.Kind == symbols.KindUnion) {
				out = append(out, flatMembers(inner, m.Offset, m.BitOffset)...)
				continue
			}
		}
		out = append(out, m)
	}
	return out
}

// WriteText renders the definition in C, crash style.
func (td TypeDef) WriteText(w io.Writer) error {
	var b strings.Builder
	switch {
	case td.Decl != "":
		b.WriteString(td.Decl + "\n")
	case td.typ != nil && td.typ.Kind == symbols.KindTypedef:
		fmt.Fprintf(&b, "typedef %s;\n", td.typ.Resolve().Declare(td.typ.Name))
		if r := td.typ.Resolve(); r != nil && (r.Kind == symbols.KindStruct || r.Kind == symbols.KindUnion || r.Kind == symbols.KindEnum) {
			writeBody(&b, r, td.Offsets, 0)
			b.WriteString(";\n")
		}
	case td.typ != nil:
		r := td.typ.Resolve()
		switch r.Kind {
		case symbols.KindStruct, symbols.KindUnion, symbols.KindEnum:
			writeBody(&b, r, td.Offsets, 0)
			b.WriteString(";\n")
		default:
			b.WriteString(td.Name + ";\n")
		}
	}
	fmt.Fprintf(&b, "SIZE: %d\n", td.Size)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeBody writes "struct x {\n members \n}" with nested anonymous
// aggregates expanded.
func writeBody(b *strings.Builder, t *symbols.Type, offsets bool, depth int) {
	ind := strings.Repeat("    ", depth)
	if t.Kind == symbols.KindEnum {
		fmt.Fprintf(b, "%s {\n", t.String())
		for _, e := range t.Enumerators {
			fmt.Fprintf(b, "%s    %s = %d,\n", ind, e.Name, e.Value)
		}
		b.WriteString(ind + "}")
		return
	}
	b.WriteString(t.String() + " {\n")
	writeMembers(b, t, 0, offsets, depth+1)
	b.WriteString(ind + "}")
}

func writeMembers(b *strings.Builder, t *symbols.Type, base uint64, offsets bool, depth int) {
	ind := strings.Repeat("    ", depth)
	if depth > 16 {
		b.WriteString(ind + "...\n")
		return
	}
	for _, m := range t.Members {
		prefix := ind
		if offsets {
			prefix = fmt.Sprintf("%s[%#x] ", ind, base+m.Offset)
			if base+m.Offset == 0 {
				prefix = ind + "[0] "
			}
		}
		inner := m.Type.Resolve()
		if m.Name == "" && inner != nil && (inner.Kind == symbols.KindStruct || inner.Kind == symbols.KindUnion) && inner.Name == "" {
			kw := "struct"
			if inner.Kind == symbols.KindUnion {
				kw = "union"
			}
			fmt.Fprintf(b, "%s%s {\n", prefix, kw)
			writeMembers(b, inner, base+m.Offset, offsets, depth+1)
			b.WriteString(ind + "};\n")
			continue
		}
		decl := m.Type.Declare(m.Name)
		if m.BitSize != 0 {
			decl += fmt.Sprintf(" : %d", m.BitSize)
		}
		fmt.Fprintf(b, "%s%s;\n", prefix, decl)
	}
}
