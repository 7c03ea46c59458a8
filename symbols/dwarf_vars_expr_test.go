package symbols

import (
	"errors"
	"fmt"
	"testing"
)

func TestEvalLocation(t *testing.T) {
	// Registers by DWARF number: rbx (3) and rsp (7) known, rdi (5) not.
	regs := map[int]uint64{3: 0xffff888000001000, 7: 0xffffc90000010000, 6: 0xffffc90000010040}
	mem := map[uint64]uint64{0xffffc90000010010: 0xdeadbeefcafef00d, 0xffffc90000010058: 0x1122334455667788}
	ctx := &ExprContext{
		Reg: func(n int) (uint64, bool) {
			v, ok := regs[n]
			return v, ok
		},
		CFA: 0xffffc90000010060, HaveCFA: true,
		FrameBase: []byte{opCallFrameCFA},
		ReadU64: func(a uint64) (uint64, error) {
			if v, ok := mem[a]; ok {
				return v, nil
			}
			return 0, fmt.Errorf("no memory at %#x", a)
		},
	}
	tests := []struct {
		name string
		expr []byte
		want Location
		err  error // errors.Is target; nil: success
		bad  bool  // any other error
	}{
		{"reg3", []byte{opReg0 + 3}, Location{Kind: LocRegister, Value: 0xffff888000001000}, nil, false},
		{"regx rbx", []byte{opRegx, 3}, Location{Kind: LocRegister, Value: 0xffff888000001000}, nil, false},
		{"reg unknown", []byte{opReg0 + 5}, Location{}, ErrNotRecoverable, false},
		{"breg7+16", []byte{opBreg0 + 7, 0x10}, Location{Kind: LocMemory, Addr: 0xffffc90000010010}, nil, false},
		{"breg7-8", []byte{opBreg0 + 7, 0x78}, Location{Kind: LocMemory, Addr: 0xffffc9000000fff8}, nil, false},
		{"breg unknown", []byte{opBreg0 + 5, 0}, Location{}, ErrNotRecoverable, false},
		{"fbreg -8 (cfa)", []byte{opFbreg, 0x78}, Location{Kind: LocMemory, Addr: 0xffffc90000010058}, nil, false},
		{"call_frame_cfa", []byte{opCallFrameCFA}, Location{Kind: LocMemory, Addr: 0xffffc90000010060}, nil, false},
		{"addr", []byte{opAddr, 0x40, 0x30, 0x20, 0x10, 0x00, 0x88, 0xff, 0xff}, Location{Kind: LocMemory, Addr: 0xffff880010203040}, nil, false},
		{"stack_value reg+1", []byte{opBreg0 + 3, 1, opStackValue}, Location{Kind: LocValue, Value: 0xffff888000001001}, nil, false},
		{"lit stack_value", []byte{opLit0 + 7, opStackValue}, Location{Kind: LocValue, Value: 7}, nil, false},
		{"const1s", []byte{opConst1s, 0xff, opStackValue}, Location{Kind: LocValue, Value: ^uint64(0)}, nil, false},
		{"deref", []byte{opBreg0 + 7, 0x10, opDeref, opStackValue}, Location{Kind: LocValue, Value: 0xdeadbeefcafef00d}, nil, false},
		{"deref_size 4", []byte{opBreg0 + 7, 0x10, opDerefSize, 4, opStackValue}, Location{Kind: LocValue, Value: 0xcafef00d}, nil, false},
		{"plus_uconst", []byte{opBreg0 + 3, 0, opPlusUconst, 0x80, 0x01}, Location{Kind: LocMemory, Addr: 0xffff888000001080}, nil, false},
		{"and mask", []byte{opConstu, 0xff, 0x01, opLit0 + 15, opAnd, opStackValue}, Location{Kind: LocValue, Value: 15}, nil, false},
		{"entry_value", []byte{opEntryValue, 1, opReg0 + 5, opStackValue}, Location{}, ErrNotRecoverable, false},
		{"GNU entry_value", []byte{opGNUEntryValue, 1, opReg0 + 5, opStackValue}, Location{}, ErrNotRecoverable, false},
		{"pieces reg+reg", []byte{opReg0 + 3, opPiece, 4, opReg0 + 7, opPiece, 4}, Location{Kind: LocBytes, Bytes: []byte{0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00}}, nil, false},
		{"piece optimized out", []byte{opPiece, 4, opReg0 + 3, opPiece, 4}, Location{}, ErrNotRecoverable, false},
		{"implicit_value", []byte{opImplicitValue, 2, 0x34, 0x12}, Location{Kind: LocBytes, Bytes: []byte{0x34, 0x12}}, nil, false},
		{"underflow", []byte{opPlus}, Location{}, nil, true},
		{"truncated addr", []byte{opAddr, 1, 2}, Location{}, nil, true},
		{"truncated breg", []byte{opBreg0 + 7}, Location{}, nil, true},
		{"unsupported", []byte{0xe0}, Location{}, nil, true},
		{"empty", nil, Location{}, nil, true},
		{"deref unreadable", []byte{opLit0, opDeref}, Location{}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EvalLocation(tc.expr, ctx)
			switch {
			case tc.err != nil:
				if !errors.Is(err, tc.err) {
					t.Fatalf("got %+v, %v; want error %v", got, err, tc.err)
				}
			case tc.bad:
				if err == nil || errors.Is(err, ErrNotRecoverable) {
					t.Fatalf("got %+v, %v; want a malformed-expression error", got, err)
				}
			default:
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if got.Kind != tc.want.Kind || got.Addr != tc.want.Addr || got.Value != tc.want.Value || string(got.Bytes) != string(tc.want.Bytes) {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}

func TestEvalLocationUnknownCFA(t *testing.T) {
	ctx := &ExprContext{FrameBase: []byte{opCallFrameCFA}}
	if _, err := EvalLocation([]byte{opFbreg, 0x70}, ctx); !errors.Is(err, ErrNotRecoverable) {
		t.Fatalf("fbreg without a CFA: %v, want not recoverable", err)
	}
}

func TestFindLocList(t *testing.T) {
	expr1, expr2 := []byte{opReg0 + 3}, []byte{opBreg0 + 7, 8}
	// DWARF 5: base_address 0x1000; offset_pair [0x10,0x20) expr1;
	// start_length 0x2000+0x10 expr2; end.
	v5 := []byte{lleBaseAddress, 0x00, 0x10, 0, 0, 0, 0, 0, 0,
		lleOffsetPair, 0x10, 0x20, byte(len(expr1))}
	v5 = append(v5, expr1...)
	v5 = append(v5, lleStartLength, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0x10, byte(len(expr2)))
	v5 = append(v5, expr2...)
	v5 = append(v5, lleEndOfList)
	// DWARF 4: [0x10,0x20) from the unit base expr1; end.
	v4 := []byte{0x10, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, byte(len(expr1)), 0}
	v4 = append(v4, expr1...)
	v4 = append(v4, make([]byte, 16)...)
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"v5 offset pair", findLocListV5(v5, 0, 0, 0x1018), expr1},
		{"v5 pair end excluded", findLocListV5(v5, 0, 0, 0x1020), nil},
		{"v5 start_length", findLocListV5(v5, 0, 0, 0x200f), expr2},
		{"v5 none", findLocListV5(v5, 0, 0, 0x3000), nil},
		{"v5 truncated", findLocListV5(v5[:12], 0, 0, 0x1018), nil},
		{"v5 offset past end", findLocListV5(v5, 1<<40, 0, 0x1018), nil},
		{"v4 in range", findLocListV4(v4, 0, 0x1000, 0x1010), expr1},
		{"v4 out of range", findLocListV4(v4, 0, 0x1000, 0x1030), nil},
		{"v4 truncated", findLocListV4(v4[:10], 0, 0x1000, 0x1010), nil},
	}
	for _, tc := range tests {
		if string(tc.got) != string(tc.want) {
			t.Errorf("%s: got % x, want % x", tc.name, tc.got, tc.want)
		}
	}
}
