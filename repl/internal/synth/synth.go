// Package synth builds small synthetic kernels for repl tests: a few pages of
// memory, a symbol table and a handful of types, enough for commands to run
// without a dump.
package synth

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
)

// Memory is a sparse byte-addressed memory; unset bytes are unmapped.
type Memory struct {
	pages map[uint64][]byte // 4 KiB pages by page address
}

// NewMemory returns empty memory.
func NewMemory() *Memory { return &Memory{pages: make(map[uint64][]byte)} }

// Write stores b at addr, mapping pages as needed.
func (m *Memory) Write(addr uint64, b []byte) {
	for len(b) > 0 {
		pa := addr &^ 0xfff
		p, ok := m.pages[pa]
		if !ok {
			p = make([]byte, 4096)
			m.pages[pa] = p
		}
		n := copy(p[addr-pa:], b)
		b = b[n:]
		addr += uint64(n)
	}
}

// PutU64 stores a little-endian u64.
func (m *Memory) PutU64(addr, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	m.Write(addr, b[:])
}

// PutU32 stores a little-endian u32.
func (m *Memory) PutU32(addr uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	m.Write(addr, b[:])
}

// ReadVirt implements kcore.Memory.
func (m *Memory) ReadVirt(p []byte, addr uint64) error {
	for len(p) > 0 {
		pa := addr &^ 0xfff
		pg, ok := m.pages[pa]
		if !ok {
			return &kcore.ReadError{Addr: addr, Err: kcore.ErrNotMapped}
		}
		n := copy(p, pg[addr-pa:])
		p = p[n:]
		addr += uint64(n)
	}
	return nil
}

// ReadPhys implements kcore.Memory: physical address = virtual - PageOffset.
func (m *Memory) ReadPhys(p []byte, addr uint64) error {
	if err := m.ReadVirt(p, addr+PageOffset); err != nil {
		return &kcore.ReadError{Addr: addr, Phys: true, Err: kcore.ErrNotInDump}
	}
	return nil
}

// PageOffset is the synthetic direct-map base.
const PageOffset = 0xffff888000000000

// Symbols is a sorted symbol table.
type Symbols struct {
	byAddr []symbols.Symbol
	byName map[string]symbols.Symbol
	names  []string
}

// NewSymbols builds a table.
func NewSymbols(syms []symbols.Symbol) *Symbols {
	s := &Symbols{byName: make(map[string]symbols.Symbol)}
	s.byAddr = append(s.byAddr, syms...)
	sort.Slice(s.byAddr, func(i, j int) bool { return s.byAddr[i].Addr < s.byAddr[j].Addr })
	for _, y := range syms {
		s.byName[y.Name] = y
		s.names = append(s.names, y.Name)
	}
	sort.Strings(s.names)
	return s
}

// Lookup implements symbols.SymbolTable.
func (s *Symbols) Lookup(name string) (symbols.Symbol, error) {
	y, ok := s.byName[name]
	if !ok {
		return y, fmt.Errorf("%w: %s", symbols.ErrNoSymbol, name)
	}
	return y, nil
}

// LookupAddr implements symbols.SymbolTable.
func (s *Symbols) LookupAddr(addr uint64) (symbols.Symbol, uint64, bool) {
	i := sort.Search(len(s.byAddr), func(i int) bool { return s.byAddr[i].Addr > addr }) - 1
	if i < 0 {
		return symbols.Symbol{}, 0, false
	}
	y := s.byAddr[i]
	if y.Size != 0 && addr-y.Addr >= y.Size {
		return symbols.Symbol{}, 0, false
	}
	return y, addr - y.Addr, true
}

// Names implements symbols.SymbolTable.
func (s *Symbols) Names() []string { return s.names }

// Describe implements symbols.SymbolTable.
func (s *Symbols) Describe() string { return fmt.Sprintf("synthetic, %d symbols", len(s.names)) }

// Types is a map-backed TypeSource.
type Types struct {
	m    map[string]*symbols.Type
	vars map[string]*symbols.Type
}

// LookupType implements symbols.TypeSource, with the loose lookup of bare
// tag names and "T *" pointer spellings.
func (t *Types) LookupType(name string) (*symbols.Type, error) {
	name = strings.TrimSpace(name)
	if strings.HasSuffix(name, "*") {
		e, err := t.LookupType(strings.TrimSuffix(name, "*"))
		if err != nil {
			return nil, err
		}
		return symbols.PointerTo(e), nil
	}
	if ty, ok := t.m[name]; ok {
		return ty, nil
	}
	for _, kw := range []string{"struct ", "union ", "enum "} {
		if ty, ok := t.m[kw+name]; ok {
			return ty, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", symbols.ErrNoType, name)
}

// TypeNames implements symbols.TypeSource.
func (t *Types) TypeNames() []string {
	var out []string
	for n := range t.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Describe implements symbols.TypeSource.
func (t *Types) Describe() string { return fmt.Sprintf("synthetic, %d types", len(t.m)) }

// VariableType implements symbols.VariableTyper.
func (t *Types) VariableType(name string) (*symbols.Type, error) {
	if ty, ok := t.vars[name]; ok {
		return ty, nil
	}
	return nil, fmt.Errorf("%w: variable %s", symbols.ErrNoType, name)
}

// Kernel is a synthetic kernel with three tasks.
type Kernel struct {
	Prog  *symbols.Program
	Mem   *Memory
	Tasks []Task // init_task first
}

// Task describes one synthetic task.
type Task struct {
	Addr  uint64
	PID   int
	Comm  string
	State uint32
}

// Addresses of the synthetic kernel's globals.
const (
	TextBase     = 0xffffffff81000000
	InitTaskAddr = 0xffffffff82a0c000
	JiffiesAddr  = 0xffffffff82a00000
	ModulesAddr  = 0xffffffff82a01000
	BannerAddr   = 0xffffffff82a02000
	TaskBase     = PageOffset + 0x100000
	ModuleAddr   = PageOffset + 0x200000
)

// Jiffies is the value stored at jiffies.
const Jiffies = 4295000000

// New builds the synthetic kernel.
func New() *Kernel {
	u8 := &symbols.Type{Kind: symbols.KindInt, Name: "unsigned char", Size: 1}
	char := &symbols.Type{Kind: symbols.KindInt, Name: "char", Size: 1, Encoding: symbols.IntChar, Signed: true}
	i32 := &symbols.Type{Kind: symbols.KindInt, Name: "int", Size: 4, Signed: true, Encoding: symbols.IntSigned}
	u32 := &symbols.Type{Kind: symbols.KindInt, Name: "unsigned int", Size: 4}
	u64 := &symbols.Type{Kind: symbols.KindInt, Name: "long long unsigned int", Size: 8}
	ulong := &symbols.Type{Kind: symbols.KindInt, Name: "long unsigned int", Size: 8}
	u64t := &symbols.Type{Kind: symbols.KindTypedef, Name: "u64", Elem: u64, Size: 8}
	boolT := &symbols.Type{Kind: symbols.KindInt, Name: "_Bool", Size: 1, Encoding: symbols.IntBool}
	_ = u8
	listHead := &symbols.Type{Kind: symbols.KindStruct, Name: "list_head", Size: 16}
	listHead.Members = []symbols.Member{
		{Name: "next", Type: symbols.PointerTo(listHead), Offset: 0, BitOffset: 0},
		{Name: "prev", Type: symbols.PointerTo(listHead), Offset: 8, BitOffset: 64},
	}
	se := &symbols.Type{Kind: symbols.KindStruct, Name: "sched_entity", Size: 16, Members: []symbols.Member{
		{Name: "vruntime", Type: u64t, Offset: 0},
		{Name: "on_rq", Type: i32, Offset: 8, BitOffset: 64},
		{Name: "nr_migrations", Type: u32, Offset: 12, BitOffset: 96},
	}}
	mm := &symbols.Type{Kind: symbols.KindStruct, Name: "mm_struct", Size: 8, Members: []symbols.Member{
		{Name: "total_vm", Type: ulong},
	}}
	fn := &symbols.Type{Kind: symbols.KindFunc, Elem: i32}
	stateEnum := &symbols.Type{Kind: symbols.KindEnum, Name: "demo_state", Size: 4, Enumerators: []symbols.Enumerator{{Name: "DEMO_OFF", Value: 0}, {Name: "DEMO_ON", Value: 1}}}
	task := &symbols.Type{Kind: symbols.KindStruct, Name: "task_struct", Size: 0x100}
	task.Members = []symbols.Member{
		{Name: "__state", Type: u32, Offset: 0},
		{Name: "cpu", Type: u32, Offset: 4, BitOffset: 32},
		{Name: "tasks", Type: listHead, Offset: 0x10, BitOffset: 0x80},
		{Name: "se", Type: se, Offset: 0x20, BitOffset: 0x100},
		{Name: "mm", Type: symbols.PointerTo(mm), Offset: 0x30, BitOffset: 0x180},
		{Name: "pid", Type: i32, Offset: 0x38, BitOffset: 0x1c0},
		{Name: "exit_state", Type: i32, Offset: 0x3c, BitOffset: 0x1e0},
		{Name: "comm", Type: &symbols.Type{Kind: symbols.KindArray, Elem: char, Len: 16, Size: 16}, Offset: 0x40, BitOffset: 0x200},
		{Name: "fn", Type: symbols.PointerTo(fn), Offset: 0x50, BitOffset: 0x280},
		{Name: "flag", Type: boolT, Offset: 0x58, BitOffset: 0x2c0},
		{Name: "demo", Type: stateEnum, Offset: 0x5c, BitOffset: 0x2e0},
		{Name: "", Type: &symbols.Type{Kind: symbols.KindUnion, Size: 8, Members: []symbols.Member{
			{Name: "anon_a", Type: u64t}, {Name: "anon_b", Type: u32},
		}}, Offset: 0x60, BitOffset: 0x300},
		{Name: "bits", Type: u32, Offset: 0x68, BitOffset: 0x343, BitSize: 3},
		{Name: "parent", Type: symbols.PointerTo(task), Offset: 0x70, BitOffset: 0x380},
	}
	module := &symbols.Type{Kind: symbols.KindStruct, Name: "module", Size: 0x100, Members: []symbols.Member{
		{Name: "state", Type: i32, Offset: 0},
		{Name: "list", Type: listHead, Offset: 8, BitOffset: 64},
		{Name: "name", Type: &symbols.Type{Kind: symbols.KindArray, Elem: char, Len: 56, Size: 56}, Offset: 0x18, BitOffset: 0xc0},
	}}
	types := &Types{m: map[string]*symbols.Type{
		"struct task_struct":  task,
		"struct list_head":    listHead,
		"struct sched_entity": se,
		"struct mm_struct":    mm,
		"struct module":       module,
		"enum demo_state":     stateEnum,
		"int":                 i32,
		"unsigned int":        u32,
		"u64":                 u64t,
		"char":                char,
		"long unsigned int":   ulong,
		"unsigned long":       ulong,
	}, vars: map[string]*symbols.Type{
		"jiffies":      ulong,
		"linux_banner": &symbols.Type{Kind: symbols.KindArray, Elem: char, Len: 64, Size: 64},
	}}
	syms := NewSymbols([]symbols.Symbol{
		{Name: "_stext", Addr: TextBase, Type: 'T', Size: 0x10},
		{Name: "do_exit", Addr: TextBase + 0x100, Type: 'T', Size: 0x40},
		{Name: "schedule", Addr: TextBase + 0x200, Type: 'T', Size: 0x40},
		{Name: "ibt_func", Addr: TextBase + 0x300, Type: 'T', Size: 5},
		{Name: "jiffies", Addr: JiffiesAddr, Type: 'D', Size: 8},
		{Name: "modules", Addr: ModulesAddr, Type: 'd', Size: 16},
		{Name: "linux_banner", Addr: BannerAddr, Type: 'R', Size: 64},
		{Name: "init_task", Addr: InitTaskAddr, Type: 'D', Size: 0x100},
	})
	mem := NewMemory()
	k := &Kernel{Mem: mem}
	// Text: do_exit is "push rbp; mov rbp,rsp; call schedule; pop rbp; ret".
	code := []byte{0x55, 0x48, 0x89, 0xe5, 0xe8, 0, 0, 0, 0, 0x5d, 0xc3}
	rel := int32((TextBase + 0x200) - (TextBase + 0x100 + 9))
	binary.LittleEndian.PutUint32(code[5:], uint32(rel))
	mem.Write(TextBase+0x100, code)
	mem.Write(TextBase+0x200, []byte{0xc3})
	// ibt_func starts with an IBT landing pad: endbr64; ret.
	mem.Write(TextBase+0x300, []byte{0xf3, 0x0f, 0x1e, 0xfa, 0xc3})
	mem.PutU64(JiffiesAddr, Jiffies)
	mem.Write(BannerAddr, []byte("Linux version 6.1.0-synthetic (kwalk@test) #1 SMP\n\x00"))

	k.Tasks = []Task{
		{Addr: InitTaskAddr, PID: 0, Comm: "swapper/0", State: 0},
		{Addr: TaskBase, PID: 1, Comm: "init", State: 1},
		{Addr: TaskBase + 0x1000, PID: 42, Comm: "hangfs", State: 2},
	}
	for i, t := range k.Tasks {
		next := k.Tasks[(i+1)%len(k.Tasks)].Addr + 0x10
		prev := k.Tasks[(i+len(k.Tasks)-1)%len(k.Tasks)].Addr + 0x10
		mem.PutU32(t.Addr, t.State)
		mem.PutU32(t.Addr+4, uint32(i%2))
		mem.PutU64(t.Addr+0x10, next)
		mem.PutU64(t.Addr+0x18, prev)
		mem.PutU64(t.Addr+0x20, uint64(1000*(i+1)))
		mem.PutU32(t.Addr+0x38, uint32(t.PID))
		comm := make([]byte, 16)
		copy(comm, t.Comm)
		mem.Write(t.Addr+0x40, comm)
		mem.PutU64(t.Addr+0x50, TextBase+0x100)
		mem.PutU64(t.Addr+0x70, InitTaskAddr)
		if t.PID > 0 {
			mem.PutU64(t.Addr+0x30, t.Addr+0x800) // mm
			mem.PutU64(t.Addr+0x800, 1234)
		}
		mem.PutU32(t.Addr+0x68, 5<<3)
	}
	// One module, "demo_mod".
	mem.PutU64(ModulesAddr, ModuleAddr+8)
	mem.PutU64(ModulesAddr+8, ModuleAddr+8)
	mem.PutU64(ModuleAddr+8, ModulesAddr)
	mem.PutU64(ModuleAddr+16, ModulesAddr)
	mem.Write(ModuleAddr+0x18, []byte("demo_mod\x00"))

	k.Prog = symbols.NewProgram(mem, syms, types)
	k.Prog.Warnings = []string{"synthetic kernel: no dump"}
	return k
}
