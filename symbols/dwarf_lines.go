package symbols

import (
	"debug/dwarf"
	"errors"
	"fmt"
	"io"
)

// InlinedFrame is one inlined call covering an address.
type InlinedFrame struct {
	Function string // the inlined function
	CallFile string // where it was inlined, in its caller
	CallLine int
}

// LineLocator is implemented by sources with line tables (DWARF); `bt -l`
// uses it.
type LineLocator interface {
	LineForAddr(addr uint64) (file string, line int, inlined []InlinedFrame, err error)
}

// maxLineDIEs bounds the DIEs visited for one address's inline chain.
const maxLineDIEs = 1 << 20

// LineForAddr maps a vmlinux code address (runtime, KASLR-shifted: see
// SetKASLROffset) to its source file and line from the line table, plus
// the inlined calls covering it, innermost first: file:line lies in
// inlined[0].Function, which was inlined at inlined[0].CallFile:CallLine
// into inlined[1].Function (or into the containing function), and so on.
// Module addresses are not covered.
func (d *DWARFTypes) LineForAddr(addr uint64) (file string, line int, inlined []InlinedFrame, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return "", 0, nil, errDWARFClosed
	}
	if d.syms != nil {
		if sym, off, ok := d.syms.LookupAddr(addr); ok && sym.Module != "" {
			return d.lineForModuleLocked(sym.Module, sym.Name, off)
		}
	}
	if d.vmlinux == nil {
		return "", 0, nil, fmt.Errorf("DWARF: %#x is not in a module, and no vmlinux debug info was given", addr)
	}
	pc := addr - d.kaslr
	data := d.vmlinux.data
	r := data.Reader()
	cu, err := r.SeekPC(pc)
	if err != nil {
		return "", 0, nil, fmt.Errorf("DWARF %s: no compile unit covers %#x (pc %#x): %w", d.vmlinux.path, addr, pc, err)
	}
	lr, err := data.LineReader(cu)
	if err != nil || lr == nil {
		return "", 0, nil, fmt.Errorf("DWARF %s: line table of unit at %#x: %v", d.vmlinux.path, cu.Offset, err)
	}
	le, ok := lineEntryFor(lr, pc)
	if !ok {
		return "", 0, nil, fmt.Errorf("DWARF %s: no line for %#x (pc %#x) in the line table of %v", d.vmlinux.path, addr, pc, cu.Val(dwarf.AttrName))
	}
	if le.File != nil {
		file = le.File.Name
	}
	line = le.Line
	if cu.Children {
		w := inlineWalker{data: data, r: r, pc: pc, files: lr.Files()}
		w.siblings(0)
		for i := len(w.frames) - 1; i >= 0; i-- {
			inlined = append(inlined, w.frames[i])
		}
	}
	return file, line, inlined, nil
}

// inlineWalker descends the DIE tree of one unit along the entries whose
// ranges contain pc, collecting inlined subroutines outermost first.
type inlineWalker struct {
	data   *dwarf.Data
	r      *dwarf.Reader
	pc     uint64
	files  []*dwarf.LineFile
	frames []InlinedFrame
	seen   int
}

// siblings reads one sibling list (the reader is at its first entry).
func (w *inlineWalker) siblings(depth int) {
	for {
		e, err := w.r.Next()
		if err != nil || e == nil || e.Tag == 0 {
			return
		}
		if w.seen++; w.seen > maxLineDIEs || depth > 64 {
			return
		}
		switch e.Tag {
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine, dwarf.TagLexDwarfBlock:
		default:
			if e.Children {
				w.r.SkipChildren()
			}
			continue
		}
		if !w.contains(e) {
			if e.Children {
				w.r.SkipChildren()
			}
			continue
		}
		if e.Tag == dwarf.TagInlinedSubroutine {
			f := InlinedFrame{Function: w.originName(e)}
			if idx, ok := e.Val(dwarf.AttrCallFile).(int64); ok && idx >= 0 && idx < int64(len(w.files)) && w.files[idx] != nil {
				f.CallFile = w.files[idx].Name
			}
			if l, ok := e.Val(dwarf.AttrCallLine).(int64); ok {
				f.CallLine = int(l)
			}
			w.frames = append(w.frames, f)
		}
		if e.Children {
			w.siblings(depth + 1)
		}
		return // the entry containing pc was found at this level
	}
}

func (w *inlineWalker) contains(e *dwarf.Entry) bool {
	ranges, err := w.data.Ranges(e)
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

// originName follows DW_AT_abstract_origin / DW_AT_specification to a name.
func (w *inlineWalker) originName(e *dwarf.Entry) string {
	r := w.data.Reader()
	for i := 0; i < 8 && e != nil; i++ {
		if n, ok := e.Val(dwarf.AttrName).(string); ok {
			return n
		}
		off, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
		if !ok {
			off, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset)
		}
		if !ok {
			break
		}
		r.Seek(off)
		next, err := r.Next()
		if err != nil && !errors.Is(err, io.EOF) {
			break
		}
		e = next
	}
	return "?"
}

// maxLineRows bounds the rows read from one unit's line table.
const maxLineRows = 1 << 24

// lineEntryFor finds the row in effect at pc: the last row of a sequence
// at or below pc whose successor in the same sequence lies above it.
// (debug/dwarf's LineReader.SeekPC assumes sequences in address order,
// which the kernel's units with several text sections do not keep.)
func lineEntryFor(lr *dwarf.LineReader, pc uint64) (dwarf.LineEntry, bool) {
	var prev, cur dwarf.LineEntry
	have := false
	for n := 0; n < maxLineRows; n++ {
		if err := lr.Next(&cur); err != nil {
			break
		}
		if have && !prev.EndSequence && prev.Address <= pc && pc < cur.Address {
			return prev, true
		}
		prev, have = cur, true
	}
	return dwarf.LineEntry{}, false
}
