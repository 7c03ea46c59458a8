package symbols

import (
	"bytes"
	"debug/dwarf"
	"encoding/binary"
	"errors"
	"fmt"
)

// skimScanner reads the top-level DIEs of .debug_info directly, decoding
// only the attributes the index needs (name, declaration, type,
// specification, sibling) and skipping every other value by its form. It
// allocates nothing per DIE, which makes indexing all of a vmlinux's units
// several times faster than debug/dwarf's Reader. It serves mapped,
// unrelocated files (vmlinux); relocatable modules use readerScanner.
// Forms are those of DWARF 2–5 (DWARF5 §7.5.6) plus the GNU extensions GCC
// emits.
type skimScanner struct {
	info, abbrev, str, lineStr, strOffsets []byte
	next                                   uint64 // offset of the next unit
	// The last abbreviation table parsed: units rarely share tables (GCC
	// writes one per unit), so keeping more only holds memory.
	lastAbbrevOff uint64
	lastAbbrev    *skimAbbrevTable
}

type skimAbbrev struct {
	tag      dwarf.Tag
	children bool
	attrs    []skimAttr
}

type skimAttr struct {
	attr     dwarf.Attr
	form     uint64
	implicit int64
}

type skimAbbrevTable struct {
	small []*skimAbbrev // by code, for codes < len(small)
	large map[uint64]*skimAbbrev
}

func (t *skimAbbrevTable) get(code uint64) *skimAbbrev {
	if code < uint64(len(t.small)) {
		return t.small[code]
	}
	return t.large[code]
}

// DWARF form codes (DWARF5 §7.5.6, GNU extensions).
const (
	formAddr          = 0x01
	formBlock2        = 0x03
	formBlock4        = 0x04
	formData2         = 0x05
	formData4         = 0x06
	formData8         = 0x07
	formString        = 0x08
	formBlock         = 0x09
	formBlock1        = 0x0a
	formData1         = 0x0b
	formFlag          = 0x0c
	formSdata         = 0x0d
	formStrp          = 0x0e
	formUdata         = 0x0f
	formRefAddr       = 0x10
	formRef1          = 0x11
	formRef2          = 0x12
	formRef4          = 0x13
	formRef8          = 0x14
	formRefUdata      = 0x15
	formIndirect      = 0x16
	formSecOffset     = 0x17
	formExprloc       = 0x18
	formFlagPresent   = 0x19
	formStrx          = 0x1a
	formAddrx         = 0x1b
	formRefSup4       = 0x1c
	formStrpSup       = 0x1d
	formData16        = 0x1e
	formLineStrp      = 0x1f
	formRefSig8       = 0x20
	formImplicitConst = 0x21
	formLoclistx      = 0x22
	formRnglistx      = 0x23
	formRefSup8       = 0x24
	formStrx1         = 0x25
	formStrx2         = 0x26
	formStrx3         = 0x27
	formStrx4         = 0x28
	formAddrx1        = 0x29
	formAddrx2        = 0x2a
	formAddrx3        = 0x2b
	formAddrx4        = 0x2c
	formGNUAddrIndex  = 0x1f01
	formGNUStrIndex   = 0x1f02
	formGNURefAlt     = 0x1f20
	formGNUStrpAlt    = 0x1f21
)

var errSkimTruncated = errors.New("truncated DIE data")

// skimUnit is the state of one unit being read.
type skimUnit struct {
	s          *skimScanner
	base       uint64 // offset of the unit header
	end        uint64
	version    uint16
	offSize    int // 4 or 8 (DWARF64)
	addrSize   int
	strOffBase uint64
	hasStrOff  bool
	abbrevs    *skimAbbrevTable
}

func (s *skimScanner) scanUnit(x *dwarfIndex) (bool, error) {
	if s.next >= uint64(len(s.info)) {
		return true, nil
	}
	u := skimUnit{s: s, base: s.next}
	p := s.next
	le := binary.LittleEndian
	if p+4 > uint64(len(s.info)) {
		return false, fmt.Errorf("unit at %#x: %w", p, errSkimTruncated)
	}
	length := uint64(le.Uint32(s.info[p:]))
	p += 4
	u.offSize = 4
	if length == 0xffffffff {
		if p+8 > uint64(len(s.info)) {
			return false, fmt.Errorf("unit at %#x: %w", u.base, errSkimTruncated)
		}
		length = le.Uint64(s.info[p:])
		p += 8
		u.offSize = 8
	} else if length >= 0xfffffff0 {
		return false, fmt.Errorf("unit at %#x: reserved length %#x", u.base, length)
	}
	if length > uint64(len(s.info))-p {
		return false, fmt.Errorf("unit at %#x: length %#x past the end of .debug_info", u.base, length)
	}
	u.end = p + length
	s.next = u.end
	b := s.info[:u.end]
	if p+2 > u.end {
		return false, fmt.Errorf("unit at %#x: %w", u.base, errSkimTruncated)
	}
	u.version = le.Uint16(b[p:])
	p += 2
	var abbrevOff uint64
	unitType := byte(1) // DW_UT_compile
	switch {
	case u.version >= 2 && u.version <= 4:
		abbrevOff, p = u.offset(b, p)
		if p >= u.end {
			return false, fmt.Errorf("unit at %#x: %w", u.base, errSkimTruncated)
		}
		u.addrSize = int(b[p])
		p++
	case u.version == 5:
		if p+2 > u.end {
			return false, fmt.Errorf("unit at %#x: %w", u.base, errSkimTruncated)
		}
		unitType, u.addrSize = b[p], int(b[p+1])
		p += 2
		abbrevOff, p = u.offset(b, p)
		switch unitType {
		case 4, 5: // DW_UT_skeleton, DW_UT_split_compile: dwo_id
			p += 8
		case 2, 6: // DW_UT_type, DW_UT_split_type: signature, type offset
			p += 8 + uint64(u.offSize)
		}
	default:
		return false, fmt.Errorf("unit at %#x: unsupported DWARF version %d", u.base, u.version)
	}
	if p > u.end {
		return false, fmt.Errorf("unit at %#x: %w", u.base, errSkimTruncated)
	}
	if unitType != 1 && unitType != 3 { // only compile and partial units
		return false, nil
	}
	var err error
	if u.abbrevs, err = s.abbrevTable(abbrevOff); err != nil {
		return false, fmt.Errorf("unit at %#x: %w", u.base, err)
	}
	// The unit DIE: note DW_AT_str_offsets_base, then its children.
	var cu topDIE
	p, err = u.die(p, &cu, true)
	if err != nil {
		return false, fmt.Errorf("unit at %#x: %w", u.base, err)
	}
	if cu.tag == 0 || !cu.children {
		return false, nil
	}
	for p < u.end {
		var d topDIE
		start := p
		var sibling uint64
		p, sibling, err = u.dieWithSibling(p, &d)
		if err != nil {
			return false, fmt.Errorf("unit at %#x, DIE at %#x: %w", u.base, start, err)
		}
		if d.tag == 0 {
			break // end of the unit's children
		}
		x.add(&d)
		if d.children {
			if sibling > p && sibling <= u.end {
				p = sibling
			} else if p, err = u.skipChildren(p, 0); err != nil {
				return false, fmt.Errorf("unit at %#x, children of %#x: %w", u.base, start, err)
			}
		}
	}
	return false, nil
}

func (u *skimUnit) offset(b []byte, p uint64) (uint64, uint64) {
	if u.offSize == 8 {
		if p+8 > uint64(len(b)) {
			return 0, uint64(len(b)) + 1
		}
		return binary.LittleEndian.Uint64(b[p:]), p + 8
	}
	if p+4 > uint64(len(b)) {
		return 0, uint64(len(b)) + 1
	}
	return uint64(binary.LittleEndian.Uint32(b[p:])), p + 4
}

// maxSkimDepth bounds nesting when a DIE has children but no sibling link.
const maxSkimDepth = 256

// skipChildren skips a sibling list (the children of a DIE) at p.
func (u *skimUnit) skipChildren(p uint64, depth int) (uint64, error) {
	if depth > maxSkimDepth {
		return 0, fmt.Errorf("DIEs nested deeper than %d", maxSkimDepth)
	}
	for p < u.end {
		var d topDIE
		var sibling uint64
		var err error
		p, sibling, err = u.dieWithSibling(p, &d)
		if err != nil {
			return 0, err
		}
		if d.tag == 0 {
			return p, nil
		}
		if d.children {
			if sibling > p && sibling <= u.end {
				p = sibling
			} else if p, err = u.skipChildren(p, depth+1); err != nil {
				return 0, err
			}
		}
	}
	return p, nil
}

func (u *skimUnit) dieWithSibling(p uint64, d *topDIE) (uint64, uint64, error) {
	var sib uint64
	d.off = dwarf.Offset(p)
	p, err := u.decode(p, d, false, &sib)
	return p, sib, err
}

func (u *skimUnit) die(p uint64, d *topDIE, unitDIE bool) (uint64, error) {
	var sib uint64
	d.off = dwarf.Offset(p)
	return u.decode(p, d, unitDIE, &sib)
}

// decode reads one DIE at p into d; sibling gets DW_AT_sibling as an
// absolute offset (0 if absent). A null entry leaves d.tag 0.
func (u *skimUnit) decode(p uint64, d *topDIE, unitDIE bool, sibling *uint64) (uint64, error) {
	b := u.s.info[:u.end]
	code, p, ok := uleb(b, p)
	if !ok {
		return 0, errSkimTruncated
	}
	if code == 0 {
		return p, nil
	}
	ab := u.abbrevs.get(code)
	if ab == nil {
		return 0, fmt.Errorf("unknown abbreviation code %d", code)
	}
	d.tag, d.children = ab.tag, ab.children
	for _, a := range ab.attrs {
		form := a.form
		if form == formIndirect {
			if form, p, ok = uleb(b, p); !ok {
				return 0, errSkimTruncated
			}
		}
		var val uint64
		var strv []byte
		var err error
		p, val, strv, err = u.value(b, p, form, a.implicit)
		if err != nil {
			return 0, fmt.Errorf("attribute %v form %#x: %w", a.attr, form, err)
		}
		switch a.attr {
		case dwarf.AttrName:
			switch form {
			case formStrx, formStrx1, formStrx2, formStrx3, formStrx4, formGNUStrIndex:
				d.name = u.strx(val)
			default:
				d.name = strv
			}
		case dwarf.AttrDeclaration:
			d.decl = val != 0
		case dwarf.AttrSibling:
			*sibling = u.ref(form, val)
		case dwarf.AttrType:
			if r := u.ref(form, val); r != 0 {
				d.typeOff, d.hasType = dwarf.Offset(r), true
			}
		case dwarf.AttrSpecification:
			if r := u.ref(form, val); r != 0 {
				d.spec, d.hasSpec = dwarf.Offset(r), true
			}
		case dwarf.AttrStrOffsetsBase:
			if unitDIE {
				u.strOffBase, u.hasStrOff = val, true
			}
		}
	}
	return p, nil
}

// ref turns a reference value into an absolute .debug_info offset (0 for
// forms that do not point into this file's .debug_info).
func (u *skimUnit) ref(form, val uint64) uint64 {
	switch form {
	case formRef1, formRef2, formRef4, formRef8, formRefUdata:
		return u.base + val
	case formRefAddr:
		return val
	}
	return 0
}

// strx resolves a DW_FORM_strx* index through .debug_str_offsets
// (DWARF5 §7.26; the unit DIE's DW_AT_str_offsets_base, by default just
// past the 8-byte section header).
func (u *skimUnit) strx(idx uint64) []byte {
	base := uint64(8)
	if u.hasStrOff {
		base = u.strOffBase
	}
	so := u.s.strOffsets
	off := base + idx*uint64(u.offSize)
	if idx > uint64(len(so)) || off+uint64(u.offSize) > uint64(len(so)) {
		return nil
	}
	var s uint64
	if u.offSize == 8 {
		s = binary.LittleEndian.Uint64(so[off:])
	} else {
		s = uint64(binary.LittleEndian.Uint32(so[off:]))
	}
	return skimCString(u.s.str, s)
}

func skimCString(sec []byte, off uint64) []byte {
	if off >= uint64(len(sec)) {
		return nil
	}
	b := sec[off:]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return nil
}

// value reads or skips one attribute value. Constants, flags and
// references come back in val; strings in str.
func (u *skimUnit) value(b []byte, p, form uint64, implicit int64) (next, val uint64, str []byte, err error) {
	le := binary.LittleEndian
	need := func(n uint64) bool { return p+n <= uint64(len(b)) }
	fixed := func(n uint64) (uint64, uint64, []byte, error) {
		if !need(n) {
			return 0, 0, nil, errSkimTruncated
		}
		var v uint64
		switch n {
		case 1:
			v = uint64(b[p])
		case 2:
			v = uint64(le.Uint16(b[p:]))
		case 3:
			v = uint64(b[p]) | uint64(b[p+1])<<8 | uint64(b[p+2])<<16
		case 4:
			v = uint64(le.Uint32(b[p:]))
		case 8:
			v = le.Uint64(b[p:])
		}
		return p + n, v, nil, nil
	}
	block := func(n uint64) (uint64, uint64, []byte, error) {
		if n > uint64(len(b)) || !need(n) {
			return 0, 0, nil, errSkimTruncated
		}
		return p + n, 0, nil, nil
	}
	var ok bool
	switch form {
	case formFlagPresent:
		return p, 1, nil, nil
	case formImplicitConst:
		return p, uint64(implicit), nil, nil
	case formData1, formRef1, formFlag, formStrx1, formAddrx1:
		p, val, _, err = fixed(1)
	case formData2, formRef2, formStrx2, formAddrx2:
		p, val, _, err = fixed(2)
	case formStrx3, formAddrx3:
		p, val, _, err = fixed(3)
	case formData4, formRef4, formRefSup4, formStrx4, formAddrx4:
		p, val, _, err = fixed(4)
	case formData8, formRef8, formRefSig8, formRefSup8:
		p, val, _, err = fixed(8)
	case formData16:
		return block(16)
	case formAddr:
		p, val, _, err = fixed(uint64(u.addrSize))
	case formStrp, formLineStrp, formSecOffset, formStrpSup, formGNURefAlt, formGNUStrpAlt:
		p, val, _, err = fixed(uint64(u.offSize))
		if err == nil {
			switch form {
			case formStrp:
				str = skimCString(u.s.str, val)
			case formLineStrp:
				str = skimCString(u.s.lineStr, val)
			}
		}
	case formRefAddr:
		n := uint64(u.offSize)
		if u.version == 2 {
			n = uint64(u.addrSize)
		}
		p, val, _, err = fixed(n)
	case formUdata, formRefUdata, formStrx, formAddrx, formLoclistx, formRnglistx, formGNUAddrIndex, formGNUStrIndex:
		if val, p, ok = uleb(b, p); !ok {
			err = errSkimTruncated
		}
	case formSdata:
		if p, ok = skipLEB(b, p); !ok {
			err = errSkimTruncated
		}
	case formString:
		i := bytes.IndexByte(b[p:], 0)
		if i < 0 {
			return 0, 0, nil, errSkimTruncated
		}
		str = b[p : p+uint64(i)]
		return p + uint64(i) + 1, 0, str, nil
	case formBlock1:
		if !need(1) {
			return 0, 0, nil, errSkimTruncated
		}
		n := uint64(b[p])
		p++
		return block(n)
	case formBlock2:
		if !need(2) {
			return 0, 0, nil, errSkimTruncated
		}
		n := uint64(le.Uint16(b[p:]))
		p += 2
		return block(n)
	case formBlock4:
		if !need(4) {
			return 0, 0, nil, errSkimTruncated
		}
		n := uint64(le.Uint32(b[p:]))
		p += 4
		return block(n)
	case formBlock, formExprloc:
		var n uint64
		if n, p, ok = uleb(b, p); !ok {
			return 0, 0, nil, errSkimTruncated
		}
		return block(n)
	default:
		return 0, 0, nil, fmt.Errorf("unknown form")
	}
	if err != nil {
		return 0, 0, nil, err
	}
	return p, val, str, nil
}

// abbrevTable parses the abbreviation table at off.
func (s *skimScanner) abbrevTable(off uint64) (*skimAbbrevTable, error) {
	if s.lastAbbrev != nil && s.lastAbbrevOff == off {
		return s.lastAbbrev, nil
	}
	if off >= uint64(len(s.abbrev)) {
		return nil, fmt.Errorf("abbreviation table offset %#x past .debug_abbrev", off)
	}
	b := s.abbrev
	p := off
	t := &skimAbbrevTable{}
	for {
		code, np, ok := uleb(b, p)
		if !ok {
			return nil, fmt.Errorf("abbreviation table at %#x: %w", off, errSkimTruncated)
		}
		p = np
		if code == 0 {
			break
		}
		var tag uint64
		if tag, p, ok = uleb(b, p); !ok || p >= uint64(len(b)) {
			return nil, fmt.Errorf("abbreviation %d at %#x: %w", code, off, errSkimTruncated)
		}
		ab := &skimAbbrev{tag: dwarf.Tag(tag), children: b[p] != 0}
		p++
		for {
			var attr, form uint64
			if attr, p, ok = uleb(b, p); !ok {
				return nil, fmt.Errorf("abbreviation %d: %w", code, errSkimTruncated)
			}
			if form, p, ok = uleb(b, p); !ok {
				return nil, fmt.Errorf("abbreviation %d: %w", code, errSkimTruncated)
			}
			if attr == 0 && form == 0 {
				break
			}
			a := skimAttr{attr: dwarf.Attr(attr), form: form}
			if form == formImplicitConst {
				var v int64
				if v, p, ok = sleb(b, p); !ok {
					return nil, fmt.Errorf("abbreviation %d: %w", code, errSkimTruncated)
				}
				a.implicit = v
			}
			ab.attrs = append(ab.attrs, a)
			if len(ab.attrs) > 4096 {
				return nil, fmt.Errorf("abbreviation %d: too many attributes", code)
			}
		}
		if code < 4096 {
			for uint64(len(t.small)) <= code {
				t.small = append(t.small, nil)
			}
			t.small[code] = ab
		} else {
			if t.large == nil {
				t.large = make(map[uint64]*skimAbbrev)
			}
			t.large[code] = ab
		}
	}
	s.lastAbbrevOff, s.lastAbbrev = off, t
	return t, nil
}

func uleb(b []byte, p uint64) (uint64, uint64, bool) {
	var v uint64
	var shift uint
	for p < uint64(len(b)) {
		c := b[p]
		p++
		if shift < 64 {
			v |= uint64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 {
			return v, p, true
		}
	}
	return 0, p, false
}

func sleb(b []byte, p uint64) (int64, uint64, bool) {
	var v int64
	var shift uint
	for p < uint64(len(b)) {
		c := b[p]
		p++
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, p, true
		}
	}
	return 0, p, false
}

func skipLEB(b []byte, p uint64) (uint64, bool) {
	for p < uint64(len(b)) {
		c := b[p]
		p++
		if c&0x80 == 0 {
			return p, true
		}
	}
	return p, false
}
