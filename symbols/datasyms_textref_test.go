package symbols

import (
	"encoding/binary"
	"reflect"
	"testing"
)

func TestDecodeARM64Refs(t *testing.T) {
	code := func(ws ...uint32) []byte {
		b := make([]byte, 4*len(ws))
		for i, w := range ws {
			binary.LittleEndian.PutUint32(b[4*i:], w)
		}
		return b
	}
	for _, tc := range []struct {
		name  string
		addr  uint64
		code  []byte
		refs  []uint64
		calls []uint64
	}{
		{"adrp, add, a chained add, ldr, bl", 0x1000, code(
			0x90000021, // adrp x1, 0x5000
			0x91094021, // add x1, x1, #0x250
			0x91010021, // add x1, x1, #0x40
			0xf9400422, // ldr x2, [x1, #8]
			0x94000040, // bl .+0x100
			0x97fffffe, // bl .-8
		), []uint64{0x5250, 0x5290, 0x5298}, []uint64{0x1110, 0x100c}},
		{"a negative page offset, 32-bit ldr, shifted add", 0x100000, code(
			0xf0ffffe3, // adrp x3, 0xff000
			0xb9401064, // ldr w4, [x3, #16]
			0x91400465, // add x5, x3, #1, lsl #12
		), []uint64{0xff010, 0x100000}, nil},
		{"a register overwritten in between is not followed", 0, code(
			0x90000021, // adrp x1, 0x4000
			0xf9400021, // ldr x1, [x1]: x1 now holds a loaded value
			0x91002021, // add x1, x1, #8
		), []uint64{0x4000}, nil},
		{"no code", 0, nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := decodeARM64Refs(tc.addr, tc.code)
			if !reflect.DeepEqual(c.refs, tc.refs) || !reflect.DeepEqual(c.calls, tc.calls) {
				t.Errorf("refs %#x calls %#x, want %#x %#x", c.refs, c.calls, tc.refs, tc.calls)
			}
		})
	}
}

// FuzzDecodeARM64Refs: any bytes decode without a panic, and every
// reference and call comes from a whole instruction.
func FuzzDecodeARM64Refs(f *testing.F) {
	f.Add(uint64(0x1000), []byte{0x21, 0x00, 0x00, 0x90, 0x21, 0x40, 0x09, 0x91})
	f.Fuzz(func(t *testing.T, addr uint64, code []byte) {
		c := decodeARM64Refs(addr, code)
		if len(c.refs)+len(c.calls) > len(code)/4 {
			t.Fatalf("%d refs and %d calls from %d bytes", len(c.refs), len(c.calls), len(code))
		}
	})
}
