package symbols

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/kwalk/kwalk/kcore"
)

// pageMem is a sparse kernel memory for the module-walk tests.
type pageMem map[uint64][]byte

func (m pageMem) write(addr uint64, b []byte) {
	for len(b) > 0 {
		pg := addr &^ 4095
		p := m[pg]
		if p == nil {
			p = make([]byte, 4096)
			m[pg] = p
		}
		n := copy(p[addr-pg:], b)
		b, addr = b[n:], addr+uint64(n)
	}
}

func (m pageMem) u64(addr, v uint64) {
	m.write(addr, binary.LittleEndian.AppendUint64(nil, v))
}

func (m pageMem) ReadVirt(p []byte, addr uint64) error {
	for len(p) > 0 {
		pg := addr &^ 4095
		page := m[pg]
		if page == nil {
			return &kcore.ReadError{Addr: addr, Err: kcore.ErrNotMapped}
		}
		n := copy(p, page[addr-pg:])
		p, addr = p[n:], addr+uint64(n)
	}
	return nil
}

func (m pageMem) ReadPhys(p []byte, addr uint64) error {
	return &kcore.ReadError{Addr: addr, Phys: true, Err: kcore.ErrNotInDump}
}

// mapSyms is a SymbolTable of a few names.
type mapSyms map[string]uint64

func (s mapSyms) Lookup(name string) (Symbol, error) {
	a, ok := s[name]
	if !ok {
		return Symbol{}, fmt.Errorf("%w: %s", ErrNoSymbol, name)
	}
	return Symbol{Name: name, Addr: a, Type: 'D'}, nil
}
func (s mapSyms) LookupAddr(uint64) (Symbol, uint64, bool) { return Symbol{}, 0, false }
func (s mapSyms) Names() []string {
	var n []string
	for k := range s {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}
func (s mapSyms) Describe() string { return "test symbols" }

// moduleKernel describes the kernel structures of one test variant.
type moduleKernel struct {
	splitBTF     bool // struct btf has base_btf and name (6.1+); false is 5.10
	btfModuleOff uint64
	withBTFMod   bool // struct btf_module is in BTF, with list at btfModuleOff
}

// kernelBTF builds vmlinux BTF with the structures the walk reads.
func (k moduleKernel) kernelBTF(t testing.TB) []byte {
	u32 := &btf.Int{Name: "unsigned int", Size: 4}
	char := &btf.Int{Name: "char", Size: 1, Encoding: btf.Signed}
	intT := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	voidp := &btf.Pointer{Target: &btf.Void{}}
	lh := &btf.Struct{Name: "list_head", Size: 16}
	lh.Members = []btf.Member{{Name: "next", Type: &btf.Pointer{Target: lh}}, {Name: "prev", Type: &btf.Pointer{Target: lh}, Offset: 64}}
	name := &btf.Array{Index: intT, Type: char, Nelems: 56}
	// kernel/bpf/btf.c struct btf: data first; the rest at offsets that
	// differ from any fixed guess.
	bt := &btf.Struct{Name: "btf", Size: 200}
	bt.Members = []btf.Member{
		{Name: "data", Type: voidp, Offset: 0},
		{Name: "data_size", Type: u32, Offset: 8 * 88},
	}
	if k.splitBTF {
		bt.Members = append(bt.Members,
			btf.Member{Name: "base_btf", Type: &btf.Pointer{Target: bt}, Offset: 8 * 96},
			btf.Member{Name: "name", Type: name, Offset: 8 * 120})
	}
	mod := &btf.Struct{Name: "module", Size: 128, Members: []btf.Member{
		{Name: "state", Type: intT}, {Name: "list", Type: lh, Offset: 64}, {Name: "name", Type: name, Offset: 8 * 24},
	}}
	types := []btf.Type{u32, char, intT, lh, bt, mod}
	if k.withBTFMod {
		types = append(types, &btf.Struct{Name: "btf_module", Size: 64, Members: []btf.Member{
			{Name: "flags", Type: intT, Offset: 0},
			{Name: "list", Type: lh, Offset: btf.Bits(8 * k.btfModuleOff)},
			{Name: "module", Type: &btf.Pointer{Target: mod}, Offset: btf.Bits(8 * (k.btfModuleOff + 16))},
			{Name: "btf", Type: &btf.Pointer{Target: bt}, Offset: btf.Bits(8 * (k.btfModuleOff + 24))},
		}})
	}
	return marshalBTF(t, types...)
}

const (
	testBTFAddr   = 0xffffffff82000000
	testHeadAddr  = 0xffffffff83000000
	testHeapAddr  = 0xffff888000100000
	testEntrySize = 0x1000
)

// moduleImage is a kernel memory holding vmlinux BTF and a btf_modules
// list of the given modules. A module with a nil blob has an unmapped
// data pointer. cycle makes the last entry point back to the first.
type moduleImage struct {
	mem  pageMem
	syms mapSyms
	size uint64
}

type testModule struct {
	btfName, modName string
	defines          string // struct the module's BTF defines; "" for an unreadable blob
}

func (k moduleKernel) image(t testing.TB, mods []testModule, cycle bool) moduleImage {
	raw := k.kernelBTF(t)
	mem := pageMem{}
	mem.write(testBTFAddr, raw)
	listOff := uint64(0)
	if k.withBTFMod {
		listOff = k.btfModuleOff
	}
	entry := func(i int) uint64 { return testHeapAddr + uint64(i)*testEntrySize }
	link := func(i int) uint64 { // address of entry i's list_head
		if i < 0 || i >= len(mods) {
			return testHeadAddr
		}
		return entry(i) + listOff
	}
	mem.u64(testHeadAddr, link(0))
	mem.u64(testHeadAddr+8, link(len(mods)-1))
	for i, m := range mods {
		var blob []byte
		if m.defines != "" {
			blob = moduleBlob(t, raw, m.defines)
		}
		e := entry(i)
		next := link(i + 1)
		if cycle && i == len(mods)-1 {
			next = link(0)
		}
		mem.u64(e+listOff, next)
		mem.u64(e+listOff+8, link(i-1))
		btfObj, modObj, data := e+0x100, e+0x300, e+0x800
		mem.u64(e+listOff+16, modObj)
		mem.u64(e+listOff+24, btfObj)
		if blob != nil {
			mem.write(data, blob)
			mem.u64(btfObj, data)
		} else {
			mem.u64(btfObj, 0xffffc90000000000) // unmapped
		}
		mem.write(btfObj+88, binary.LittleEndian.AppendUint32(nil, uint32(max(len(blob), 64))))
		if k.splitBTF {
			mem.write(btfObj+120, append([]byte(m.btfName), 0))
		}
		mem.write(modObj+24, append([]byte(m.modName), 0))
	}
	syms := mapSyms{"__start_BTF": testBTFAddr, "__stop_BTF": testBTFAddr + uint64(len(raw)), "btf_modules": testHeadAddr}
	return moduleImage{mem: mem, syms: syms, size: uint64(len(raw))}
}

// moduleBlob is a module's split BTF defining struct <name>.
func moduleBlob(t testing.TB, base []byte, name string) []byte {
	enc := newSplitEncoder(t, base)
	enc.structType(name, 16, splitMember{"entry", baseTypeID(t, base, "list_head"), 0})
	return enc.bytes()
}

func TestBTFModulesFromMemory(t *testing.T) {
	k61 := moduleKernel{splitBTF: true}
	tests := []struct {
		name     string
		kernel   moduleKernel
		mods     []testModule
		cycle    bool
		noSym    bool
		want     []string // struct names that must resolve
		modules  []string // module names loaded
		warnings []string // substrings, one per expected warning
	}{
		{
			name:   "6.1 layout, names from btf and module",
			kernel: k61,
			mods: []testModule{
				{btfName: "fuse", modName: "fuse", defines: "fuse_conn"},
				{btfName: "", modName: "other", defines: "other_thing"},
				{btfName: "broken", modName: "broken", defines: ""},
			},
			want:     []string{"struct fuse_conn", "struct other_thing"},
			modules:  []string{"fuse", "other"},
			warnings: []string{"module broken: BTF data"},
		},
		{
			name:   "struct btf_module in BTF with its own layout",
			kernel: moduleKernel{splitBTF: true, withBTFMod: true, btfModuleOff: 8},
			mods: []testModule{
				{btfName: "fuse", modName: "fuse", defines: "fuse_conn"},
			},
			want:    []string{"struct fuse_conn"},
			modules: []string{"fuse"},
		},
		{
			name:   "cyclic list",
			kernel: k61,
			mods: []testModule{
				{btfName: "a", defines: "a_type"},
				{btfName: "b", defines: "b_type"},
			},
			cycle:    true,
			want:     []string{"struct a_type", "struct b_type"},
			modules:  []string{"a", "b"},
			warnings: []string{"cycle"},
		},
		{
			name:     "5.10: no split BTF",
			kernel:   moduleKernel{splitBTF: false},
			warnings: []string{"no module BTF"},
		},
		{
			name:     "no btf_modules symbol",
			kernel:   k61,
			noSym:    true,
			warnings: []string{"no btf_modules symbol"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := tt.kernel.image(t, tt.mods, tt.cycle)
			if tt.noSym {
				delete(img.syms, "btf_modules")
			}
			b, err := LoadBTFFromMemory(img.mem, img.syms)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.LookupType("struct list_head"); err != nil {
				t.Fatal(err)
			}
			if got := b.Modules(); len(got) != 0 {
				t.Fatalf("modules loaded before a miss: %v", got)
			}
			for _, w := range tt.want {
				ty, err := b.LookupType(w)
				if err != nil {
					t.Errorf("%s: %v", w, err)
					continue
				}
				if e, _ := ty.FindMember("entry"); e.Type == nil || e.Type.Name != "list_head" {
					t.Errorf("%s.entry: %v", w, e.Type)
				}
			}
			if _, err := b.LookupType("struct missing_everywhere"); err == nil {
				t.Error("no error for a missing type")
			}
			if got := b.Modules(); strings.Join(got, ",") != strings.Join(tt.modules, ",") {
				t.Errorf("modules %v, want %v", got, tt.modules)
			}
			warns := b.Warnings()
			if len(warns) != len(tt.warnings) {
				t.Fatalf("warnings %q, want %d matching %q", warns, len(tt.warnings), tt.warnings)
			}
			for i, w := range tt.warnings {
				if !strings.Contains(warns[i], w) {
					t.Errorf("warning %q lacks %q", warns[i], w)
				}
			}
		})
	}
}

func TestLoadBTFFromMemoryErrors(t *testing.T) {
	img := moduleKernel{splitBTF: true}.image(t, nil, false)
	tests := map[string]mapSyms{
		"no start":        {"__stop_BTF": testBTFAddr + img.size},
		"reversed range":  {"__start_BTF": testBTFAddr + img.size, "__stop_BTF": testBTFAddr},
		"range too short": {"__start_BTF": testBTFAddr, "__stop_BTF": testBTFAddr + 100},
		"unmapped":        {"__start_BTF": 0xffffffff90000000, "__stop_BTF": 0xffffffff90001000},
		"huge":            {"__start_BTF": testBTFAddr, "__stop_BTF": testBTFAddr + 1<<30},
	}
	for name, syms := range tests {
		if _, err := LoadBTFFromMemory(img.mem, syms); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := LoadBTFFromMemory(img.mem, nil); err == nil {
		t.Error("nil symbols: no error")
	}
}
