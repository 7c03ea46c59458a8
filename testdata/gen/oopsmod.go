package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"strings"
)

// The oops trigger of the kdump guests needs kernel code that faults: the
// Debian cloud kernels ship no lkdtm (drivers/misc/lkdtm), and the
// generator has no compiler for them. buildOopsModule writes a loadable
// module for one kernel by hand instead: an ELF relocatable object whose
// init function reads address 0. What the loader checks comes from a
// module of the same kernel package (the donor): the vermagic of its
// .modinfo, its __versions table (6.1 has CONFIG_MODVERSIONS: the loader
// looks up module_layout there) and its .gnu.linkonce.this_module, the
// struct module the loader takes as is (its size must be the kernel's
// sizeof(struct module)), with the name changed and the init pointer
// relocated to the new code. The module is not signed (the kernels
// do not enforce signatures: the load taints the kernel with E) and not in
// tree (O).
//
// The init function keeps a frame pointer (the module has no ORC tables:
// the kernel's unwinder falls back to frame pointers for its frame):
//
//	f3 0f 1e fa   endbr64
//	55            push %rbp
//	48 89 e5      mov  %rsp,%rbp
//	31 c0         xor  %eax,%eax
//	48 8b 00      mov  (%rax),%rax     <- BUG: kernel NULL pointer dereference
//	5d            pop  %rbp
//	c3            ret
const (
	oopsModuleName = "kwalk_oops"
	oopsDonor      = "dummy" // drivers/net/dummy.ko, in every Debian cloud kernel
)

var oopsCode = []byte{0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5, 0x31, 0xc0, 0x48, 0x8b, 0x00, 0x5d, 0xc3}

// oopsCodeFault is the offset of the faulting instruction in oopsCode.
const oopsCodeFault = 10

// buildOopsModule returns the module for pk's kernel.
func buildOopsModule(pk *preparedKernel) ([]byte, error) {
	path := pk.findModule(oopsDonor)
	if path == "" {
		return nil, fmt.Errorf("oops module: kernel %s has no %s module to take the module layout from", pk.Release, oopsDonor)
	}
	donor, err := decompressModule(path)
	if err != nil {
		return nil, err
	}
	return oopsModuleFrom(donor)
}

func oopsModuleFrom(donor []byte) ([]byte, error) {
	f, err := elf.NewFile(bytes.NewReader(donor))
	if err != nil {
		return nil, fmt.Errorf("oops module: donor: %w", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_REL {
		return nil, fmt.Errorf("oops module: donor is not an x86_64 relocatable object")
	}
	sec := func(name string) ([]byte, *elf.Section, error) {
		s := f.Section(name)
		if s == nil {
			return nil, nil, nil
		}
		b, err := s.Data()
		return b, s, err
	}
	modinfo, _, err := sec(".modinfo")
	if err != nil || modinfo == nil {
		return nil, fmt.Errorf("oops module: donor .modinfo: %v", err)
	}
	var vermagic, donorName string
	for _, kv := range strings.Split(string(modinfo), "\x00") {
		if v, ok := strings.CutPrefix(kv, "vermagic="); ok {
			vermagic = v
		}
		if v, ok := strings.CutPrefix(kv, "name="); ok {
			donorName = v
		}
	}
	if vermagic == "" || donorName == "" {
		return nil, fmt.Errorf("oops module: donor .modinfo has no vermagic or name")
	}
	versions, _, err := sec("__versions")
	if err != nil {
		return nil, fmt.Errorf("oops module: donor __versions: %w", err)
	}
	mod, modSec, err := sec(".gnu.linkonce.this_module")
	if err != nil || mod == nil {
		return nil, fmt.Errorf("oops module: donor .gnu.linkonce.this_module: %v", err)
	}
	mod = append([]byte(nil), mod...)
	// struct module's name (char name[MODULE_NAME_LEN], 56 bytes on 64-bit)
	// sits after state and the list head: find the donor's.
	nameOff := bytes.Index(mod, append([]byte(donorName), 0))
	const moduleNameLen = 56
	if nameOff < 0 || nameOff > 64 || nameOff+moduleNameLen > len(mod) {
		return nil, fmt.Errorf("oops module: donor's name %q not at the start of struct module", donorName)
	}
	copy(mod[nameOff:nameOff+moduleNameLen], make([]byte, moduleNameLen))
	copy(mod[nameOff:], oopsModuleName)
	// The init pointer: the donor's relocation against init_module.
	initOff := -1
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("oops module: donor symbols: %w", err)
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || s.Info != uint32(sectionIndex(f, modSec)) {
			continue
		}
		rela, err := s.Data()
		if err != nil {
			return nil, err
		}
		for i := 0; i+24 <= len(rela); i += 24 {
			off := binary.LittleEndian.Uint64(rela[i:])
			info := binary.LittleEndian.Uint64(rela[i+8:])
			sym := int(info >> 32)
			if sym >= 1 && sym <= len(syms) && syms[sym-1].Name == "init_module" && elf.R_X86_64(info&0xffffffff) == elf.R_X86_64_64 {
				initOff = int(off)
			}
			if off+8 <= uint64(len(mod)) {
				copy(mod[off:off+8], make([]byte, 8)) // init, exit: filled by relocations only
			}
		}
	}
	if initOff < 0 {
		return nil, fmt.Errorf("oops module: no relocation of init_module in the donor's struct module")
	}

	info := strings.Join([]string{
		"license=GPL",
		"description=kwalk dump generator: NULL pointer read in init (testdata/gen/oopsmod.go)",
		"depends=",
		"retpoline=Y", // no indirect branches
		"name=" + oopsModuleName,
		"vermagic=" + vermagic,
	}, "\x00") + "\x00"

	text := append(append([]byte(nil), oopsCode...), 0xcc) // int3 padding to 16
	w := &relWriter{}
	w.add(".text", elf.SHT_PROGBITS, elf.SHF_ALLOC|elf.SHF_EXECINSTR, 16, text)
	w.add(".modinfo", elf.SHT_PROGBITS, elf.SHF_ALLOC, 1, []byte(info))
	if versions != nil {
		w.add("__versions", elf.SHT_PROGBITS, elf.SHF_ALLOC, 32, versions)
	}
	modIdx := w.add(".gnu.linkonce.this_module", elf.SHT_PROGBITS, elf.SHF_ALLOC|elf.SHF_WRITE, max(modSec.Addralign, 8), mod)
	// Symbols: null, the two section symbols, then the globals.
	strtab := []byte("\x00init_module\x00__this_module\x00")
	sym := func(name uint32, info elf.SymType, bind elf.SymBind, shndx int, size uint64) []byte {
		b := make([]byte, 24)
		binary.LittleEndian.PutUint32(b, name)
		b[4] = byte(bind)<<4 | byte(info)
		binary.LittleEndian.PutUint16(b[6:], uint16(shndx))
		binary.LittleEndian.PutUint64(b[16:], size)
		return b
	}
	var symtab []byte
	symtab = append(symtab, make([]byte, 24)...)
	symtab = append(symtab, sym(0, elf.STT_SECTION, elf.STB_LOCAL, 1, 0)...)
	symtab = append(symtab, sym(0, elf.STT_SECTION, elf.STB_LOCAL, modIdx, 0)...)
	const initSym = 3
	symtab = append(symtab, sym(1, elf.STT_FUNC, elf.STB_GLOBAL, 1, uint64(len(oopsCode)))...)
	symtab = append(symtab, sym(13, elf.STT_OBJECT, elf.STB_GLOBAL, modIdx, uint64(len(mod)))...)
	symIdx := len(w.secs) + 2 // after the relocations
	rela := make([]byte, 24)
	binary.LittleEndian.PutUint64(rela, uint64(initOff))
	binary.LittleEndian.PutUint64(rela[8:], uint64(initSym)<<32|uint64(elf.R_X86_64_64))
	r := w.add(".rela.gnu.linkonce.this_module", elf.SHT_RELA, elf.SHF_INFO_LINK, 8, rela)
	w.secs[r-1].link, w.secs[r-1].info, w.secs[r-1].entsize = uint32(symIdx), uint32(modIdx), 24
	s := w.add(".symtab", elf.SHT_SYMTAB, 0, 8, symtab)
	w.secs[s-1].link, w.secs[s-1].info, w.secs[s-1].entsize = uint32(symIdx+1), initSym, 24
	w.add(".strtab", elf.SHT_STRTAB, 0, 1, strtab)
	return w.bytes(), nil
}

func sectionIndex(f *elf.File, s *elf.Section) int {
	for i, x := range f.Sections {
		if x == s {
			return i
		}
	}
	return -1
}

// relWriter lays out an ELF64 relocatable object: header, section data,
// section name table, section headers.
type relWriter struct {
	secs []relSection
}

type relSection struct {
	name                string
	typ                 elf.SectionType
	flags               elf.SectionFlag
	align               uint64
	data                []byte
	link, info, entsize uint32
}

// add appends a section and returns its index (0 is the null section).
func (w *relWriter) add(name string, typ elf.SectionType, flags elf.SectionFlag, align uint64, data []byte) int {
	w.secs = append(w.secs, relSection{name: name, typ: typ, flags: flags, align: align, data: data})
	return len(w.secs)
}

func (w *relWriter) bytes() []byte {
	le := binary.LittleEndian
	shstr := []byte{0}
	nameOff := make([]uint32, len(w.secs)+1)
	for i, s := range w.secs {
		nameOff[i+1] = uint32(len(shstr))
		shstr = append(append(shstr, s.name...), 0)
	}
	shstrName := uint32(len(shstr))
	shstr = append(append(shstr, ".shstrtab"...), 0)
	all := append(append([]relSection(nil), w.secs...), relSection{name: ".shstrtab", typ: elf.SHT_STRTAB, align: 1, data: shstr})
	nameOff = append(nameOff, shstrName)

	out := make([]byte, 64)
	offs := make([]uint64, len(all))
	for i, s := range all {
		for uint64(len(out))%max(s.align, 1) != 0 {
			out = append(out, 0)
		}
		offs[i] = uint64(len(out))
		out = append(out, s.data...)
	}
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	shoff := uint64(len(out))
	out = append(out, make([]byte, 64)...) // null section header
	for i, s := range all {
		h := make([]byte, 64)
		le.PutUint32(h[0:], nameOff[i+1])
		le.PutUint32(h[4:], uint32(s.typ))
		le.PutUint64(h[8:], uint64(s.flags))
		le.PutUint64(h[24:], offs[i])
		le.PutUint64(h[32:], uint64(len(s.data)))
		le.PutUint32(h[40:], s.link)
		le.PutUint32(h[44:], s.info)
		le.PutUint64(h[48:], s.align)
		le.PutUint64(h[56:], uint64(s.entsize))
		out = append(out, h...)
	}
	copy(out, []byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT), byte(elf.ELFOSABI_NONE)})
	le.PutUint16(out[16:], uint16(elf.ET_REL))
	le.PutUint16(out[18:], uint16(elf.EM_X86_64))
	le.PutUint32(out[20:], uint32(elf.EV_CURRENT))
	le.PutUint64(out[40:], shoff)
	le.PutUint16(out[52:], 64) // e_ehsize
	le.PutUint16(out[58:], 64) // e_shentsize
	le.PutUint16(out[60:], uint16(len(all)+1))
	le.PutUint16(out[62:], uint16(len(all))) // e_shstrndx: the last
	return out
}
