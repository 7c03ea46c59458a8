package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// readCPIO parses a newc archive back into name → entry.
func readCPIO(t *testing.T, b []byte) map[string]cpioEntry {
	t.Helper()
	out := map[string]cpioEntry{}
	align := func(n int) int { return (n + 3) &^ 3 }
	for off := 0; ; {
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("field %d at %d: %v", i, off, err)
			}
			return int(v)
		}
		mode, size, nameSize := field(1), field(6), field(11)
		name := string(b[off+110 : off+110+nameSize-1])
		data := off + align(110+nameSize)
		if name == "TRAILER!!!" {
			return out
		}
		out[name] = cpioEntry{name: name, mode: uint32(mode), data: b[data : data+size]}
		off = data + align(size)
	}
}

func TestWriteCPIO(t *testing.T) {
	in := []cpioEntry{
		{name: "bin", mode: sIFDIR | 0o755},
		{name: "bin/sh", mode: 0o120777, data: []byte("busybox")},
		{name: "init", mode: sIFREG | 0o755, data: []byte("#!/bin/sh\n")},
		{name: "odd", mode: sIFREG | 0o644, data: []byte("12345")},
	}
	var buf bytes.Buffer
	if err := writeCPIO(&buf, append([]cpioEntry(nil), in...)); err != nil {
		t.Fatal(err)
	}
	got := readCPIO(t, buf.Bytes())
	for _, e := range in {
		g, ok := got[e.name]
		if !ok || g.mode != e.mode || !bytes.Equal(g.data, e.data) {
			t.Errorf("%s: got %+v, want %+v", e.name, g, e)
		}
	}
	var again bytes.Buffer
	writeCPIO(&again, in)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("same entries gave different archives")
	}
}

// elfCore builds a little ELF64 core: header, a section header table at 64
// (as QEMU writes), program headers after it, a VMCOREINFO note and one load.
func elfCore(t *testing.T, vmcoreinfo string) []byte {
	t.Helper()
	le := binary.LittleEndian
	note := func(name, desc string) []byte {
		var b bytes.Buffer
		binary.Write(&b, le, [3]uint32{uint32(len(name) + 1), uint32(len(desc)), 0})
		b.WriteString(name + "\x00")
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.WriteString(desc)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		return b.Bytes()
	}
	notes := append(note("CORE", "xxxx"), note("VMCOREINFO", vmcoreinfo)...)
	const phoff, phnum = 64 + 2*64, 2
	noteOff := uint64(phoff + phnum*56)
	loadOff := noteOff + uint64(len(notes))
	b := make([]byte, loadOff+4096)
	copy(b, "\x7fELF\x02\x01\x01")
	le.PutUint16(b[16:], 4)  // ET_CORE
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[0x20:], phoff)
	le.PutUint64(b[0x28:], 64) // section headers where makedumpfile wants phdrs
	le.PutUint16(b[0x34:], 64)
	le.PutUint16(b[0x36:], 56)
	le.PutUint16(b[0x38:], phnum)
	le.PutUint16(b[0x3a:], 64)
	le.PutUint16(b[0x3c:], 2)
	le.PutUint16(b[0x3e:], 1)
	ph := func(i int, typ uint32, off, size uint64) {
		p := b[phoff+56*i:]
		le.PutUint32(p[0:], typ)
		le.PutUint64(p[8:], off)
		le.PutUint64(p[32:], size)
		le.PutUint64(p[40:], size)
	}
	le.PutUint32(b[64+64+4:], 3)             // section 1: SHT_STRTAB
	le.PutUint64(b[64+64+24:], loadOff+4095) // one zero byte: every name is ""
	le.PutUint64(b[64+64+32:], 1)
	ph(0, 4, noteOff, uint64(len(notes))) // PT_NOTE
	ph(1, 1, loadOff, 4096)               // PT_LOAD
	copy(b[noteOff:], notes)
	copy(b[loadOff:], "page")
	return b
}

func TestVMCOREINFOAndPhdrCopy(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "core")
	if err := os.WriteFile(src, elfCore(t, "OSRELEASE=6.1.0-50-cloud-amd64\nNUMBER(pgtable_l5_enabled)=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{src, filepath.Join(dir, "copy")} {
		if path != src {
			if err := copyWithPhdrsAt64(src, path); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(path)
			if phoff := binary.LittleEndian.Uint64(b[0x20:]); phoff != 64 || b[0x3c] != 0 {
				t.Errorf("copy: e_phoff %d, e_shnum %d; want 64, 0", phoff, b[0x3c])
			}
			orig, _ := os.ReadFile(src)
			if !bytes.Equal(b[len(b)-4096:], orig[len(orig)-4096:]) {
				t.Error("copy changed the memory")
			}
		}
		info, err := readVMCOREINFO(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if info["OSRELEASE"] != "6.1.0-50-cloud-amd64" || info["NUMBER(pgtable_l5_enabled)"] != "1" {
			t.Errorf("%s: info = %v", path, info)
		}
	}
	if _, err := readVMCOREINFO(filepath.Join(dir, "missing")); err == nil {
		t.Error("no error for a missing file")
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, elfCore(t, "")[:200], 0o644)
	if _, err := readVMCOREINFO(bad); err == nil {
		t.Error("no error for a truncated core")
	}
}

func TestKdumpStatus(t *testing.T) {
	dir := t.TempDir()
	b := make([]byte, 4096)
	copy(b, "KDUMP   ")
	binary.LittleEndian.PutUint32(b[424:], 0x2)
	p := filepath.Join(dir, "k")
	os.WriteFile(p, b, 0o644)
	if st, err := kdumpStatus(p); err != nil || st != 0x2 {
		t.Errorf("status = %#x, %v; want 0x2", st, err)
	}
	os.WriteFile(p, b[:100], 0o644)
	if _, err := kdumpStatus(p); err == nil {
		t.Error("no error for a short header")
	}
}
