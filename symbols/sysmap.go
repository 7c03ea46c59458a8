package symbols

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// ErrStubSystemMap: the System.map is a placeholder without symbols. Debian's
// linux-image packages ship /boot/System.map-<release> as one line saying
// the real one is in linux-image-<release>-dbg.
var ErrStubSystemMap = errors.New("System.map is a stub without symbols")

// maxMapLine bounds one line of System.map or /proc/kallsyms.
const maxMapLine = 4096

// parseNM reads "address type name" lines (System.map, nm output) and, with
// modules, the "\t[module]" suffix of /proc/kallsyms. Blank lines are
// skipped; a malformed line is an error naming its number.
func parseNM(r io.Reader, what string, modules bool) ([]Symbol, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxMapLine)
	var syms []Symbol
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		if strings.Contains(text, "The real System.map is in") {
			return nil, fmt.Errorf("%s line %d: %w: %q", what, line, ErrStubSystemMap, strings.TrimSpace(text))
		}
		f := strings.Fields(text)
		if len(f) < 3 || len(f) > 4 || len(f[1]) != 1 || (len(f) == 4 && !modules) {
			return nil, fmt.Errorf("%s line %d: want \"address type name\", got %q", what, line, text)
		}
		addr, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: address %q: %w", what, line, f[0], err)
		}
		s := Symbol{Name: f[2], Addr: addr, Type: f[1][0]}
		if len(f) == 4 {
			m := f[3]
			if len(m) < 3 || m[0] != '[' || m[len(m)-1] != ']' {
				return nil, fmt.Errorf("%s line %d: module %q is not in brackets", what, line, m)
			}
			s.Module = m[1 : len(m)-1]
		}
		if len(syms) >= 4*maxKallsyms {
			return nil, fmt.Errorf("%s: more than %d symbols", what, 4*maxKallsyms)
		}
		syms = append(syms, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s line %d: %w", what, line+1, err)
	}
	return syms, nil
}

// ParseSystemMap parses System.map text. The addresses are as linked.
func ParseSystemMap(r io.Reader) ([]Symbol, error) {
	syms, err := parseNM(r, "System.map", false)
	if err != nil {
		return nil, err
	}
	if len(syms) == 0 {
		return nil, fmt.Errorf("System.map: %w (no lines)", ErrStubSystemMap)
	}
	return syms, nil
}

// LoadSystemMap reads a System.map file and relocates it to the running
// kernel: by SYMBOL(_stext) of info when it has it (and checks that
// KERNELOFFSET agrees, which catches a System.map of another build), else by
// KERNELOFFSET. info may be nil (no relocation).
func LoadSystemMap(path string, info VMCoreInfo) (*SymTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("System.map: %w", err)
	}
	defer f.Close()
	syms, err := ParseSystemMap(f)
	if err != nil {
		if errors.Is(err, ErrStubSystemMap) {
			rel := "<release>"
			if !nilInfo(info) && info.OSRelease() != "" {
				rel = info.OSRelease()
			}
			return nil, fmt.Errorf("%s: %w; on Debian the real one is in the linux-image-%s-dbg package (/usr/lib/debug/boot/System.map-%s)", path, err, rel, rel)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	slide, how, err := kaslrSlide(syms, info)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	relocate(syms, slide)
	return NewSymTable(fmt.Sprintf("System.map %s, %d symbols, %s", path, len(syms), how), syms, vmlinuxRanges(syms)), nil
}

// kaslrSlide finds how far the running kernel is from its link addresses.
// It prefers SYMBOL(_stext) (which also proves the file matches) and checks
// KERNELOFFSET against it.
func kaslrSlide(syms []Symbol, info VMCoreInfo) (uint64, string, error) {
	if nilInfo(info) {
		return 0, "not relocated (no VMCOREINFO)", nil
	}
	koff, haveOff := info.KernelOffset()
	vstext, haveStext := info.Symbol("_stext")
	var fstext uint64
	found := false
	for _, s := range syms {
		if s.Name == "_stext" {
			fstext, found = s.Addr, true
			break
		}
	}
	switch {
	case haveStext && found:
		slide := vstext - fstext
		if haveOff && slide != koff {
			return 0, "", fmt.Errorf("does not match this kernel: its _stext %#x + KERNELOFFSET %#x = %#x, but VMCOREINFO has _stext at %#x", fstext, koff, fstext+koff, vstext)
		}
		return slide, fmt.Sprintf("relocated by %#x (checked against _stext)", slide), nil
	case haveOff:
		return koff, fmt.Sprintf("relocated by KERNELOFFSET %#x (unchecked: no _stext)", koff), nil
	}
	return 0, "not relocated (no KERNELOFFSET)", nil
}

// relocate adds slide to kernel-space addresses; per-CPU offsets and
// absolute values below the kernel half stay.
func relocate(syms []Symbol, slide uint64) {
	if slide == 0 {
		return
	}
	for i := range syms {
		if syms[i].Addr >= kernelHalf {
			syms[i].Addr += slide
		}
	}
}
