package unwind

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/vfs"
)

// FrameVar is one parameter or local of a frame's function, with its value
// when its location could be evaluated with the registers and memory known
// at that frame.
type FrameVar struct {
	Name  string `json:"name"`
	Param bool   `json:"param,omitempty"`
	Type  string `json:"type,omitempty"`
	// Value is set when Known: the raw value (pointers, integers) or the
	// address of a variable in memory that is not a scalar.
	Value uint64 `json:"value"`
	Known bool   `json:"known"`
	// Text renders the value by type ("(struct dentry *)0xffff... \"data\"",
	// "42"), or says why there is none: "<optimized out>",
	// "<not recoverable: ...>".
	Text string `json:"text"`
	// Addr is where the variable lives in memory, 0 for a register or
	// computed value.
	Addr uint64 `json:"addr,omitempty"`
	// Reason says why a value is not recoverable.
	Reason string `json:"reason,omitempty"`
}

// FrameScopeVars are the variables of one function at a frame: the
// frame's function or one inlined into it.
type FrameScopeVars struct {
	Function string     `json:"function"`
	Inlined  bool       `json:"inlined,omitempty"`
	Vars     []FrameVar `json:"vars"`
}

// Frame variable texts for values that cannot be shown.
const (
	TextOptimizedOut   = "<optimized out>"
	TextNotRecoverable = "<not recoverable>"
)

// FrameVarLocatorOf returns the program's variable-location source (DWARF
// of the vmlinux), looking through type sources that chain others.
func FrameVarLocatorOf(p *symbols.Program) (symbols.FrameVarLocator, bool) {
	if p == nil || p.Types == nil {
		return nil, false
	}
	fl, ok := p.Types.(symbols.FrameVarLocator)
	return fl, ok
}

// FrameVariables returns, for each frame of tr (same indices), its
// function's parameters and locals (innermost inlined function first),
// with the values recoverable at that frame's pc. Callee-saved registers
// are carried from the innermost frame outwards through each callee's
// DWARF call frame information (.debug_frame): the value a callee saved
// on its stack, or left untouched; caller-saved registers are unknown in
// all but frames whose registers were saved in full (pt_regs, CPU notes).
// The slice is nil when no DWARF variable information is loaded.
func FrameVariables(p *symbols.Program, tr *Trace) ([][]FrameScopeVars, error) {
	fl, ok := FrameVarLocatorOf(p)
	if !ok {
		return nil, fmt.Errorf("no DWARF variable information (give a vmlinux with debug info)")
	}
	regs := frameRegisters(fl, p, tr)
	out := make([][]FrameScopeVars, len(tr.Frames))
	for i := range tr.Frames {
		f := &tr.Frames[i]
		if f.Guess || f.Module != "" || f.Symbol == "" {
			continue
		}
		scopes, err := fl.FrameVarsAt(framePC(f))
		if err != nil {
			continue
		}
		for _, sc := range scopes {
			sv := FrameScopeVars{Function: sc.Function, Inlined: sc.Inlined, Vars: []FrameVar{}}
			ctx := exprContext(p, f, regs[i], sc.FrameBase)
			for _, v := range sc.Vars {
				sv.Vars = append(sv.Vars, evalFrameVar(p, v, ctx))
			}
			out[i] = append(out[i], sv)
		}
	}
	return out, nil
}

// framePC is the pc to look a frame's function state up at: the call
// instruction for a return address.
func framePC(f *Frame) uint64 {
	if !f.Exact && f.IP > 0 {
		return f.IP - 1
	}
	return f.IP
}

// dwarfToReg maps x86_64 DWARF register numbers (System V psABI figure
// 3.36) to pt_regs slots.
var dwarfToReg = [...]Reg{RegAX, RegDX, RegCX, RegBX, RegSI, RegDI, RegBP, RegSP,
	RegR8, RegR9, RegR10, RegR11, RegR12, RegR13, RegR14, RegR15, RegIP}

// frameRegisters computes the registers known at each frame: the frame's
// own (Frame.Regs) plus the callee-saved ones carried outwards.
func frameRegisters(fl symbols.FrameVarLocator, p *symbols.Program, tr *Trace) []*Registers {
	out := make([]*Registers, len(tr.Frames))
	var carried *Registers // callee-saved values valid in the next frame
	for i := range tr.Frames {
		f := &tr.Frames[i]
		r := &Registers{}
		if f.Regs != nil {
			*r = *f.Regs
		}
		if carried != nil {
			for _, dr := range []int{3, 6, 12, 13, 14, 15} {
				reg := dwarfToReg[dr]
				if v, ok := carried.Get(reg); ok && !r.Known.Has(reg) {
					r.Set(reg, v)
				}
			}
		}
		r.Set(RegSP, f.RSP)
		out[i] = r
		carried = nil
		if f.Guess || f.Module != "" || f.CFA == 0 {
			continue
		}
		saved, same, ok := fl.CalleeSavedAt(framePC(f))
		if !ok {
			continue
		}
		carried = &Registers{}
		for dr, off := range saved {
			if v, err := p.ReadU64(f.CFA + uint64(off)); err == nil {
				carried.Set(dwarfToReg[dr], v)
			}
		}
		for dr := range same {
			if v, ok := r.Get(dwarfToReg[dr]); ok {
				carried.Set(dwarfToReg[dr], v)
			}
		}
	}
	return out
}

func exprContext(p *symbols.Program, f *Frame, regs *Registers, frameBase []byte) *symbols.ExprContext {
	return &symbols.ExprContext{
		Reg: func(n int) (uint64, bool) {
			if n < 0 || n >= len(dwarfToReg) {
				return 0, false
			}
			return regs.Get(dwarfToReg[n])
		},
		CFA:       f.CFA,
		HaveCFA:   f.CFA != 0,
		FrameBase: frameBase,
		ReadU64:   p.ReadU64,
	}
}

func evalFrameVar(p *symbols.Program, v symbols.FrameVar, ctx *symbols.ExprContext) FrameVar {
	fv := FrameVar{Name: v.Name, Param: v.Param}
	if v.Type != nil {
		fv.Type = v.Type.String()
	}
	switch {
	case v.HasConst:
		fv.Value, fv.Known = uint64(v.Const), true
		fv.Text = renderScalar(p, v.Type, fv.Value)
		return fv
	case v.OptimizedOut || len(v.Expr) == 0:
		fv.Text = TextOptimizedOut
		return fv
	}
	loc, err := symbols.EvalLocation(v.Expr, ctx)
	if err != nil {
		fv.Reason = err.Error()
		if errors.Is(err, symbols.ErrNotRecoverable) {
			fv.Text = TextNotRecoverable
		} else {
			fv.Text = "<error: " + err.Error() + ">"
		}
		return fv
	}
	t := v.Type.Resolve()
	scalar := t != nil && (t.Kind == symbols.KindPointer || t.Kind == symbols.KindInt || t.Kind == symbols.KindEnum) && t.Size <= 8
	switch loc.Kind {
	case symbols.LocMemory:
		fv.Addr = loc.Addr
		if !scalar {
			fv.Value, fv.Known = loc.Addr, true
			fv.Text = fmt.Sprintf("(%s) at %#x", fv.Type, loc.Addr)
			return fv
		}
		val, err := p.ObjectAt(v.Type, loc.Addr).Uint()
		if err != nil {
			fv.Text = fmt.Sprintf("<unreadable at %#x: %v>", loc.Addr, err)
			return fv
		}
		fv.Value, fv.Known = val, true
	case symbols.LocRegister, symbols.LocValue:
		if !scalar {
			fv.Text = TextNotRecoverable
			return fv
		}
		fv.Value, fv.Known = truncate(loc.Value, t.Size, t.Kind == symbols.KindInt && t.Signed), true
	case symbols.LocBytes:
		if !scalar || uint64(len(loc.Bytes)) < t.Size {
			fv.Text = TextNotRecoverable
			return fv
		}
		var val uint64
		for i := int(t.Size) - 1; i >= 0; i-- {
			val = val<<8 | uint64(loc.Bytes[i])
		}
		fv.Value, fv.Known = truncate(val, t.Size, t.Kind == symbols.KindInt && t.Signed), true
	}
	fv.Text = renderScalar(p, v.Type, fv.Value)
	return fv
}

// truncate keeps the low size bytes of a register value (sign-extended
// for signed types, so the text shows -1, not 4294967295).
func truncate(v, size uint64, signed bool) uint64 {
	if size == 0 || size >= 8 {
		return v
	}
	shift := 64 - 8*size
	if signed {
		return uint64(int64(v<<shift) >> shift)
	}
	return v << shift >> shift
}

// renderScalar renders a pointer as "(type)0x..." (with the name of a
// struct dentry), an integer in decimal, an enum by name.
func renderScalar(p *symbols.Program, typ *symbols.Type, v uint64) string {
	t := typ.Resolve()
	if t == nil {
		return fmt.Sprintf("%#x", v)
	}
	switch t.Kind {
	case symbols.KindPointer:
		s := fmt.Sprintf("(%s)%#x", typ, v)
		if v == 0 {
			return s
		}
		if el := t.Elem.Resolve(); el != nil && el.Kind == symbols.KindStruct && el.Name == "dentry" {
			if name, err := vfs.DentryName(p, v); err == nil {
				s += " " + strconv.Quote(name)
			}
		}
		return s
	case symbols.KindInt:
		if t.Signed {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatUint(v, 10)
	case symbols.KindEnum:
		for _, e := range t.Enumerators {
			if uint64(e.Value) == v {
				return e.Name
			}
		}
		return strconv.FormatInt(int64(v), 10)
	}
	return fmt.Sprintf("%#x", v)
}
