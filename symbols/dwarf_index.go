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
	scan  unitScanner
	done  bool
	err   error // why the scan stopped early, if it did
	units int   // units scanned
	types map[string]dieRef
	vars  map[string]dieRef
	order []string // type keys in discovery order, for TypeNames
	specs map[dwarf.Offset]specInfo
	key   []byte // scratch for map keys
}

// unitScanner reads the next unit's top-level DIEs into the index. done
// is true when there are no more units.
type unitScanner interface {
	scanUnit(x *dwarfIndex) (done bool, err error)
}

// dieRef is where a name is defined. complete is false for declarations
// (struct X; extern int x;) that a later unit may define.
type dieRef struct {
	off      dwarf.Offset // the DIE to convert (for variables: its DW_AT_type)
	kind     Kind
	complete bool
}

// topDIE is what the index keeps of one top-level DIE.
type topDIE struct {
	off      dwarf.Offset
	tag      dwarf.Tag
	name     []byte
	decl     bool
	typeOff  dwarf.Offset
	hasType  bool
	spec     dwarf.Offset
	hasSpec  bool
	children bool
}

// maxDWARFUnits bounds the scan.
const maxDWARFUnits = 1 << 20

func newDWARFIndex(scan unitScanner) *dwarfIndex {
	return &dwarfIndex{
		scan:  scan,
		types: make(map[string]dieRef),
		vars:  make(map[string]dieRef),
		specs: make(map[dwarf.Offset]specInfo),
	}
}

// scanUntil scans further units until pred holds or every unit is read.
func (x *dwarfIndex) scanUntil(pred func() bool) {
	for !x.done && !pred() {
		if x.units >= maxDWARFUnits {
			x.done, x.err = true, fmt.Errorf("more than %d compile units", maxDWARFUnits)
			return
		}
		clear(x.specs)
		done, err := x.scan.scanUnit(x)
		if err != nil {
			x.done, x.err = true, fmt.Errorf("unit %d: %w", x.units, err)
			return
		}
		if done {
			x.done = true
			return
		}
		x.units++
	}
}

// scanAll completes the index.
func (x *dwarfIndex) scanAll() { x.scanUntil(func() bool { return false }) }

type specInfo struct {
	name    string
	typeOff dwarf.Offset
	hasType bool
}

// add indexes one top-level DIE of the unit being scanned.
func (x *dwarfIndex) add(e *topDIE) {
	var prefix string
	var kind Kind
	switch e.tag {
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
		x.addVar(e)
		return
	default:
		return
	}
	if len(e.name) == 0 {
		return
	}
	x.key = append(append(x.key[:0], prefix...), e.name...)
	old, ok := x.types[string(x.key)] // no allocation for a lookup
	if ok && (old.complete || e.decl) {
		return
	}
	k := string(x.key)
	if !ok {
		x.order = append(x.order, k)
	}
	x.types[k] = dieRef{off: e.off, kind: kind, complete: !e.decl}
}

func (x *dwarfIndex) addVar(e *topDIE) {
	name := ""
	if len(e.name) > 0 {
		name = string(e.name)
	}
	typeOff, hasType := e.typeOff, e.hasType
	if e.hasSpec {
		// A definition completing an earlier declaration of this unit
		// (DW_AT_specification) may carry neither name nor type.
		if si, ok := x.specs[e.spec]; ok {
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
	if e.decl {
		x.specs[e.off] = specInfo{name: name, typeOff: typeOff, hasType: hasType}
	}
	if old, ok := x.vars[name]; ok && (old.complete || e.decl) {
		return
	}
	x.vars[name] = dieRef{off: typeOff, complete: !e.decl}
}

// typeNames returns every indexed type name, sorted (after a full scan).
func (x *dwarfIndex) typeNames() []string {
	x.scanAll()
	names := append([]string(nil), x.order...)
	sort.Strings(names)
	return names
}

// readerScanner scans units with debug/dwarf's Reader: used for files
// whose sections debug/dwarf relocated or decompressed (modules).
type readerScanner struct {
	r *dwarf.Reader
}

func (s *readerScanner) scanUnit(x *dwarfIndex) (bool, error) {
	cu, err := s.r.Next()
	if err != nil {
		return false, err
	}
	if cu == nil {
		return true, nil
	}
	if !cu.Children {
		return false, nil
	}
	if cu.Tag != dwarf.TagCompileUnit && cu.Tag != dwarf.TagPartialUnit {
		s.r.SkipChildren()
		return false, nil
	}
	for {
		e, err := s.r.Next()
		if err != nil {
			return false, fmt.Errorf("at %#x: %w", cu.Offset, err)
		}
		if e == nil {
			return true, nil
		}
		if e.Tag == 0 {
			return false, nil // end of this unit's children
		}
		d := topDIE{off: e.Offset, tag: e.Tag, children: e.Children}
		if n, ok := e.Val(dwarf.AttrName).(string); ok {
			d.name = []byte(n)
		}
		d.decl, _ = e.Val(dwarf.AttrDeclaration).(bool)
		d.typeOff, d.hasType = e.Val(dwarf.AttrType).(dwarf.Offset)
		d.spec, d.hasSpec = e.Val(dwarf.AttrSpecification).(dwarf.Offset)
		x.add(&d)
		if e.Children {
			s.r.SkipChildren()
		}
	}
}
