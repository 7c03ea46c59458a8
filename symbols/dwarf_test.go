package symbols

import (
	"debug/dwarf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The synthetic DWARF tests compile C with the system compiler: Go has no
// DWARF writer, and GCC's output is what kernels ship.
const dwarfTestMain = `
struct list_head { struct list_head *next, *prev; };
typedef unsigned long long u64;
typedef struct list_head lh_t;
typedef const lh_t lh2_t;
struct bits {
	unsigned int a:3;
	unsigned int b:5;
	unsigned long c:40;
	unsigned int d:2;
	char e;
};
struct anon { int x; union { long a; void *b; }; };
struct flex { int n; char data[]; };
enum state { NEG = -1, POS = 5 };
struct opaque;
struct holder { struct opaque *o; const char name[16]; volatile u64 v; };
typedef int (*printf_t)(const char *fmt, ...);
struct node { struct node *self; lh2_t lists[2][3]; };

struct list_head runqueues_x;
extern unsigned long offsets_x[];
unsigned long offsets_x[4];
extern struct holder holder_decl;
printf_t pf;
struct bits bits_x;
struct anon anon_x;
struct flex *flex_x;
enum state state_x;
struct node node_x;
`

// A second unit completes the first one's declaration of struct opaque.
const dwarfTestOther = `
struct opaque { int n; };
struct opaque opaque_x;
`

// buildDWARFObject compiles the test units into one relocatable object.
func buildDWARFObject(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skipf("SKIP: synthetic DWARF tests need gcc: %v", err)
	}
	dir := t.TempDir()
	var objs []string
	for name, src := range map[string]string{"a.c": dwarfTestMain, "b.c": dwarfTestOther} {
		c := filepath.Join(dir, name)
		if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		o := c + ".o"
		out, err := exec.Command(cc, "-g", "-gdwarf-5", "-O0", "-fno-eliminate-unused-debug-types", "-c", c, "-o", o).CombinedOutput()
		if err != nil {
			t.Skipf("SKIP: gcc failed: %v\n%s", err, out)
		}
		objs = append(objs, o)
	}
	// a.c first: its declaration of struct opaque precedes b.c's definition.
	if filepath.Base(objs[0]) != "a.c.o" {
		objs[0], objs[1] = objs[1], objs[0]
	}
	out := filepath.Join(dir, "ab.o")
	if msg, err := exec.Command(cc, "-r", "-nostdlib", "-o", out, objs[0], objs[1]).CombinedOutput(); err != nil {
		t.Skipf("SKIP: gcc -r failed: %v\n%s", err, msg)
	}
	return out
}

// buildDWARFObjects returns the test units as a relocatable object (read
// through debug/dwarf's relocation) and as a linked shared object (mapped
// and indexed by the skimmer).
func buildDWARFObjects(t *testing.T) []string {
	rel := buildDWARFObject(t)
	so := filepath.Join(filepath.Dir(rel), "ab.so")
	if msg, err := exec.Command("gcc", "-shared", "-nostdlib", "-o", so, rel).CombinedOutput(); err != nil {
		t.Skipf("SKIP: gcc -shared failed: %v\n%s", err, msg)
	}
	return []string{rel, so}
}

func TestDWARFSynthetic(t *testing.T) {
	for _, obj := range buildDWARFObjects(t) {
		t.Run(filepath.Base(obj), func(t *testing.T) { testDWARFSynthetic(t, obj) })
	}
}

func testDWARFSynthetic(t *testing.T, obj string) {
	d, err := OpenDWARF(obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if skim := d.vmlinux.skim != nil; skim != (filepath.Ext(obj) == ".so") {
		t.Errorf("%s: skimmer in use %v", obj, skim)
	}

	checkLookups(t, d, []typeLookup{
		{"struct list_head", KindStruct, 16, "struct list_head"},
		{"list_head", KindStruct, 16, "struct list_head"},
		{"unsigned long", KindInt, 8, "long unsigned int"},
		{"u64", KindTypedef, 8, "u64"},
		{"lh2_t", KindTypedef, 16, "lh2_t"},
		{"char[16]", KindArray, 16, "char [16]"},
		{"struct list_head **", KindPointer, 8, "struct list_head **"},
		{"enum state", KindEnum, 4, "enum state"},
		{"struct opaque", KindStruct, 4, "struct opaque"},
		{"printf_t", KindTypedef, 8, "printf_t"},
		{"struct bits", KindStruct, 8, "struct bits"},
		{"struct nosuch", 0, 0, ""},
		{"union list_head", 0, 0, ""},
	})

	// Member layout as the SysV x86_64 ABI places it.
	members := []struct {
		typ, member               string
		offset, bitOffset, bitLen uint64
		render                    string
	}{
		{"struct bits", "a", 0, 0, 3, "unsigned int"},
		{"struct bits", "b", 0, 3, 5, "unsigned int"},
		{"struct bits", "c", 0, 8, 40, "long unsigned int"},
		{"struct bits", "d", 4, 48, 2, "unsigned int"},
		{"struct bits", "e", 7, 56, 0, "char"},
		{"struct anon", "b", 8, 64, 0, "void *"},
		{"struct flex", "data", 4, 32, 0, "char []"},
		{"struct holder", "o", 0, 0, 0, "struct opaque *"},
		{"struct holder", "name", 8, 64, 0, "char [16]"},
		{"struct holder", "v", 24, 192, 0, "u64"},
		{"struct node", "lists", 8, 64, 0, "lh2_t [2][3]"},
	}
	for _, m := range members {
		st, err := d.LookupType(m.typ)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := st.FindMember(m.member)
		if !ok {
			t.Errorf("%s has no %s", m.typ, m.member)
			continue
		}
		if got.Offset != m.offset || got.BitOffset != m.bitOffset || got.BitSize != m.bitLen || got.Type.String() != m.render {
			t.Errorf("%s.%s: got %d %d %d %q, want %d %d %d %q", m.typ, m.member, got.Offset, got.BitOffset, got.BitSize, got.Type, m.offset, m.bitOffset, m.bitLen, m.render)
		}
	}

	st, _ := d.LookupType("enum state")
	if v, ok := st.EnumValue("NEG"); !ok || v != -1 {
		t.Errorf("NEG = %d", v)
	}
	pf, _ := d.LookupType("printf_t")
	if fn := pf.Resolve().Elem; fn.Kind != KindFunc || !fn.Variadic || len(fn.Params) != 1 {
		t.Errorf("printf_t: %+v", fn)
	}
	// Cycle safety and identity.
	node, _ := d.LookupType("struct node")
	self, _ := node.FindMember("self")
	if self.Type.Elem != node {
		t.Error("node.self does not point to the node *Type")
	}
	lh1, _ := d.LookupType("struct list_head")
	lh2, _ := d.LookupType("lh2_t")
	if lh2.Resolve() != lh1.Resolve() {
		t.Error("typedef chain does not reach the same struct *Type")
	}

	vars := map[string]string{
		"runqueues_x": "struct list_head",
		"offsets_x":   "long unsigned int [4]", // the definition, not the extern []
		"pf":          "printf_t",
		"holder_decl": "struct holder",
		"opaque_x":    "struct opaque",
	}
	for name, want := range vars {
		ty, err := d.VariableType(name)
		if err != nil {
			t.Errorf("variable %s: %v", name, err)
			continue
		}
		if ty.String() != want {
			t.Errorf("variable %s: %q, want %q", name, ty, want)
		}
	}
	if _, err := d.VariableType("nosuch"); !errors.Is(err, ErrNoType) {
		t.Errorf("missing variable: %v", err)
	}
	names := d.TypeNames()
	for _, want := range []string{"struct list_head", "u64", "enum state", "struct opaque"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("TypeNames lacks %q", want)
		}
	}
}

func TestDWARFOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "x")
	os.WriteFile(notELF, []byte("not an ELF file at all"), 0o644)
	for _, p := range []string{filepath.Join(dir, "missing"), notELF, "/proc/self/exe"} {
		if _, err := OpenDWARF(p, nil); err == nil && p != "/proc/self/exe" {
			t.Errorf("%s: no error", p)
		}
	}
}

func TestCompleteType(t *testing.T) {
	obj := buildDWARFObject(t)
	d, err := OpenDWARF(obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	holder, _ := d.LookupType("struct holder")
	o, _ := holder.FindMember("o")
	fwd := o.Type.Elem
	if fwd.Kind != KindFwd {
		t.Fatalf("holder.o points to %v, want the unit's declaration", fwd.Kind)
	}
	c := CompleteType(d, fwd)
	if c.Kind != KindStruct || c.Size != 4 || !c.HasMember("n") {
		t.Errorf("CompleteType: %v size %d", c.Kind, c.Size)
	}
	lh, _ := d.LookupType("struct list_head")
	if CompleteType(d, lh) != lh {
		t.Error("CompleteType changed a complete type")
	}
	b := fixtureTypes(t)
	op, _ := b.LookupType("struct opaque")
	if CompleteType(b, op) != op {
		t.Error("CompleteType of an undefined declaration must return it unchanged")
	}
}

// TestDWARFConcurrent runs lookups from several goroutines (run with -race).
func TestDWARFConcurrent(t *testing.T) {
	obj := buildDWARFObject(t)
	d, err := OpenDWARF(obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		go func() {
			var first error
			for _, n := range []string{"struct node", "struct bits *", "u64", "struct opaque"} {
				if _, err := d.LookupType(n); err != nil && first == nil {
					first = err
				}
			}
			if _, err := d.VariableType("offsets_x"); err != nil && first == nil {
				first = err
			}
			_ = d.TypeNames()
			errs <- first
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// compareIndexes builds a file's full index with both scanners and
// reports differences.
func compareIndexes(t *testing.T, path string) {
	t.Helper()
	d, err := OpenDWARF(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.vmlinux.skim == nil {
		t.Fatalf("%s: not indexed by the skimmer", path)
	}
	skim := d.vmlinux.idx
	skim.scanAll()
	reader := newDWARFIndex(&readerScanner{r: d.vmlinux.data.Reader()})
	reader.scanAll()
	if skim.err != nil || reader.err != nil {
		t.Fatalf("scan errors: skim %v, reader %v", skim.err, reader.err)
	}
	if skim.units != reader.units {
		t.Errorf("units: skim %d, reader %d", skim.units, reader.units)
	}
	diff := 0
	for _, pair := range []struct {
		what string
		a, b map[string]dieRef
	}{{"type", skim.types, reader.types}, {"variable", skim.vars, reader.vars}} {
		if len(pair.a) != len(pair.b) {
			t.Errorf("%d %ss by skim, %d by reader", len(pair.a), pair.what, len(pair.b))
		}
		for k, v := range pair.b {
			if pair.a[k] != v && diff < 10 {
				diff++
				t.Errorf("%s %q: skim %+v, reader %+v", pair.what, k, pair.a[k], v)
			}
		}
	}
	t.Logf("%s: %d units, %d types, %d variables agree", path, skim.units, len(skim.types), len(skim.vars))
}

func TestDWARFSkimMatchesReader(t *testing.T) {
	objs := buildDWARFObjects(t)
	compareIndexes(t, objs[1])
}

// FuzzDWARFSkim feeds the skimmer arbitrary .debug_info and .debug_abbrev:
// it must end with an index or an error, never a panic or a hang.
func FuzzDWARFSkim(f *testing.F) {
	// A unit with one base type, a struct with a sibling link, a variable.
	abbrev := []byte{
		1, 0x11, 1, 0x03, 0x08, 0, 0, // compile_unit, children, name:string
		2, 0x24, 0, 0x03, 0x08, 0x0b, 0x0b, 0, 0, // base_type name:string byte_size:data1
		3, 0x13, 1, 0x03, 0x08, 0x01, 0x13, 0, 0, // struct name sibling:ref4
		4, 0x0d, 0, 0x03, 0x08, 0x49, 0x13, 0, 0, // member name type:ref4
		5, 0x34, 0, 0x03, 0x08, 0x49, 0x13, 0x3c, 0x19, 0, 0, // variable name type decl:flag_present
		0,
	}
	die := []byte{1, 'c', 0,
		2, 'i', 'n', 't', 0, 4,
		3, 's', 0, 0, 0, 0, 0, // sibling patched below
		4, 'm', 0, 13, 0, 0, 0,
		0,
		5, 'v', 0, 13, 0, 0, 0,
		0}
	hdr := []byte{0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 8} // length, version 4, abbrev 0, addr 8
	info := append(hdr, die...)
	info[0] = byte(len(info) - 4)
	// struct sibling: offset of the variable DIE (unit-relative).
	sib := len(hdr) + 3 + 6 + 7 + 7 + 1
	info[len(hdr)+3+6+3] = byte(sib)
	f.Add(info, abbrev)
	f.Fuzz(func(t *testing.T, info, abbrev []byte) {
		x := newDWARFIndex(&skimScanner{info: info, abbrev: abbrev})
		x.scanAll()
		_ = x.typeNames()
	})
}

func TestDWARFSkimSeed(t *testing.T) {
	// The fuzz seed is itself a meaningful unit: check what it indexes.
	abbrev := []byte{
		1, 0x11, 1, 0x03, 0x08, 0, 0,
		2, 0x24, 0, 0x03, 0x08, 0x0b, 0x0b, 0, 0,
		3, 0x13, 1, 0x03, 0x08, 0x01, 0x13, 0, 0,
		4, 0x0d, 0, 0x03, 0x08, 0x49, 0x13, 0, 0,
		5, 0x34, 0, 0x03, 0x08, 0x49, 0x13, 0x3c, 0x19, 0, 0,
		0,
	}
	hdr := []byte{0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 8}
	die := []byte{1, 'c', 0,
		2, 'i', 'n', 't', 0, 4,
		3, 's', 0, 0, 0, 0, 0,
		4, 'm', 0, 14, 0, 0, 0,
		0,
		5, 'v', 0, 14, 0, 0, 0,
		0}
	info := append(hdr, die...)
	info[0] = byte(len(info) - 4)
	varOff := len(hdr) + 3 + 6 + 7 + 7 + 1
	info[len(hdr)+3+6+3] = byte(varOff)
	x := newDWARFIndex(&skimScanner{info: info, abbrev: abbrev})
	x.scanAll()
	if x.err != nil {
		t.Fatal(x.err)
	}
	if r, ok := x.types["struct s"]; !ok || !r.complete || r.off != dwarf.Offset(len(hdr)+3+6) {
		t.Errorf("struct s: %+v %v", r, ok)
	}
	if r, ok := x.types["int"]; !ok || r.off != dwarf.Offset(len(hdr)+3) {
		t.Errorf("int: %+v %v", r, ok)
	}
	if r, ok := x.vars["v"]; !ok || r.complete || r.off != 14 {
		t.Errorf("variable v: %+v %v", r, ok)
	}
}

func TestDWARFUseAfterClose(t *testing.T) {
	objs := buildDWARFObjects(t)
	d, err := OpenDWARF(objs[1], nil) // mapped: use after unmap would crash
	if err != nil {
		t.Fatal(err)
	}
	lh, err := d.LookupType("struct list_head")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LookupType("struct node"); err == nil {
		t.Error("lookup after Close succeeded")
	}
	if _, err := d.VariableType("pf"); err == nil {
		t.Error("variable lookup after Close succeeded")
	}
	if _, _, _, err := d.LineForAddr(0x1000); err == nil {
		t.Error("line lookup after Close succeeded")
	}
	if d.TypeNames() != nil || d.Close() != nil {
		t.Error("TypeNames or a second Close after Close")
	}
	if lh.Size != 16 || !lh.HasMember("next") {
		t.Error("a type returned before Close changed")
	}
}
