package walkers

import (
	"encoding/binary"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// field is where a member sits in a struct read as one block of bytes.
type field struct {
	off, size uint64
	ok        bool
}

// fieldOf resolves a dotted member path (no pointers) in t to its offset
// and the size of its type; ok is false when a member is missing or is a
// bitfield.
func fieldOf(t *symbols.Type, path string) field {
	var off uint64
	cur := t
	for _, name := range strings.Split(path, ".") {
		m, found := cur.FindMember(name)
		if !found || m.BitSize != 0 {
			return field{}
		}
		off += m.Offset
		cur = m.Type
	}
	r := cur.Resolve()
	if r == nil {
		return field{}
	}
	return field{off: off, size: r.Size, ok: true}
}

// firstField returns the first of paths that t has.
func firstField(t *symbols.Type, paths ...string) (field, string) {
	for _, p := range paths {
		if f := fieldOf(t, p); f.ok {
			return f, p
		}
	}
	return field{}, ""
}

// uintAt decodes the little-endian integer of f from b (sizes 1-8).
func (f field) uintAt(b []byte) (uint64, bool) {
	if !f.ok || f.size == 0 || f.size > 8 || f.off+f.size > uint64(len(b)) {
		return 0, false
	}
	var buf [8]byte
	copy(buf[:], b[f.off:f.off+f.size])
	return binary.LittleEndian.Uint64(buf[:]), true
}

// intAt decodes a signed integer of f from b.
func (f field) intAt(b []byte) (int64, bool) {
	v, ok := f.uintAt(b)
	if !ok {
		return 0, false
	}
	if sh := 64 - 8*f.size; sh > 0 && sh < 64 {
		return int64(v<<sh) >> sh, true
	}
	return int64(v), true
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// isKernelPointer reports whether v is in the x86_64 kernel half and 8-byte
// aligned (arch/x86/include/asm/page_64_types.h: the kernel half starts at
// 0xffff800000000000 with 4-level paging, lower with 5-level).
func isKernelPointer(v uint64) bool {
	return v >= 0xff00000000000000 && v&7 == 0 && v != ^uint64(7)
}
