package symbols

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
)

// DWARFTypes is a TypeSource over DWARF debug info: a vmlinux with debug
// info (Debian: linux-image-<release>-dbg, /usr/lib/debug/boot/vmlinux-<release>)
// and module .ko files with debug info found under moduleDirs. Nothing is
// parsed up front: names are indexed unit by unit as lookups need them
// (see dwarfIndex), types converted on demand and memoised. Module debug
// info is opened only when a name is not in vmlinux. It also knows every
// global variable's type (VariableTyper) and line tables (LineForAddr).
// It is safe for concurrent use.
type DWARFTypes struct {
	mu         sync.Mutex
	vmlinux    *dwarfFile
	moduleDirs []string
	modPaths   map[string]string // module name → .ko path, found on first need
	loaded     []string          // SetModules: search only these modules
	modules    map[string]*dwarfFile
	modOrder   []string
	warnings   []string
	bases      map[string]*Type
	varMiss    map[string]error // variables found nowhere (reset by SetModules)
	kaslr      uint64
	closed     bool
	syms       SymbolTable // for module addresses in LineForAddr
	// fetchModule finds a module's debug file that no module dir has
	// (SetModuleFetcher), once per module.
	fetchModule func(module string) (string, error)

	derived derivedTypes
	vars    dwarfVarSections // bt -v: location lists and call frame info
}

// OpenDWARF opens vmlinuxPath's DWARF; module types are looked for in .ko
// files under moduleDirs (e.g. /usr/lib/debug/lib/modules/<release>).
func OpenDWARF(vmlinuxPath string, moduleDirs []string) (*DWARFTypes, error) {
	df, err := openDWARFFile(vmlinuxPath, "vmlinux")
	if err != nil {
		return nil, err
	}
	return &DWARFTypes{
		vmlinux:    df,
		moduleDirs: moduleDirs,
		modules:    make(map[string]*dwarfFile),
		bases:      make(map[string]*Type),
		varMiss:    make(map[string]error),
	}, nil
}

// OpenModuleDWARF opens module debug info only, without a vmlinux: types
// are looked for in the .ko files under moduleDirs (e.g. the -dbg
// package's /usr/lib/debug/lib/modules/<release>), to stand behind a
// vmlinux type source (BTF) that lacks a module's types (5.10 has no module
// BTF). Lines are known for module addresses only.
func OpenModuleDWARF(moduleDirs []string) (*DWARFTypes, error) {
	d := &DWARFTypes{
		moduleDirs: moduleDirs,
		modules:    make(map[string]*dwarfFile),
		bases:      make(map[string]*Type),
		varMiss:    make(map[string]error),
	}
	d.findModulePathsLocked()
	if len(d.modPaths) == 0 {
		return nil, fmt.Errorf("no module debug files (*.ko, *.ko.debug) under %s", strings.Join(moduleDirs, ", "))
	}
	return d, nil
}

// source names what d reads, for messages.
func (d *DWARFTypes) source() string {
	if d.vmlinux == nil {
		return "module debug files under " + strings.Join(d.moduleDirs, ", ")
	}
	return d.vmlinux.path
}

// SetModules restricts module lookups to the modules loaded in the kernel
// being analysed (names as in /proc/modules). Without it a name missing
// from vmlinux is searched in every module found under the module dirs.
func (d *DWARFTypes) SetModules(names []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loaded = make([]string, len(names))
	for i, n := range names {
		d.loaded[i] = normalizeModuleName(n)
	}
	clear(d.varMiss)
	for k, t := range d.bases {
		if t.Kind == KindFwd { // a module may now define it
			delete(d.bases, k)
		}
	}
}

// SetKASLROffset sets the kernel's KASLR slide (VMCOREINFO KERNELOFFSET):
// LineForAddr subtracts it from runtime addresses.
func (d *DWARFTypes) SetKASLROffset(off uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.kaslr = off
}

// Warnings returns problems met while reading debug info.
func (d *DWARFTypes) Warnings() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := slices.Clone(d.warnings)
	if d.vmlinux == nil {
		return w
	}
	if err := d.vmlinux.idx.err; err != nil {
		w = append(w, fmt.Sprintf("DWARF %s: index stopped early: %v", d.vmlinux.path, err))
	}
	return w
}

// Describe implements TypeSource.
func (d *DWARFTypes) Describe() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return fmt.Sprintf("DWARF from %s (+ %d modules opened)", d.source(), len(d.modOrder))
}

// LookupType implements TypeSource. A bare name ("task_struct") is
// answered from the first unit (in file order) that defines any
// struct/union/enum/typedef of that name, preferring a struct.
func (d *DWARFTypes) LookupType(name string) (*Type, error) {
	sp, err := parseTypeSpelling(name)
	if err != nil {
		return nil, err
	}
	base, err := d.lookupBase(sp)
	if err != nil {
		return nil, err
	}
	return d.derived.apply(base, sp), nil
}

func (d *DWARFTypes) lookupBase(sp typeSpelling) (*Type, error) {
	key := sp.baseSpelling()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errDWARFClosed
	}
	if t, ok := d.bases[key]; ok {
		return t, nil
	}
	if sp.tag == tagNone && sp.base == "void" {
		if d.vmlinux == nil {
			return &Type{Kind: KindVoid, Name: "void"}, nil
		}
		return d.vmlinux.conv.void, nil
	}
	var t *Type
	var complete bool
	if d.vmlinux != nil {
		var err error
		if t, complete, err = d.findIn(d.vmlinux, sp); err != nil {
			return nil, err
		}
	}
	if t == nil || !complete {
		for _, mf := range d.moduleFilesLocked(sp) {
			mt, mcomplete, err := d.findIn(mf, sp)
			if err != nil {
				d.warnings = append(d.warnings, err.Error())
				continue
			}
			if mt != nil && (t == nil || mcomplete) {
				t, complete = mt, mcomplete
				if complete {
					break
				}
			}
		}
	}
	if t == nil {
		return nil, fmt.Errorf("%w: %s (not in DWARF of %s or %d modules)", ErrNoType, key, d.source(), len(d.modOrder))
	}
	d.bases[key] = t
	return t, nil
}

// dwarfKeys lists the index keys a spelling may match, best first.
func dwarfKeys(sp typeSpelling) []string {
	switch sp.tag {
	case tagStruct:
		return []string{"struct " + sp.base}
	case tagUnion:
		return []string{"union " + sp.base}
	case tagEnum:
		return []string{"enum " + sp.base}
	}
	keys := []string{"struct " + sp.base, "union " + sp.base}
	keys = append(keys, baseNameCandidates(sp.base)...)
	return append(keys, "enum "+sp.base)
}

// findIn looks sp up in one file, scanning its units until a definition
// turns up. complete is false when only a declaration was found.
func (d *DWARFTypes) findIn(df *dwarfFile, sp typeSpelling) (*Type, bool, error) {
	if !df.mentions(sp.base) && !df.mentionsAny(baseNameCandidates(sp.base)) {
		return nil, false, nil
	}
	keys := dwarfKeys(sp)
	found := func() bool {
		for _, k := range keys {
			if r, ok := df.idx.types[k]; ok && r.complete {
				return true
			}
		}
		return false
	}
	df.idx.scanUntil(found)
	var best dieRef
	bestRank, bestOK := -1, false
	for _, k := range keys {
		r, ok := df.idx.types[k]
		if !ok {
			continue
		}
		kind := r.kind
		fwdUnion := false
		if !r.complete && (kind == KindStruct || kind == KindUnion) {
			fwdUnion = kind == KindUnion
			kind = KindFwd
		}
		rank := typeRank(sp, kind, fwdUnion, !r.complete && kind == KindEnum)
		if rank >= 0 && (!bestOK || rank < bestRank) {
			best, bestRank, bestOK = r, rank, true
		}
	}
	if !bestOK {
		return nil, false, nil
	}
	dt, err := df.data.Type(best.off)
	if err != nil {
		return nil, false, fmt.Errorf("DWARF %s: type %s at %#x: %w", df.path, sp.baseSpelling(), best.off, err)
	}
	return df.conv.convert(dt), best.complete, nil
}

// VariableType implements VariableTyper for every global DWARF describes:
// the definition's type, or a declaration's when no unit scanned so far
// defines it and the declared type is complete.
func (d *DWARFTypes) VariableType(name string) (*Type, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errDWARFClosed
	}
	if err, ok := d.varMiss[name]; ok {
		return nil, err
	}
	var files []*dwarfFile
	if d.vmlinux != nil {
		files = append(files, d.vmlinux)
	}
	for pass := 0; pass < 2; pass++ {
		for _, df := range files {
			t, err := d.variableIn(df, name)
			if err != nil {
				return nil, err
			}
			if t != nil {
				return t, nil
			}
		}
		files = d.moduleFilesLocked(typeSpelling{base: name})
	}
	err := fmt.Errorf("%w: variable %s (not in DWARF of %s or %d modules)", ErrNoType, name, d.source(), len(d.modOrder))
	d.varMiss[name] = err
	return nil, err
}

func (d *DWARFTypes) variableIn(df *dwarfFile, name string) (*Type, error) {
	if !df.mentions(name) {
		return nil, nil
	}
	var t *Type
	var convErr error
	usable := func() bool {
		r, ok := df.idx.vars[name]
		if !ok {
			return false
		}
		dt, err := df.data.Type(r.off)
		if err != nil {
			convErr = fmt.Errorf("DWARF %s: variable %s type at %#x: %w", df.path, name, r.off, err)
			return true
		}
		t = df.conv.convert(dt)
		// extern unsigned long __per_cpu_offset[]; or a declaration whose
		// struct this unit only declares waits for the definition.
		rt := t.Resolve()
		return r.complete || !(rt.Kind == KindArray && rt.Len == 0 || rt.Kind == KindFwd)
	}
	df.idx.scanUntil(usable)
	if convErr != nil {
		return nil, convErr
	}
	if _, ok := df.idx.vars[name]; !ok {
		return nil, nil
	}
	if t == nil {
		usable()
	}
	return t, convErr
}

// TypeNames implements TypeSource: every type name in vmlinux (this scans
// all of its units once) and in the modules opened so far.
func (d *DWARFTypes) TypeNames() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	seen := make(map[string]bool)
	if d.vmlinux != nil {
		for _, n := range d.vmlinux.idx.typeNames() {
			seen[n] = true
		}
	}
	for _, m := range d.modules {
		for _, n := range m.idx.typeNames() {
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// normalizeModuleName spells a module name as the kernel does ('-' → '_').
func normalizeModuleName(n string) string { return strings.ReplaceAll(n, "-", "_") }

// findModulePathsLocked walks the module dirs once for .ko files.
func (d *DWARFTypes) findModulePathsLocked() {
	if d.modPaths != nil {
		return
	}
	d.modPaths = make(map[string]string)
	for _, dir := range d.moduleDirs {
		err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable subtree: skip it
			}
			if e.Type().IsRegular() && (strings.HasSuffix(path, ".ko") || strings.HasSuffix(path, ".ko.debug")) {
				n := normalizeModuleName(moduleNameFromPath(path))
				if _, dup := d.modPaths[n]; !dup {
					d.modPaths[n] = path
				}
			}
			return nil
		})
		if err != nil {
			d.warnings = append(d.warnings, fmt.Sprintf("DWARF module dir %s: %v", dir, err))
		}
	}
}

// moduleFilesLocked opens the modules that may define sp's name: the
// loaded modules (SetModules) or every module found, skipping any whose
// string section lacks the name (cheap: one read of .debug_str).
func (d *DWARFTypes) moduleFilesLocked(sp typeSpelling) []*dwarfFile {
	if len(d.moduleDirs) == 0 {
		return nil
	}
	d.findModulePathsLocked()
	names := d.loaded
	if names == nil {
		names = make([]string, 0, len(d.modPaths))
		for n := range d.modPaths {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	var out []*dwarfFile
	for _, n := range names {
		if mf, ok := d.modules[n]; ok {
			out = append(out, mf)
			continue
		}
		path, ok := d.modPaths[n]
		if !ok || !moduleMentions(path, sp.base) {
			continue
		}
		mf, err := openDWARFFile(path, n)
		if err != nil {
			d.warnings = append(d.warnings, err.Error())
			d.modules[n] = nil
			continue
		}
		d.modules[n] = mf
		d.modOrder = append(d.modOrder, n)
		out = append(out, mf)
	}
	return slices.DeleteFunc(out, func(f *dwarfFile) bool { return f == nil })
}

// moduleMentions reports whether a module's .debug_str holds name (a
// definition's DW_AT_name is there, or inline as DW_FORM_string, which
// the check then misses — GCC puts names of 4+ bytes in .debug_str).
func moduleMentions(path, name string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	s := f.Section(".debug_str")
	if s == nil {
		return true
	}
	if len(name) < 4 {
		return true
	}
	b, err := s.Data()
	if err != nil {
		return true
	}
	// Linkers merge string tails, so the name may end a longer string.
	needle := append([]byte(name), 0)
	return bytes.Contains(b, needle)
}

// errDWARFClosed is returned by a DWARFTypes used after Close.
var errDWARFClosed = errors.New("DWARF type source is closed")

// Close releases the mapped files. Types already returned stay valid;
// later lookups fail.
func (d *DWARFTypes) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if d.vmlinux != nil {
		d.vmlinux.close()
	}
	for _, m := range d.modules {
		if m != nil {
			m.close()
		}
	}
	return nil
}
