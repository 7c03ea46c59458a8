package symbols

import (
	"debug/dwarf"
	"fmt"
	"sort"
)

// dwarfIndex is a name index over the top-level DIEs of every compile unit,
// built progressively: a lookup scans units in file order only until it
// finds what it needs, so the first "struct task_struct" costs a few units,
// not the whole 160 MB of .debug_info. Children of top-level DIEs (members,
// function bodies) are skipped through DW_AT_sibling. Not safe for
// concurrent use; the owner serialises calls.
type dwarfIndex struct {
	r       *dwarf.Reader
	done    bool
	err     error // why the scan stopped early, if it did
	units   int   // units scanned
	types   map[string]dieRef
	vars    map[string]dieRef
	order   []string // type keys in discovery order, for TypeNames
	started bool
}

// dieRef is where a name is defined. complete is false for declarations
// (struct X; extern int x;) that a later unit may define.
type dieRef struct {
	off      dwarf.Offset // the DIE to convert (for variables: the one with DW_AT_type)
	kind     Kind
	complete bool
}

// maxDWARFUnits bounds the scan.
const maxDWARFUnits = 1 << 20

func newDWARFIndex(d *dwarf.Data) *dwarfIndex {
	return &dwarfIndex{
		r:     d.Reader(),
		types: make(map[string]dieRef),
		vars:  make(map[string]dieRef),
	}
}

// scanUntil scans further units until pred holds or every unit is read.
func (x *dwarfIndex) scanUntil(pred func() bool) {
	for !x.done && !pred() {
		if err := x.scanUnit(); err != nil {
			x.err = err
			x.done = true
		}
	}
}

// scanAll completes the index.
func (x *dwarfIndex) scanAll() { x.scanUntil(func() bool { return false }) }

// scanUnit reads one unit's top-level DIEs.
func (x *dwarfIndex) scanUnit() error {
	if x.units >= maxDWARFUnits {
		x.done = true
		return fmt.Errorf("more than %d compile units", maxDWARFUnits)
	}
	cu, err := x.r.Next()
	if err != nil {
		return fmt.Errorf("unit %d: %w", x.units, err)
	}
	if cu == nil {
		x.done = true
		return nil
	}
	x.units++
	if !cu.Children {
		return nil
	}
	if cu.Tag != dwarf.TagCompileUnit && cu.Tag != dwarf.TagPartialUnit {
		x.r.SkipChildren()
		return nil
	}
	// Declarations a definition may refer to through DW_AT_specification.
	specs := make(map[dwarf.Offset]specInfo)
	for {
		e, err := x.r.Next()
		if err != nil {
			return fmt.Errorf("unit %d at %#x: %w", x.units, cu.Offset, err)
		}
		if e == nil {
			x.done = true
			return nil
		}
		if e.Tag == 0 {
			return nil // end of this unit's children
		}
		x.add(e, specs)
		if e.Children {
			x.r.SkipChildren()
		}
	}
}

type specInfo struct {
	name    string
	typeOff dwarf.Offset
	hasType bool
}

func (x *dwarfIndex) add(e *dwarf.Entry, specs map[dwarf.Offset]specInfo) {
	decl, _ := e.Val(dwarf.AttrDeclaration).(bool)
	name, _ := e.Val(dwarf.AttrName).(string)
	var prefix string
	var kind Kind
	switch e.Tag {
	case dwarf.TagStructType:
		prefix, kind = "struct ", KindStruct
	case dwarf.TagUnionType:
		prefix, kind = "union ", KindUnion
	case dwarf.TagEnumerationType:
		prefix, kind = "enum ", KindEnum
	case dwarf.TagTypedef:
		kind = KindTypedef
	case dwarf.TagBaseType:
		kind = KindInt
	case dwarf.TagVariable:
		x.addVar(e, name, decl, specs)
		return
	default:
		return
	}
	if name == "" {
		return
	}
	key := prefix + name
	old, ok := x.types[key]
	if ok && (old.complete || decl) {
		return
	}
	if !ok {
		x.order = append(x.order, key)
	}
	x.types[key] = dieRef{off: e.Offset, kind: kind, complete: !decl}
}

func (x *dwarfIndex) addVar(e *dwarf.Entry, name string, decl bool, specs map[dwarf.Offset]specInfo) {
	typeOff, hasType := e.Val(dwarf.AttrType).(dwarf.Offset)
	if spec, ok := e.Val(dwarf.AttrSpecification).(dwarf.Offset); ok {
		if si, ok := specs[spec]; ok {
			if name == "" {
				name = si.name
			}
			if !hasType {
				typeOff, hasType = si.typeOff, si.hasType
			}
		}
	}
	if name == "" || !hasType {
		return
	}
	if decl {
		specs[e.Offset] = specInfo{name: name, typeOff: typeOff, hasType: hasType}
	}
	if old, ok := x.vars[name]; ok && (old.complete || decl) {
		return
	}
	x.vars[name] = dieRef{off: typeOff, complete: !decl}
}

// typeNames returns every indexed type name, sorted (after a full scan).
func (x *dwarfIndex) typeNames() []string {
	x.scanAll()
	names := append([]string(nil), x.order...)
	sort.Strings(names)
	return names
}
