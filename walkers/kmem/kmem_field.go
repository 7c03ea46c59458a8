package kmem

import (
	"encoding/binary"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// Field is where a member sits in a struct read as one block of bytes.
type Field struct {
	Off, Size uint64
	OK        bool
}

// FieldOf resolves a dotted member path (no pointers) in t to its offset
// and the size of its type; ok is false when a member is missing or is a
// bitfield.
func FieldOf(t *symbols.Type, path string) Field {
	var off uint64
	cur := t
	for _, name := range strings.Split(path, ".") {
		m, found := cur.FindMember(name)
		if !found || m.BitSize != 0 {
			return Field{}
		}
		off += m.Offset
		cur = m.Type
	}
	r := cur.Resolve()
	if r == nil {
		return Field{}
	}
	return Field{Off: off, Size: r.Size, OK: true}
}

// FirstField returns the first of paths that t has.
func FirstField(t *symbols.Type, paths ...string) (Field, string) {
	for _, p := range paths {
		if f := FieldOf(t, p); f.OK {
			return f, p
		}
	}
	return Field{}, ""
}

// UintAt decodes the little-endian integer of f from b (sizes 1-8).
func (f Field) UintAt(b []byte) (uint64, bool) {
	if !f.OK || f.Size == 0 || f.Size > 8 || f.Off+f.Size > uint64(len(b)) {
		return 0, false
	}
	var buf [8]byte
	copy(buf[:], b[f.Off:f.Off+f.Size])
	return binary.LittleEndian.Uint64(buf[:]), true
}

// IntAt decodes a signed integer of f from b.
func (f Field) IntAt(b []byte) (int64, bool) {
	v, ok := f.UintAt(b)
	if !ok {
		return 0, false
	}
	if sh := 64 - 8*f.Size; sh > 0 && sh < 64 {
		return int64(v<<sh) >> sh, true
	}
	return int64(v), true
}

func CString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// IsKernelPointer reports whether v is in the x86_64 kernel half and 8-byte
// aligned (arch/x86/include/asm/page_64_types.h: the kernel half starts at
// 0xffff800000000000 with 4-level paging, lower with 5-level).
func IsKernelPointer(v uint64) bool {
	return v >= 0xff00000000000000 && v&7 == 0 && v != ^uint64(7)
}
