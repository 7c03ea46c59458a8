package unwind

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// taskStackLayout is what the unwinder needs of struct task_struct and the
// switch frame, decided once from the types.
type taskStackLayout struct {
	threadSize uint64
	// struct inactive_task_frame (arch/x86/include/asm/switch_to.h).
	frameSize, frameRetAddr, frameBP uint64
	frameRegs                        map[Reg]uint64
	// cpuMember is where task_struct keeps its CPU: thread_info.cpu since
	// 5.16 (bcf9033e5449), task_struct.cpu before (include/linux/sched.h).
	cpuMember string
	// Offsets in task_struct of stack, thread.sp and the CPU (cpuSize
	// bytes), read directly on the hot path; ok false when the types lack
	// them (the Object API then says what is missing).
	offStack, offThreadSP, offCPU, cpuSize uint64
	offsOK                                 bool
}

// taskWord reads a word member of task at a precomputed offset, or through
// the Object API (with its error messages) when offsets are unknown.
func (l *taskStackLayout) taskWord(task symbols.Object, off uint64, member string) (uint64, error) {
	if l.offsOK {
		if v, err := task.Prog().ReadU64(task.Addr() + off); err == nil {
			return v, nil
		}
	}
	return task.MemberUint(member)
}

// defaultThreadSize is THREAD_SIZE on x86_64 without KASAN: PAGE_SIZE << 2
// (arch/x86/include/asm/page_64_types.h).
const defaultThreadSize = 16 << 10

func newTaskStackLayout(p *symbols.Program) (*taskStackLayout, error) {
	l := &taskStackLayout{threadSize: defaultThreadSize, frameRegs: map[Reg]uint64{}}
	// union thread_union { struct task_struct task; unsigned long
	// stack[THREAD_SIZE/sizeof(long)]; } (include/linux/sched.h) gives
	// THREAD_SIZE, KASAN's doubling included.
	if t, err := p.Type("union thread_union"); err == nil {
		if m, ok := t.FindMember("stack"); ok {
			if sz := m.Type.Resolve().Size; sz >= 8<<10 && sz <= 256<<10 && sz&(sz-1) == 0 {
				l.threadSize = sz
			}
		}
	}
	// x86_64 layout, used when the type is missing: r15, r14, r13, r12,
	// bx, bp, ret_addr.
	names := []struct {
		name string
		reg  Reg
	}{{"r15", RegR15}, {"r14", RegR14}, {"r13", RegR13}, {"r12", RegR12}, {"bx", RegBX}, {"bp", RegBP}}
	for i, n := range names {
		l.frameRegs[n.reg] = uint64(i) * 8
	}
	l.frameBP, l.frameRetAddr, l.frameSize = 40, 48, 56
	if t, err := p.Type("struct inactive_task_frame"); err == nil && t.IsAggregate() {
		ret, ok1 := t.FindMember("ret_addr")
		bp, ok2 := t.FindMember("bp")
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("struct inactive_task_frame has no ret_addr/bp: %w", symbols.ErrNoMember)
		}
		l.frameRetAddr, l.frameBP, l.frameSize = ret.Offset, bp.Offset, t.Resolve().Size
		clear(l.frameRegs)
		for _, n := range names {
			if m, ok := t.FindMember(n.name); ok {
				l.frameRegs[n.reg] = m.Offset
			}
		}
	}
	l.cpuMember = "cpu"
	if t, err := p.Type("struct task_struct"); err == nil {
		if ti, ok := t.FindMember("thread_info"); ok && ti.Type.HasMember("cpu") {
			l.cpuMember = "thread_info.cpu"
		}
		o1, err1 := p.OffsetOfType(t, "stack")
		o2, err2 := p.OffsetOfType(t, "thread.sp")
		o3, err3 := p.OffsetOfType(t, l.cpuMember)
		var cpuSize uint64
		if err3 == nil {
			if m, ok := memberType(t, l.cpuMember); ok {
				cpuSize = m.Resolve().Size
			}
		}
		if err1 == nil && err2 == nil && err3 == nil && (cpuSize == 4 || cpuSize == 8) {
			l.offStack, l.offThreadSP, l.offCPU, l.cpuSize, l.offsOK = o1, o2, o3, cpuSize, true
		}
	}
	return l, nil
}

// stackBase returns task->stack.
func (l *taskStackLayout) stackBase(task symbols.Object) (uint64, error) {
	if !task.IsValid() {
		return 0, fmt.Errorf("stack of an invalid object: %w", errNotTask)
	}
	if rt := task.Type().Resolve(); rt == nil || rt.Name != "task_struct" {
		return 0, fmt.Errorf("%s is %s: %w", task.Path(), task.Type(), errNotTask)
	}
	base, err := l.taskWord(task, l.offStack, "stack")
	if err != nil {
		return 0, err
	}
	if base == 0 {
		return 0, fmt.Errorf("%s: task has no stack (task->stack is NULL: exited)", task.Path())
	}
	if base%4096 != 0 {
		return 0, fmt.Errorf("%s: task->stack %#x is not page aligned", task.Path(), base)
	}
	return base, nil
}

// ptRegsLayout holds the offset of each register in struct pt_regs
// (arch/x86/include/asm/ptrace.h), from the types when they have it.
type ptRegsLayout struct {
	off  [numPtRegs]uint64
	size uint64
}

func newPtRegsLayout(p *symbols.Program) *ptRegsLayout {
	l := &ptRegsLayout{size: uint64(numPtRegs) * 8}
	for r := Reg(0); r < numPtRegs; r++ {
		l.off[r] = uint64(r) * 8
	}
	t, err := p.Type("struct pt_regs")
	if err != nil || !t.IsAggregate() {
		return l
	}
	for r := Reg(0); r < numPtRegs; r++ {
		if m, ok := t.FindMember(r.String()); ok && m.BitSize == 0 {
			l.off[r] = m.Offset
		}
	}
	if sz := t.Resolve().Size; sz >= l.size {
		l.size = sz
	}
	return l
}

// memberType returns the type of a dotted member path of t.
func memberType(t *symbols.Type, path string) (*symbols.Type, bool) {
	cur := t
	for _, name := range strings.Split(path, ".") {
		m, ok := cur.FindMember(name)
		if !ok {
			return nil, false
		}
		cur = m.Type
	}
	return cur, true
}
