package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Module symbols come from each loaded module's own kallsyms
// (kernel/module/kallsyms.c): mod->kallsyms points at
// struct mod_kallsyms { Elf_Sym *symtab; unsigned int num_symtab;
// char *strtab; char *typetab; }, the core copy after init.

const (
	// elf64SymSize and the field offsets of Elf64_Sym (include/uapi/linux/elf.h):
	// st_name u32 @0, st_info u8 @4, st_other u8 @5, st_shndx u16 @6,
	// st_value u64 @8, st_size u64 @16.
	elf64SymSize = 24
	// maxModuleSyms bounds one module's num_symtab.
	maxModuleSyms = 1 << 20
	// maxModules bounds the walk of the modules list.
	maxModules = 1 << 14
	// moduleStateUnformed is MODULE_STATE_UNFORMED (include/linux/module.h),
	// used when the type has no enum to ask.
	moduleStateUnformed = 3
)

// ModuleInfo is one loaded module as LoadModuleSymbols saw it.
type ModuleInfo struct {
	Name    string
	Addr    uint64     // the struct module
	Ranges  []SymRange // its memory: text, data, ... (init parts while loading)
	NumSyms int
}

// moduleLayout is what LoadModuleSymbols needs from the types, decided once.
type moduleLayout struct {
	listOff  uint64
	hasMem   bool     // struct module has mem[] (6.4+, "module: replace module_layout with module_memory")
	memLen   int      // number of mem[] entries
	memNames []string // enum mod_mem_type names by index, when known
	typetab  bool     // mod_kallsyms has typetab (5.0+, kernel/module.c)
	unformed int64
}

func moduleLayoutOf(p *Program) (moduleLayout, error) {
	var l moduleLayout
	mt, err := p.Type("struct module")
	if err != nil {
		return l, err
	}
	for _, m := range []string{"list", "name", "kallsyms", "state"} {
		if !mt.HasMember(m) {
			return l, fmt.Errorf("%w: struct module has no %s", ErrNoMember, m)
		}
	}
	lm, _ := mt.FindMember("list")
	l.listOff = lm.Offset
	if err := l.memoryLayout(p, mt); err != nil {
		return l, err
	}
	kt, err := p.Type("struct mod_kallsyms")
	if err != nil {
		return l, err
	}
	for _, m := range []string{"symtab", "num_symtab", "strtab"} {
		if !kt.HasMember(m) {
			return l, fmt.Errorf("%w: struct mod_kallsyms has no %s", ErrNoMember, m)
		}
	}
	l.typetab = kt.HasMember("typetab")
	l.unformed = moduleStateUnformed
	if sm, ok := mt.FindMember("state"); ok {
		if v, ok := sm.Type.EnumValue("MODULE_STATE_UNFORMED"); ok {
			l.unformed = v
		}
	}
	return l, nil
}

// memoryLayout decides how struct module describes the module's memory:
// mem[] (6.4+) or core_layout/init_layout.
func (l *moduleLayout) memoryLayout(p *Program, mt *Type) error {
	if mm, ok := mt.FindMember("mem"); ok {
		arr := mm.Type.Resolve()
		if arr == nil || arr.Kind != KindArray || arr.Len == 0 {
			return fmt.Errorf("struct module.mem is %s, not an array", mm.Type)
		}
		l.hasMem, l.memLen = true, int(arr.Len)
		if et, err := p.Type("enum mod_mem_type"); err == nil {
			if r := et.Resolve(); r != nil {
				l.memNames = make([]string, l.memLen)
				for _, e := range r.Enumerators {
					if e.Value >= 0 && e.Value < int64(l.memLen) {
						l.memNames[e.Value] = strings.ToLower(strings.TrimPrefix(e.Name, "MOD_"))
					}
				}
			}
		}
	} else if !mt.HasMember("core_layout") {
		return fmt.Errorf("%w: struct module has neither mem[] (6.4+) nor core_layout", ErrNoMember)
	}
	return nil
}

// ModuleMemory returns the memory regions of the loaded module mo (a struct
// module): its text, data, ... from mem[] (6.4+) or core_layout (and
// init_layout while it initialises). What the module's own tables describe
// (its ORC entries, its symbols) is only valid inside them: a module's
// freed init text is reused by modules loaded later.
func ModuleMemory(p *Program, mo Object) ([]SymRange, error) {
	var l moduleLayout
	if err := l.memoryLayout(p, mo.Type()); err != nil {
		return nil, err
	}
	name, err := mo.MemberString("name")
	if err != nil {
		return nil, err
	}
	return moduleRanges(mo, l, name)
}

// LoadModuleSymbols reads the symbols of every loaded module from the
// modules list. It needs p's symbols (for "modules") and types (struct
// module, struct mod_kallsyms). A module that cannot be read is skipped with
// a warning in p.Warnings; the walk itself failing is an error.
func LoadModuleSymbols(p *Program) (SymbolTable, error) {
	t, _, err := LoadModules(p)
	if err != nil {
		return nil, err
	}
	return t, nil
}

// LoadModules is LoadModuleSymbols that also returns what it found of each
// module.
func LoadModules(p *Program) (*SymTable, []ModuleInfo, error) {
	l, err := moduleLayoutOf(p)
	if err != nil {
		return nil, nil, fmt.Errorf("module symbols: %w", err)
	}
	head, err := p.Symbol("modules")
	if err != nil {
		// kernel/module/main.c: static LIST_HEAD(modules) is a data symbol,
		// which kallsyms has only with CONFIG_KALLSYMS_ALL.
		return nil, nil, fmt.Errorf("module symbols: the modules list: %w (a kernel without CONFIG_KALLSYMS_ALL has no data symbols in kallsyms: supply System.map with --system-map FILE or a vmlinux with --vmlinux FILE)", err)
	}
	var syms []Symbol
	var ranges []SymRange
	var mods []ModuleInfo
	seen := map[uint64]bool{head: true}
	next, err := p.ReadU64(head)
	if err != nil {
		return nil, nil, fmt.Errorf("module symbols: modules.next at %#x: %w", head, err)
	}
	// A broken list ends the walk; the modules read before it are kept
	// (with a warning) so that a damaged dump still symbolizes them.
	var walkErr error
	for next != head {
		if seen[next] {
			walkErr = fmt.Errorf("module symbols: modules list: %w at %#x", ErrCycle, next)
			break
		}
		if len(seen) > maxModules {
			walkErr = fmt.Errorf("module symbols: modules list longer than %d", maxModules)
			break
		}
		seen[next] = true
		mod := next - l.listOff
		if next, err = p.ReadU64(next); err != nil {
			walkErr = fmt.Errorf("module symbols: module at %#x: list.next: %w", mod, err)
			break
		}
		mi, ms, err := readModule(p, l, mod)
		if err != nil {
			p.Warnings = append(p.Warnings, fmt.Sprintf("module symbols: %v", err))
			continue
		}
		if mi.Name == "" {
			continue // unformed
		}
		syms = append(syms, ms...)
		ranges = append(ranges, mi.Ranges...)
		mods = append(mods, mi)
	}
	if walkErr != nil {
		if len(mods) == 0 {
			return nil, nil, walkErr
		}
		p.Warnings = append(p.Warnings, walkErr.Error()+fmt.Sprintf(" (kept the %d modules before it)", len(mods)))
	}
	desc := fmt.Sprintf("module kallsyms from dump memory, %d modules, %d symbols", len(mods), len(syms))
	return NewSymTable(desc, syms, ranges), mods, nil
}

// readModule reads one struct module's name, memory ranges and symbols.
func readModule(p *Program, l moduleLayout, addr uint64) (ModuleInfo, []Symbol, error) {
	mi := ModuleInfo{Addr: addr}
	mo, err := p.Object("struct module", addr)
	if err != nil {
		return mi, nil, err
	}
	state, err := mo.MemberUint("state")
	if err != nil {
		return mi, nil, err
	}
	if int64(state) == l.unformed {
		return mi, nil, nil
	}
	name, err := mo.MemberString("name")
	if err != nil {
		return mi, nil, err
	}
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return mi, nil, fmt.Errorf("module at %#x: name %q is not a module name", addr, name)
	}
	mi.Name = name
	if mi.Ranges, err = moduleRanges(mo, l, name); err != nil {
		return mi, nil, fmt.Errorf("module %s at %#x: %w", name, addr, err)
	}
	ks, err := mo.Member("kallsyms")
	if err != nil {
		return mi, nil, err
	}
	kp, err := ks.Uint()
	if err != nil {
		return mi, nil, err
	}
	if kp == 0 {
		return mi, nil, fmt.Errorf("module %s at %#x: kallsyms is NULL", name, addr)
	}
	ko, err := p.Object("struct mod_kallsyms", kp)
	if err != nil {
		return mi, nil, err
	}
	syms, err := readModKallsyms(p, ko, l, name)
	if err != nil {
		return mi, nil, fmt.Errorf("module %s at %#x: %w", name, addr, err)
	}
	mi.NumSyms = len(syms)
	return mi, syms, nil
}

// moduleRanges returns the module's memory regions with a base.
func moduleRanges(mo Object, l moduleLayout, name string) ([]SymRange, error) {
	var out []SymRange
	if l.hasMem {
		for i := range l.memLen {
			base, err := mo.MemberUint(fmt.Sprintf("mem[%d].base", i))
			if err != nil {
				return nil, err
			}
			size, err := mo.MemberUint(fmt.Sprintf("mem[%d].size", i))
			if err != nil {
				return nil, err
			}
			if base == 0 || size == 0 {
				continue
			}
			what := fmt.Sprintf("mem[%d]", i)
			if i < len(l.memNames) && l.memNames[i] != "" {
				what = l.memNames[i]
			}
			out = append(out, SymRange{Lo: base, Hi: base + size, Name: name + " " + what})
		}
		return out, nil
	}
	// Up to 6.3: core_layout and init_layout { base, size, text_size, ... };
	// text is [base, base+text_size) (kernel/module/kallsyms.c find_kallsyms_symbol).
	for _, lay := range []string{"core_layout", "init_layout"} {
		base, err := mo.MemberUint(lay + ".base")
		if err != nil {
			if lay == "init_layout" {
				continue
			}
			return nil, err
		}
		size, err := mo.MemberUint(lay + ".size")
		if err != nil {
			return nil, err
		}
		if base == 0 || size == 0 {
			continue
		}
		text, err := mo.MemberUint(lay + ".text_size")
		if err != nil || text > size {
			text = size
		}
		part := strings.TrimSuffix(lay, "_layout")
		if text > 0 {
			out = append(out, SymRange{Lo: base, Hi: base + text, Name: name + " " + part + " text"})
		}
		if size > text {
			out = append(out, SymRange{Lo: base + text, Hi: base + size, Name: name + " " + part + " data"})
		}
	}
	return out, nil
}

// readModKallsyms reads symtab, strtab and typetab in bulk.
func readModKallsyms(p *Program, ko Object, l moduleLayout, module string) ([]Symbol, error) {
	symtab, err := ko.MemberUint("symtab")
	if err != nil {
		return nil, err
	}
	num, err := ko.MemberUint("num_symtab")
	if err != nil {
		return nil, err
	}
	strtab, err := ko.MemberUint("strtab")
	if err != nil {
		return nil, err
	}
	if num == 0 {
		return nil, nil
	}
	if num > maxModuleSyms || symtab == 0 || strtab == 0 {
		return nil, fmt.Errorf("kallsyms: implausible num_symtab=%d symtab=%#x strtab=%#x", num, symtab, strtab)
	}
	tab, err := readTable(p.Mem, symtab, int(num)*elf64SymSize, "module symtab")
	if err != nil {
		return nil, err
	}
	var types []byte
	if l.typetab {
		tt, err := ko.MemberUint("typetab")
		if err != nil {
			return nil, err
		}
		if tt != 0 {
			if types, err = readTable(p.Mem, tt, int(num), "module typetab"); err != nil {
				return nil, err
			}
		}
	}
	maxName := uint32(0)
	for i := range int(num) {
		maxName = max(maxName, binary.LittleEndian.Uint32(tab[i*elf64SymSize:]))
	}
	if maxName > maxNamesBytes {
		return nil, fmt.Errorf("kallsyms: a symbol name offset %d is implausible", maxName)
	}
	strs, err := readTablePrefix(p.Mem, strtab, int(maxName)+maxSymbolName+1, int(maxName)+1, "module strtab")
	if err != nil {
		return nil, err
	}
	syms := make([]Symbol, 0, num)
	for i := 1; i < int(num); i++ { // ELF symbol 0 is the null symbol
		e := tab[i*elf64SymSize:]
		nameOff := binary.LittleEndian.Uint32(e)
		info := e[4]
		shndx := binary.LittleEndian.Uint16(e[6:])
		value := binary.LittleEndian.Uint64(e[8:])
		if shndx == 0 { // SHN_UNDEF
			continue
		}
		name := cString(strs[nameOff:])
		// The kernel skips unnamed and mapping symbols ($x, $d, .L...)
		// (kernel/module/kallsyms.c is_mapping_symbol).
		if name == "" || name[0] == '$' || strings.HasPrefix(name, ".L") {
			continue
		}
		typ := byte(0)
		if types != nil {
			typ = types[i]
		}
		if !isTypeLetter(typ) {
			typ = elfSymLetter(info)
		}
		syms = append(syms, Symbol{Name: name, Addr: value, Type: typ, Module: module})
	}
	return syms, nil
}

// cString returns b up to its first NUL (or all of b).
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// elfSymLetter guesses an nm letter from st_info alone (kernels whose
// mod_kallsyms has no typetab): functions 't', objects 'd', global upper case.
func elfSymLetter(info byte) byte {
	c := byte('d')
	if info&0xf == 2 { // STT_FUNC
		c = 't'
	}
	if info>>4 != 0 { // not STB_LOCAL
		c -= 'a' - 'A'
	}
	return c
}

// AttachModuleSymbols loads module symbols and puts them behind p.Syms
// (vmlinux first). A failure leaves p.Syms as it was.
func AttachModuleSymbols(p *Program) error {
	if p.Syms == nil {
		return errors.New("module symbols: no vmlinux symbols loaded")
	}
	mods, err := LoadModuleSymbols(p)
	if err != nil {
		return err
	}
	p.Syms = CombineTables(p.Syms, mods)
	return nil
}
