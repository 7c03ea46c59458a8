package unwind

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/kcore"
)

// Reg names one x86_64 general register, in struct pt_regs order
// (arch/x86/include/asm/ptrace.h): the index of its slot in pt_regs.
type Reg uint8

// Registers in struct pt_regs order. RegSS is the last slot of pt_regs.
const (
	RegR15 Reg = iota
	RegR14
	RegR13
	RegR12
	RegBP
	RegBX
	RegR11
	RegR10
	RegR9
	RegR8
	RegAX
	RegCX
	RegDX
	RegSI
	RegDI
	RegOrigAX
	RegIP
	RegCS
	RegFlags
	RegSP
	RegSS
	numPtRegs
)

var regNames = [numPtRegs]string{
	"r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8",
	"ax", "cx", "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss",
}

func (r Reg) String() string {
	if r < numPtRegs {
		return regNames[r]
	}
	return fmt.Sprintf("reg%d", int(r))
}

// RegMask is a set of Regs.
type RegMask uint32

// Has reports whether r is in the set.
func (m RegMask) Has(r Reg) bool { return m&(1<<r) != 0 }

// Registers is the register state known at one frame: values of the
// registers in Known, the others unknown (callee-clobbered, or not recovered
// by the unwind information).
type Registers struct {
	kcore.Regs
	Known RegMask
}

// calleeSaved are the registers a call preserves on x86_64 (SysV ABI), the
// ones __switch_to_asm pushes (arch/x86/entry/entry_64.S).
const calleeSaved RegMask = 1<<RegBX | 1<<RegBP | 1<<RegR12 | 1<<RegR13 | 1<<RegR14 | 1<<RegR15

// allPtRegs is every slot of a full struct pt_regs.
const allPtRegs RegMask = 1<<numPtRegs - 1

// Get returns register r and whether it is known.
func (r *Registers) Get(reg Reg) (uint64, bool) {
	if r == nil || !r.Known.Has(reg) {
		return 0, false
	}
	return *regSlot(&r.Regs, reg), true
}

// Set stores a known value of reg.
func (r *Registers) Set(reg Reg, v uint64) {
	if p := regSlot(&r.Regs, reg); p != nil {
		*p = v
		r.Known |= 1 << reg
	}
}

// regSlot returns the field of kcore.Regs holding reg.
func regSlot(r *kcore.Regs, reg Reg) *uint64 {
	switch reg {
	case RegR15:
		return &r.R15
	case RegR14:
		return &r.R14
	case RegR13:
		return &r.R13
	case RegR12:
		return &r.R12
	case RegBP:
		return &r.BP
	case RegBX:
		return &r.BX
	case RegR11:
		return &r.R11
	case RegR10:
		return &r.R10
	case RegR9:
		return &r.R9
	case RegR8:
		return &r.R8
	case RegAX:
		return &r.AX
	case RegCX:
		return &r.CX
	case RegDX:
		return &r.DX
	case RegSI:
		return &r.SI
	case RegDI:
		return &r.DI
	case RegOrigAX:
		return &r.OrigAX
	case RegIP:
		return &r.IP
	case RegCS:
		return &r.CS
	case RegFlags:
		return &r.Flags
	case RegSP:
		return &r.SP
	case RegSS:
		return &r.SS
	}
	return nil
}

// FullRegisters returns a Registers with every pt_regs slot of r known.
func FullRegisters(r kcore.Regs) *Registers {
	return &Registers{Regs: r, Known: allPtRegs}
}

// String renders the known registers, crash style, three a line.
func (r *Registers) String() string {
	if r == nil {
		return ""
	}
	order := []Reg{RegIP, RegSP, RegFlags, RegAX, RegBX, RegCX, RegDX, RegSI, RegDI,
		RegBP, RegR8, RegR9, RegR10, RegR11, RegR12, RegR13, RegR14, RegR15,
		RegOrigAX, RegCS, RegSS}
	var b strings.Builder
	n := 0
	for _, reg := range order {
		v, ok := r.Get(reg)
		if !ok {
			continue
		}
		if n > 0 {
			if n%3 == 0 {
				b.WriteByte('\n')
			} else {
				b.WriteString("  ")
			}
		}
		fmt.Fprintf(&b, "%s: %016x", strings.ToUpper(reg.String()), v)
		n++
	}
	return b.String()
}

// userMode reports whether a CS value is a user-mode selector (RPL 3),
// the kernel's user_mode() on x86_64 (arch/x86/include/asm/ptrace.h).
func userMode(cs uint64) bool { return cs&3 == 3 }
