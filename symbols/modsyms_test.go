package symbols_test

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

const (
	modulesHead = 0xffffffff82000000
	fuseStruct  = 0xffffffffc0100000
	fuseText    = 0xffffffffc0a00000
	fuseSymtab  = 0xffffffffc0b00000
	fuseStrtab  = 0xffffffffc0b01000
	fuseTypetab = 0xffffffffc0b02000
	fuseKsyms   = 0xffffffffc0b03000
)

// moduleTypes builds struct module for a kernel with core_layout (≤ 6.3) or
// mem[] (6.4+). It returns the offsets the test writes at.
type modOffsets struct {
	state, list, name, kallsyms uint64
	base, size, textSize        uint64 // core_layout.{base,size,text_size} or mem[MOD_TEXT]
	dataBase, dataSize          uint64 // mem[MOD_DATA] (mem layout only)
}

func moduleTypes(memLayout bool) (*symtest.Types, modOffsets) {
	ty := symtest.NewTypes()
	ptr := ty.Ptr(nil)
	uint := ty.Get("unsigned int")
	lh := ty.Declare("list_head")
	ty.Struct("list_head", 16, symtest.F("next", ty.Ptr(lh), 0), symtest.F("prev", ty.Ptr(lh), 8))
	state := ty.Add(&symbols.Type{Kind: symbols.KindEnum, Name: "module_state", Size: 4, Enumerators: []symbols.Enumerator{
		{Name: "MODULE_STATE_LIVE", Value: 0}, {Name: "MODULE_STATE_COMING", Value: 1},
		{Name: "MODULE_STATE_GOING", Value: 2}, {Name: "MODULE_STATE_UNFORMED", Value: 3}}})
	ty.Struct("mod_kallsyms", 32, symtest.F("symtab", ptr, 0), symtest.F("num_symtab", uint, 8),
		symtest.F("strtab", ptr, 16), symtest.F("typetab", ptr, 24))
	o := modOffsets{state: 0, list: 8, name: 24}
	members := []symbols.Member{symtest.F("state", state, 0), symtest.F("list", lh, 8),
		symtest.F("name", ty.Array(ty.Get("char"), 56), 24)}
	if memLayout {
		ty.Add(&symbols.Type{Kind: symbols.KindEnum, Name: "mod_mem_type", Size: 4, Enumerators: []symbols.Enumerator{
			{Name: "MOD_TEXT", Value: 0}, {Name: "MOD_DATA", Value: 1}, {Name: "MOD_RODATA", Value: 2}}})
		mm := ty.Struct("module_memory", 16, symtest.F("base", ptr, 0), symtest.F("size", uint, 8))
		members = append(members, symtest.F("mem", ty.Array(mm, 3), 80), symtest.F("kallsyms", ptr, 128))
		o.base, o.size, o.textSize = 80, 88, 0
		o.dataBase, o.dataSize = 96, 104
		o.kallsyms = 128
	} else {
		ml := ty.Struct("module_layout", 32, symtest.F("base", ptr, 0), symtest.F("size", uint, 8),
			symtest.F("text_size", uint, 12), symtest.F("ro_size", uint, 16))
		members = append(members, symtest.F("core_layout", ml, 80), symtest.F("init_layout", ml, 112),
			symtest.F("kallsyms", ptr, 144))
		o.base, o.size, o.textSize = 80, 88, 92
		o.kallsyms = 144
	}
	ty.Struct("module", 160, members...)
	return ty, o
}

type modSym struct {
	name  string
	typ   byte
	value uint64
	shndx uint16
}

// writeModule lays out one module with its kallsyms.
func writeModule(mem *symtest.Memory, o modOffsets, memLayout bool, at uint64, name string, state uint32, syms []modSym, base uint64) {
	mem.WriteU32(at+o.state, state)
	mem.WriteString(at+o.name, name)
	if memLayout {
		mem.WriteU64(at+o.base, base)
		mem.WriteU32(at+o.size, 0x1000)
		mem.WriteU64(at+o.dataBase, base+0x1000)
		mem.WriteU32(at+o.dataSize, 0x2000)
	} else {
		mem.WriteU64(at+o.base, base)
		mem.WriteU32(at+o.size, 0x3000)
		mem.WriteU32(at+o.textSize, 0x1000)
	}
	mem.WriteU64(at+o.kallsyms, fuseKsyms)
	strtab := []byte{0}
	symtab := make([]byte, 24)
	types := []byte{0}
	for _, s := range syms {
		e := make([]byte, 24)
		binary.LittleEndian.PutUint32(e, uint32(len(strtab)))
		strtab = append(append(strtab, s.name...), 0)
		binary.LittleEndian.PutUint16(e[6:], s.shndx)
		binary.LittleEndian.PutUint64(e[8:], s.value)
		symtab = append(symtab, e...)
		types = append(types, s.typ)
	}
	mem.Write(fuseSymtab, symtab)
	mem.Write(fuseStrtab, strtab)
	mem.Write(fuseTypetab, types)
	mem.WriteU64(fuseKsyms, fuseSymtab)
	mem.WriteU32(fuseKsyms+8, uint32(len(syms)+1))
	mem.WriteU64(fuseKsyms+16, fuseStrtab)
	mem.WriteU64(fuseKsyms+24, fuseTypetab)
}

func TestLoadModuleSymbols(t *testing.T) {
	syms := []modSym{
		{"request_wait_answer", 't', fuseText + 0x100, 1},
		{"fuse_simple_request", 'T', fuseText + 0x3a0, 1},
		{"fuse_data", 'd', fuseText + 0x1800, 3},
		{"printk", 'U', 0, 0},            // undefined: skipped
		{"$x", 't', fuseText + 0x200, 1}, // mapping symbol: skipped
		{"", 't', fuseText + 0x300, 1},   // unnamed: skipped
	}
	for _, memLayout := range []bool{false, true} {
		name := "core_layout (<= 6.3)"
		if memLayout {
			name = "mem[] (6.4+)"
		}
		t.Run(name, func(t *testing.T) {
			types, o := moduleTypes(memLayout)
			mem := symtest.NewMemory()
			const unformed = fuseStruct + 0x1000
			const broken = fuseStruct + 0x2000
			// modules → fuse → unformed → broken → modules
			mem.WriteU64(modulesHead, fuseStruct+o.list)
			mem.WriteU64(fuseStruct+o.list, unformed+o.list)
			mem.WriteU64(unformed+o.list, broken+o.list)
			mem.WriteU64(broken+o.list, modulesHead)
			writeModule(mem, o, memLayout, fuseStruct, "fuse", 0, syms, fuseText)
			mem.WriteU32(unformed+o.state, 3)
			mem.WriteU32(broken+o.state, 0)
			mem.WriteString(broken+o.name, "broken")
			mem.WriteU64(broken+o.kallsyms, 0xffffffffdead0000) // unreadable
			p := symtest.Program(mem, types, symtest.NewSymbols(symbols.Symbol{Name: "modules", Addr: modulesHead, Type: 'd'}))

			st, mods, err := symbols.LoadModules(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(mods) != 1 || mods[0].Name != "fuse" || mods[0].NumSyms != 3 {
				t.Fatalf("modules: %+v", mods)
			}
			if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "broken") {
				t.Errorf("warnings: %q", p.Warnings)
			}
			lookups := []struct {
				addr      uint64
				want      string
				off, size uint64
				ok        bool
			}{
				{fuseText + 0x100 + 0x159, "request_wait_answer", 0x159, 0x2a0, true},
				{fuseText + 0x3a0, "fuse_simple_request", 0, 0xc60, true}, // to the end of text
				{fuseText + 0x1000, "", 0, 0, false},                      // data before its first symbol
				{fuseText + 0x1810, "fuse_data", 0x10, 0x1800, true},
				{fuseText + 0x3000, "", 0, 0, false}, // past the module
				{fuseText - 1, "", 0, 0, false},
			}
			for _, tc := range lookups {
				s, off, ok := st.LookupAddr(tc.addr)
				if ok != tc.ok || s.Name != tc.want || off != tc.off || (ok && (s.Size != tc.size || s.Module != "fuse")) {
					t.Errorf("LookupAddr(%#x) = %s+%#x/%#x [%s] %v, want %s+%#x/%#x %v", tc.addr, s.Name, off, s.Size, s.Module, ok, tc.want, tc.off, tc.size, tc.ok)
				}
			}
			if s, err := st.Lookup("fuse_simple_request"); err != nil || s.Type != 'T' {
				t.Errorf("Lookup: %+v %v", s, err)
			}
			if _, err := st.Lookup("printk"); err == nil {
				t.Error("an undefined symbol is in the table")
			}
			// Attaching puts modules behind the vmlinux table (a bounded one).
			p.Syms = symbols.NewSymTable("vmlinux", []symbols.Symbol{{Name: "modules", Addr: modulesHead, Type: 'd'},
				{Name: "_end", Addr: modulesHead + 0x1000, Type: 'B'}}, nil)
			if err := symbols.AttachModuleSymbols(p); err != nil {
				t.Fatal(err)
			}
			if got := p.SymbolizeAddr(fuseText + 0x259); got != "request_wait_answer+0x159 [fuse]" {
				t.Errorf("SymbolizeAddr = %q", got)
			}
		})
	}
}

func TestLoadModuleSymbolsCycle(t *testing.T) {
	types, o := moduleTypes(false)
	mem := symtest.NewMemory()
	mem.WriteU64(modulesHead, fuseStruct+o.list)
	mem.WriteU64(fuseStruct+o.list, fuseStruct+o.list) // points at itself
	writeModule(mem, o, false, fuseStruct, "fuse", 0, nil, fuseText)
	p := symtest.Program(mem, types, symtest.NewSymbols(symbols.Symbol{Name: "modules", Addr: modulesHead}))
	// The module read before the cycle is kept, with a warning.
	_, mods, err := symbols.LoadModules(p)
	if err != nil || len(mods) != 1 || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "cycle") {
		t.Fatalf("modules %+v, warnings %q, err %v", mods, p.Warnings, err)
	}
	// A list that cycles before any module: an error.
	mem.WriteU64(modulesHead, 0xffffffffc0ffe000)
	mem.WriteU64(0xffffffffc0ffe000, 0xffffffffc0ffe000)
	mem.WriteU32(0xffffffffc0ffe000-o.list+o.state, 3) // unformed
	if _, err := symbols.LoadModuleSymbols(p); !errors.Is(err, symbols.ErrCycle) {
		t.Fatalf("got %v, want ErrCycle", err)
	}
}

func TestLoadModuleSymbolsMissingTypes(t *testing.T) {
	p := symtest.Program(symtest.NewMemory(), symtest.NewTypes(), symtest.NewSymbols(symbols.Symbol{Name: "modules", Addr: modulesHead}))
	if _, err := symbols.LoadModuleSymbols(p); !errors.Is(err, symbols.ErrNoType) {
		t.Fatalf("got %v, want ErrNoType", err)
	}
}
