package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrNotRecoverable says a location needs state the dump no longer has: a
// caller-saved register in an outer frame, a DW_OP_entry_value.
var ErrNotRecoverable = errors.New("not recoverable")

// LocKind says where an evaluated location puts a variable.
type LocKind uint8

const (
	LocMemory   LocKind = iota // at Addr
	LocRegister                // the value of a register (Value)
	LocValue                   // a computed value (DW_OP_stack_value, Value)
	LocBytes                   // pieces assembled into Bytes
)

// Location is an evaluated DWARF location.
type Location struct {
	Kind  LocKind
	Addr  uint64
	Value uint64
	Bytes []byte
}

// ExprContext is what a location expression may read.
type ExprContext struct {
	// Reg returns a register by DWARF number, ok false when unknown.
	Reg func(dwarfReg int) (uint64, bool)
	// CFA of the frame; HaveCFA false when unknown.
	CFA     uint64
	HaveCFA bool
	// FrameBase is the function's DW_AT_frame_base expression.
	FrameBase []byte
	// ReadU64 reads memory for DW_OP_deref.
	ReadU64 func(addr uint64) (uint64, error)
}

// maxExprSteps bounds one evaluation.
const maxExprSteps = 4096

// DWARF expression opcodes used here (DWARF 5 §7.7.1).
const (
	opAddr          = 0x03
	opDeref         = 0x06
	opConst1u       = 0x08
	opConst1s       = 0x09
	opConst2u       = 0x0a
	opConst2s       = 0x0b
	opConst4u       = 0x0c
	opConst4s       = 0x0d
	opConst8u       = 0x0e
	opConst8s       = 0x0f
	opConstu        = 0x10
	opConsts        = 0x11
	opDup           = 0x12
	opDrop          = 0x13
	opAnd           = 0x1a
	opMinus         = 0x1c
	opNeg           = 0x1f
	opNot           = 0x20
	opOr            = 0x21
	opPlus          = 0x22
	opPlusUconst    = 0x23
	opShl           = 0x24
	opShr           = 0x25
	opXor           = 0x27
	opLit0          = 0x30
	opLit31         = 0x4f
	opReg0          = 0x50
	opReg31         = 0x6f
	opBreg0         = 0x70
	opBreg31        = 0x8f
	opRegx          = 0x90
	opFbreg         = 0x91
	opBregx         = 0x92
	opPiece         = 0x93
	opCallFrameCFA  = 0x9c
	opImplicitValue = 0x9e
	opStackValue    = 0x9f
	opEntryValue    = 0xa3
	opGNUEntryValue = 0xf3
	opDerefSize     = 0x94
)

// EvalLocation evaluates a location expression. It fails with
// ErrNotRecoverable when the expression needs an unknown register, the
// CFA, or a value on entry; and with another error for a malformed or
// unsupported expression.
func EvalLocation(expr []byte, ctx *ExprContext) (Location, error) {
	return evalLoc(expr, ctx, 0)
}

type pieceBuf struct {
	b     []byte
	valid bool
}

func evalLoc(expr []byte, ctx *ExprContext, depth int) (Location, error) {
	if depth > 2 {
		return Location{}, fmt.Errorf("DWARF expression: frame base nests too deeply")
	}
	var stack []uint64
	var pieces []byte
	inPieces := false
	var regLoc, valLoc, haveReg bool
	var regVal uint64
	pop := func() (uint64, error) {
		if len(stack) == 0 {
			return 0, fmt.Errorf("DWARF expression % x: stack underflow", expr)
		}
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		return v, nil
	}
	reg := func(n uint64) (uint64, error) {
		if ctx.Reg == nil || n > 64 {
			return 0, fmt.Errorf("register %d: %w", n, ErrNotRecoverable)
		}
		v, ok := ctx.Reg(int(n))
		if !ok {
			return 0, fmt.Errorf("register %s is unknown in this frame: %w", dwarfRegName(n), ErrNotRecoverable)
		}
		return v, nil
	}
	p := uint64(0)
	n := uint64(len(expr))
	fixed := func(size uint64) (uint64, error) {
		if size > n-p || p > n {
			return 0, fmt.Errorf("DWARF expression % x: truncated", expr)
		}
		var v uint64
		for i := size; i > 0; i-- {
			v = v<<8 | uint64(expr[p+i-1])
		}
		p += size
		return v, nil
	}
	for steps := 0; p < n; steps++ {
		if steps > maxExprSteps {
			return Location{}, fmt.Errorf("DWARF expression: too many steps")
		}
		op := expr[p]
		p++
		var err error
		var u uint64
		var s int64
		var ok bool
		switch {
		case op >= opLit0 && op <= opLit31:
			stack = append(stack, uint64(op-opLit0))
		case op >= opReg0 && op <= opReg31:
			if regVal, err = reg(uint64(op - opReg0)); err != nil {
				return Location{}, err
			}
			regLoc, haveReg = true, true
		case op == opRegx:
			if u, p, ok = uleb(expr, p); !ok {
				return Location{}, fmt.Errorf("DWARF expression % x: truncated", expr)
			}
			if regVal, err = reg(u); err != nil {
				return Location{}, err
			}
			regLoc, haveReg = true, true
		case op >= opBreg0 && op <= opBreg31 || op == opBregx:
			r := uint64(op - opBreg0)
			if op == opBregx {
				if r, p, ok = uleb(expr, p); !ok {
					return Location{}, fmt.Errorf("DWARF expression % x: truncated", expr)
				}
			}
			if s, p, ok = sleb(expr, p); !ok {
				return Location{}, fmt.Errorf("DWARF expression % x: truncated", expr)
			}
			v, err := reg(r)
			if err != nil {
				return Location{}, err
			}
			stack = append(stack, v+uint64(s))
		case op == opFbreg:
			if s, p, ok = sleb(expr, p); !ok {
				return Location{}, fmt.Errorf("DWARF expression % x: truncated", expr)
			}
			if len(ctx.FrameBase) == 0 {
				return Location{}, fmt.Errorf("no frame base: %w", ErrNotRecoverable)
			}
			fb, err := evalLoc(ctx.FrameBase, ctx, depth+1)
			if err != nil {
				return Location{}, fmt.Errorf("frame base: %w", err)
			}
			base := fb.Addr
			switch fb.Kind {
			case LocRegister, LocValue:
				base = fb.Value
			case LocBytes:
				return Location{}, fmt.Errorf("frame base in pieces: unsupported")
			}
			stack = append(stack, base+uint64(s))
		case op == opCallFrameCFA:
			if !ctx.HaveCFA {
				return Location{}, fmt.Errorf("CFA unknown: %w", ErrNotRecoverable)
			}
			stack = append(stack, ctx.CFA)
		case op == opAddr:
			if u, err = fixed(8); err != nil {
				return Location{}, err
			}
			stack = append(stack, u)
		case op >= opConst1u && op <= opConst8s:
			size := uint64(1) << ((op - opConst1u) / 2)
			if u, err = fixed(size); err != nil {
				return Location{}, err
			}
			if (op-opConst1u)%2 == 1 && size < 8 { // sign-extend
				shift := 64 - 8*size
				u = uint64(int64(u<<shift) >> shift)
			}
			stack = append(stack, u)
		case op == opConstu:
			if u, p, ok = uleb(expr, p); !ok {
				return Location{}, fmt.Errorf("DWARF expression % x: truncated", expr)
			}
			stack = append(stack, u)
		case op == opConsts:
			if s, p, ok = sleb(expr, p); !ok {
				return Location{}, fmt.Errorf("DWARF expression % x: truncated", expr)
			}
			stack = append(stack, uint64(s))
		case op == opPlusUconst:
			if u, p, ok = uleb(expr, p); !ok {
				return Location{}, fmt.Errorf("DWARF expression % x: truncated", expr)
			}
			v, err := pop()
			if err != nil {
				return Location{}, err
			}
			stack = append(stack, v+u)
		case op == opDup:
			v, err := pop()
			if err != nil {
				return Location{}, err
			}
			stack = append(stack, v, v)
		case op == opDrop:
			if _, err := pop(); err != nil {
				return Location{}, err
			}
		case op == opNeg || op == opNot:
			v, err := pop()
			if err != nil {
				return Location{}, err
			}
			if op == opNeg {
				v = -v
			} else {
				v = ^v
			}
			stack = append(stack, v)
		case op == opAnd || op == opMinus || op == opOr || op == opPlus || op == opShl || op == opShr || op == opXor:
			b, err := pop()
			if err != nil {
				return Location{}, err
			}
			a, err := pop()
			if err != nil {
				return Location{}, err
			}
			stack = append(stack, binop(op, a, b))
		case op == opDeref:
			a, err := pop()
			if err != nil {
				return Location{}, err
			}
			if ctx.ReadU64 == nil {
				return Location{}, fmt.Errorf("no memory to dereference %#x: %w", a, ErrNotRecoverable)
			}
			v, err := ctx.ReadU64(a)
			if err != nil {
				return Location{}, fmt.Errorf("DW_OP_deref at %#x: %w", a, err)
			}
			stack = append(stack, v)
		case op == opDerefSize:
			if p >= n {
				return Location{}, fmt.Errorf("DWARF expression % x: truncated", expr)
			}
			size := uint64(expr[p])
			p++
			if size == 0 || size > 8 {
				return Location{}, fmt.Errorf("DWARF expression % x: DW_OP_deref_size %d", expr, size)
			}
			a, err := pop()
			if err != nil {
				return Location{}, err
			}
			if ctx.ReadU64 == nil {
				return Location{}, fmt.Errorf("no memory to dereference %#x: %w", a, ErrNotRecoverable)
			}
			v, err := ctx.ReadU64(a)
			if err != nil {
				return Location{}, fmt.Errorf("DW_OP_deref_size at %#x: %w", a, err)
			}
			stack = append(stack, truncBytes(v, size))
		case op == opStackValue:
			valLoc = true
		case op == opImplicitValue:
			if u, p, ok = uleb(expr, p); !ok || u > n-p {
				return Location{}, fmt.Errorf("DWARF expression % x: truncated", expr)
			}
			return Location{Kind: LocBytes, Bytes: append([]byte(nil), expr[p:p+u]...)}, nil
		case op == opEntryValue || op == opGNUEntryValue:
			return Location{}, fmt.Errorf("value on entry (DW_OP_entry_value): %w", ErrNotRecoverable)
		case op == opPiece:
			if u, p, ok = uleb(expr, p); !ok || u > 16 {
				return Location{}, fmt.Errorf("DWARF expression % x: bad piece", expr)
			}
			inPieces = true
			var v uint64
			switch {
			case haveReg:
				v = regVal
			case len(stack) > 0 && valLoc:
				v = stack[len(stack)-1]
			case len(stack) > 0:
				if ctx.ReadU64 == nil {
					return Location{}, fmt.Errorf("piece in memory: %w", ErrNotRecoverable)
				}
				if v, err = ctx.ReadU64(stack[len(stack)-1]); err != nil {
					return Location{}, err
				}
			default:
				return Location{}, fmt.Errorf("a piece of %d bytes is optimized out: %w", u, ErrNotRecoverable)
			}
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], v)
			if u > 8 {
				return Location{}, fmt.Errorf("piece of %d bytes: unsupported", u)
			}
			pieces = append(pieces, b[:u]...)
			stack, haveReg, regLoc, valLoc = stack[:0], false, false, false
		default:
			return Location{}, fmt.Errorf("DWARF expression % x: unsupported opcode %#x", expr, op)
		}
	}
	switch {
	case inPieces:
		return Location{Kind: LocBytes, Bytes: pieces}, nil
	case regLoc:
		return Location{Kind: LocRegister, Value: regVal}, nil
	case len(stack) == 0:
		return Location{}, fmt.Errorf("DWARF expression % x: empty", expr)
	case valLoc:
		return Location{Kind: LocValue, Value: stack[len(stack)-1]}, nil
	}
	return Location{Kind: LocMemory, Addr: stack[len(stack)-1]}, nil
}

// truncBytes keeps the low size bytes of v (little endian memory).
func truncBytes(v, size uint64) uint64 {
	if size >= 8 {
		return v
	}
	return v & (1<<(8*size) - 1)
}

func binop(op byte, a, b uint64) uint64 {
	switch op {
	case opAnd:
		return a & b
	case opMinus:
		return a - b
	case opOr:
		return a | b
	case opPlus:
		return a + b
	case opShl:
		return a << (b & 63)
	case opShr:
		return a >> (b & 63)
	}
	return a ^ b
}

var dwarfRegNames = []string{"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"}

// dwarfRegName names an x86_64 DWARF register number.
func dwarfRegName(n uint64) string {
	if n < uint64(len(dwarfRegNames)) {
		return dwarfRegNames[n]
	}
	return fmt.Sprintf("reg%d", n)
}
