package kcore

import (
	"errors"
	"fmt"
)

// Memory is what the layers above kcore need: reads of kernel virtual and
// physical memory. *Dump implements it; unit tests implement it with a few
// synthetic pages.
type Memory interface {
	// ReadVirt fills p from kernel virtual address addr. It either fills all
	// of p or returns an error (a *ReadError for unreadable memory).
	ReadVirt(p []byte, addr uint64) error
	// ReadPhys fills p from physical address addr, all or an error.
	ReadPhys(p []byte, addr uint64) error
}

// Why a read failed.
var (
	// ErrExcluded: the page exists but the dump tool left it out
	// (makedumpfile dump level, zero page filtering, ...).
	ErrExcluded = errors.New("page excluded from the dump")
	// ErrNotInDump: the physical address lies outside every range the dump holds.
	ErrNotInDump = errors.New("physical address not in the dump")
	// ErrNotMapped: the page tables have no mapping for the virtual address.
	ErrNotMapped = errors.New("virtual address not mapped")
	// ErrNonCanonical: the virtual address is outside the canonical range.
	ErrNonCanonical = errors.New("non-canonical address")
)

// ReadError is returned for a read of memory that the image cannot provide.
// errors.Is(err, ErrExcluded) and friends tell why.
type ReadError struct {
	Addr uint64 // the address asked for (virtual unless Phys)
	Phys bool   // Addr is physical
	PA   uint64 // the physical address reached, when translation succeeded
	Err  error  // one of the Err* sentinels (wrapped, with details), a *TruncatedError, or an I/O / decompression error
}

func (e *ReadError) Error() string {
	kind := "virtual"
	if e.Phys {
		kind = "physical"
	}
	if !e.Phys && e.PA != 0 {
		return fmt.Sprintf("read %s address %#x (phys %#x): %v", kind, e.Addr, e.PA, e.Err)
	}
	return fmt.Sprintf("read %s address %#x: %v", kind, e.Addr, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// Regs is the register set of one CPU (x86_64 struct user_regs_struct order,
// arch/x86/include/asm/user_64.h).
type Regs struct {
	R15, R14, R13, R12, BP, BX, R11, R10, R9, R8  uint64
	AX, CX, DX, SI, DI, OrigAX, IP, CS, Flags, SP uint64
	SS, FSBase, GSBase, DS, ES, FS, GS            uint64
}

// CPUState is one CPU's saved state from the dump's notes.
type CPUState struct {
	CPU  int    // CPU index (QEMU: pr_pid-1; kdump: note order or crash_notes)
	PID  int    // pr_pid as written (kdump: the task running on it)
	Regs Regs   // general registers
	CR3  uint64 // page-table root when known (QEMU notes), else 0
	CR4  uint64 // control register 4 when known (QEMU notes), else 0
	// KernelGSBase is the per-CPU base when known (QEMU notes), else 0.
	KernelGSBase uint64
	// ARM64 are the registers of an arm64 CPU (Regs then holds only its
	// pc, sp and fp in IP, SP and BP); nil on x86_64.
	ARM64 *ARM64Regs
	// rawRegs is the note's pr_reg, decoded once the architecture is known.
	rawRegs []byte
}
