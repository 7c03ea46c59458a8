package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kwalk/kwalk/testdata"
)

type qemuFormat struct {
	qemu   string          // dump-guest-memory format argument
	name   testdata.Format // our name
	paging bool
}

// dumpFormats lists the formats to dump with: the ELF first, then every kdump
// format this QEMU offers.
func dumpFormats(q *qmpConn) ([]qemuFormat, error) {
	raw, err := q.exec("query-dump-guest-memory-capability", nil, 30*time.Second)
	if err != nil {
		return nil, err
	}
	var caps struct {
		Formats []string `json:"formats"`
	}
	if err := json.Unmarshal(raw, &caps); err != nil {
		return nil, fmt.Errorf("dump capability %s: %w", raw, err)
	}
	offered := map[string]bool{}
	for _, f := range caps.Formats {
		offered[f] = true
	}
	out := []qemuFormat{{"elf", testdata.FormatELF, false}, {"elf", testdata.FormatELFPaging, true}}
	for _, f := range []qemuFormat{
		{"kdump-zlib", testdata.FormatKdumpZlibFlat, false},
		{"kdump-lzo", testdata.FormatKdumpLZOFlat, false},
		{"kdump-snappy", testdata.FormatKdumpSnappyFlat, false},
		{"kdump-raw-zlib", testdata.FormatKdumpRawZlib, false},
	} {
		if offered[f.qemu] {
			out = append(out, f)
		}
	}
	if !offered["elf"] || !offered["kdump-zlib"] {
		return nil, fmt.Errorf("qemu offers dump formats %v, need elf and kdump-zlib", caps.Formats)
	}
	return out, nil
}

// convertDumps adds the makedumpfile-written formats. makedumpfile is optional:
// a conversion it refuses is logged and left out.
func convertDumps(dir string, files map[testdata.Format]string, log func(string, ...any)) {
	elfName := files[testdata.FormatELF]
	if flat, ok := files[testdata.FormatKdumpZlibFlat]; ok {
		out := "vmcore." + string(testdata.FormatKdumpZlib)
		if err := makedumpfileStdin(dir, filepath.Join(dir, flat), "-R", filepath.Join(dir, out)); err != nil {
			log("makedumpfile -R: %v", err)
		} else {
			os.Chmod(filepath.Join(dir, out), 0o644)
			files[testdata.FormatKdumpZlib] = out
		}
	}
	src := filepath.Join(dir, elfName)
	input := filepath.Join(dir, "makedumpfile-input.elf")
	if err := copyWithPhdrsAt64(src, input); err != nil {
		log("makedumpfile input: %v", err)
		return
	}
	defer os.Remove(input)
	// status bits of the kdump header (makedumpfile diskdump_mod.h
	// DUMP_DH_COMPRESSED_*): a makedumpfile built without snappy or zstd
	// (Debian 12's) writes uncompressed pages for -p/-z, which are then
	// left out rather than mislabelled.
	for _, c := range []struct {
		f    testdata.Format
		args []string
		bit  uint32
	}{
		{testdata.FormatMakedumpfileZlib, []string{"-c", "-d", "0"}, 0x1},
		{testdata.FormatMakedumpfileLZO, []string{"-l", "-d", "0"}, 0x2},
		{testdata.FormatMakedumpfileZlib31, []string{"-c", "-d", "31"}, 0x1},
		{testdata.FormatMakedumpfileSnappy, []string{"-p", "-d", "0"}, 0x4},
		{testdata.FormatMakedumpfileZstd, []string{"-z", "-d", "0"}, 0x20},
	} {
		if !makedumpfileHas(c.args[0]) {
			continue
		}
		out := "vmcore." + string(c.f)
		args := append(append([]string{}, c.args...), input, filepath.Join(dir, out))
		cmd := exec.Command("makedumpfile", args...)
		if b, err := cmd.CombinedOutput(); err != nil {
			os.Remove(filepath.Join(dir, out))
			log("makedumpfile %s: %v: %s", strings.Join(c.args, " "), err, lastLines(b, 5))
			continue
		}
		if st, err := kdumpStatus(filepath.Join(dir, out)); err != nil || st&c.bit == 0 {
			os.Remove(filepath.Join(dir, out))
			log("makedumpfile %s: output not compressed as asked (status %#x, %v): left out", strings.Join(c.args, " "), st, err)
			continue
		}
		os.Chmod(filepath.Join(dir, out), 0o644)
		files[c.f] = out
	}
}

// makedumpfileHas reports whether makedumpfile was built with the
// compression of flag (-c zlib is always there; "makedumpfile -v" lists the
// optional ones as "lzo\tenabled" and so on).
func makedumpfileHas(flag string) bool {
	name := map[string]string{"-l": "lzo", "-p": "snappy", "-z": "zstd"}[flag]
	if name == "" {
		return true
	}
	out, _ := exec.Command("makedumpfile", "-v").CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == name {
			return f[1] == "enabled"
		}
	}
	return true // unknown: try, the status check decides
}

// kdumpStatus reads disk_dump_header.status of a plain kdump file: after the
// 8-byte signature, int header_version, struct new_utsname (6×65 bytes) and
// struct timeval (8-aligned), i.e. at offset 424 on x86_64.
func kdumpStatus(path string) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var b [428]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return 0, fmt.Errorf("%s: kdump header: %w", path, err)
	}
	if string(b[:8]) != "KDUMP   " {
		return 0, fmt.Errorf("%s: no KDUMP signature", path)
	}
	return binary.LittleEndian.Uint32(b[424:]), nil
}

// copyWithPhdrsAt64 copies QEMU's ELF dump for makedumpfile. makedumpfile
// (1.7.2, elf_info.c get_elf64_phdr) reads program header i at
// sizeof(Elf64_Ehdr) + i*sizeof(Elf64_Phdr) whatever e_phoff says, and QEMU
// puts a section header table there (dump/dump.c, for PN_XNUM): the copy has
// the program header table moved to offset 64 and no section headers. Memory
// and notes are untouched, so makedumpfile's output is what it would write
// for QEMU's dump.
func copyWithPhdrsAt64(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	ef, err := elf.NewFile(in)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	var hdr [64]byte
	if _, err := in.ReadAt(hdr[:], 0); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	le := binary.LittleEndian
	phoff, phentsize, phnum := le.Uint64(hdr[0x20:]), uint64(le.Uint16(hdr[0x36:])), uint64(le.Uint16(hdr[0x38:]))
	if ef.Class != elf.ELFCLASS64 || phentsize != 56 || phnum == 0 || phnum == 0xffff {
		return fmt.Errorf("%s: unexpected ELF header (class %v, phentsize %d, phnum %d)", src, ef.Class, phentsize, phnum)
	}
	minData := uint64(1<<63 - 1)
	for _, p := range ef.Progs {
		minData = min(minData, p.Off)
	}
	if 64+phnum*phentsize > minData {
		return fmt.Errorf("%s: %d program headers do not fit before the data at %#x", src, phnum, minData)
	}
	phdrs := make([]byte, phnum*phentsize)
	if _, err := in.ReadAt(phdrs, int64(phoff)); err != nil {
		return fmt.Errorf("%s: program headers: %w", src, err)
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	le.PutUint64(hdr[0x20:], 64) // e_phoff
	le.PutUint64(hdr[0x28:], 0)  // e_shoff
	le.PutUint16(hdr[0x3a:], 0)  // e_shentsize
	le.PutUint16(hdr[0x3c:], 0)  // e_shnum
	le.PutUint16(hdr[0x3e:], 0)  // e_shstrndx
	if _, err := out.WriteAt(hdr[:], 0); err != nil {
		return err
	}
	if _, err := out.WriteAt(phdrs, 64); err != nil {
		return err
	}
	return out.Close()
}

func makedumpfileStdin(dir, in string, args ...string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command("makedumpfile", args...)
	cmd.Stdin = f
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, lastLines(b, 5))
	}
	return nil
}

// readVMCOREINFO returns the KEY=VALUE lines of the ELF dump's VMCOREINFO
// note (QEMU copies the guest's note there when -device vmcoreinfo is used).
func readVMCOREINFO(path string) (map[string]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vmcoreinfo: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 1<<24 {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return nil, fmt.Errorf("vmcoreinfo: read notes of %s: %w", path, err)
		}
		for len(b) >= 12 {
			nsz := int(f.ByteOrder.Uint32(b[0:]))
			dsz := int(f.ByteOrder.Uint32(b[4:]))
			nEnd := 12 + (nsz+3)&^3
			dEnd := nEnd + (dsz+3)&^3
			if nsz < 0 || dsz < 0 || nEnd > len(b) || 12+nsz > len(b) || nEnd+dsz > len(b) {
				break
			}
			name := string(bytes.TrimRight(b[12:12+nsz], "\x00"))
			if name == "VMCOREINFO" {
				m := map[string]string{}
				for _, l := range strings.Split(string(b[nEnd:nEnd+dsz]), "\n") {
					if k, v, ok := strings.Cut(l, "="); ok {
						m[k] = v
					}
				}
				return m, nil
			}
			if dEnd > len(b) {
				break
			}
			b = b[dEnd:]
		}
	}
	return nil, fmt.Errorf("vmcoreinfo: no VMCOREINFO note in %s (is -device vmcoreinfo there and qemu_fw_cfg loaded?)", path)
}
