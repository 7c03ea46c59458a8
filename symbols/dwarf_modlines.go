package symbols

import (
	"debug/dwarf"
	"fmt"
)

// Module line tables. A module's .ko is relocatable: every section starts
// at address 0 in its DWARF, so a runtime address cannot be looked up
// directly. Instead the address is turned into function+offset with the
// kernel's symbol table, the function's DIE is found by name in the
// module's DWARF, and its own low_pc plus the offset is the address to look
// up in the line table, restricted to the function's range. When sections
// overlap (a .text function and an .init.text one both starting at 0), the
// line-table sequence whose row at the function's start names the
// function's own declaration file wins.

// SetSymbols gives LineForAddr the kernel's symbol table, so that module
// addresses resolve through the modules' debug files.
func (d *DWARFTypes) SetSymbols(syms SymbolTable) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.syms = syms
}

// modFunc is one function defined in a module's DWARF.
type modFunc struct {
	cu       *dwarf.Entry
	die      dwarf.Offset
	low      uint64
	high     uint64
	declFile int64
	declLine int64
}

// moduleFuncsLocked indexes the functions of a module's DWARF (once).
func (d *DWARFTypes) moduleFuncsLocked(mf *dwarfFile) (map[string]modFunc, error) {
	if mf.funcs != nil {
		return mf.funcs, nil
	}
	funcs := make(map[string]modFunc)
	r := mf.data.Reader()
	var cu *dwarf.Entry
	names := make(map[dwarf.Offset]string) // declarations of this unit
	for n := 0; n < maxLineDIEs*4; n++ {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("DWARF %s: %w", mf.path, err)
		}
		if e == nil {
			break
		}
		switch e.Tag {
		case dwarf.TagCompileUnit, dwarf.TagPartialUnit:
			cu = e
			clear(names)
			continue
		case dwarf.TagSubprogram:
		default:
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		if name == "" {
			for _, a := range []dwarf.Attr{dwarf.AttrSpecification, dwarf.AttrAbstractOrigin} {
				if off, ok := e.Val(a).(dwarf.Offset); ok {
					name = names[off]
				}
			}
		} else {
			names[e.Offset] = name
		}
		ranges, err := mf.data.Ranges(e)
		if e.Children {
			r.SkipChildren()
		}
		if err != nil || len(ranges) == 0 || name == "" || cu == nil {
			continue
		}
		f := modFunc{cu: cu, die: e.Offset, low: ranges[0][0], high: ranges[0][1]}
		f.declFile, _ = e.Val(dwarf.AttrDeclFile).(int64)
		f.declLine, _ = e.Val(dwarf.AttrDeclLine).(int64)
		if _, dup := funcs[name]; !dup {
			funcs[name] = f
		}
	}
	mf.funcs = funcs
	return funcs, nil
}

// SetModuleFetcher sets how a module's debug file that no module dir
// holds is found (e.g. fetched from debuginfod by the module's build-id):
// asked once per module, when its lines are first needed (types are looked
// for in the module dirs only).
func (d *DWARFTypes) SetModuleFetcher(f func(module string) (string, error)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fetchModule = f
}

// moduleFileLocked opens a module's debug file by module name (from the
// module dirs, else from the fetcher, called with d.mu released).
func (d *DWARFTypes) moduleFileLocked(module string) (*dwarfFile, error) {
	n := normalizeModuleName(module)
	if mf, ok := d.modules[n]; ok {
		if mf == nil {
			return nil, fmt.Errorf("module %s: its debug file could not be opened", module)
		}
		return mf, nil
	}
	d.findModulePathsLocked()
	path, ok := d.modPaths[n]
	if !ok && d.fetchModule != nil {
		// The fetcher reads the dump through the program, whose types may
		// be these: it runs without the lock (a download may take long).
		fetch := d.fetchModule
		d.mu.Unlock()
		p, err := fetch(n)
		d.mu.Lock()
		if d.closed {
			return nil, errDWARFClosed
		}
		if mf, done := d.modules[n]; done {
			if mf == nil {
				return nil, fmt.Errorf("module %s: its debug file could not be opened", module)
			}
			return mf, nil
		}
		if err != nil || p == "" {
			d.modules[n] = nil
			if err == nil {
				err = fmt.Errorf("no debug file under %v, and none fetched", d.moduleDirs)
			}
			return nil, fmt.Errorf("module %s: %w", module, err)
		}
		path, ok = p, true
		d.modPaths[n] = p
	}
	if !ok {
		return nil, fmt.Errorf("module %s: no debug file under %v", module, d.moduleDirs)
	}
	mf, err := openDWARFFile(path, n)
	d.modules[n] = mf
	if err != nil {
		return nil, err
	}
	d.modOrder = append(d.modOrder, n)
	return mf, nil
}

// lineForModuleLocked answers LineForAddr for function+off in a module.
func (d *DWARFTypes) lineForModuleLocked(module, fn string, off uint64) (string, int, []InlinedFrame, error) {
	mf, err := d.moduleFileLocked(module)
	if err != nil {
		return "", 0, nil, err
	}
	funcs, err := d.moduleFuncsLocked(mf)
	if err != nil {
		return "", 0, nil, err
	}
	f, ok := funcs[fn]
	if !ok {
		return "", 0, nil, fmt.Errorf("DWARF %s: no function %s", mf.path, fn)
	}
	pc := f.low + off
	if pc < f.low || pc >= f.high {
		return "", 0, nil, fmt.Errorf("DWARF %s: %s+%#x is past the function's end (%#x bytes)", mf.path, fn, off, f.high-f.low)
	}
	lr, err := mf.data.LineReader(f.cu)
	if err != nil || lr == nil {
		return "", 0, nil, fmt.Errorf("DWARF %s: line table of %s: %v", mf.path, fn, err)
	}
	var wantFile string
	if files := lr.Files(); f.declFile >= 0 && f.declFile < int64(len(files)) && files[f.declFile] != nil {
		wantFile = files[f.declFile].Name
	}
	le, ok := lineEntryInFunc(lr, f.low, pc, wantFile, int(f.declLine))
	if !ok {
		return "", 0, nil, fmt.Errorf("DWARF %s: no line for %s+%#x", mf.path, fn, off)
	}
	file := ""
	if le.File != nil {
		file = le.File.Name
	}
	// The inline chain: descend from the function's own DIE.
	r := mf.data.Reader()
	r.Seek(f.die)
	e, err := r.Next()
	var inlined []InlinedFrame
	if err == nil && e != nil && e.Children {
		w := inlineWalker{data: mf.data, r: r, pc: pc, files: lr.Files()}
		w.siblings(1)
		for i := len(w.frames) - 1; i >= 0; i-- {
			inlined = append(inlined, w.frames[i])
		}
	}
	return file, le.Line, inlined, nil
}

// lineEntryInFunc finds the row in effect at pc among the line-table
// sequences that cover both the function's start and pc; with several
// (overlapping sections), the one whose row at the start is in the
// function's declaration file and nearest its declaration line.
func lineEntryInFunc(lr *dwarf.LineReader, low, pc uint64, wantFile string, declLine int) (dwarf.LineEntry, bool) {
	var best dwarf.LineEntry
	bestScore := -1
	var prev, cur dwarf.LineEntry
	have := false
	var startRow dwarf.LineEntry
	haveStart, haveHit := false, false
	var hit dwarf.LineEntry
	score := func() int {
		s := 1
		if startRow.File != nil && startRow.File.Name == wantFile {
			s += 1 << 20
			if d := startRow.Line - declLine; d >= 0 && d < 1<<19 {
				s += (1 << 19) - d
			}
		}
		return s
	}
	for n := 0; n < maxLineRows; n++ {
		if err := lr.Next(&cur); err != nil {
			break
		}
		if have && !prev.EndSequence {
			if prev.Address <= low && low < cur.Address && !haveStart {
				startRow, haveStart = prev, true
			}
			if prev.Address <= pc && pc < cur.Address {
				hit, haveHit = prev, true
			}
		}
		if cur.EndSequence {
			if haveStart && haveHit {
				if s := score(); s > bestScore {
					best, bestScore = hit, s
				}
			}
			haveStart, haveHit = false, false
		}
		prev, have = cur, true
	}
	return best, bestScore >= 0
}
