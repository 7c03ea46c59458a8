package symbols

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"sync"
)

// FrameVar is one parameter or local variable of a function (or of a
// function inlined into it) in scope at some pc, with the DWARF location
// expression that holds at that pc.
type FrameVar struct {
	Name  string
	Param bool  // DW_TAG_formal_parameter
	Type  *Type // nil when DWARF gives none
	// Expr is the location expression valid at the pc; nil with
	// OptimizedOut when no location covers the pc.
	Expr         []byte
	OptimizedOut bool
	// Const is DW_AT_const_value when HasConst.
	Const    int64
	HasConst bool
}

// FrameScope is one function's variables at a pc: the concrete function
// or one inlined into it.
type FrameScope struct {
	Function string
	Inlined  bool
	// FrameBase is the subprogram's DW_AT_frame_base expression (shared by
	// the functions inlined into it).
	FrameBase []byte
	Vars      []FrameVar
}

// FrameVarLocator is implemented by type sources that know variable
// locations (DWARF); bt -v uses it.
type FrameVarLocator interface {
	// FrameVarsAt returns the scopes covering a runtime (KASLR-shifted)
	// code address, innermost (most deeply inlined) first. The result is
	// shared: callers must not modify it.
	FrameVarsAt(addr uint64) ([]FrameScope, error)
	// CalleeSavedAt says where the function at a runtime code address
	// saved the callee-saved registers (DWARF numbers): at CFA+offset
	// (saved), or left untouched (same). ok is false when no call-frame
	// information covers addr.
	CalleeSavedAt(addr uint64) (saved map[int]int64, same map[int]bool, ok bool)
}

// dwarfVarSections holds the sections variable lookups need that
// debug/dwarf does not expose, read once.
type dwarfVarSections struct {
	once     sync.Once
	err      error
	loclists []byte // DWARF 5
	loc      []byte // DWARF 4
	frame    []byte
	cfi      *cfiTable
	// byPC memoises FrameVarsAt (under DWARFTypes.mu): sleeping tasks
	// share a few pcs (schedule and its callers). Cleared when full.
	byPC map[uint64][]FrameScope
}

// maxVarCache bounds the memoised pcs.
const maxVarCache = 4096

func (d *DWARFTypes) varSections() (*dwarfVarSections, error) {
	s := &d.vars
	s.once.Do(func() {
		if d.vmlinux == nil {
			s.err = fmt.Errorf("no vmlinux debug info")
			return
		}
		ef, err := elf.Open(d.vmlinux.path)
		if err != nil {
			s.err = fmt.Errorf("DWARF %s: %w", d.vmlinux.path, err)
			return
		}
		defer ef.Close()
		read := func(name string) []byte {
			sec := ef.Section(name)
			if sec == nil || sec.Type == elf.SHT_NOBITS {
				return nil
			}
			b, err := sec.Data()
			if err != nil {
				s.err = fmt.Errorf("DWARF %s: %s: %w", d.vmlinux.path, name, err)
				return nil
			}
			return b
		}
		s.loclists, s.loc, s.frame = read(".debug_loclists"), read(".debug_loc"), read(".debug_frame")
		s.cfi = newCFITable(s.frame)
	})
	return s, s.err
}

// maxVarDIEs bounds the DIEs visited for one address's variables.
const maxVarDIEs = 1 << 20

// FrameVarsAt implements FrameVarLocator for vmlinux addresses.
func (d *DWARFTypes) FrameVarsAt(addr uint64) ([]FrameScope, error) {
	secs, err := d.varSections()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errDWARFClosed
	}
	if d.syms != nil {
		if sym, _, ok := d.syms.LookupAddr(addr); ok && sym.Module != "" {
			return nil, fmt.Errorf("DWARF: %#x is in module %s: variables are known for vmlinux only", addr, sym.Module)
		}
	}
	pc := addr - d.kaslr
	if sc, ok := secs.byPC[pc]; ok {
		return sc, nil
	}
	data := d.vmlinux.data
	r := data.Reader()
	cu, err := r.SeekPC(pc)
	if err != nil {
		return nil, fmt.Errorf("DWARF %s: no compile unit covers %#x (pc %#x): %w", d.vmlinux.path, addr, pc, err)
	}
	w := &varWalker{d: d, df: d.vmlinux, r: r, pc: pc, secs: secs, unit: cu}
	w.base, _ = cu.Val(dwarf.AttrLowpc).(uint64)
	if !cu.Children {
		return nil, fmt.Errorf("DWARF %s: unit at %#x is empty", d.vmlinux.path, cu.Offset)
	}
	w.siblings(0, nil)
	if len(w.scopes) == 0 {
		return nil, fmt.Errorf("DWARF %s: no function covers %#x (pc %#x)", d.vmlinux.path, addr, pc)
	}
	out := make([]FrameScope, len(w.scopes))
	for i, s := range w.scopes {
		out[len(w.scopes)-1-i] = *s
	}
	if secs.byPC == nil || len(secs.byPC) >= maxVarCache {
		secs.byPC = make(map[uint64][]FrameScope)
	}
	secs.byPC[pc] = out
	return out, nil
}

// varWalker descends one unit's DIE tree along the entries containing pc,
// collecting the variables of each function scope.
type varWalker struct {
	d      *DWARFTypes
	df     *dwarfFile
	r      *dwarf.Reader
	pc     uint64
	base   uint64 // the unit's base address for location lists
	secs   *dwarfVarSections
	unit   *dwarf.Entry
	scopes []*FrameScope // outermost first
	seen   int
}

// siblings reads one sibling list; cur is the scope its variables go to.
func (w *varWalker) siblings(depth int, cur *FrameScope) {
	for {
		e, err := w.r.Next()
		if err != nil || e == nil || e.Tag == 0 {
			return
		}
		if w.seen++; w.seen > maxVarDIEs || depth > 64 {
			return
		}
		switch e.Tag {
		case dwarf.TagFormalParameter, dwarf.TagVariable:
			if cur != nil {
				if v, ok := w.variable(e); ok {
					cur.Vars = append(cur.Vars, v)
				}
			}
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine, dwarf.TagLexDwarfBlock:
			if !w.contains(e) {
				break
			}
			scope := cur
			switch e.Tag {
			case dwarf.TagSubprogram:
				scope = &FrameScope{Function: w.originName(e)}
				scope.FrameBase, _ = e.Val(dwarf.AttrFrameBase).([]byte)
				w.scopes = append(w.scopes, scope)
			case dwarf.TagInlinedSubroutine:
				scope = &FrameScope{Function: w.originName(e), Inlined: true}
				if cur != nil {
					scope.FrameBase = cur.FrameBase
				}
				w.scopes = append(w.scopes, scope)
			}
			if e.Children {
				w.siblings(depth+1, scope)
			}
			if depth == 0 {
				return // the unit's function containing pc is done
			}
			continue
		}
		if e.Children {
			w.r.SkipChildren()
		}
	}
}

func (w *varWalker) contains(e *dwarf.Entry) bool {
	ranges, err := w.df.data.Ranges(e)
	if err != nil {
		return false
	}
	for _, rg := range ranges {
		if w.pc >= rg[0] && w.pc < rg[1] {
			return true
		}
	}
	return false
}

// origin follows DW_AT_abstract_origin to the entry holding name and type.
func (w *varWalker) origin(e *dwarf.Entry) *dwarf.Entry {
	r := w.df.data.Reader()
	for i := 0; i < 8; i++ {
		if _, named := e.Val(dwarf.AttrName).(string); named {
			return e
		}
		off, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			off, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset)
		}
		if !ok {
			return e
		}
		r.Seek(off)
		next, err := r.Next()
		if err != nil || next == nil {
			return e
		}
		e = next
	}
	return e
}

func (w *varWalker) originName(e *dwarf.Entry) string {
	if n, ok := w.origin(e).Val(dwarf.AttrName).(string); ok {
		return n
	}
	return "?"
}

// variable reads one variable DIE; ok is false for variables with no name
// or that are declarations of globals.
func (w *varWalker) variable(e *dwarf.Entry) (FrameVar, bool) {
	o := w.origin(e)
	name, _ := o.Val(dwarf.AttrName).(string)
	if name == "" {
		return FrameVar{}, false
	}
	v := FrameVar{Name: name, Param: e.Tag == dwarf.TagFormalParameter}
	if toff, ok := o.Val(dwarf.AttrType).(dwarf.Offset); ok {
		if dt, err := w.df.data.Type(toff); err == nil {
			v.Type = w.df.conv.convert(dt)
		}
	}
	if c, ok := e.Val(dwarf.AttrConstValue).(int64); ok {
		v.Const, v.HasConst = c, true
		return v, true
	}
	f := e.AttrField(dwarf.AttrLocation)
	if f == nil {
		v.OptimizedOut = true
		return v, true
	}
	switch f.Class {
	case dwarf.ClassExprLoc, dwarf.ClassBlock:
		v.Expr, _ = f.Val.([]byte)
	case dwarf.ClassLocListPtr, dwarf.ClassLocList:
		off, _ := f.Val.(int64)
		v.Expr = w.locList(uint64(off))
	}
	if v.Expr == nil {
		v.OptimizedOut = true
	}
	// A static local (DW_OP_addr) is a global: keep it, it is recoverable.
	return v, true
}

// locList finds the expression of the location list at off covering pc.
func (w *varWalker) locList(off uint64) []byte {
	if w.secs.loclists != nil {
		return findLocListV5(w.secs.loclists, off, w.base, w.pc)
	}
	return findLocListV4(w.secs.loc, off, w.base, w.pc)
}
