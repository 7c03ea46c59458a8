package main

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
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
			files[testdata.FormatKdumpZlib] = out
		}
	}
	for _, c := range []struct {
		f    testdata.Format
		args []string
	}{
		{testdata.FormatMakedumpfileZlib, []string{"-c", "-d", "0"}},
		{testdata.FormatMakedumpfileLZO, []string{"-l", "-d", "0"}},
		{testdata.FormatMakedumpfileZlib31, []string{"-c", "-d", "31"}},
	} {
		out := "vmcore." + string(c.f)
		args := append(append([]string{}, c.args...), filepath.Join(dir, elfName), filepath.Join(dir, out))
		cmd := exec.Command("makedumpfile", args...)
		if b, err := cmd.CombinedOutput(); err != nil {
			os.Remove(filepath.Join(dir, out))
			log("makedumpfile %s: %v: %s", strings.Join(c.args, " "), err, lastLines(b, 5))
			continue
		}
		files[c.f] = out
	}
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
