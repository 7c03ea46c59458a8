package crash

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// Taint is the kernel's taint state: why its behaviour may not be that of
// the code it was built from.
type Taint struct {
	Mask    uint64      `json:"mask"`    // tainted_mask (kernel/panic.c)
	Letters string      `json:"letters"` // the set flags' letters, in bit order ("OE")
	Flags   []TaintFlag `json:"flags"`   // the set flags
}

// TaintFlag is one set taint bit.
type TaintFlag struct {
	Bit    int    `json:"bit"`
	Letter string `json:"letter"`
	Name   string `json:"name"` // TAINT_* without the prefix
}

// taintNames are the TAINT_* bits of include/linux/panic.h (the letters
// come from the dump's own taint_flags[] when it can be read).
var taintNames = []struct{ name, letter string }{
	{"PROPRIETARY_MODULE", "P"}, {"FORCED_MODULE", "F"}, {"CPU_OUT_OF_SPEC", "S"}, {"FORCED_RMMOD", "R"},
	{"MACHINE_CHECK", "M"}, {"BAD_PAGE", "B"}, {"USER", "U"}, {"DIE", "D"},
	{"OVERRIDDEN_ACPI_TABLE", "A"}, {"WARN", "W"}, {"CRAP", "C"}, {"FIRMWARE_WORKAROUND", "I"},
	{"OOT_MODULE", "O"}, {"UNSIGNED_MODULE", "E"}, {"SOFTLOCKUP", "L"}, {"LIVEPATCH", "K"},
	{"AUX", "X"}, {"RANDSTRUCT", "T"}, {"TEST", "N"}, {"FWCTL", "J"},
}

// KernelTaint reads tainted_mask and names its bits.
func KernelTaint(p *symbols.Program) (Taint, error) {
	addr, err := p.Symbol("tainted_mask")
	if err != nil {
		return Taint{}, fmt.Errorf("taint: %w", err)
	}
	mask, err := p.ReadU64(addr)
	if err != nil {
		return Taint{}, fmt.Errorf("taint: tainted_mask at %#x: %w", addr, err)
	}
	return DecodeTaint(p, mask), nil
}

// DecodeTaint names the bits of a taint mask (tainted_mask, or a module's
// taints): each letter is taint_flags[bit].c_true (kernel/panic.c) when
// the dump's table can be read, else the letter of include/linux/panic.h.
func DecodeTaint(p *symbols.Program, mask uint64) Taint {
	t := Taint{Mask: mask}
	var b strings.Builder
	for bit := 0; bit < 64; bit++ {
		if mask&(1<<bit) == 0 {
			continue
		}
		f := TaintFlag{Bit: bit, Letter: "?", Name: fmt.Sprintf("BIT_%d", bit)}
		if bit < len(taintNames) {
			f.Letter, f.Name = taintNames[bit].letter, taintNames[bit].name
		}
		if l, ok := taintLetter(p, bit); ok {
			f.Letter = l
		}
		t.Flags = append(t.Flags, f)
		b.WriteString(f.Letter)
	}
	t.Letters = b.String()
	return t
}

// taintLetter reads taint_flags[bit].c_true.
func taintLetter(p *symbols.Program, bit int) (string, bool) {
	addr, err := p.Symbol("taint_flags")
	if err != nil {
		return "", false
	}
	size, err := p.SizeOf("struct taint_flag")
	if err != nil || size == 0 {
		return "", false
	}
	off, err := p.OffsetOf("struct taint_flag", "c_true")
	if err != nil {
		return "", false
	}
	v, err := p.ReadU32(addr + uint64(bit)*size + off)
	if err != nil {
		return "", false
	}
	c := byte(v)
	if c < 'A' || c > 'Z' {
		return "", false
	}
	return string(c), true
}
