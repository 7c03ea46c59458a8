package symbols

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// elfSec is one section of a hand-built ELF file.
type elfSec struct {
	name  string
	typ   elf.SectionType
	flags elf.SectionFlag
	addr  uint64
	size  uint64 // for sections without data
	data  []byte
	link  uint32
	info  uint32
	ent   uint64
}

type elfSym struct {
	name  string
	info  byte
	shndx uint16
	value uint64
	size  uint64
}

// buildVmlinux writes a minimal ELF64 x86_64 executable with a symbol table.
func buildVmlinux(t *testing.T, secs []elfSec, syms []elfSym) string {
	t.Helper()
	le := binary.LittleEndian
	strtab := []byte{0}
	symtab := make([]byte, 24) // the null symbol
	for _, s := range syms {
		e := make([]byte, 24)
		le.PutUint32(e, uint32(len(strtab)))
		strtab = append(append(strtab, s.name...), 0)
		e[4] = s.info
		le.PutUint16(e[6:], s.shndx)
		le.PutUint64(e[8:], s.value)
		le.PutUint64(e[16:], s.size)
		symtab = append(symtab, e...)
	}
	n := uint32(len(secs))
	all := append([]elfSec{{}}, secs...)
	all = append(all,
		elfSec{name: ".symtab", typ: elf.SHT_SYMTAB, data: symtab, link: n + 2, info: 1, ent: 24},
		elfSec{name: ".strtab", typ: elf.SHT_STRTAB, data: strtab},
		elfSec{name: ".shstrtab", typ: elf.SHT_STRTAB})
	shstr := []byte{0}
	nameOff := make([]uint32, len(all))
	for i := 1; i < len(all); i++ {
		nameOff[i] = uint32(len(shstr))
		shstr = append(append(shstr, all[i].name...), 0)
	}
	all[len(all)-1].data = shstr
	var body bytes.Buffer
	body.Write(make([]byte, 64))
	offs := make([]uint64, len(all))
	for i := range all {
		if all[i].data != nil {
			offs[i] = uint64(body.Len())
			body.Write(all[i].data)
		}
	}
	for body.Len()%8 != 0 {
		body.WriteByte(0)
	}
	shoff := uint64(body.Len())
	for i, s := range all {
		h := make([]byte, 64)
		le.PutUint32(h[0:], nameOff[i])
		le.PutUint32(h[4:], uint32(s.typ))
		le.PutUint64(h[8:], uint64(s.flags))
		le.PutUint64(h[16:], s.addr)
		le.PutUint64(h[24:], offs[i])
		size := s.size
		if s.data != nil {
			size = uint64(len(s.data))
		}
		le.PutUint64(h[32:], size)
		le.PutUint32(h[40:], s.link)
		le.PutUint32(h[44:], s.info)
		le.PutUint64(h[48:], 1)
		le.PutUint64(h[56:], s.ent)
		body.Write(h)
	}
	b := body.Bytes()
	copy(b, []byte{0x7f, 'E', 'L', 'F', 2, 1, 1})
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(elf.EM_X86_64))
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[40:], shoff)
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[58:], 64)
	le.PutUint16(b[60:], uint16(len(all)))
	le.PutUint16(b[62:], uint16(len(all)-1))
	p := filepath.Join(t.TempDir(), "vmlinux")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func stInfo(bind elf.SymBind, typ elf.SymType) byte { return byte(bind)<<4 | byte(typ) }

func TestLoadVmlinuxSymbols(t *testing.T) {
	const text = 0xffffffff81000000
	secs := []elfSec{
		{name: ".text", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, addr: text, size: 0x100000},
		{name: ".data..percpu", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_WRITE, addr: 0, size: 0x30000},
		{name: ".data", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC | elf.SHF_WRITE, addr: text + 0x200000, size: 0x1000},
		{name: ".bss", typ: elf.SHT_NOBITS, flags: elf.SHF_ALLOC | elf.SHF_WRITE, addr: text + 0x300000, size: 0x1000},
	}
	syms := []elfSym{
		{"vmlinux.o", stInfo(elf.STB_LOCAL, elf.STT_FILE), uint16(elf.SHN_ABS), 0, 0},
		{"_stext", stInfo(elf.STB_GLOBAL, elf.STT_NOTYPE), 1, text, 0},
		{"do_wait", stInfo(elf.STB_GLOBAL, elf.STT_FUNC), 1, text + 0x2000, 0x2e0},
		{"helper", stInfo(elf.STB_LOCAL, elf.STT_FUNC), 1, text + 0x2300, 0x20},
		{"weakfn", stInfo(elf.STB_WEAK, elf.STT_FUNC), 1, text + 0x2400, 0x10},
		{"current_task", stInfo(elf.STB_GLOBAL, elf.STT_OBJECT), 2, 0x1ad00, 8},
		{"init_task", stInfo(elf.STB_GLOBAL, elf.STT_OBJECT), 3, text + 0x200000, 0x800},
		{"zeroed", stInfo(elf.STB_LOCAL, elf.STT_OBJECT), 4, text + 0x300000, 8},
		{"undef", stInfo(elf.STB_GLOBAL, elf.STT_NOTYPE), 0, 0, 0},
	}
	path := buildVmlinux(t, secs, syms)
	const slide = 0x2c000000
	tab, err := LoadVmlinuxSymbols(path, &mapInfo{syms: map[string]uint64{"_stext": text + slide}, offset: slide})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name string
		addr uint64
		typ  byte
	}{
		{"do_wait", text + slide + 0x2000, 'T'},
		{"helper", text + slide + 0x2300, 't'},
		{"weakfn", text + slide + 0x2400, 'W'},
		{"current_task", 0x1ad00, 'D'},
		{"init_task", text + slide + 0x200000, 'D'},
		{"zeroed", text + slide + 0x300000, 'b'},
	}
	for _, w := range want {
		s, err := tab.Lookup(w.name)
		if err != nil || s.Addr != w.addr || s.Type != w.typ {
			t.Errorf("%s = %#x %c (%v), want %#x %c", w.name, s.Addr, s.Type, err, w.addr, w.typ)
		}
	}
	for _, bad := range []string{"undef", "vmlinux.o"} {
		if _, err := tab.Lookup(bad); err == nil {
			t.Errorf("%s is in the table", bad)
		}
	}
	if s, off, ok := tab.LookupAddr(text + slide + 0x2010); !ok || s.Name != "do_wait" || off != 0x10 || s.Size != 0x2e0 {
		t.Errorf("LookupAddr: %+v %#x %v", s, off, ok)
	}
	if _, _, ok := tab.LookupAddr(text + slide + 0x100000 + 10); ok {
		t.Error("claimed an address past .text")
	}
	// A vmlinux of another build.
	if _, err := LoadVmlinuxSymbols(path, &mapInfo{syms: map[string]uint64{"_stext": text + slide + 0x1000}, offset: slide}); err == nil {
		t.Error("a mismatched vmlinux loaded")
	}
	if _, err := LoadVmlinuxSymbols(filepath.Join(t.TempDir(), "none"), nil); err == nil {
		t.Error("a missing file loaded")
	}
}
