package symbols

import "encoding/binary"

// maxLocListEntries bounds one location list.
const maxLocListEntries = 1 << 16

// DWARF 5 location list entry kinds (DWARF 5 §7.29).
const (
	lleEndOfList    = 0x00
	lleBaseAddressx = 0x01
	lleStartxEndx   = 0x02
	lleStartxLength = 0x03
	lleOffsetPair   = 0x04
	lleDefault      = 0x05
	lleBaseAddress  = 0x06
	lleStartEnd     = 0x07
	lleStartLength  = 0x08
)

// findLocListV5 returns the expression of the .debug_loclists list at off
// whose range holds pc, nil when none does or the list is malformed or
// uses .debug_addr indices (not emitted for vmlinux).
func findLocListV5(sec []byte, off, base, pc uint64) []byte {
	p := off
	var dflt []byte
	u64 := func() (uint64, bool) {
		if p+8 > uint64(len(sec)) || p+8 < p {
			return 0, false
		}
		v := binary.LittleEndian.Uint64(sec[p:])
		p += 8
		return v, true
	}
	for n := 0; n < maxLocListEntries && p < uint64(len(sec)); n++ {
		kind := sec[p]
		p++
		var lo, hi uint64
		ok := true
		switch kind {
		case lleEndOfList:
			return dflt
		case lleBaseAddress:
			if base, ok = u64(); !ok {
				return nil
			}
			continue
		case lleOffsetPair:
			var a, b uint64
			if a, p, ok = uleb(sec, p); !ok {
				return nil
			}
			if b, p, ok = uleb(sec, p); !ok {
				return nil
			}
			lo, hi = base+a, base+b
		case lleStartEnd:
			if lo, ok = u64(); ok {
				hi, ok = u64()
			}
		case lleStartLength:
			var l uint64
			if lo, ok = u64(); ok {
				l, p, ok = uleb(sec, p)
				hi = lo + l
			}
		case lleDefault:
		default: // indexed forms need .debug_addr and the unit's addr_base
			return nil
		}
		if !ok {
			return nil
		}
		var l uint64
		if l, p, ok = uleb(sec, p); !ok || l > uint64(len(sec))-p {
			return nil
		}
		expr := sec[p : p+l : p+l]
		p += l
		if kind == lleDefault {
			dflt = expr
		} else if pc >= lo && pc < hi {
			return expr
		}
	}
	return nil
}

// findLocListV4 is findLocListV5 for a DWARF 4 .debug_loc list.
func findLocListV4(sec []byte, off, base, pc uint64) []byte {
	p := off
	for n := 0; n < maxLocListEntries; n++ {
		if p+16 > uint64(len(sec)) || p+16 < p {
			return nil
		}
		lo, hi := binary.LittleEndian.Uint64(sec[p:]), binary.LittleEndian.Uint64(sec[p+8:])
		p += 16
		if lo == 0 && hi == 0 {
			return nil
		}
		if lo == ^uint64(0) {
			base = hi
			continue
		}
		if p+2 > uint64(len(sec)) {
			return nil
		}
		l := uint64(binary.LittleEndian.Uint16(sec[p:]))
		p += 2
		if l > uint64(len(sec))-p {
			return nil
		}
		if pc >= base+lo && pc < base+hi {
			return sec[p : p+l : p+l]
		}
		p += l
	}
	return nil
}
