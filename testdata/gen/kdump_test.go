package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
)

// fakeDonor is a module as modpost leaves it, reduced to what
// oopsModuleFrom reads: .modinfo, __versions, struct module with its init
// and exit relocations.
func fakeDonor(t *testing.T, withVersions bool) []byte {
	t.Helper()
	w := &relWriter{}
	w.add(".text", elf.SHT_PROGBITS, elf.SHF_ALLOC|elf.SHF_EXECINSTR, 16, []byte{0xc3, 0xc3})
	w.add(".modinfo", elf.SHT_PROGBITS, elf.SHF_ALLOC, 1, []byte("license=GPL\x00name=donor\x00vermagic=6.1.0-50-cloud-amd64 SMP preempt mod_unload modversions \x00"))
	if withVersions {
		v := make([]byte, 64)
		copy(v[8:], "module_layout")
		w.add("__versions", elf.SHT_PROGBITS, elf.SHF_ALLOC, 32, v)
	}
	mod := make([]byte, 0x380)
	copy(mod[24:], "donor")
	modIdx := w.add(".gnu.linkonce.this_module", elf.SHT_PROGBITS, elf.SHF_ALLOC|elf.SHF_WRITE, 64, mod)
	strtab := []byte("\x00init_module\x00cleanup_module\x00")
	sym := func(name uint32, shndx int, value uint64) []byte {
		b := make([]byte, 24)
		binary.LittleEndian.PutUint32(b, name)
		b[4] = byte(elf.STB_GLOBAL)<<4 | byte(elf.STT_FUNC)
		binary.LittleEndian.PutUint16(b[6:], uint16(shndx))
		binary.LittleEndian.PutUint64(b[8:], value)
		return b
	}
	symtab := append(make([]byte, 24), sym(1, 1, 0)...)
	symtab = append(symtab, sym(13, 1, 1)...)
	symIdx := len(w.secs) + 2
	var rela []byte
	for _, r := range []struct{ off, sym uint64 }{{0x138, 1}, {0x360, 2}} {
		b := make([]byte, 24)
		binary.LittleEndian.PutUint64(b, r.off)
		binary.LittleEndian.PutUint64(b[8:], r.sym<<32|uint64(elf.R_X86_64_64))
		rela = append(rela, b...)
	}
	ri := w.add(".rela.gnu.linkonce.this_module", elf.SHT_RELA, elf.SHF_INFO_LINK, 8, rela)
	w.secs[ri-1].link, w.secs[ri-1].info, w.secs[ri-1].entsize = uint32(symIdx), uint32(modIdx), 24
	si := w.add(".symtab", elf.SHT_SYMTAB, 0, 8, symtab)
	w.secs[si-1].link, w.secs[si-1].info, w.secs[si-1].entsize = uint32(symIdx+1), 1, 24
	w.add(".strtab", elf.SHT_STRTAB, 0, 1, strtab)
	return w.bytes()
}

// checkOopsModule checks a module built from donor the way the kernel's
// loader reads it (kernel/module/main.c: elf_validity_*, setup_load_info,
// check_modinfo, simplify_symbols, apply_relocations).
func checkOopsModule(t *testing.T, donor, ko []byte) {
	t.Helper()
	d, err := elf.NewFile(bytes.NewReader(donor))
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		t.Fatalf("module does not parse: %v", err)
	}
	if f.Type != elf.ET_REL || f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		t.Errorf("type %v machine %v class %v", f.Type, f.Machine, f.Class)
	}
	data := func(f *elf.File, name string) []byte {
		s := f.Section(name)
		if s == nil {
			return nil
		}
		b, err := s.Data()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return b
	}
	info := strings.Split(string(data(f, ".modinfo")), "\x00")
	dinfo := strings.Split(string(data(d, ".modinfo")), "\x00")
	vermagic := func(kv []string) string {
		for _, s := range kv {
			if v, ok := strings.CutPrefix(s, "vermagic="); ok {
				return v
			}
		}
		return ""
	}
	if vermagic(info) == "" || vermagic(info) != vermagic(dinfo) {
		t.Errorf("vermagic %q, donor's %q", vermagic(info), vermagic(dinfo))
	}
	if !slices.Contains(info, "name="+oopsModuleName) {
		t.Errorf(".modinfo %q has no name=%s", info, oopsModuleName)
	}
	if !bytes.Equal(data(f, "__versions"), data(d, "__versions")) {
		t.Error("__versions differs from the donor's")
	}
	mod, dmod := data(f, ".gnu.linkonce.this_module"), data(d, ".gnu.linkonce.this_module")
	if len(mod) != len(dmod) || mod == nil {
		t.Fatalf("struct module of %d bytes, donor's %d (the loader wants sizeof(struct module))", len(mod), len(dmod))
	}
	if ms := f.Section(".gnu.linkonce.this_module"); ms.Flags&elf.SHF_ALLOC == 0 {
		t.Error("struct module is not SHF_ALLOC")
	}
	if i := bytes.Index(mod, []byte(oopsModuleName+"\x00")); i < 0 || i > 64 {
		t.Errorf("module name at %d", i)
	}
	var syms, strtabs int
	for _, s := range f.Sections {
		switch s.Type {
		case elf.SHT_SYMTAB:
			syms++
			if int(s.Link) >= len(f.Sections) || f.Sections[s.Link].Type != elf.SHT_STRTAB {
				t.Errorf("symtab links section %d", s.Link)
			}
		case elf.SHT_STRTAB:
			strtabs++
		}
	}
	if syms != 1 || strtabs != 2 {
		t.Errorf("%d symbol tables, %d string tables", syms, strtabs)
	}
	symbols, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	// The one relocation: struct module's init, where the donor has it,
	// to init_module, whose code is oopsCode.
	var initOff uint64
	for _, r := range donorRelocs(t, d) {
		if r.sym == "init_module" {
			initOff = r.off
		}
	}
	relocs := donorRelocs(t, f)
	if len(relocs) != 1 || relocs[0].sym != "init_module" || relocs[0].off != initOff || initOff == 0 {
		t.Fatalf("relocations %+v, want one of init_module at %#x", relocs, initOff)
	}
	for _, s := range symbols {
		if s.Name != "init_module" {
			continue
		}
		text := data(f, f.Sections[s.Section].Name)
		if f.Sections[s.Section].Flags&elf.SHF_EXECINSTR == 0 || !bytes.Equal(text[s.Value:s.Value+uint64(len(oopsCode))], oopsCode) {
			t.Errorf("init_module in %s is not the oops code", f.Sections[s.Section].Name)
		}
		if !bytes.Equal(oopsCode[oopsCodeFault:oopsCodeFault+3], []byte{0x48, 0x8b, 0x00}) {
			t.Error("the faulting instruction is not mov (%rax),%rax")
		}
	}
}

type reloc struct {
	off uint64
	sym string
}

func donorRelocs(t *testing.T, f *elf.File) []reloc {
	t.Helper()
	symbols, _ := f.Symbols()
	var out []reloc
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || f.Sections[s.Info].Name != ".gnu.linkonce.this_module" {
			continue
		}
		b, _ := s.Data()
		for i := 0; i+24 <= len(b); i += 24 {
			info := binary.LittleEndian.Uint64(b[i+8:])
			if elf.R_X86_64(info&0xffffffff) != elf.R_X86_64_64 {
				t.Errorf("relocation type %v", elf.R_X86_64(info&0xffffffff))
			}
			out = append(out, reloc{binary.LittleEndian.Uint64(b[i:]), symbols[info>>32-1].Name})
		}
	}
	return out
}

func TestOopsModule(t *testing.T) {
	for _, versions := range []bool{true, false} {
		donor := fakeDonor(t, versions)
		ko, err := oopsModuleFrom(donor)
		if err != nil {
			t.Fatal(err)
		}
		checkOopsModule(t, donor, ko)
	}
	if _, err := oopsModuleFrom([]byte("not an ELF")); err == nil {
		t.Error("no error for a donor that is no ELF")
	}
}

// The module of each pinned kernel whose packages are in the cache.
func TestOopsModuleRealDonors(t *testing.T) {
	n := 0
	for _, k := range testdata.Kernels {
		roots, _ := filepath.Glob(filepath.Join(testdata.CacheDir(), "kernels", k.ID+"-*"))
		for _, root := range roots {
			pk := &preparedKernel{Kernel: k, Root: root}
			for _, base := range []string{"lib/modules", "usr/lib/modules"} {
				ents, _ := os.ReadDir(filepath.Join(root, base))
				for _, e := range ents {
					if e.IsDir() {
						pk.Release, pk.ModDir = e.Name(), filepath.Join(root, base, e.Name())
					}
				}
			}
			path := pk.findModule(oopsDonor)
			if path == "" {
				continue
			}
			donor, err := decompressModule(path)
			if err != nil {
				t.Fatal(err)
			}
			ko, err := buildOopsModule(pk)
			if err != nil {
				t.Fatalf("%s: %v", pk.Release, err)
			}
			checkOopsModule(t, donor, ko)
			n++
		}
	}
	if n == 0 {
		t.Skip("SKIP: no kernel packages in the cache (go run ./testdata/gen)")
	}
}

func TestLibDepends(t *testing.T) {
	got := libDepends("Depends: libc6 (>= 2.34), libxenmisc4.17 (>= 4.17.5+23-ga4e5191dc0), debconf (>= 0.5) | debconf-2.0, debconf\n" +
		"Pre-Depends: perl:any, zlib1g (>= 1:1.2.0), libdw1t64:amd64 | libdw1, libc-bin\n")
	want := []string{"libc6", "libxenmisc4.17", "zlib1g", "libdw1t64"}
	if !slices.Equal(got, want) {
		t.Errorf("libDepends = %q, want %q", got, want)
	}
}

// Every kdump format has its step in the capture kernel's /init, and
// every trigger its console lines.
func TestCaptureInit(t *testing.T) {
	for _, kf := range kdumpFormats {
		if !strings.Contains(captureInit, "step "+string(kf.f)+" ") || !strings.Contains(captureInit, "/out/vmcore."+string(kf.f)) {
			t.Errorf("capture /init does not write %s", kf.f)
		}
	}
	for _, g := range testdata.Guests {
		if g.IsKdump() && len(testdata.KdumpPanicLines(g.Trigger)) == 0 {
			t.Errorf("%s/%s: no console lines for trigger %s", g.Kernel, g.Name, g.Trigger)
		}
	}
}
