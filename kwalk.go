// Package kwalk opens a Linux kernel — a crash dump or the running system —
// for analysis: memory, symbols and types behind one *symbols.Program that
// the walkers, the REPL and Go scripts share.
//
//	prog, err := kwalk.Open("vmcore", kwalk.Options{})
//	task, err := prog.Variable("init_task")
//	comm, err := task.MemberString("comm") // "swapper/0"
//
// By default everything comes from the dump itself: kallsyms (located through
// VMCOREINFO, or by scanning the kernel image on kernels before 6.0), BTF
// (vmlinux and module BTF from kernel memory) and ORC unwind tables. A
// vmlinux with DWARF, when given, adds line numbers and frame variables.
package kwalk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
)

// ErrNoTypes is returned by Open when neither the dump's BTF nor a vmlinux
// gives types.
var ErrNoTypes = errors.New("no type information")

// Options say where to find debug information and how to read the dump.
type Options struct {
	// Vmlinux is a vmlinux with DWARF (or at least a symtab/.BTF); optional.
	Vmlinux string
	// SystemMap is a System.map to use for symbols; optional.
	SystemMap string
	// DebugDirs are places holding module debug files (*.ko with DWARF).
	DebugDirs []string
	// SymbolSource forces one symbol source (see symbols.ParseSymbolSource).
	SymbolSource symbols.SymbolSource
	// ZeroExcluded reads pages the dump left out as zeros.
	ZeroExcluded bool
	// ForceBuildID accepts a vmlinux whose build-id differs from the dump's.
	ForceBuildID bool
	// CacheBytes bounds the decoded-page cache (0: kcore's default).
	CacheBytes int
	// ModuleDebug, when set, finds the debug file of a loaded module that
	// no DebugDirs entry holds, by the module's name and GNU build-id (read
	// from the dump: symbols.ModuleBuildID), e.g. from debuginfod. It is
	// asked once per module, when DWARF from a vmlinux is in use and the
	// module's source lines are first needed.
	ModuleDebug func(module, buildID string) (string, error)
}

// Open opens a crash dump (any format kcore reads) and loads its symbols and
// types, from the dump itself unless Options say otherwise.
func Open(path string, opts Options) (*symbols.Program, error) {
	d, err := kcore.Open(path, kcore.Options{ZeroExcluded: opts.ZeroExcluded, CacheBytes: opts.CacheBytes})
	if err != nil {
		return nil, err
	}
	p, err := load(d, opts, false)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// OpenLive opens the running kernel through /proc/kcore.
func OpenLive(opts Options) (*symbols.Program, error) {
	d, err := kcore.OpenLive(kcore.Options{ZeroExcluded: opts.ZeroExcluded, CacheBytes: opts.CacheBytes})
	if err != nil {
		return nil, err
	}
	p, err := load(d, opts, true)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("live kernel: %w", err)
	}
	return p, nil
}

// Load builds a Program over an already opened image.
func Load(d *kcore.Dump, opts Options) (*symbols.Program, error) {
	return load(d, opts, d.Live())
}

func load(d *kcore.Dump, opts Options, live bool) (*symbols.Program, error) {
	// The image's own problems (a truncated file) come first: they make
	// every answer partial.
	warnings := d.Warnings()
	info := d.VMCoreInfo()
	var vi symbols.VMCoreInfo
	if info != nil {
		vi = info
	}
	if opts.Vmlinux != "" {
		if err := checkBuildID(opts.Vmlinux, info); err != nil {
			if !opts.ForceBuildID {
				return nil, err
			}
			warnings = append(warnings, err.Error()+" (accepted: --force-build-id)")
		}
	}

	syms, err := symbols.LoadKernelSymbols(d, vi, symbols.SymbolOptions{
		Source:    opts.SymbolSource,
		SystemMap: opts.SystemMap,
		Vmlinux:   opts.Vmlinux,
		Live:      live,
	})
	if err != nil {
		return nil, err
	}

	types, typeWarnings, err := loadTypes(d, syms, opts, live)
	if err != nil {
		return nil, err
	}
	warnings = append(warnings, typeWarnings...)

	p := symbols.NewProgram(d, syms, types)
	modSyms, mods, err := symbols.LoadModules(p)
	if err != nil {
		warnings = append(warnings, "module symbols: "+err.Error())
	}
	if modSyms != nil {
		p.Syms = symbols.CombineTables(syms, modSyms)
	}
	if dw := dwarfOf(types); dw != nil {
		// Module types and lines: only the modules the kernel had loaded,
		// and module addresses resolved through the combined table.
		names := make([]string, len(mods))
		for i, m := range mods {
			names[i] = m.Name
		}
		dw.SetModules(names)
		dw.SetSymbols(p.Syms)
		if opts.ModuleDebug != nil {
			byName := make(map[string]uint64, len(mods))
			for _, m := range mods {
				byName[m.Name] = m.Addr
			}
			dw.SetModuleFetcher(func(module string) (string, error) {
				addr, ok := byName[module]
				if !ok {
					return "", fmt.Errorf("not among the loaded modules")
				}
				id, err := symbols.ModuleBuildID(p, addr)
				if err != nil {
					return "", fmt.Errorf("its build-id: %w", err)
				}
				return opts.ModuleDebug(module, id)
			})
		}
	}
	if st := d.Stats(); st.ExcludedPages > 0 && !opts.ZeroExcluded {
		warnings = append(warnings, fmt.Sprintf("%d pages were excluded from the dump; reads of them fail (--zero-excluded reads them as zeros)", st.ExcludedPages))
	}
	p.Warnings = append(p.Warnings, warnings...)
	return p, nil
}

// loadTypes picks the type source: DWARF from a given vmlinux (with the
// dump's BTF behind it for modules without debug files), else BTF from the
// running kernel's sysfs (live) or from the dump's memory.
func loadTypes(d *kcore.Dump, syms symbols.SymbolTable, opts Options, live bool) (symbols.TypeSource, []string, error) {
	var warnings []string
	var btf *symbols.BTFTypes
	var btfErr error
	if live {
		btf, btfErr = symbols.LoadLiveBTF()
	}
	if btf == nil {
		btf, btfErr = symbols.LoadBTFFromMemory(d, syms)
	}
	if opts.Vmlinux != "" {
		dw, err := symbols.OpenDWARF(opts.Vmlinux, withSiblingModules(opts.Vmlinux, opts.DebugDirs))
		if err == nil {
			if off, ok := d.KernelOffset(); ok {
				dw.SetKASLROffset(off)
			}
			if btf == nil {
				return dw, warnings, nil
			}
			return &chainTypes{dw, btf}, warnings, nil
		}
		warnings = append(warnings, fmt.Sprintf("DWARF from %s: %v; using BTF", opts.Vmlinux, err))
		if btf == nil {
			if fb, ferr := symbols.LoadBTFFile(opts.Vmlinux); ferr == nil {
				return fb, warnings, nil
			}
		}
	}
	if btf != nil && opts.Vmlinux == "" && len(opts.DebugDirs) > 0 {
		// Module debug files without a vmlinux: BTF for the kernel, their
		// DWARF for modules whose types BTF lacks (no module BTF before 5.11).
		dw, err := symbols.OpenModuleDWARF(opts.DebugDirs)
		if err == nil {
			return &chainTypes{btf, dw}, warnings, nil
		}
		warnings = append(warnings, fmt.Sprintf("module DWARF: %v", err))
	}
	if btf == nil {
		return nil, warnings, fmt.Errorf("%w: %w (the kernel may lack CONFIG_DEBUG_INFO_BTF; supply a vmlinux with DWARF from the linux-image-<release>-dbg package, or set DEBUGINFOD_URLS)", ErrNoTypes, btfErr)
	}
	return btf, warnings, nil
}

// chainTypes asks each source in turn: DWARF first (complete, with
// variables), then BTF (module types DWARF has no file for); or, with
// module debug files but no vmlinux, BTF first, then the modules' DWARF.
type chainTypes struct {
	first, second symbols.TypeSource
}

func (c *chainTypes) LookupType(name string) (*symbols.Type, error) {
	t, err := c.first.LookupType(name)
	if err == nil && t.Resolve().Kind != symbols.KindFwd {
		return t, nil
	}
	// Not found, or only declared where DWARF found it: BTF may define it.
	if t2, err2 := c.second.LookupType(name); err2 == nil && (t == nil || t2.Resolve().Kind != symbols.KindFwd) {
		return t2, nil
	}
	if err == nil {
		return t, nil
	}
	return nil, err
}

// dwarfOf returns the DWARF source behind types, if any.
func dwarfOf(types symbols.TypeSource) *symbols.DWARFTypes {
	switch t := types.(type) {
	case *symbols.DWARFTypes:
		return t
	case *chainTypes:
		if dw, ok := t.first.(*symbols.DWARFTypes); ok {
			return dw
		}
		if dw, ok := t.second.(*symbols.DWARFTypes); ok {
			return dw
		}
	}
	return nil
}

func (c *chainTypes) VariableType(name string) (*symbols.Type, error) {
	var errs []error
	for _, s := range []symbols.TypeSource{c.first, c.second} {
		if vt, ok := s.(symbols.VariableTyper); ok {
			t, err := vt.VariableType(name)
			if err == nil {
				return t, nil
			}
			errs = append(errs, err)
		}
	}
	return nil, errors.Join(errs...)
}

func (c *chainTypes) TypeNames() []string {
	seen := make(map[string]bool)
	var out []string
	for _, s := range []symbols.TypeSource{c.first, c.second} {
		for _, n := range s.TypeNames() {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

func (c *chainTypes) Describe() string {
	return c.first.Describe() + ", then " + c.second.Describe()
}

// withSiblingModules adds the module debug directory that sits beside a
// vmlinux unpacked from a -dbg package: DIR/boot/vmlinux-REL has its
// modules' debug files in DIR/lib/modules/REL (Debian's layout under
// /usr/lib/debug).
func withSiblingModules(vmlinux string, dirs []string) []string {
	base := filepath.Base(vmlinux)
	rel, ok := strings.CutPrefix(base, "vmlinux-")
	if !ok || rel == "" || filepath.Base(filepath.Dir(vmlinux)) != "boot" {
		return dirs
	}
	md := filepath.Join(filepath.Dir(filepath.Dir(vmlinux)), "lib", "modules", rel)
	if st, err := os.Stat(md); err != nil || !st.IsDir() || slices.Contains(dirs, md) {
		return dirs
	}
	return append(slices.Clone(dirs), md)
}
