// Package synth builds small synthetic kernels for repl tests: a few pages of
// memory, a symbol table and a handful of types, enough for commands to run
// without a dump.
package synth

import (
	"encoding/binary"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// PageOffset is the synthetic direct-map base: physical address pa is the
// byte at virtual PageOffset+pa.
const PageOffset = 0xffff888000000000

// Kernel is a synthetic kernel with three tasks.
type Kernel struct {
	Prog  *symbols.Program
	Mem   *symtest.Memory
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
		{Name: "tgid", Type: i32, Offset: 0x78, BitOffset: 0x3c0},
		{Name: "flags", Type: u32, Offset: 0x7c, BitOffset: 0x3e0},
	}
	module := &symbols.Type{Kind: symbols.KindStruct, Name: "module", Size: 0x100, Members: []symbols.Member{
		{Name: "state", Type: i32, Offset: 0},
		{Name: "list", Type: listHead, Offset: 8, BitOffset: 64},
		{Name: "name", Type: &symbols.Type{Kind: symbols.KindArray, Elem: char, Len: 56, Size: 56}, Offset: 0x18, BitOffset: 0xc0},
	}}
	types := symtest.NewTypes()
	for name, ty := range map[string]*symbols.Type{
		"struct task_struct":  task,
		"struct list_head":    listHead,
		"struct sched_entity": se,
		"struct mm_struct":    mm,
		"struct module":       module,
		"enum demo_state":     stateEnum,
		"task_struct":         task,
		"list_head":           listHead,
		"sched_entity":        se,
		"mm_struct":           mm,
		"module":              module,
		"demo_state":          stateEnum,
		"int":                 i32,
		"unsigned int":        u32,
		"u64":                 u64t,
		"char":                char,
		"long unsigned int":   ulong,
		"unsigned long":       ulong,
	} {
		types.Alias(name, ty)
	}
	types.AddVariable("jiffies", ulong)
	types.AddVariable("linux_banner", &symbols.Type{Kind: symbols.KindArray, Elem: char, Len: 64, Size: 64})
	syms := symtest.NewSymbols(
		symbols.Symbol{Name: "_stext", Addr: TextBase, Type: 'T', Size: 0x10},
		symbols.Symbol{Name: "do_exit", Addr: TextBase + 0x100, Type: 'T', Size: 0x40},
		symbols.Symbol{Name: "schedule", Addr: TextBase + 0x200, Type: 'T', Size: 0x40},
		symbols.Symbol{Name: "ibt_func", Addr: TextBase + 0x300, Type: 'T', Size: 5},
		symbols.Symbol{Name: "jiffies", Addr: JiffiesAddr, Type: 'D', Size: 8},
		symbols.Symbol{Name: "modules", Addr: ModulesAddr, Type: 'd', Size: 16},
		symbols.Symbol{Name: "linux_banner", Addr: BannerAddr, Type: 'R', Size: 64},
		symbols.Symbol{Name: "init_task", Addr: InitTaskAddr, Type: 'D', Size: 0x100},
	)
	mem := symtest.NewMemory()
	mem.SetDirectMap(PageOffset)
	k := &Kernel{Mem: mem}
	// Text: do_exit is "push rbp; mov rbp,rsp; call schedule; pop rbp; ret".
	code := []byte{0x55, 0x48, 0x89, 0xe5, 0xe8, 0, 0, 0, 0, 0x5d, 0xc3}
	rel := int32((TextBase + 0x200) - (TextBase + 0x100 + 9))
	binary.LittleEndian.PutUint32(code[5:], uint32(rel))
	mem.Write(TextBase+0x100, code)
	mem.Write(TextBase+0x200, []byte{0xc3})
	// ibt_func starts with an IBT landing pad: endbr64; ret.
	mem.Write(TextBase+0x300, []byte{0xf3, 0x0f, 0x1e, 0xfa, 0xc3})
	mem.WriteU64(JiffiesAddr, Jiffies)
	mem.Write(BannerAddr, []byte("Linux version 6.1.0-synthetic (kwalk@test) #1 SMP\n\x00"))

	k.Tasks = []Task{
		{Addr: InitTaskAddr, PID: 0, Comm: "swapper/0", State: 0},
		{Addr: TaskBase, PID: 1, Comm: "init", State: 1},
		{Addr: TaskBase + 0x1000, PID: 42, Comm: "hangfs", State: 2},
	}
	for i, t := range k.Tasks {
		next := k.Tasks[(i+1)%len(k.Tasks)].Addr + 0x10
		prev := k.Tasks[(i+len(k.Tasks)-1)%len(k.Tasks)].Addr + 0x10
		mem.WriteU32(t.Addr, t.State)
		mem.WriteU32(t.Addr+4, uint32(i%2))
		mem.WriteU64(t.Addr+0x10, next)
		mem.WriteU64(t.Addr+0x18, prev)
		mem.WriteU64(t.Addr+0x20, uint64(1000*(i+1)))
		mem.WriteU32(t.Addr+0x38, uint32(t.PID))
		mem.WriteU32(t.Addr+0x78, uint32(t.PID))
		if t.PID == 0 {
			mem.WriteU32(t.Addr+0x7c, 0x00200000) // PF_KTHREAD
		}
		comm := make([]byte, 16)
		copy(comm, t.Comm)
		mem.Write(t.Addr+0x40, comm)
		mem.WriteU64(t.Addr+0x50, TextBase+0x100)
		mem.WriteU64(t.Addr+0x70, InitTaskAddr)
		if t.PID > 0 {
			mem.WriteU64(t.Addr+0x30, t.Addr+0x800) // mm
			mem.WriteU64(t.Addr+0x800, 1234)
		}
		mem.WriteU32(t.Addr+0x68, 5<<3)
	}
	// One module, "demo_mod".
	mem.WriteU64(ModulesAddr, ModuleAddr+8)
	mem.WriteU64(ModulesAddr+8, ModuleAddr+8)
	mem.WriteU64(ModuleAddr+8, ModulesAddr)
	mem.WriteU64(ModuleAddr+16, ModulesAddr)
	mem.Write(ModuleAddr+0x18, []byte("demo_mod\x00"))

	k.Prog = symbols.NewProgram(mem, syms, types)
	k.Prog.Warnings = []string{"synthetic kernel: no dump"}
	return k
}
