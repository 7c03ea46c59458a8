package symbols

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// fixtureBTF builds a small vmlinux-like BTF with the shapes the converter
// must get right.
func fixtureBTF(t testing.TB) []byte {
	t.Helper()
	uint32T := &btf.Int{Name: "unsigned int", Size: 4}
	ulong := &btf.Int{Name: "long unsigned int", Size: 8}
	ullong := &btf.Int{Name: "long long unsigned int", Size: 8}
	intT := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	char := &btf.Int{Name: "char", Size: 1, Encoding: btf.Signed}
	boolT := &btf.Int{Name: "_Bool", Size: 1, Encoding: btf.Bool}
	u64 := &btf.Typedef{Name: "u64", Type: ullong}

	lh := &btf.Struct{Name: "list_head", Size: 16}
	lh.Members = []btf.Member{
		{Name: "next", Type: &btf.Pointer{Target: lh}, Offset: 0},
		{Name: "prev", Type: &btf.Pointer{Target: lh}, Offset: 64},
	}
	bits := &btf.Struct{Name: "bits", Size: 16, Members: []btf.Member{
		{Name: "a", Type: uint32T, Offset: 0, BitfieldSize: 3},
		{Name: "b", Type: uint32T, Offset: 3, BitfieldSize: 5},
		{Name: "c", Type: ulong, Offset: 40, BitfieldSize: 40},  // straddles its u64 unit
		{Name: "d", Type: uint32T, Offset: 70, BitfieldSize: 2}, // in the u32 at byte 8
		{Name: "e", Type: char, Offset: 96},
	}}
	anonUnion := &btf.Union{Size: 8, Members: []btf.Member{
		{Name: "a", Type: ulong},
		{Name: "b", Type: &btf.Pointer{Target: &btf.Void{}}},
	}}
	anon := &btf.Struct{Name: "anon", Size: 16, Members: []btf.Member{
		{Name: "x", Type: intT},
		{Name: "", Type: anonUnion, Offset: 64},
	}}
	flex := &btf.Struct{Name: "flex", Size: 4, Members: []btf.Member{
		{Name: "n", Type: intT},
		{Name: "data", Type: &btf.Array{Index: intT, Type: char, Nelems: 0}, Offset: 32},
	}}
	state := &btf.Enum{Name: "state", Size: 4, Signed: true, Values: []btf.EnumValue{
		{Name: "NEG", Value: ^uint64(0)}, {Name: "POS", Value: 5},
	}}
	big := &btf.Enum{Name: "big", Size: 8, Values: []btf.EnumValue{{Name: "HUGE", Value: 1 << 40}}}
	lhT := &btf.Typedef{Name: "lh_t", Type: lh}
	lh2T := &btf.Typedef{Name: "lh2_t", Type: &btf.Const{Type: lhT}}
	opaque := &btf.Fwd{Name: "opaque", Kind: btf.FwdStruct}
	holder := &btf.Struct{Name: "holder", Size: 24, Members: []btf.Member{
		{Name: "o", Type: &btf.Pointer{Target: opaque}},
		{Name: "name", Type: &btf.Array{Index: intT, Type: &btf.Const{Type: char}, Nelems: 16}, Offset: 64},
	}}
	// "dual" is a forward declaration, a typedef and a struct: the bare
	// name must find the complete struct.
	dualFwd := &btf.Fwd{Name: "dual", Kind: btf.FwdStruct}
	dualStruct := &btf.Struct{Name: "dual", Size: 8, Members: []btf.Member{{Name: "v", Type: u64}}}
	dualTypedef := &btf.Typedef{Name: "dual", Type: &btf.Pointer{Target: dualFwd}}
	printfProto := &btf.FuncProto{Return: intT, Params: []btf.FuncParam{
		{Name: "fmt", Type: &btf.Pointer{Target: &btf.Const{Type: char}}},
		{Name: "", Type: &btf.Void{}},
	}}
	printfT := &btf.Typedef{Name: "printf_t", Type: &btf.Pointer{Target: printfProto}}
	rqVar := &btf.Var{Name: "runqueues", Type: lh, Linkage: btf.GlobalVar}
	percpu := &btf.Datasec{Name: ".data..percpu", Size: 16, Vars: []btf.VarSecinfo{{Type: rqVar, Offset: 0, Size: 16}}}
	vol := &btf.Typedef{Name: "vol_t", Type: &btf.Volatile{Type: &btf.TypeTag{Value: "rcu", Type: ulong}}}
	return marshalBTF(t, uint32T, ulong, ullong, intT, char, boolT, u64, lh, bits, anon, flex, state, big,
		lhT, lh2T, opaque, holder, dualFwd, dualStruct, dualTypedef, printfT, percpu, vol)
}

func fixtureTypes(t testing.TB) *BTFTypes {
	t.Helper()
	b, err := NewBTFTypes(fixtureBTF(t), "test")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBTFLookup(t *testing.T) {
	b := fixtureTypes(t)
	checkLookups(t, b, []typeLookup{
		{"struct list_head", KindStruct, 16, "struct list_head"},
		{"list_head", KindStruct, 16, "struct list_head"},
		{"unsigned long", KindInt, 8, "long unsigned int"},
		{"long unsigned int", KindInt, 8, "long unsigned int"},
		{"unsigned", KindInt, 4, "unsigned int"},
		{"u64", KindTypedef, 8, "u64"},
		{"char", KindInt, 1, "char"},
		{"bool", 0, 0, ""}, // not in the fixture: error
		{"_Bool", KindInt, 1, "_Bool"},
		{"char[16]", KindArray, 16, "char [16]"},
		{"const char *", KindPointer, 8, "char *"},
		{"struct list_head *", KindPointer, 8, "struct list_head *"},
		{"struct list_head **", KindPointer, 8, "struct list_head **"},
		{"struct list_head *[4]", KindArray, 32, "struct list_head *[4]"},
		{"unsigned long[]", KindArray, 0, "long unsigned int []"},
		{"int[2][3]", KindArray, 24, "int [2][3]"},
		{"enum state", KindEnum, 4, "enum state"},
		{"state", KindEnum, 4, "enum state"},
		{"enum big", KindEnum, 8, "enum big"},
		{"lh2_t", KindTypedef, 16, "lh2_t"},
		{"struct opaque", KindFwd, 0, "struct opaque"},
		{"opaque", KindFwd, 0, "struct opaque"},
		{"dual", KindStruct, 8, "struct dual"},
		{"struct dual", KindStruct, 8, "struct dual"},
		{"union dual", 0, 0, ""},
		{"void", KindVoid, 0, "void"},
		{"void *", KindPointer, 8, "void *"},
		{"vol_t", KindTypedef, 8, "vol_t"},
		{"struct nosuch", 0, 0, ""},
		{"nosuch", 0, 0, ""},
		{"struct", 0, 0, ""},
		{"char[x]", 0, 0, ""},
		{"", 0, 0, ""},
	})
}

// typeLookup is a type name and what LookupType must make of it: render ""
// means an error wrapping ErrNoType.
type typeLookup struct {
	name   string
	kind   Kind
	size   uint64
	render string
}

// checkLookups looks every name of tests up in src (a subtest each).
func checkLookups(t *testing.T, src TypeSource, tests []typeLookup) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ty, err := src.LookupType(tt.name)
			if tt.render == "" {
				if err == nil {
					t.Fatalf("got %v, want an error", ty)
				}
				if !errors.Is(err, ErrNoType) {
					t.Fatalf("error %v does not wrap ErrNoType", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ty.Kind != tt.kind || ty.Size != tt.size || ty.String() != tt.render {
				t.Fatalf("got kind %v size %d %q, want %v %d %q", ty.Kind, ty.Size, ty.String(), tt.kind, tt.size, tt.render)
			}
		})
	}
}

func TestBTFMembers(t *testing.T) {
	b := fixtureTypes(t)
	type want struct {
		member                    string
		offset, bitOffset, bitLen uint64
		typ                       string
	}
	tests := []struct {
		typ     string
		members []want
	}{
		{"struct bits", []want{
			{"a", 0, 0, 3, "unsigned int"},
			{"b", 0, 3, 5, "unsigned int"},
			{"c", 5, 40, 40, "long unsigned int"},
			{"d", 8, 70, 2, "unsigned int"},
			{"e", 12, 96, 0, "char"},
		}},
		{"struct anon", []want{
			{"x", 0, 0, 0, "int"},
			{"a", 8, 64, 0, "long unsigned int"},
			{"b", 8, 64, 0, "void *"},
		}},
		{"struct flex", []want{
			{"n", 0, 0, 0, "int"},
			{"data", 4, 32, 0, "char []"},
		}},
		{"struct holder", []want{
			{"o", 0, 0, 0, "struct opaque *"},
			{"name", 8, 64, 0, "char [16]"},
		}},
	}
	for _, tt := range tests {
		st, err := b.LookupType(tt.typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tt.members {
			m, ok := st.FindMember(w.member)
			if !ok {
				t.Errorf("%s: no member %s", tt.typ, w.member)
				continue
			}
			if m.Offset != w.offset || m.BitOffset != w.bitOffset || m.BitSize != w.bitLen || m.Type.String() != w.typ {
				t.Errorf("%s.%s: got off %d bitoff %d bits %d %q, want %d %d %d %q", tt.typ, w.member,
					m.Offset, m.BitOffset, m.BitSize, m.Type, w.offset, w.bitOffset, w.bitLen, w.typ)
			}
		}
	}
	flex, _ := b.LookupType("struct flex")
	if data, _ := flex.FindMember("data"); data.Type.Len != 0 || data.Type.Size != 0 {
		t.Errorf("flexible array: len %d size %d, want 0 0", data.Type.Len, data.Type.Size)
	}
}

func TestBTFEnums(t *testing.T) {
	b := fixtureTypes(t)
	st, _ := b.LookupType("enum state")
	if v, ok := st.EnumValue("NEG"); !ok || v != -1 {
		t.Errorf("NEG = %d %v, want -1", v, ok)
	}
	if v, ok := st.EnumValue("POS"); !ok || v != 5 {
		t.Errorf("POS = %d %v, want 5", v, ok)
	}
	if !st.Signed {
		t.Error("enum state not signed")
	}
	big, _ := b.LookupType("enum big")
	if v, ok := big.EnumValue("HUGE"); !ok || v != 1<<40 {
		t.Errorf("HUGE = %d %v", v, ok)
	}
}

func TestBTFTypedefAndFunc(t *testing.T) {
	b := fixtureTypes(t)
	lh2, _ := b.LookupType("lh2_t")
	lh, _ := b.LookupType("struct list_head")
	if lh2.Resolve() != lh {
		t.Errorf("lh2_t resolves to %v, want the struct list_head pointer", lh2.Resolve())
	}
	pf, err := b.LookupType("printf_t")
	if err != nil {
		t.Fatal(err)
	}
	fn := pf.Resolve().Elem
	if fn.Kind != KindFunc || !fn.Variadic || len(fn.Params) != 1 || fn.Params[0].Name != "fmt" || fn.Elem.Name != "int" {
		t.Errorf("printf_t: %+v", fn)
	}
	vol, _ := b.LookupType("vol_t")
	if vol.Elem.Kind != KindInt || vol.Elem.Name != "long unsigned int" {
		t.Errorf("vol_t: qualifiers and type tags not dropped: %v", vol.Elem)
	}
	c, _ := b.LookupType("char")
	if c.Encoding != IntChar || !c.Signed {
		t.Errorf("char: encoding %v signed %v", c.Encoding, c.Signed)
	}
	bl, _ := b.LookupType("_Bool")
	if bl.Encoding != IntBool {
		t.Errorf("_Bool encoding %v", bl.Encoding)
	}
}

func TestBTFCycleAndIdentity(t *testing.T) {
	b := fixtureTypes(t)
	lh, err := b.LookupType("struct list_head")
	if err != nil {
		t.Fatal(err)
	}
	next, _ := lh.FindMember("next")
	if next.Type.Kind != KindPointer || next.Type.Elem != lh {
		t.Fatalf("list_head.next points to %p, want the list_head itself %p", next.Type.Elem, lh)
	}
	again, _ := b.LookupType("list_head")
	if again != lh {
		t.Error("two lookups of list_head gave different pointers")
	}
	p1, _ := b.LookupType("struct list_head *")
	p2, _ := b.LookupType("struct list_head*")
	if p1 != p2 || p1.Elem != lh {
		t.Error("derived pointer types are not memoised")
	}
	td, _ := b.LookupType("lh_t")
	if td.Elem != lh {
		t.Error("typedef lh_t does not share the struct's *Type")
	}
}

func TestBTFVariableType(t *testing.T) {
	b := fixtureTypes(t)
	v, err := b.VariableType("runqueues")
	if err != nil {
		t.Fatal(err)
	}
	if v.String() != "struct list_head" {
		t.Errorf("runqueues: %v", v)
	}
	if _, err := b.VariableType("init_task"); !errors.Is(err, ErrNoType) {
		t.Errorf("init_task: %v, want ErrNoType", err)
	}
	// Through the globals table.
	b2 := fixtureTypes(t)
	if _, err := LookupVariableType(b2, "modules"); err != nil {
		t.Errorf("modules via table: %v", err)
	}
	if _, err := LookupVariableType(b2, "no_such_global"); !errors.Is(err, ErrNoType) {
		t.Errorf("unknown global: %v", err)
	}
}

func TestBTFTypeNames(t *testing.T) {
	b := fixtureTypes(t)
	names := b.TypeNames()
	for _, want := range []string{"struct list_head", "u64", "enum state", "enum big", "struct opaque", "long unsigned int"} {
		found := false
		for _, n := range names {
			if n == want {
				found = true
			}
		}
		if !found {
			t.Errorf("TypeNames lacks %q", want)
		}
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Fatalf("TypeNames not sorted/unique at %q, %q", names[i-1], names[i])
		}
	}
	if _, err := btfRawNames(fixtureBTF(t), nil); err != nil {
		t.Errorf("btfRawNames: %v", err)
	}
}

func TestBTFSplitModules(t *testing.T) {
	base := fixtureBTF(t)
	enc := newSplitEncoder(t, base)
	lhID := baseTypeID(t, base, "list_head")
	intID := baseTypeID(t, base, "int")
	conn := enc.structType("mod_conn", 24,
		splitMember{"entry", lhID, 0},
		splitMember{"n", intID, 128})
	enc.typedef("mod_conn_t", enc.pointer(conn))
	// The module completes the vmlinux forward declaration.
	enc.structType("opaque", 4, splitMember{"n", intID, 0})
	mod := enc.bytes()

	b, err := NewBTFTypes(base, "test")
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	b.loadModules = func(*BTFTypes) ([]ModuleBTF, error) {
		calls++
		return []ModuleBTF{{Name: "mod", Data: mod}, {Name: "broken", Data: []byte("garbage")}}, nil
	}
	if _, err := b.LookupType("struct list_head"); err != nil || calls != 0 {
		t.Fatalf("vmlinux hit loaded modules (calls %d, err %v)", calls, err)
	}
	if !strings.Contains(b.Describe(), "not loaded") {
		t.Errorf("Describe before modules: %s", b.Describe())
	}
	mc, err := b.LookupType("struct mod_conn")
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("module loader ran %d times", calls)
	}
	entry, _ := mc.FindMember("entry")
	lh, _ := b.LookupType("struct list_head")
	if entry.Type != lh {
		t.Error("module member of a vmlinux type does not share vmlinux's *Type")
	}
	if n, _ := mc.FindMember("n"); n.Offset != 16 {
		t.Errorf("mod_conn.n at %d", n.Offset)
	}
	if td, err := b.LookupType("mod_conn_t"); err != nil || td.Resolve().Elem != mc {
		t.Errorf("mod_conn_t: %v %v", td, err)
	}
	op, err := b.LookupType("struct opaque")
	if err != nil || op.Kind != KindStruct || op.Size != 4 {
		t.Errorf("struct opaque: vmlinux fwd not completed by the module: %v %v", op, err)
	}
	if _, err := b.LookupType("struct nosuch"); !errors.Is(err, ErrNoType) || calls != 1 {
		t.Errorf("miss: %v, loader calls %d", err, calls)
	}
	if w := b.Warnings(); len(w) != 1 || !strings.Contains(w[0], "broken") {
		t.Errorf("warnings: %q", w)
	}
	if got := b.Modules(); len(got) != 1 || got[0] != "mod" {
		t.Errorf("modules %v", got)
	}
	names := b.TypeNames()
	found := false
	for _, n := range names {
		found = found || n == "struct mod_conn"
	}
	if !found {
		t.Error("TypeNames lacks the module's struct mod_conn")
	}
}

func TestParseTypeSpelling(t *testing.T) {
	tests := []struct {
		in       string
		tag      tagKind
		base     string
		pointers int
		dims     []int64
		bad      bool
	}{
		{in: "struct task_struct", tag: tagStruct, base: "task_struct"},
		{in: "  union  thread_union ", tag: tagUnion, base: "thread_union"},
		{in: "enum pid_type", tag: tagEnum, base: "pid_type"},
		{in: "unsigned long", base: "unsigned long"},
		{in: "struct page *", tag: tagStruct, base: "page", pointers: 1},
		{in: "struct list_head **", tag: tagStruct, base: "list_head", pointers: 2},
		{in: "char[16]", base: "char", dims: []int64{16}},
		{in: "char [2][0x3]", base: "char", dims: []int64{2, 3}},
		{in: "unsigned long[]", base: "unsigned long", dims: []int64{-1}},
		{in: "const char * const *", base: "char", pointers: 2},
		{in: "volatile int", base: "int"},
		{in: "struct", bad: true},
		{in: "struct a b", bad: true},
		{in: "char]", bad: true},
		{in: "char[-1]", bad: true},
		{in: "*", bad: true},
	}
	for _, tt := range tests {
		sp, err := parseTypeSpelling(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("%q: no error", tt.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if sp.tag != tt.tag || sp.base != tt.base || sp.pointers != tt.pointers || !equalDims(sp.dims, tt.dims) {
			t.Errorf("%q: got %+v", tt.in, sp)
		}
	}
}

func equalDims(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCanonicalBaseName(t *testing.T) {
	tests := map[string]string{
		"unsigned long":          "long unsigned int",
		"long unsigned":          "long unsigned int",
		"unsigned long long":     "long long unsigned int",
		"long long":              "long long int",
		"long":                   "long int",
		"signed":                 "int",
		"unsigned":               "unsigned int",
		"short":                  "short int",
		"unsigned short int":     "short unsigned int",
		"unsigned char":          "unsigned char",
		"signed char":            "signed char",
		"char":                   "char",
		"int":                    "int",
		"long long unsigned int": "long long unsigned int",
	}
	for in, want := range tests {
		got, ok := canonicalBaseName(in)
		if !ok || got != want {
			t.Errorf("%q: got %q %v, want %q", in, got, ok, want)
		}
	}
	if _, ok := canonicalBaseName("u64"); ok {
		t.Error("u64 treated as a C keyword type")
	}
}

func TestBTFBadInput(t *testing.T) {
	good := fixtureBTF(t)
	tests := map[string][]byte{
		"empty":     nil,
		"short":     good[:10],
		"bad magic": append([]byte{0, 0}, good[2:]...),
		"truncated": good[:len(good)/2],
	}
	for name, raw := range tests {
		if _, err := NewBTFTypes(raw, name); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// fuzzBTFSeeds are small BTF blobs, a few kinds each: the fuzzer's
// minimizer is quadratic in the input's length, and with the 1 KiB
// fixture as a seed it spent the run minimizing.
func fuzzBTFSeeds(t testing.TB) [][]byte {
	intT := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	char := &btf.Int{Name: "char", Size: 1, Encoding: btf.Signed}
	ulong := &btf.Int{Name: "long unsigned int", Size: 8}
	lh := &btf.Struct{Name: "list_head", Size: 16}
	lh.Members = []btf.Member{{Name: "next", Type: &btf.Pointer{Target: lh}}, {Name: "prev", Type: &btf.Pointer{Target: lh}, Offset: 64}}
	bits := &btf.Struct{Name: "bits", Size: 8, Members: []btf.Member{
		{Name: "a", Type: intT, BitfieldSize: 3}, {Name: "b", Type: ulong, Offset: 40, BitfieldSize: 20},
		{Name: "", Type: &btf.Union{Size: 4, Members: []btf.Member{{Name: "u", Type: intT}}}, Offset: 32},
	}}
	flex := &btf.Struct{Name: "flex", Size: 4, Members: []btf.Member{
		{Name: "n", Type: intT}, {Name: "data", Type: &btf.Array{Index: intT, Type: char, Nelems: 0}, Offset: 32}}}
	state := &btf.Enum{Name: "state", Size: 4, Signed: true, Values: []btf.EnumValue{{Name: "NEG", Value: ^uint64(0)}, {Name: "POS", Value: 5}}}
	fwd := &btf.Fwd{Name: "dual", Kind: btf.FwdStruct}
	dual := &btf.Typedef{Name: "dual", Type: &btf.Pointer{Target: fwd}}
	proto := &btf.FuncProto{Return: intT, Params: []btf.FuncParam{{Name: "fmt", Type: &btf.Pointer{Target: &btf.Const{Type: char}}}, {Type: &btf.Void{}}}}
	fn := &btf.Typedef{Name: "printf_t", Type: &btf.Pointer{Target: proto}}
	rq := &btf.Var{Name: "runqueues", Type: lh, Linkage: btf.GlobalVar}
	percpu := &btf.Datasec{Name: ".data..percpu", Size: 16, Vars: []btf.VarSecinfo{{Type: rq, Size: 16}}}
	vol := &btf.Typedef{Name: "vol_t", Type: &btf.Volatile{Type: &btf.TypeTag{Value: "rcu", Type: ulong}}}
	return [][]byte{
		marshalBTF(t, intT, lh, &btf.Typedef{Name: "lh_t", Type: &btf.Const{Type: lh}}),
		marshalBTF(t, bits, flex),
		marshalBTF(t, state, fwd, dual, &btf.Struct{Name: "dual", Size: 8, Members: []btf.Member{{Name: "v", Type: ulong}}}),
		marshalBTF(t, fn, percpu, vol),
	}
}

// FuzzBTFConvert checks that every BTF cilium/ebpf accepts converts and
// looks up without panicking or hanging. testdata/fuzz/FuzzBTFConvert
// holds VAR reference cycles it found.
func FuzzBTFConvert(f *testing.F) {
	for _, seed := range fuzzBTFSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		b, err := NewBTFTypes(raw, "fuzz")
		if err != nil {
			return
		}
		for _, n := range b.TypeNames() {
			ty, err := b.LookupType(n)
			if err != nil {
				continue
			}
			_ = ty.String()
			_, _ = b.LookupType(n + " *[2]")
		}
		for typ, err := range b.vmlinux.spec.All() {
			if err != nil {
				break
			}
			b.mu.Lock()
			_, _ = b.conv.convertChecked(typ)
			b.mu.Unlock()
		}
	})
}

// TestBTFConcurrent runs lookups, variable lookups, names and module
// loading from several goroutines (run with -race).
func TestBTFConcurrent(t *testing.T) {
	base := fixtureBTF(t)
	enc := newSplitEncoder(t, base)
	enc.structType("mod_conn", 16, splitMember{"entry", baseTypeID(t, base, "list_head"), 0})
	mod := enc.bytes()
	b, err := NewBTFTypes(base, "test")
	if err != nil {
		t.Fatal(err)
	}
	b.loadModules = func(*BTFTypes) ([]ModuleBTF, error) { return []ModuleBTF{{Name: "mod", Data: mod}}, nil }
	names := []string{"struct list_head *", "struct mod_conn", "u64", "lh2_t", "char[16]", "struct bits"}
	done := make(chan *Type, 8*len(names))
	for g := 0; g < 8; g++ {
		go func() {
			for _, n := range names {
				ty, err := b.LookupType(n)
				if err != nil {
					t.Error(err)
				}
				_, _ = b.VariableType("runqueues")
				_ = b.Describe()
				done <- ty
			}
		}()
	}
	seen := map[string]*Type{}
	for i := 0; i < 8*len(names); i++ {
		ty := <-done
		if ty == nil {
			continue
		}
		if prev, ok := seen[ty.String()]; ok && prev != ty {
			t.Errorf("%s: two *Type values from concurrent lookups", ty)
		}
		seen[ty.String()] = ty
	}
}
