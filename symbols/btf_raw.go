package symbols

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The raw BTF layout (include/uapi/linux/btf.h): a header, a type section of
// variable-length records and a string section. Only what the name listing
// and the header check need is decoded here; cilium/ebpf decodes types.

const (
	btfMagic     = 0xeB9F
	btfHeaderLen = 24
	// maxBTFSize bounds a BTF blob read from memory or a file: the 6.x
	// vmlinux BTF is 4–6 MiB; anything this large is a lying header.
	maxBTFSize = 256 << 20
)

// BTF kinds (include/uapi/linux/btf.h).
const (
	btfKindInt       = 1
	btfKindPtr       = 2
	btfKindArray     = 3
	btfKindStruct    = 4
	btfKindUnion     = 5
	btfKindEnum      = 6
	btfKindFwd       = 7
	btfKindTypedef   = 8
	btfKindVolatile  = 9
	btfKindConst     = 10
	btfKindRestrict  = 11
	btfKindFunc      = 12
	btfKindFuncProto = 13
	btfKindVar       = 14
	btfKindDatasec   = 15
	btfKindFloat     = 16
	btfKindDeclTag   = 17
	btfKindTypeTag   = 18
	btfKindEnum64    = 19
)

// btfHeader is struct btf_header.
type btfHeader struct {
	Magic   uint16
	Version uint8
	Flags   uint8
	HdrLen  uint32
	TypeOff uint32
	TypeLen uint32
	StrOff  uint32
	StrLen  uint32
}

// parseBTFHeader decodes and checks a BTF header; it returns the byte
// order and the total blob size the header claims.
func parseBTFHeader(raw []byte) (btfHeader, binary.ByteOrder, uint64, error) {
	var h btfHeader
	if len(raw) < btfHeaderLen {
		return h, nil, 0, fmt.Errorf("BTF blob of %d bytes is shorter than its header", len(raw))
	}
	var bo binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint16(raw) == btfMagic:
		bo = binary.LittleEndian
	case binary.BigEndian.Uint16(raw) == btfMagic:
		bo = binary.BigEndian
	default:
		return h, nil, 0, fmt.Errorf("bad BTF magic %#04x", binary.LittleEndian.Uint16(raw))
	}
	h.Magic = btfMagic
	h.Version = raw[2]
	h.Flags = raw[3]
	h.HdrLen = bo.Uint32(raw[4:])
	h.TypeOff = bo.Uint32(raw[8:])
	h.TypeLen = bo.Uint32(raw[12:])
	h.StrOff = bo.Uint32(raw[16:])
	h.StrLen = bo.Uint32(raw[20:])
	if h.Version != 1 {
		return h, nil, 0, fmt.Errorf("unsupported BTF version %d", h.Version)
	}
	if h.HdrLen < btfHeaderLen || h.HdrLen > 4096 {
		return h, nil, 0, fmt.Errorf("bad BTF header length %d", h.HdrLen)
	}
	end := uint64(h.HdrLen) + max(uint64(h.TypeOff)+uint64(h.TypeLen), uint64(h.StrOff)+uint64(h.StrLen))
	if end > maxBTFSize {
		return h, nil, 0, fmt.Errorf("BTF header claims %d bytes (limit %d)", end, maxBTFSize)
	}
	return h, bo, end, nil
}

// btfStrings returns the string section of a raw blob.
func btfStrings(raw []byte) ([]byte, error) {
	h, _, end, err := parseBTFHeader(raw)
	if err != nil {
		return nil, err
	}
	if end > uint64(len(raw)) {
		return nil, fmt.Errorf("BTF blob truncated: %d bytes, header claims %d", len(raw), end)
	}
	off := uint64(h.HdrLen) + uint64(h.StrOff)
	return raw[off : off+uint64(h.StrLen)], nil
}

// btfRawNames lists the named types of a raw BTF blob as spelled for
// LookupType ("struct task_struct", "u64"). base holds the base blob's
// string section for split BTF (nil otherwise).
func btfRawNames(raw, baseStrs []byte) ([]string, error) {
	h, bo, end, err := parseBTFHeader(raw)
	if err != nil {
		return nil, err
	}
	if end > uint64(len(raw)) {
		return nil, fmt.Errorf("BTF blob truncated: %d bytes, header claims %d", len(raw), end)
	}
	toff := uint64(h.HdrLen) + uint64(h.TypeOff)
	types := raw[toff : toff+uint64(h.TypeLen)]
	soff := uint64(h.HdrLen) + uint64(h.StrOff)
	strs := raw[soff : soff+uint64(h.StrLen)]
	str := func(off uint32) string {
		s := strs
		o := uint64(off)
		if baseStrs != nil {
			if o < uint64(len(baseStrs)) {
				s = baseStrs
			} else {
				o -= uint64(len(baseStrs))
			}
		}
		if o >= uint64(len(s)) {
			return ""
		}
		b := s[o:]
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		return string(b)
	}
	var names []string
	for pos := uint64(0); pos < uint64(len(types)); {
		if pos+12 > uint64(len(types)) {
			return names, fmt.Errorf("BTF type record at type-section offset %d truncated", pos)
		}
		nameOff := bo.Uint32(types[pos:])
		info := bo.Uint32(types[pos+4:])
		vlen := uint64(info & 0xffff)
		kind := (info >> 24) & 0x1f
		kflag := info>>31 != 0
		pos += 12
		var extra uint64
		switch kind {
		case btfKindInt, btfKindVar, btfKindDeclTag:
			extra = 4
		case btfKindArray:
			extra = 12
		case btfKindStruct, btfKindUnion, btfKindDatasec, btfKindEnum64:
			extra = 12 * vlen
		case btfKindEnum, btfKindFuncProto:
			extra = 8 * vlen
		case btfKindPtr, btfKindFwd, btfKindTypedef, btfKindVolatile, btfKindConst,
			btfKindRestrict, btfKindFunc, btfKindFloat, btfKindTypeTag:
		default:
			return names, fmt.Errorf("BTF type record at type-section offset %d: unknown kind %d", pos-12, kind)
		}
		pos += extra
		if nameOff == 0 {
			continue
		}
		var prefix string
		switch kind {
		case btfKindStruct:
			prefix = "struct "
		case btfKindUnion:
			prefix = "union "
		case btfKindEnum, btfKindEnum64:
			prefix = "enum "
		case btfKindFwd:
			prefix = "struct "
			if kflag {
				prefix = "union "
			}
		case btfKindInt, btfKindTypedef, btfKindFloat:
		default:
			continue
		}
		if n := str(nameOff); n != "" {
			names = append(names, prefix+n)
		}
	}
	return names, nil
}
