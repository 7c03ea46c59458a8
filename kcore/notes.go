package kcore

import (
	"encoding/binary"
	"fmt"
)

// ELF note types and names found in kernel memory images.
const (
	ntPRStatus   = 1 // NT_PRSTATUS, include/uapi/linux/elf.h
	ntTaskStruct = 4 // NT_TASKSTRUCT: /proc/kcore only (fs/proc/kcore.c)

	// maxNotes bounds the note area we accept (a few hundred bytes per CPU).
	maxNotes = 64 << 20
)

// x86_64 NT_PRSTATUS layout (struct elf_prstatus, include/linux/elfcore.h):
// pr_pid at 32, pr_reg (struct user_regs_struct, 27 u64) at 112.
const (
	prstatusPIDOff = 32
	prstatusRegOff = 112
	prstatusRegLen = 27 * 8
)

// QEMU "QEMU" note (QEMUCPUState, qemu target/i386/arch_dump.c): version,
// size, 18 GPRs + rip + rflags, 10 segments of 24 bytes, cr[5], then
// kernel_gs_base when size says it is there.
const (
	qemuCROff           = 8 + 18*8 + 10*24 // 392
	qemuKernelGSBaseOff = qemuCROff + 5*8  // 432
)

// elfNote is one note of an ELF note segment.
type elfNote struct {
	Name string
	Type uint32
	Desc []byte
}

// parseNotes splits an ELF note area (Elf64_Nhdr, 4-byte aligned name and
// desc). A truncated trailing note is an error; sizes are checked against the
// area before slicing, so a lying header cannot cause a large allocation.
func parseNotes(b []byte, bo binary.ByteOrder) ([]elfNote, error) {
	if len(b) > maxNotes {
		return nil, fmt.Errorf("note area of %d bytes is larger than %d", len(b), maxNotes)
	}
	var notes []elfNote
	for off := 0; off+12 <= len(b); {
		namesz := uint64(bo.Uint32(b[off:]))
		descsz := uint64(bo.Uint32(b[off+4:]))
		typ := bo.Uint32(b[off+8:])
		if namesz == 0 && descsz == 0 && typ == 0 {
			break // zero padding at the end of the area
		}
		p := uint64(off) + 12
		nameEnd := p + namesz
		descOff := p + align4(namesz)
		descEnd := descOff + descsz
		if nameEnd > uint64(len(b)) || descEnd > uint64(len(b)) {
			return notes, fmt.Errorf("note %d at offset %#x: name %d + desc %d bytes run past the %d-byte note area",
				len(notes), off, namesz, descsz, len(b))
		}
		name := b[p:nameEnd]
		for len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		notes = append(notes, elfNote{Name: string(name), Type: typ, Desc: b[descOff:descEnd:descEnd]})
		next := descOff + align4(descsz)
		if next > uint64(len(b)) {
			break
		}
		off = int(next)
	}
	return notes, nil
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

// maxQEMUCPUs bounds a QEMU CPU number read from pr_pid (QEMU's x86
// machines have at most a few thousand vCPUs).
const maxQEMUCPUs = 1 << 16

// noteInfo is what the notes tell: CPU states and VMCOREINFO.
type noteInfo struct {
	cpus       []CPUState
	vmcoreinfo []byte
	qemu       bool // "QEMU" CPU notes present (dumped by QEMU)
	taskStruct bool // NT_TASKSTRUCT present (/proc/kcore)
	// problems are damaged notes: CPUs whose registers are missing or
	// may be wrong because of them.
	problems []string
}

// interpretNotes collects CPU registers and VMCOREINFO. PRSTATUS notes and
// QEMU notes are paired by order: QEMU writes one of each per vCPU, with
// pr_pid = cpu_index+1 (qemu target/i386/arch_dump.c).
func interpretNotes(notes []elfNote, bo binary.ByteOrder) noteInfo {
	var ni noteInfo
	var qemuStates [][]byte
	for _, n := range notes {
		switch {
		case n.Name == "VMCOREINFO":
			ni.vmcoreinfo = n.Desc
		case n.Name == "QEMU":
			ni.qemu = true
			qemuStates = append(qemuStates, n.Desc)
		case n.Name == "CORE" && n.Type == ntPRStatus:
			if len(n.Desc) < prstatusRegOff+prstatusRegLen {
				ni.problems = append(ni.problems, fmt.Sprintf("NT_PRSTATUS note %d has %d bytes, fewer than the %d of its registers: a CPU's registers are missing",
					len(ni.cpus), len(n.Desc), prstatusRegOff+prstatusRegLen))
				continue
			}
			var c CPUState
			c.PID = int(int32(bo.Uint32(n.Desc[prstatusPIDOff:])))
			c.Regs = decodeRegs(n.Desc[prstatusRegOff:], bo)
			c.rawRegs = n.Desc[prstatusRegOff:]
			c.CPU = len(ni.cpus)
			ni.cpus = append(ni.cpus, c)
		case n.Name == "CORE" && n.Type == ntTaskStruct:
			ni.taskStruct = true
		}
	}
	if ni.qemu {
		seen := map[int]bool{}
		for i := range ni.cpus {
			if pid := ni.cpus[i].PID; pid > 0 && pid <= maxQEMUCPUs && !seen[pid-1] {
				ni.cpus[i].CPU = pid - 1
			} else if pid != 0 {
				ni.problems = append(ni.problems, fmt.Sprintf("NT_PRSTATUS note %d: pr_pid %d is not a QEMU CPU number (cpu_index+1) or repeats one: taken as CPU %d", i, pid, ni.cpus[i].CPU))
			}
			seen[ni.cpus[i].CPU] = true
			if i < len(qemuStates) {
				q := qemuStates[i]
				if len(q) >= qemuCROff+5*8 {
					ni.cpus[i].CR3 = bo.Uint64(q[qemuCROff+3*8:])
					ni.cpus[i].CR4 = bo.Uint64(q[qemuCROff+4*8:])
				}
				size := 0
				if len(q) >= 8 {
					size = int(bo.Uint32(q[4:]))
				}
				if size >= qemuKernelGSBaseOff+8 && len(q) >= qemuKernelGSBaseOff+8 {
					ni.cpus[i].KernelGSBase = bo.Uint64(q[qemuKernelGSBaseOff:])
				}
			}
		}
		// QEMU notes without PRSTATUS (not written by QEMU, but cheap to
		// support): still give CR3.
		if len(ni.cpus) == 0 {
			for i, q := range qemuStates {
				c := CPUState{CPU: i, PID: i + 1}
				if len(q) >= qemuCROff+5*8 {
					c.CR3 = bo.Uint64(q[qemuCROff+3*8:])
					c.CR4 = bo.Uint64(q[qemuCROff+4*8:])
				}
				ni.cpus = append(ni.cpus, c)
			}
		}
	}
	return ni
}

func decodeRegs(b []byte, bo binary.ByteOrder) Regs {
	u := func(i int) uint64 { return bo.Uint64(b[i*8:]) }
	return Regs{
		R15: u(0), R14: u(1), R13: u(2), R12: u(3), BP: u(4), BX: u(5),
		R11: u(6), R10: u(7), R9: u(8), R8: u(9), AX: u(10), CX: u(11),
		DX: u(12), SI: u(13), DI: u(14), OrigAX: u(15), IP: u(16), CS: u(17),
		Flags: u(18), SP: u(19), SS: u(20), FSBase: u(21), GSBase: u(22),
		DS: u(23), ES: u(24), FS: u(25), GS: u(26),
	}
}
