package walktest

import (
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// LockFixture is a synthetic kernel with 6.1-like lock, task and FUSE
// types (offsets chosen freely; walkers must take them from the types).
type LockFixture struct {
	T     testing.TB
	Mem   *symtest.Memory
	Types *symtest.Types
	syms  []symbols.Symbol
	Next  uint64
}

const FixtureBase = 0xffff888000100000

func NewLockFixture(t testing.TB, firstWaiter bool) *LockFixture {
	f := &LockFixture{T: t, Mem: symtest.NewMemory(), Types: symtest.NewTypes(), Next: FixtureBase}
	ty := f.Types
	u64, u32, i32 := ty.Get("u64"), ty.Get("u32"), ty.Get("int")
	ulong := ty.Get("unsigned long")
	lh := ty.Declare("list_head")
	ty.Struct("list_head", 16, symtest.F("next", ty.Ptr(lh), 0), symtest.F("prev", ty.Ptr(lh), 8))
	atomicLong := ty.Add(&symbols.Type{Kind: symbols.KindTypedef, Name: "atomic_long_t", Size: 8,
		Elem: &symbols.Type{Kind: symbols.KindStruct, Size: 8, Members: []symbols.Member{symtest.F("counter", ty.Get("s64"), 0)}}})
	atomicT := ty.Add(&symbols.Type{Kind: symbols.KindTypedef, Name: "atomic_t", Size: 4,
		Elem: &symbols.Type{Kind: symbols.KindStruct, Size: 4, Members: []symbols.Member{symtest.F("counter", i32, 0)}}})
	task := ty.Declare("task_struct")
	ty.Struct("task_struct", 512,
		symtest.F("__state", u32, 24), symtest.F("stack", ty.Ptr(nil), 32), symtest.F("flags", u32, 44),
		symtest.F("pid", i32, 100), symtest.F("tgid", i32, 104), symtest.F("group_leader", ty.Ptr(task), 112),
		symtest.F("comm", ty.Array(ty.Get("char"), 16), 200))
	if firstWaiter {
		mw := ty.Declare("mutex_waiter")
		ty.Struct("mutex", 40, symtest.F("owner", atomicLong, 0), symtest.F("first_waiter", ty.Ptr(mw), 16))
		rw := ty.Declare("rwsem_waiter")
		ty.Struct("rw_semaphore", 40, symtest.F("count", atomicLong, 0), symtest.F("owner", atomicLong, 8), symtest.F("first_waiter", ty.Ptr(rw), 24))
	} else {
		ty.Struct("mutex", 40, symtest.F("owner", atomicLong, 0), symtest.F("wait_list", lh, 16))
		ty.Struct("rw_semaphore", 40, symtest.F("count", atomicLong, 0), symtest.F("owner", atomicLong, 8), symtest.F("wait_list", lh, 24))
	}
	ty.Struct("mutex_waiter", 32, symtest.F("list", lh, 0), symtest.F("task", ty.Ptr(task), 16))
	wtype := ty.Add(&symbols.Type{Kind: symbols.KindEnum, Name: "rwsem_waiter_type", Size: 4,
		Enumerators: []symbols.Enumerator{{Name: "RWSEM_WAITING_FOR_WRITE", Value: 0}, {Name: "RWSEM_WAITING_FOR_READ", Value: 1}}})
	ty.Struct("rwsem_waiter", 48, symtest.F("list", lh, 0), symtest.F("task", ty.Ptr(task), 16), symtest.F("type", wtype, 24), symtest.F("timeout", ulong, 32))
	ty.Struct("semaphore", 32, symtest.F("count", u32, 4), symtest.F("wait_list", lh, 8))
	ty.Struct("semaphore_waiter", 32, symtest.F("list", lh, 0), symtest.F("task", ty.Ptr(task), 16))
	swh := ty.Struct("swait_queue_head", 24, symtest.F("task_list", lh, 8))
	ty.Struct("swait_queue", 24, symtest.F("task", ty.Ptr(task), 0), symtest.F("task_list", lh, 8))
	ty.Struct("completion", 32, symtest.F("done", u32, 0), symtest.F("wait", swh, 8))
	wqh := ty.Struct("wait_queue_head", 24, symtest.F("head", lh, 8))
	ty.Add(&symbols.Type{Kind: symbols.KindTypedef, Name: "wait_queue_head_t", Size: 24, Elem: wqh})
	wqe := ty.Struct("wait_queue_entry", 40, symtest.F("flags", u32, 0), symtest.F("private", ty.Ptr(nil), 8),
		symtest.F("func", ty.Ptr(nil), 16), symtest.F("entry", lh, 24))
	folio := ty.Declare("folio")
	ty.Struct("wait_page_queue", 56, symtest.F("folio", ty.Ptr(folio), 0), symtest.F("bit_nr", i32, 8), symtest.F("wait", wqe, 16))
	// FUSE
	fc := ty.Declare("fuse_conn")
	inh := ty.Struct("fuse_in_header", 40, symtest.F("len", u32, 0), symtest.F("opcode", u32, 4), symtest.F("unique", u64, 8),
		symtest.F("nodeid", u64, 16), symtest.F("uid", u32, 24), symtest.F("gid", u32, 28), symtest.F("pid", u32, 32))
	in := &symbols.Type{Kind: symbols.KindStruct, Size: 40, Members: []symbols.Member{symtest.F("h", inh, 0)}}
	fm := ty.Declare("fuse_mount")
	ty.Struct("fuse_req", 160, symtest.F("list", lh, 0), symtest.F("flags", ulong, 48), symtest.F("in", in, 56),
		symtest.F("waitq", wqh, 112), symtest.F("fm", ty.Ptr(fm), 136))
	iq := &symbols.Type{Kind: symbols.KindStruct, Size: 64, Members: []symbols.Member{symtest.F("connected", u32, 0), symtest.F("pending", lh, 40)}}
	ty.Struct("fuse_conn", 480, symtest.F("iq", iq, 72), symtest.F("max_background", u32, 224), symtest.F("num_background", u32, 232),
		symtest.F("active_background", u32, 236), symtest.F("bg_queue", lh, 240), symtest.F("initialized", u32, 260),
		symtest.F("blocked", u32, 264), symtest.F("connected", u32, 296), symtest.F("aborted", ty.Get("bool"), 300),
		symtest.F("num_waiting", atomicT, 320), symtest.F("entry", lh, 328), symtest.F("dev", u32, 344),
		symtest.F("devices", lh, 440), symtest.F("mounts", lh, 456))
	pq := &symbols.Type{Kind: symbols.KindStruct, Size: 32, Members: []symbols.Member{symtest.F("connected", u32, 0), symtest.F("processing", ty.Ptr(lh), 8), symtest.F("io", lh, 16)}}
	ty.Struct("fuse_dev", 56, symtest.F("fc", ty.Ptr(fc), 0), symtest.F("pq", pq, 8), symtest.F("entry", lh, 40))
	sb := ty.Declare("super_block")
	ty.Struct("fuse_mount", 48, symtest.F("fc", ty.Ptr(fc), 0), symtest.F("sb", ty.Ptr(sb), 8), symtest.F("fc_entry", lh, 16))
	fst := ty.Struct("file_system_type", 16, symtest.F("name", ty.Ptr(ty.Get("char")), 0))
	ty.Struct("super_block", 256, symtest.F("s_list", lh, 0), symtest.F("s_dev", u32, 16), symtest.F("s_type", ty.Ptr(fst), 40),
		symtest.F("s_fs_info", ty.Ptr(nil), 128), symtest.F("s_id", ty.Array(ty.Get("char"), 32), 136))
	_ = u64
	return f
}

// Alloc returns a fresh zeroed, 64-byte aligned address for size bytes.
func (f *LockFixture) Alloc(size uint64) uint64 {
	a := f.Next
	f.Next += (size + 63) &^ 63
	f.Mem.Write(a, make([]byte, size))
	return a
}

func (f *LockFixture) off(typ, member string) uint64 {
	f.T.Helper()
	p := symtest.Program(f.Mem, f.Types, nil)
	o, err := p.OffsetOf(typ, member)
	if err != nil {
		f.T.Fatal(err)
	}
	return o
}

func (f *LockFixture) Task(pid int, comm string) uint64 {
	a := f.Alloc(512)
	f.Mem.WriteU32(a+100, uint32(pid))
	f.Mem.WriteU32(a+104, uint32(pid))
	f.Mem.WriteU64(a+112, a)
	f.Mem.WriteString(a+200, comm)
	return a
}

// List links nodes (addresses of list_head) into a circular list at head.
func (f *LockFixture) List(head uint64, nodes ...uint64) {
	all := append([]uint64{head}, nodes...)
	for i, n := range all {
		next := all[(i+1)%len(all)]
		prev := all[(i+len(all)-1)%len(all)]
		f.Mem.WriteU64(n, next)
		f.Mem.WriteU64(n+8, prev)
	}
}

// Waiter makes a waiter structure of typ for task, returning its address.
func (f *LockFixture) Waiter(typ string, task uint64) uint64 {
	size := uint64(64)
	a := f.Alloc(size)
	f.Mem.WriteU64(a+f.off(typ, "task"), task)
	return a
}

func (f *LockFixture) Prog(syms ...symbols.Symbol) *symbols.Program {
	return symtest.Program(f.Mem, f.Types, symtest.NewSymbols(append(f.syms, syms...)...))
}
