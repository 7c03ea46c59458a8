package symbols

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrHiddenAddresses: /proc/kallsyms shows every address as 0, which the
// kernel does for readers without CAP_SYSLOG or under kernel.kptr_restrict=2
// (kernel/kallsyms.c kallsyms_show_value).
var ErrHiddenAddresses = errors.New("all addresses are 0 (hidden by kernel.kptr_restrict or missing CAP_SYSLOG)")

// LoadProcKallsyms reads the running kernel's /proc/kallsyms (path), vmlinux
// and module symbols alike; its addresses are already relocated. Module
// extents come from the "modules" file next to it (/proc/modules) when
// readable.
func LoadProcKallsyms(path string) (*SymTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kallsyms: %w", err)
	}
	defer f.Close()
	syms, err := parseNM(f, path, true)
	if err != nil {
		return nil, err
	}
	if len(syms) == 0 {
		return nil, fmt.Errorf("%s: no symbols", path)
	}
	nonzero := false
	for _, s := range syms {
		if s.Addr != 0 {
			nonzero = true
			break
		}
	}
	if !nonzero {
		return nil, fmt.Errorf("%s: %w: run as root with kernel.kptr_restrict <= 1", path, ErrHiddenAddresses)
	}
	var kernel []Symbol
	mods := map[string][]Symbol{}
	for _, s := range syms {
		if s.Module == "" {
			kernel = append(kernel, s)
		} else {
			mods[s.Module] = append(mods[s.Module], s)
		}
	}
	ranges := vmlinuxRanges(kernel)
	modRanges, modErr := readProcModules(filepath.Join(filepath.Dir(path), "modules"))
	for name, ms := range mods {
		if r, ok := modRanges[name]; ok {
			ranges = append(ranges, r)
			continue
		}
		// Without /proc/modules: from the module's lowest to highest symbol.
		lo, hi := ms[0].Addr, ms[0].Addr
		for _, s := range ms {
			lo, hi = min(lo, s.Addr), max(hi, s.Addr)
		}
		ranges = append(ranges, SymRange{Lo: lo, Hi: hi + 1, Name: name})
	}
	desc := fmt.Sprintf("%s, %d symbols (%d modules)", path, len(syms), len(mods))
	if modErr != nil && len(mods) > 0 {
		desc += "; module ends approximate (" + modErr.Error() + ")"
	}
	return NewSymTable(desc, syms, ranges), nil
}

// readProcModules parses /proc/modules lines "name size refcnt deps state
// address [taint]" into each module's core range.
func readProcModules(path string) (map[string]SymRange, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]SymRange{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 6 {
			continue
		}
		size, err1 := strconv.ParseUint(fl[1], 10, 64)
		addr, err2 := strconv.ParseUint(strings.TrimPrefix(fl[5], "0x"), 16, 64)
		if err1 != nil || err2 != nil || addr == 0 {
			continue
		}
		out[fl[0]] = SymRange{Lo: addr, Hi: addr + size, Name: fl[0]}
	}
	return out, sc.Err()
}
