package symbols

import (
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// marshalBTF encodes types as little-endian raw BTF.
func marshalBTF(t testing.TB, types ...btf.Type) []byte {
	t.Helper()
	b, err := btf.NewBuilder(types, nil)
	if err != nil {
		t.Fatalf("btf.NewBuilder: %v", err)
	}
	raw, err := b.Marshal(nil, &btf.MarshalOptions{Order: binary.LittleEndian})
	if err != nil {
		t.Fatalf("btf Marshal: %v", err)
	}
	return raw
}

// splitEncoder writes split BTF by hand (cilium's Builder writes only base
// BTF): type IDs continue after the base's, string offsets after the base's
// string section.
type splitEncoder struct {
	firstID  uint32
	strBase  uint32
	types    []byte
	strs     []byte
	nextID   uint32
	strIndex map[string]uint32
}

func newSplitEncoder(t testing.TB, base []byte) *splitEncoder {
	t.Helper()
	spec, err := btf.LoadSpecFromReader(bytesReader(base))
	if err != nil {
		t.Fatal(err)
	}
	n := uint32(0)
	for range spec.All() {
		n++
	}
	strs, err := btfStrings(base)
	if err != nil {
		t.Fatal(err)
	}
	// All yields void (ID 0) and every base type (tests use no decl tags), so
	// n is the first split ID.
	return &splitEncoder{firstID: n, nextID: n, strBase: uint32(len(strs)), strs: []byte{}, strIndex: map[string]uint32{}}
}

func (e *splitEncoder) str(s string) uint32 {
	if s == "" {
		return 0
	}
	if o, ok := e.strIndex[s]; ok {
		return o
	}
	o := e.strBase + uint32(len(e.strs))
	e.strs = append(append(e.strs, s...), 0)
	e.strIndex[s] = o
	return o
}

func (e *splitEncoder) u32(vs ...uint32) {
	for _, v := range vs {
		e.types = binary.LittleEndian.AppendUint32(e.types, v)
	}
}

type splitMember struct {
	name   string
	typeID uint32
	bitOff uint32
}

// structType adds a struct and returns its ID.
func (e *splitEncoder) structType(name string, size uint32, ms ...splitMember) uint32 {
	e.u32(e.str(name), btfKindStruct<<24|uint32(len(ms)), size)
	for _, m := range ms {
		e.u32(e.str(m.name), m.typeID, m.bitOff)
	}
	id := e.nextID
	e.nextID++
	return id
}

func (e *splitEncoder) typedef(name string, target uint32) uint32 {
	e.u32(e.str(name), btfKindTypedef<<24, target)
	id := e.nextID
	e.nextID++
	return id
}

func (e *splitEncoder) pointer(target uint32) uint32 {
	e.u32(0, btfKindPtr<<24, target)
	id := e.nextID
	e.nextID++
	return id
}

func (e *splitEncoder) bytes() []byte {
	strs := e.strs
	if len(strs) == 0 {
		strs = []byte{0}
	}
	h := make([]byte, btfHeaderLen)
	binary.LittleEndian.PutUint16(h, btfMagic)
	h[2] = 1
	binary.LittleEndian.PutUint32(h[4:], btfHeaderLen)
	binary.LittleEndian.PutUint32(h[8:], 0)
	binary.LittleEndian.PutUint32(h[12:], uint32(len(e.types)))
	binary.LittleEndian.PutUint32(h[16:], uint32(len(e.types)))
	binary.LittleEndian.PutUint32(h[20:], uint32(len(strs)))
	return append(append(h, e.types...), strs...)
}

// baseTypeID returns the ID of a named type in a base blob.
func baseTypeID(t testing.TB, base []byte, name string) uint32 {
	t.Helper()
	spec, err := btf.LoadSpecFromReader(bytesReader(base))
	if err != nil {
		t.Fatal(err)
	}
	typ, err := spec.AnyTypeByName(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	id, err := spec.TypeID(typ)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(id)
}
