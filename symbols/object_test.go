package symbols_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// A miniature task_struct: enough shape to exercise every Object path.
func miniKernel(t *testing.T) (*symbols.Program, *symtest.Memory) {
	t.Helper()
	mem := symtest.NewMemory()
	ty := symtest.NewTypes()
	task := ty.Declare("task_struct")
	lh := ty.Declare("list_head")
	ty.Struct("list_head", 16, symtest.F("next", ty.Ptr(lh), 0), symtest.F("prev", ty.Ptr(lh), 8))
	upid := ty.Struct("upid", 16, symtest.F("nr", ty.Get("int"), 0), symtest.F("ns", ty.Ptr(nil), 8))
	pid := ty.Struct("pid", 24, symtest.F("level", ty.Get("unsigned int"), 4), symtest.F("numbers", ty.Array(upid, 1), 8))
	anon := &symbols.Type{Kind: symbols.KindUnion, Size: 8, Members: []symbols.Member{
		symtest.F("__state", ty.Get("unsigned int"), 0), symtest.F("state_word", ty.Get("long"), 0),
	}}
	ty.Struct("task_struct", 96,
		symtest.F("", anon, 0),
		symtest.Bits("sched_reset_on_fork", ty.Get("unsigned int"), 64+1, 1),
		symtest.Bits("prio_bits", ty.Get("int"), 64+2, 3),
		symtest.F("tasks", lh, 16),
		symtest.F("thread_pid", ty.Ptr(pid), 32),
		symtest.F("comm", ty.Array(ty.Get("char"), 16), 40),
		symtest.F("parent", ty.Ptr(task), 56),
		symtest.F("name", ty.Ptr(ty.Get("char")), 64),
	)
	const taskAddr, pidAddr, strAddr = 0xffff888000001000, 0xffff888000002000, 0xffff888000003ff8
	mem.WriteU32(taskAddr, 0x402)
	mem.Write(taskAddr+8, []byte{0x02 | 0x4<<2}) // bit 65 set; prio_bits (bits 66-68) = 0b100 → -4
	mem.WriteU64(taskAddr+16, taskAddr+16)
	mem.WriteU64(taskAddr+24, taskAddr+16)
	mem.WriteU64(taskAddr+32, pidAddr)
	mem.Write(taskAddr+40, []byte("swapper/0\x00junkjun"))
	mem.WriteU64(taskAddr+56, taskAddr)
	mem.WriteU64(taskAddr+64, strAddr)
	mem.WriteString(strAddr, "crosses a page")
	mem.WriteU32(pidAddr+4, 0)
	mem.WriteU32(pidAddr+8, 42)
	syms := symtest.NewSymbols(symbols.Symbol{Name: "init_task", Addr: taskAddr, Type: 'D'})
	return symtest.Program(mem, ty, syms), mem
}

func TestObjectMembers(t *testing.T) {
	prog, _ := miniKernel(t)
	task, err := prog.Variable("init_task")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want uint64
	}{
		{"__state", 0x402}, // through an anonymous union
		{"sched_reset_on_fork", 1},
		{"prio_bits", uint64(0xfffffffffffffffc)}, // signed bitfield -4
		{"thread_pid->numbers[0].nr", 42},
		{"thread_pid.level", 0},
		{"parent.parent.thread_pid.numbers[0].nr", 42},
		{"tasks.next", 0xffff888000001010},
	}
	for _, tc := range tests {
		got, err := task.MemberUint(tc.path)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s = %#x, want %#x", tc.path, got, tc.want)
		}
	}
	if s, err := task.MemberString("comm"); err != nil || s != "swapper/0" {
		t.Errorf("comm = %q, %v", s, err)
	}
	if s, err := task.MemberString("name"); err != nil || s != "crosses a page" {
		t.Errorf("name = %q, %v", s, err)
	}
}

func TestObjectErrorsNameThePath(t *testing.T) {
	prog, mem := miniKernel(t)
	task, _ := prog.Variable("init_task")
	mem.WriteU64(task.Addr()+32, 0xdead000000000000) // garbage thread_pid
	_, err := task.MemberUint("thread_pid.level")
	var re *kcore.ReadError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "init_task.thread_pid") {
		t.Errorf("garbage pointer error = %v; want a ReadError naming init_task.thread_pid", err)
	}
	if _, err := task.Member("no_such"); !errors.Is(err, symbols.ErrNoMember) || !strings.Contains(err.Error(), "no_such") {
		t.Errorf("missing member error = %v", err)
	}
	if _, err := prog.Object("struct nope", 0x1000); !errors.Is(err, symbols.ErrNoType) {
		t.Errorf("missing type error = %v", err)
	}
	if _, err := task.Member("comm[99]"); err == nil {
		t.Error("out-of-bounds index succeeded")
	}
	mem.WriteU64(task.Addr()+32, 0)
	if _, err := task.Member("thread_pid.level"); err == nil || !strings.Contains(err.Error(), "NULL") {
		t.Errorf("NULL deref error = %v", err)
	}
	if _, err := task.Member("a..b["); err == nil {
		t.Error("malformed path accepted")
	}
}

func TestContainerOfAndOffsets(t *testing.T) {
	prog, _ := miniKernel(t)
	task, _ := prog.Variable("init_task")
	next, _ := task.Member("tasks.next")
	back, err := next.ContainerOf("struct task_struct", "tasks")
	if err != nil {
		t.Fatal(err)
	}
	if back.Addr() != task.Addr() {
		t.Errorf("container_of = %#x, want %#x", back.Addr(), task.Addr())
	}
	off, err := prog.OffsetOf("struct task_struct", "thread_pid")
	if err != nil || off != 32 {
		t.Errorf("offsetof thread_pid = %d, %v", off, err)
	}
	if off, err := prog.OffsetOf("struct pid", "numbers[0].nr"); err != nil || off != 8 {
		t.Errorf("offsetof numbers[0].nr = %d, %v", off, err)
	}
	if _, err := prog.OffsetOf("struct task_struct", "sched_reset_on_fork"); err == nil {
		t.Error("offsetof a bitfield succeeded")
	}
	if sz, err := prog.SizeOf("task_struct"); err != nil || sz != 96 {
		t.Errorf("sizeof = %d, %v", sz, err)
	}
}

func TestCastAndValues(t *testing.T) {
	prog, _ := miniKernel(t)
	task, _ := prog.Variable("init_task")
	p, err := prog.Pointer("struct task_struct", task.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if s, err := p.MemberString("comm"); err != nil || s != "swapper/0" {
		t.Errorf("comm via pointer value = %q, %v", s, err)
	}
	raw, err := task.Member("tasks.next")
	if err != nil {
		t.Fatal(err)
	}
	asLong, err := raw.Cast("unsigned long")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := asLong.Uint(); v != task.Addr()+16 {
		t.Errorf("cast value = %#x", v)
	}
	if _, ok := p.Address(); ok {
		t.Error("a value claims an address")
	}
}
