package symbols

import (
	"strings"
	"testing"
	"time"
)

// newRawBTF returns an encoder for base BTF written by hand, for shapes
// cilium/ebpf's Builder will not produce (reference cycles).
func newRawBTF() *splitEncoder {
	return &splitEncoder{firstID: 1, nextID: 1, strs: []byte{0}, strIndex: map[string]uint32{}}
}

// raw adds a type record: kind, name, vlen, the size/type word and the
// kind's trailing words. It returns the new type's id.
func (e *splitEncoder) raw(kind uint32, name string, vlen, sizeType uint32, extra ...uint32) uint32 {
	e.u32(e.str(name), kind<<24|vlen, sizeType)
	e.u32(extra...)
	id := e.nextID
	e.nextID++
	return id
}

// btfCycles are BTF blobs whose references loop, which cilium/ebpf
// accepts. Ids are assigned from 1 in order.
var btfCycles = []struct {
	name  string
	build func(e *splitEncoder)
	// lookups maps a type or variable ("var NAME") to a substring of the
	// error it must give, or to "=SPELLING" for a type that must convert.
	lookups map[string]string
}{
	{"VAR of itself", func(e *splitEncoder) { e.raw(btfKindVar, "v", 0, 1, 1) },
		map[string]string{"var v": `VAR "v" (type id 1) refers to itself`}},
	{"two VARs of each other", func(e *splitEncoder) { e.raw(btfKindVar, "v", 0, 2, 1); e.raw(btfKindVar, "w", 0, 1, 1) },
		map[string]string{"var v": "(type id 2) refers to itself", "var w": "(type id 1) refers to itself"}},
	{"VAR of a const of the VAR", func(e *splitEncoder) { e.raw(btfKindVar, "v", 0, 2, 1); e.raw(btfKindConst, "", 0, 1) },
		map[string]string{"var v": "CONST (type id 2) refers to itself"}},
	{"const of itself", func(e *splitEncoder) { e.raw(btfKindConst, "", 0, 1); e.raw(btfKindTypedef, "ct", 0, 1) },
		map[string]string{"ct": "CONST (type id 1) refers to itself"}},
	{"typedef of a VAR of itself", func(e *splitEncoder) { e.raw(btfKindTypedef, "tv", 0, 2); e.raw(btfKindVar, "v", 0, 2, 1) },
		map[string]string{"tv": `type tv: BTF VAR "v" (type id 2) refers to itself`, "var v": "(type id 2)"}},
	{"pointer to a VAR of itself", func(e *splitEncoder) {
		e.raw(btfKindPtr, "", 0, 2)
		e.raw(btfKindVar, "v", 0, 2, 1)
		e.raw(btfKindTypedef, "pv", 0, 1)
	}, map[string]string{"pv": "(type id 2) refers to itself"}},
	{"struct member of a VAR of itself", func(e *splitEncoder) {
		e.raw(btfKindStruct, "s", 1, 8, e.str("m"), 2, 0)
		e.raw(btfKindVar, "v", 0, 2, 1)
	}, map[string]string{"struct s": "(type id 2) refers to itself"}},
	// Cycles through pointers, arrays and prototypes are legal to convert
	// (memoised); spelling them must terminate.
	{"pointer to itself", func(e *splitEncoder) { e.raw(btfKindPtr, "", 0, 1); e.raw(btfKindTypedef, "pp", 0, 1) },
		map[string]string{"pp": "=pp"}},
	{"array of itself", func(e *splitEncoder) {
		e.raw(btfKindInt, "int", 0, 4, 32)
		e.raw(btfKindArray, "", 0, 0, 2, 1, 4)
		e.raw(btfKindTypedef, "aa", 0, 2)
	}, map[string]string{"aa": "=aa"}},
	{"prototype taking itself", func(e *splitEncoder) {
		e.raw(btfKindFuncProto, "", 2, 1, 0, 1, 0, 1)
		e.raw(btfKindTypedef, "fp", 0, 1)
	},
		map[string]string{"fp": "=fp"}},
}

// TestBTFReferenceCycles converts BTF whose references loop: a VAR cycle
// is an error naming the type id, every time it is asked (nothing broken
// is memoised); other cycles convert and spell in bounded time.
func TestBTFReferenceCycles(t *testing.T) {
	for _, tc := range btfCycles {
		t.Run(tc.name, func(t *testing.T) {
			e := newRawBTF()
			tc.build(e)
			b, err := NewBTFTypes(e.bytes(), "test")
			if err != nil {
				t.Fatalf("cilium/ebpf rejects the blob (the test needs one it accepts): %v", err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for name, want := range tc.lookups {
					for try := 0; try < 2; try++ { // the same answer the second time
						var ty *Type
						var err error
						if v, ok := strings.CutPrefix(name, "var "); ok {
							ty, err = b.VariableType(v)
						} else {
							ty, err = b.LookupType(name)
						}
						if spelling, ok := strings.CutPrefix(want, "="); ok {
							if err != nil {
								t.Errorf("%s (try %d): %v", name, try, err)
								continue
							}
							if ty.String() != spelling {
								t.Errorf("%s = %q, want %q", name, ty.String(), spelling)
							}
							// Spelling what the type refers to terminates.
							if s := ty.Resolve().String(); len(s) > 4096 {
								t.Errorf("%s resolves to a %d-byte spelling", name, len(s))
							}
							continue
						}
						if err == nil || !strings.Contains(err.Error(), want) {
							t.Errorf("%s (try %d): error %v, want one containing %q", name, try, err, want)
						}
					}
				}
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("conversion did not terminate")
			}
		})
	}
}
