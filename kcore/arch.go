package kcore

import "encoding/binary"

// Arch is the architecture of the dumped machine, decided from the dump
// itself (ELF e_machine, the kdump header's machine, VMCOREINFO), never
// from the host.
type Arch int

// Architectures kcore knows.
const (
	ArchUnknown Arch = iota
	ArchX86_64
	ArchARM64
)

func (a Arch) String() string {
	switch a {
	case ArchX86_64:
		return "x86_64"
	case ArchARM64:
		return "aarch64"
	}
	return "unknown"
}

// pager translates kernel virtual addresses: one implementation per
// architecture (x86_64.go, arm64.go).
type pager interface {
	translate(va uint64) (mapping, error)
	walkRange(start, end uint64, minLevel int, fn func(mapping) bool) error
}

// Arch is the dumped machine's architecture.
func (d *Dump) Arch() Arch { return d.arch }

// decideArch picks the architecture: the machine name (ELF e_machine or a
// kdump header's utsname), else VMCOREINFO keys only arm64 writes (QEMU's
// aarch64 kdump header says machine "Unknown"), else x86_64 as before.
func (d *Dump) decideArch() Arch {
	switch d.uts.Machine {
	case "x86_64":
		return ArchX86_64
	case "aarch64", "arm64":
		return ArchARM64
	}
	if d.vmci != nil {
		if _, ok := d.vmci.Number("kimage_voffset"); ok {
			return ArchARM64
		}
		if _, ok := d.vmci.Number("TCR_EL1_T1SZ"); ok {
			return ArchARM64
		}
	}
	if d.uts.Machine != "" && d.uts.Machine != "Unknown" {
		return ArchUnknown
	}
	return ArchX86_64
}

// ARM64Regs is an arm64 register set: struct user_pt_regs
// (arch/arm64/include/uapi/asm/ptrace.h), the pr_reg of an arm64
// NT_PRSTATUS.
type ARM64Regs struct {
	X      [31]uint64 // x0..x30 (x29 is the frame pointer, x30 the link register)
	SP, PC uint64
	PState uint64
}

// arm64RegWords is the number of words of struct user_pt_regs.
const arm64RegWords = 34

// decodeARM64Regs decodes a user_pt_regs; ok is false when b is short.
func decodeARM64Regs(b []byte, bo binary.ByteOrder) (ARM64Regs, bool) {
	var r ARM64Regs
	if len(b) < arm64RegWords*8 {
		return r, false
	}
	for i := range r.X {
		r.X[i] = bo.Uint64(b[i*8:])
	}
	r.SP = bo.Uint64(b[31*8:])
	r.PC = bo.Uint64(b[32*8:])
	r.PState = bo.Uint64(b[33*8:])
	return r, true
}

// UserMode reports whether the registers were taken at EL0: PSTATE.M[3:2]
// is the exception level (arch/arm64/include/asm/ptrace.h user_mode).
func (r *ARM64Regs) UserMode() bool { return r.PState&0xc == 0 }

// setupARM64 re-reads the CPU notes as arm64 registers and sets up arm64
// translation from VMCOREINFO.
func (d *Dump) setupARM64() {
	for i := range d.cpus {
		c := &d.cpus[i]
		if r, ok := decodeARM64Regs(c.rawRegs, binary.LittleEndian); ok {
			c.ARM64 = &r
			// The x86-shaped Regs carry what is common: pc, sp, fp.
			c.Regs = Regs{IP: r.PC, SP: r.SP, BP: r.X[29]}
		}
		c.CR3, c.CR4, c.KernelGSBase = 0, 0, 0
	}
	a, err := arm64ParamsFrom(d.vmci)
	if err != nil {
		d.pagingErr = err
		return
	}
	p, err := newARM64Paging(d.readPhysRaw, a)
	if err != nil {
		d.pagingErr = err
		return
	}
	if d.live {
		p.noTLB = true
	}
	d.arm = p
	d.xlat = p
}

// PACMask is NUMBER(KERNELPACMASK): the bits of a kernel address that
// pointer authentication uses (arch/arm64/kernel/crash_core.c); 0 when the
// kernel signs nothing or is not arm64.
func (d *Dump) PACMask() uint64 {
	if d.vmci == nil || d.arch != ArchARM64 {
		return 0
	}
	n, _ := d.vmci.Number("KERNELPACMASK")
	return uint64(n)
}
