package symbols

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/kcore"
)

// SymbolSource names where kernel symbols come from.
type SymbolSource string

// The symbol sources, in the order LoadKernelSymbols tries them.
const (
	SourceAuto      SymbolSource = ""          // try each in order, first that works wins
	SourceKallsyms  SymbolSource = "kallsyms"  // kallsyms tables found through VMCOREINFO (6.0+)
	SourceScan      SymbolSource = "scan"      // kallsyms tables found by scanning the kernel image
	SourceSystemMap SymbolSource = "systemmap" // a System.map file (SymbolOptions.SystemMap)
	SourceVmlinux   SymbolSource = "vmlinux"   // a vmlinux ELF symbol table (SymbolOptions.Vmlinux)
	SourceProc      SymbolSource = "proc"      // /proc/kallsyms of the running kernel (live only)
)

// SymbolOptions select and locate kernel symbol sources.
type SymbolOptions struct {
	// Source forces one source; SourceAuto tries them in order.
	Source SymbolSource
	// SystemMap is the path of a System.map file, "" for none.
	SystemMap string
	// Vmlinux is the path of a vmlinux ELF file with a symbol table, "" for none.
	Vmlinux string
	// Live: the image is the running kernel; /proc/kallsyms may be used.
	Live bool
	// ProcKallsyms overrides the path of /proc/kallsyms (tests).
	ProcKallsyms string
}

// ParseSymbolSource parses the name of a symbol source (kallsyms, scan,
// systemmap, vmlinux, proc; "auto" or "" for all in order).
func ParseSymbolSource(s string) (SymbolSource, error) {
	switch src := SymbolSource(strings.ToLower(s)); src {
	case SourceAuto, SourceKallsyms, SourceScan, SourceSystemMap, SourceVmlinux, SourceProc:
		return src, nil
	case "auto":
		return SourceAuto, nil
	case "system.map", "sysmap":
		return SourceSystemMap, nil
	}
	return "", fmt.Errorf("unknown symbol source %q (want kallsyms, scan, systemmap, vmlinux or proc)", s)
}

// LoadKernelSymbols builds the vmlinux symbol table of the kernel in mem.
// info is the image's VMCOREINFO (nil when it has none). With
// opts.Source == SourceAuto it tries, in order: kallsyms through VMCOREINFO,
// a scan of the kernel image for kallsyms, opts.SystemMap, opts.Vmlinux and
// (live) /proc/kallsyms; the first that works wins. The error of a failed
// load says what each source lacked and what to supply.
func LoadKernelSymbols(mem kcore.Memory, info VMCoreInfo, opts SymbolOptions) (SymbolTable, error) {
	if nilInfo(info) {
		info = nil
	}
	type attempt struct {
		src SymbolSource
		run func() (SymbolTable, error)
	}
	all := []attempt{
		{SourceKallsyms, func() (SymbolTable, error) {
			if info == nil {
				return nil, errors.New("the image has no VMCOREINFO")
			}
			t, _, err := loadKallsymsVMCoreInfo(mem, info)
			return asTable(t, err)
		}},
		{SourceScan, func() (SymbolTable, error) {
			t, _, err := loadKallsymsScan(mem, info)
			return asTable(t, err)
		}},
		{SourceSystemMap, func() (SymbolTable, error) {
			if opts.SystemMap == "" {
				return nil, errNotGiven
			}
			return asTable(LoadSystemMap(opts.SystemMap, info))
		}},
		{SourceVmlinux, func() (SymbolTable, error) {
			if opts.Vmlinux == "" {
				return nil, errNotGiven
			}
			return asTable(LoadVmlinuxSymbols(opts.Vmlinux, info))
		}},
		{SourceProc, func() (SymbolTable, error) {
			if !opts.Live && opts.Source != SourceProc {
				return nil, errNotGiven
			}
			path := opts.ProcKallsyms
			if path == "" {
				path = "/proc/kallsyms"
			}
			return asTable(LoadProcKallsyms(path))
		}},
	}
	var errs []string
	var kallsymsErr, scanErr error
	for _, a := range all {
		if opts.Source != SourceAuto && a.src != opts.Source {
			continue
		}
		t, err := a.run()
		if err == nil && opts.Source == SourceAuto && a.src != SourceSystemMap && opts.SystemMap != "" && lacksData(t) {
			// kallsyms without CONFIG_KALLSYMS_ALL has no data symbols
			// (init_task, runqueues...): the System.map given has them.
			if sm, serr := asTable(LoadSystemMap(opts.SystemMap, info)); serr == nil {
				return sm, nil
			}
		}
		if err == nil && a.src == SourceScan && kallsymsErr != nil && !errors.Is(kallsymsErr, errNoVMCoreInfoKallsyms) {
			// Say why the tables VMCOREINFO names were not used.
			if st, ok := t.(*SymTable); ok {
				st.desc += " (VMCOREINFO's tables: " + kallsymsErr.Error() + ")"
			}
		}
		if err == nil && (a.src == SourceKallsyms || a.src == SourceScan) && lacksData(t) {
			// No System.map: the data symbols are found from the dump
			// (datasyms.go) once the types are loaded (NewProgram).
			return newDataSymTable(t, mem, info), nil
		}
		if err == nil {
			return t, nil
		}
		if opts.Source != SourceAuto {
			return nil, fmt.Errorf("kernel symbols from %s: %w", a.src, err)
		}
		switch a.src {
		case SourceKallsyms:
			kallsymsErr = err
		case SourceScan:
			scanErr = err
		}
		if !errors.Is(err, errNotGiven) {
			errs = append(errs, err.Error())
		}
	}
	if opts.Source != SourceAuto {
		return nil, fmt.Errorf("unknown symbol source %q", opts.Source)
	}
	return nil, noSymbolsError(info, kallsymsErr, scanErr, errs)
}

var errNotGiven = errors.New("no file given")

// lacksData reports whether a symbol table has only text symbols: no
// init_task, which every kernel has as data.
func lacksData(t SymbolTable) bool {
	_, err := t.Lookup("init_task")
	return err != nil
}

func asTable[T SymbolTable](t T, err error) (SymbolTable, error) {
	if err != nil {
		return nil, err
	}
	return t, nil
}

// noSymbolsError says what was missing and what to supply. The real cause
// comes first: when VMCOREINFO names the kallsyms tables (6.0+) but they
// could not be read, the dump is damaged or left those pages out; when a
// 6.0+ kernel's VMCOREINFO lacks them, the VMCOREINFO is damaged. Only a
// kernel before 6.0 lacks them by design.
func noSymbolsError(info VMCoreInfo, kallsymsErr, scanErr error, errs []string) error {
	release := "<release>"
	if info != nil && info.OSRelease() != "" {
		release = info.OSRelease()
	}
	hint := fmt.Sprintf("supply System.map with --system-map FILE or a vmlinux with --vmlinux FILE (Debian: from linux-image-%s-dbg)", release)
	// others are the attempts after the one named as the cause.
	others := func() string {
		var o []string
		for _, e := range errs {
			if kallsymsErr == nil || e != kallsymsErr.Error() {
				o = append(o, e)
			}
		}
		return strings.Join(o, "; ")
	}
	noVMCI := errors.Is(kallsymsErr, errNoVMCoreInfoKallsyms)
	switch {
	case kallsymsErr != nil && info != nil && !noVMCI:
		return fmt.Errorf("no kernel symbols: VMCOREINFO names the kallsyms tables but they could not be read (a damaged dump, or pages left out of it): %w; %s (also tried: %s)", kallsymsErr, hint, others())
	case noVMCI && releaseAtLeast(release, 6, 0):
		return fmt.Errorf("no kernel symbols: the VMCOREINFO of this %s kernel lacks the kallsyms symbols 6.0+ kernels publish (damaged or truncated VMCOREINFO); %s (also tried: %s)", release, hint, others())
	case errors.Is(scanErr, errNoTokenTable):
		return fmt.Errorf("no kallsyms in VMCOREINFO (kernel < 6.0) and the kallsyms scan of kernel rodata found no token table: %s (tried: %s)", hint, strings.Join(errs, "; "))
	}
	return fmt.Errorf("no kernel symbols: %s (tried: %s)", hint, strings.Join(errs, "; "))
}

// releaseAtLeast reports whether a kernel release ("6.1.0-50-cloud-amd64")
// is major.minor or later; false when it does not parse.
func releaseAtLeast(release string, major, minor int) bool {
	var ma, mi int
	if n, _ := fmt.Sscanf(release, "%d.%d", &ma, &mi); n != 2 {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
