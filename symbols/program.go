package symbols

import (
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/kcore"
)

// Errors that name what was missing. Wrap them with the name, member or
// address: fmt.Errorf("%w: struct %s", ErrNoType, name).
var (
	ErrNoType   = errors.New("no such type")
	ErrNoMember = errors.New("no such member")
	ErrNoSymbol = errors.New("no such symbol")
)

// Symbol is one kernel or module symbol.
type Symbol struct {
	Name   string
	Addr   uint64
	Size   uint64 // 0 when unknown (kallsyms: distance to the next symbol)
	Type   byte   // nm type letter: 'T', 't', 'D', 'd', 'B', 'R', ...
	Module string // "" for vmlinux
}

// IsText reports whether the symbol is code.
func (s Symbol) IsText() bool {
	return s.Type == 'T' || s.Type == 't' || s.Type == 'W' || s.Type == 'w'
}

// SymbolTable maps names to addresses and addresses to names.
// Implementations keep sorted tables: both directions are O(log n).
type SymbolTable interface {
	// Lookup finds a symbol by name. Where a name is defined more than once
	// (static functions), the vmlinux global wins, then the first.
	Lookup(name string) (Symbol, error)
	// LookupAddr finds the symbol containing addr: the nearest symbol at or
	// below addr, up to the next symbol even past a recorded size (a return
	// address just after a call to a noreturn function belongs to the
	// caller, as the kernel's own traces show). ok is false below the first
	// symbol or past the end of the symbol's section or module.
	LookupAddr(addr uint64) (sym Symbol, offset uint64, ok bool)
	// Names returns all symbol names, sorted (for completion).
	Names() []string
	// Describe names the source ("kallsyms from dump memory, 93412 symbols").
	Describe() string
}

// Program is one kernel being analysed: its memory, symbols, types and the
// facts derived from them. It is the root of the Go API: walkers take a
// *Program, the REPL holds one.
type Program struct {
	Mem   kcore.Memory
	Syms  SymbolTable
	Types TypeSource

	// Dump is the opened image when Mem is a *kcore.Dump (nil for synthetic
	// test programs).
	Dump *kcore.Dump

	// Warnings collected while loading (module without BTF, build-id
	// override, ...), shown once by the REPL.
	Warnings []string

	// globals maps a global variable's name to its C type name, for globals
	// BTF has no variable record for (see globals.go).
	globals map[string]string
	cache   *typeCache
	memo    memo // per-Program state of walkers (see Memo)
}

// NewProgram ties memory, symbols and types together.
func NewProgram(mem kcore.Memory, syms SymbolTable, types TypeSource) *Program {
	p := &Program{Mem: mem, Syms: syms, Types: types, cache: newTypeCache()}
	if d, ok := mem.(*kcore.Dump); ok {
		p.Dump = d
	}
	if ds, ok := syms.(*DataSymTable); ok {
		ds.Discover(p) // kallsyms without data symbols (datasyms.go)
	}
	return p
}

// Type looks up a type by name (see TypeSource.LookupType), cached.
func (p *Program) Type(name string) (*Type, error) {
	if p.Types == nil {
		return nil, fmt.Errorf("%w: %s (no type information loaded)", ErrNoType, name)
	}
	return p.cache.lookup(name, p.Types.LookupType)
}

// Symbol looks up a symbol's address by name.
func (p *Program) Symbol(name string) (uint64, error) {
	if p.Syms == nil {
		return 0, fmt.Errorf("%w: %s (no symbol table loaded)", ErrNoSymbol, name)
	}
	s, err := p.Syms.Lookup(name)
	if err != nil {
		return 0, err
	}
	return s.Addr, nil
}

// SymbolizeAddr renders addr as "name+0xoff" or "name+0xoff [module]",
// or as a hex number when no symbol covers it.
func (p *Program) SymbolizeAddr(addr uint64) string {
	if p.Syms != nil {
		if s, off, ok := p.Syms.LookupAddr(addr); ok {
			r := s.Name
			if off != 0 {
				r += fmt.Sprintf("+%#x", off)
			}
			if s.Module != "" {
				r += " [" + s.Module + "]"
			}
			return r
		}
	}
	return fmt.Sprintf("%#x", addr)
}

// PageSize returns the kernel's page size: VMCOREINFO's PAGESIZE
// (kernel/vmcore_info.c) when the dump has it, else 4 KiB. The dump
// format's own block size is not it (QEMU's arm64 kdump header says
// 64 KiB for a 4 KiB kernel).
func (p *Program) PageSize() uint64 {
	if p.Dump != nil {
		if vi := p.Dump.VMCoreInfo(); vi != nil {
			if ps, ok := vi.PageSize(); ok && ps >= 4096 && ps&(ps-1) == 0 {
				return ps
			}
		}
	}
	return 4096
}
