package unwind

import (
	"encoding/binary"
	"fmt"
)

// orcEntrySize is sizeof(struct orc_entry), packed: s16 sp_offset, s16
// bp_offset, then 16 bits of fields (arch/x86/include/asm/orc_types.h).
const orcEntrySize = 6

// orcType is the kind of an ORC entry, normalised across formats.
type orcType uint8

const (
	orcUndefined   orcType = iota // no unwind information: an error to meet
	orcEndOfStack                 // the bottom of the stack: a clean end
	orcCall                       // a call frame: return address at prev_sp-8
	orcRegs                       // a full struct pt_regs at prev_sp
	orcRegsPartial                // an iret frame at prev_sp
)

func (t orcType) String() string {
	return [...]string{"undefined", "end", "call", "regs", "regs_partial"}[t]
}

// orcReg is an ORC base register, normalised across formats.
type orcReg uint8

const (
	orcRegUndefined orcReg = iota
	orcRegPrevSP
	orcRegDX
	orcRegDI
	orcRegBP
	orcRegSP
	orcRegR10
	orcRegR13
	orcRegBPIndirect
	orcRegSPIndirect
	orcRegAX
	orcRegInvalid
)

func (r orcReg) String() string {
	names := [...]string{"undef", "prev_sp", "dx", "di", "bp", "sp", "r10", "r13", "bp_ind", "sp_ind", "ax", "invalid"}
	if int(r) < len(names) {
		return names[r]
	}
	return "invalid"
}

// orcEntry is one decoded struct orc_entry.
type orcEntry struct {
	spOffset, bpOffset int16
	spReg, bpReg       orcReg
	typ                orcType
	signal             bool // look up the IP itself, not IP-1, in the next frame
}

// orcFormat is a layout of struct orc_entry's bit fields. The kernel
// changed it three times (arch/x86/include/asm/orc_types.h):
//
//	v1 (4.14–6.2): sp_reg:4 bp_reg:4 type:2 end:1; types CALL=0 REGS=1
//	    REGS_PARTIAL=2; "sp_reg UNDEFINED" ends the stack when end is set.
//	v2 (6.3, ffb1b4a41016): type:2 signal:1 end:1.
//	v3 (6.4, fb799447ae29 "x86,objtool: Split UNWIND_HINT_EMPTY in two"):
//	    type:3 signal:1 with UNDEFINED=0 END_OF_STACK=1 CALL=2 REGS=3
//	    REGS_PARTIAL=4.
//	v4 (7.1, 1735858caa4b): v3's bits with the registers renumbered.
type orcFormat int

const (
	orcV1 orcFormat = 1 + iota
	orcV2
	orcV3
	orcV4
)

func (f orcFormat) String() string { return fmt.Sprintf("ORC v%d", int(f)) }

// Register numbers (ORC_REG_*, arch/x86/include/asm/orc_types.h): up to 7.0
// and from 7.1 on.
var (
	orcRegsV1 = [16]orcReg{
		0: orcRegUndefined, 1: orcRegPrevSP, 2: orcRegDX, 3: orcRegDI, 4: orcRegBP,
		5: orcRegSP, 6: orcRegR10, 7: orcRegR13, 8: orcRegBPIndirect, 9: orcRegSPIndirect,
		10: orcRegInvalid, 11: orcRegInvalid, 12: orcRegInvalid, 13: orcRegInvalid, 14: orcRegInvalid, 15: orcRegInvalid,
	}
	orcRegsV4 = [16]orcReg{
		0: orcRegUndefined, 1: orcRegAX, 2: orcRegDX, 3: orcRegSP, 4: orcRegBP,
		5: orcRegDI, 6: orcRegR10, 7: orcRegR13, 8: orcRegPrevSP, 9: orcRegSPIndirect,
		10: orcRegBPIndirect,
		11: orcRegInvalid, 12: orcRegInvalid, 13: orcRegInvalid, 14: orcRegInvalid, 15: orcRegInvalid,
	}
)

// decode decodes one 6-byte little-endian struct orc_entry.
func (f orcFormat) decode(b []byte) orcEntry {
	e := orcEntry{
		spOffset: int16(binary.LittleEndian.Uint16(b[0:])),
		bpOffset: int16(binary.LittleEndian.Uint16(b[2:])),
	}
	bits := binary.LittleEndian.Uint16(b[4:])
	regs := &orcRegsV1
	if f == orcV4 {
		regs = &orcRegsV4
	}
	e.spReg = regs[bits&0xf]
	e.bpReg = regs[bits>>4&0xf]
	switch f {
	case orcV1, orcV2:
		t := bits >> 8 & 3
		var end bool
		if f == orcV1 {
			end = bits>>10&1 != 0
		} else {
			e.signal = bits>>10&1 != 0
			end = bits>>11&1 != 0
		}
		switch {
		case e.spReg == orcRegUndefined && end:
			e.typ = orcEndOfStack
		case e.spReg == orcRegUndefined:
			e.typ = orcUndefined
		case t == 0:
			e.typ = orcCall
		case t == 1:
			e.typ = orcRegs
		case t == 2:
			e.typ = orcRegsPartial
		default:
			e.typ = orcUndefined
		}
	default:
		switch bits >> 8 & 7 {
		case 0:
			e.typ = orcUndefined
		case 1:
			e.typ = orcEndOfStack
		case 2:
			e.typ = orcCall
		case 3:
			e.typ = orcRegs
		case 4:
			e.typ = orcRegsPartial
		default:
			e.typ = orcUndefined
		}
		e.signal = bits>>11&1 != 0
	}
	// v1 has no signal bit: the kernel treats every regs frame as a signal
	// frame (unwind_orc.c sets state->signal for REGS/REGS_PARTIAL); later
	// formats set the bit on those entries too.
	if e.typ == orcRegs || e.typ == orcRegsPartial {
		e.signal = true
	}
	return e
}

// plausibleCall reports whether e looks like the ORC entry of ordinary
// compiled code: a call frame whose CFA is rsp or rbp plus a small,
// word-aligned offset. Format detection counts these.
func (e orcEntry) plausibleCall() bool {
	if e.typ != orcCall || (e.spReg != orcRegSP && e.spReg != orcRegBP) {
		return false
	}
	return e.spOffset >= 8 && e.spOffset <= 4096 && e.spOffset%8 == 0
}

// orcFPEntry is the kernel's fallback for code without ORC data (BPF,
// generated code): assume a frame pointer (unwind_orc.c orc_fp_entry).
var orcFPEntry = orcEntry{spReg: orcRegBP, spOffset: 16, bpReg: orcRegPrevSP, bpOffset: -16, typ: orcCall}

// orcNullEntry unwinds a call through a NULL function pointer: the return
// address is at the top of the stack (unwind_orc.c null_orc_entry).
var orcNullEntry = orcEntry{spReg: orcRegSP, spOffset: 8, bpReg: orcRegUndefined, typ: orcCall}
