package symbols

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/cilium/ebpf/btf"
)

// BTFTypes is a TypeSource over the kernel's BTF: vmlinux, plus the split
// BTF of modules, which is loaded the first time a lookup misses vmlinux.
// Types are converted on demand and memoised: the same BTF type always
// yields the same *Type. It is safe for concurrent use.
type BTFTypes struct {
	origin string // "dump memory", "/sys/kernel/btf", a file name

	mu      sync.Mutex
	vmlinux *btfBlob
	modules []*btfBlob
	// loadModules yields module BTF blobs; nil when the origin has none.
	// It runs once, on the first lookup that misses vmlinux.
	loadModules func(b *BTFTypes) ([]ModuleBTF, error)
	modsDone    bool
	// noModuleBTF: the kernel keeps no module BTF at all (5.10), so a
	// miss names the debug files that would have the type.
	noModuleBTF bool
	warnings    []string
	conv        *btfConverter
	bases       map[string]*Type // resolved base spellings ("struct task_struct")
	names       []string         // TypeNames, built on first use

	derived derivedTypes
}

// ModuleBTF is one module's raw split BTF.
type ModuleBTF struct {
	Name string
	Data []byte
}

type btfBlob struct {
	name string // "vmlinux" or the module name
	raw  []byte
	spec *btf.Spec
}

// maxModuleBTF bounds how many module blobs one source holds.
const maxModuleBTF = 16384

// NewBTFTypes parses a vmlinux BTF blob. origin names where it came from,
// for Describe and errors.
func NewBTFTypes(raw []byte, origin string) (*BTFTypes, error) {
	if _, _, end, err := parseBTFHeader(raw); err != nil {
		return nil, fmt.Errorf("vmlinux BTF from %s: %w", origin, err)
	} else if end > uint64(len(raw)) {
		return nil, fmt.Errorf("vmlinux BTF from %s: truncated: %d bytes, header claims %d", origin, len(raw), end)
	} else {
		raw = raw[:end]
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("vmlinux BTF from %s: %w", origin, err)
	}
	b := &BTFTypes{
		origin:  origin,
		vmlinux: &btfBlob{name: "vmlinux", raw: raw, spec: spec},
		conv:    newBTFConverter(),
		bases:   make(map[string]*Type),
	}
	b.conv.typeID = b.typeIDLocked
	return b, nil
}

// typeIDLocked finds a BTF type's id in vmlinux or a module, for errors.
func (b *BTFTypes) typeIDLocked(t btf.Type) (btf.TypeID, bool) {
	for _, blob := range append([]*btfBlob{b.vmlinux}, b.modules...) {
		if id, err := blob.spec.TypeID(t); err == nil {
			return id, true
		}
	}
	return 0, false
}

// AddModule adds a module's split BTF (built on top of this vmlinux BTF).
func (b *BTFTypes) AddModule(name string, raw []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addModuleLocked(name, raw)
}

func (b *BTFTypes) addModuleLocked(name string, raw []byte) error {
	if len(b.modules) >= maxModuleBTF {
		return fmt.Errorf("module %s BTF: more than %d modules", name, maxModuleBTF)
	}
	_, _, end, err := parseBTFHeader(raw)
	if err != nil {
		return fmt.Errorf("module %s BTF: %w", name, err)
	}
	if end > uint64(len(raw)) {
		return fmt.Errorf("module %s BTF: truncated: %d bytes, header claims %d", name, len(raw), end)
	}
	raw = raw[:end]
	spec, err := btf.LoadSplitSpecFromReader(bytes.NewReader(raw), b.vmlinux.spec)
	if err != nil {
		return fmt.Errorf("module %s BTF: %w", name, err)
	}
	b.modules = append(b.modules, &btfBlob{name: name, raw: raw, spec: spec})
	b.names = nil
	// A name that fell back to a declaration may now have a definition.
	for k, t := range b.bases {
		if t.Kind == KindFwd || (t.Kind == KindEnum && len(t.Enumerators) == 0) {
			delete(b.bases, k)
		}
	}
	return nil
}

// Warnings returns what went wrong while loading module BTF (modules
// skipped, no module BTF in this kernel); the opener shows them once.
func (b *BTFTypes) Warnings() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.warnings)
}

// LoadModules loads the module BTF now instead of on the first miss.
func (b *BTFTypes) LoadModules() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ensureModulesLocked()
}

func (b *BTFTypes) ensureModulesLocked() {
	if b.modsDone {
		return
	}
	b.modsDone = true
	if b.loadModules == nil {
		return
	}
	mods, err := b.loadModules(b)
	if err != nil {
		b.warnings = append(b.warnings, fmt.Sprintf("module BTF from %s: %v", b.origin, err))
	}
	for _, m := range mods {
		if err := b.addModuleLocked(m.Name, m.Data); err != nil {
			b.warnings = append(b.warnings, err.Error())
		}
	}
}

// Describe implements TypeSource.
func (b *BTFTypes) Describe() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	mods := "modules not loaded yet"
	switch {
	case b.modsDone || len(b.modules) > 0:
		mods = fmt.Sprintf("%d modules", len(b.modules))
	case b.loadModules == nil:
		mods = "no module BTF"
	}
	return fmt.Sprintf("BTF from %s (vmlinux %.1f MiB + %s)", b.origin, float64(len(b.vmlinux.raw))/(1<<20), mods)
}

// LookupType implements TypeSource.
func (b *BTFTypes) LookupType(name string) (*Type, error) {
	sp, err := parseTypeSpelling(name)
	if err != nil {
		return nil, err
	}
	base, err := b.lookupBase(sp)
	if err != nil {
		return nil, err
	}
	return b.derived.apply(base, sp), nil
}

func (b *BTFTypes) lookupBase(sp typeSpelling) (*Type, error) {
	key := sp.baseSpelling()
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.bases[key]; ok {
		return t, nil
	}
	if sp.tag == tagNone && sp.base == "void" {
		return b.conv.void, nil
	}
	best, rank, err := b.findLocked(sp, b.vmlinux)
	if err != nil {
		return nil, err
	}
	if best == nil || !isDefinitionRank(sp, rank) {
		b.ensureModulesLocked()
		for _, m := range b.modules {
			t, r, err := b.findLocked(sp, m)
			if err != nil {
				return nil, err
			}
			if t != nil && (best == nil || r < rank) {
				best, rank = t, r
				if isDefinitionRank(sp, r) {
					break
				}
			}
		}
	}
	if best == nil {
		hint := ""
		if b.noModuleBTF {
			hint = "; this kernel keeps no module BTF (CONFIG_DEBUG_INFO_BTF_MODULES came in 5.11), so types defined in modules need the modules' debug files: --debuginfo DIR holding them (linux-image-<release>-dbg, /usr/lib/debug/lib/modules/<release>)"
		}
		return nil, fmt.Errorf("%w: %s (not in BTF from %s, vmlinux + %d modules%s)", ErrNoType, key, b.origin, len(b.modules), hint)
	}
	t, err := b.conv.convertChecked(best)
	if err != nil {
		return nil, fmt.Errorf("type %s: %w", key, err)
	}
	b.bases[key] = t
	return t, nil
}

// isDefinitionRank tells whether a typeRank result is a definition rather
// than a forward declaration (which a module may complete).
func isDefinitionRank(sp typeSpelling, rank int) bool {
	if sp.tag == tagNone {
		return rank < 5
	}
	return rank == 0
}

// findLocked returns the best-ranked BTF type spelled like sp in one blob.
func (b *BTFTypes) findLocked(sp typeSpelling, blob *btfBlob) (btf.Type, int, error) {
	var best btf.Type
	bestRank := -1
	for _, n := range baseNameCandidates(sp.base) {
		cands, err := blob.spec.AnyTypesByName(n)
		if errors.Is(err, btf.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("BTF %s: looking up %s: %w", blob.name, n, err)
		}
		for _, c := range cands {
			kind, fwdUnion, empty := btfKindOf(c)
			r := typeRank(sp, kind, fwdUnion, empty)
			if r >= 0 && (bestRank < 0 || r < bestRank) {
				best, bestRank = c, r
			}
		}
		if best != nil {
			break
		}
	}
	return best, bestRank, nil
}

// btfKindOf classifies a BTF type the way typeRank needs. Kinds that never
// answer a type name (functions, variables) give KindFunc, which ranks -1.
func btfKindOf(t btf.Type) (k Kind, fwdUnion, empty bool) {
	switch v := t.(type) {
	case *btf.Struct:
		return KindStruct, false, false
	case *btf.Union:
		return KindUnion, false, false
	case *btf.Enum:
		return KindEnum, false, len(v.Values) == 0
	case *btf.Typedef:
		return KindTypedef, false, false
	case *btf.Int:
		return KindInt, false, false
	case *btf.Float:
		return KindFloat, false, false
	case *btf.Fwd:
		return KindFwd, v.Kind == btf.FwdUnion, false
	}
	return KindFunc, false, false
}

// VariableType returns the type of a variable BTF describes (BTF has VARs
// only for per-CPU variables, in DATASEC .data..percpu).
func (b *BTFTypes) VariableType(name string) (*Type, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	blobs := []*btfBlob{b.vmlinux}
	for pass := 0; pass < 2; pass++ {
		for _, blob := range blobs {
			cands, err := blob.spec.AnyTypesByName(name)
			if err != nil && !errors.Is(err, btf.ErrNotFound) {
				return nil, fmt.Errorf("BTF %s: looking up variable %s: %w", blob.name, name, err)
			}
			for _, c := range cands {
				if v, ok := c.(*btf.Var); ok {
					t, err := b.conv.convertChecked(v.Type)
					if err != nil {
						return nil, fmt.Errorf("variable %s: %w", name, err)
					}
					return t, nil
				}
			}
		}
		b.ensureModulesLocked()
		blobs = b.modules
	}
	return nil, fmt.Errorf("%w: variable %s (BTF from %s has no VAR for it)", ErrNoType, name, b.origin)
}

// TypeNames implements TypeSource. It loads module BTF.
func (b *BTFTypes) TypeNames() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ensureModulesLocked()
	if b.names != nil {
		return b.names
	}
	seen := make(map[string]bool)
	add := func(raw, baseStrs []byte) {
		names, _ := btfRawNames(raw, baseStrs) // a damaged tail only shortens the list
		for _, n := range names {
			seen[n] = true
		}
	}
	add(b.vmlinux.raw, nil)
	if len(b.modules) > 0 {
		baseStrs, err := btfStrings(b.vmlinux.raw)
		if err == nil {
			for _, m := range b.modules {
				add(m.raw, baseStrs)
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	b.names = names
	return names
}

// Modules returns the names of the modules whose BTF is loaded.
func (b *BTFTypes) Modules() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, len(b.modules))
	for i, m := range b.modules {
		out[i] = m.name
	}
	return out
}

// vmlinuxStruct returns a struct from vmlinux BTF only (never loading
// modules): the module loaders use it to read kernel structures.
func (b *BTFTypes) vmlinuxStructLocked(name string) (*Type, bool) {
	sp := typeSpelling{tag: tagStruct, base: name}
	t, rank, err := b.findLocked(sp, b.vmlinux)
	if err != nil || t == nil || rank != 0 {
		return nil, false
	}
	ct, err := b.conv.convertChecked(t)
	return ct, err == nil
}
