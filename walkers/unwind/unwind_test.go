package unwind

import (
	"encoding/binary"
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// A synthetic x86_64 kernel: text, ORC tables, a task and its stack.
const (
	tText      = 0xffffffff81000000
	tORCIP     = 0xffffffff82000000
	tORC       = 0xffffffff82100000
	tTask      = 0xffff888000100000
	tStack     = 0xffffc90000010000
	tModText   = 0xffffffffc0000000
	tModORCIP  = 0xffffffffc0100000
	tModORC    = 0xffffffffc0101000
	tModStruct = 0xffff888000200000
	tModules   = 0xffffffff83000000
)

type fn struct {
	name string
	addr uint64
	size uint64
}

type orcRow struct {
	ip           uint64
	spReg, bpReg int
	spOff, bpOff int16
	typ          int // v3 numbering: 0 undef, 1 end, 2 call, 3 regs, 4 partial
	signal       bool
}

// encode builds the 6 bytes of an entry in format f.
func (r orcRow) encode(f orcFormat) []byte {
	b := make([]byte, 6)
	binary.LittleEndian.PutUint16(b[0:], uint16(r.spOff))
	binary.LittleEndian.PutUint16(b[2:], uint16(r.bpOff))
	sp, bp := r.spReg, r.bpReg
	if f == orcV4 {
		sp, bp = v4Reg[sp], v4Reg[bp]
	}
	bits := uint16(sp&0xf) | uint16(bp&0xf)<<4
	switch f {
	case orcV1, orcV2:
		var t, end uint16
		switch r.typ {
		case 1:
			end = 1
		case 2:
			t = 0
		case 3:
			t = 1
		case 4:
			t = 2
		}
		bits |= t << 8
		if f == orcV1 {
			bits |= end << 10
		} else {
			bits |= end << 11
			if r.signal {
				bits |= 1 << 10
			}
		}
	default:
		bits |= uint16(r.typ) << 8
		if r.signal {
			bits |= 1 << 11
		}
	}
	binary.LittleEndian.PutUint16(b[4:], bits)
	return b
}

// v1..v3 register numbers; encode translates them for v4.
const (
	rUndef  = 0
	rPrevSP = 1
	rBP     = 4
	rSP     = 5
)

// v4Reg maps a v1..v3 register number to 7.1's numbering.
var v4Reg = map[int]int{0: 0, 1: 8, 2: 2, 3: 5, 4: 4, 5: 3, 6: 6, 7: 7, 8: 10, 9: 9}

type kernel struct {
	*symtest.Kernel
}

func newKernel(f orcFormat) *kernel {
	k := &kernel{symtest.NewKernel()}
	ul := k.Types.Get("unsigned long")
	ptr := k.Types.Ptr(nil)
	intT := k.Types.Get("int")
	thread := k.Types.Struct("thread_struct", 16, symtest.F("sp", ul, 8))
	k.Types.Struct("task_struct", 256,
		symtest.F("stack", ptr, 32), symtest.F("cpu", intT, 40),
		symtest.F("thread", thread, 128), symtest.F("comm", k.Types.Array(k.Types.Get("char"), 16), 200))
	var ms []symbols.Member
	for i, n := range []string{"r15", "r14", "r13", "r12", "bx", "bp", "ret_addr"} {
		ms = append(ms, symtest.F(n, ul, uint64(i)*8))
	}
	k.Types.Struct("inactive_task_frame", 56, ms...)
	ms = nil
	for r := Reg(0); r < numPtRegs; r++ {
		ms = append(ms, symtest.F(r.String(), ul, uint64(r)*8))
	}
	k.Types.Struct("pt_regs", 168, ms...)
	u := k.Types.Get("unsigned int")
	s16 := k.Types.Get("s16")
	oe := []symbols.Member{symtest.F("sp_offset", s16, 0), symtest.F("bp_offset", s16, 2),
		symtest.Bits("sp_reg", u, 32, 4), symtest.Bits("bp_reg", u, 36, 4)}
	switch f {
	case orcV1:
		oe = append(oe, symtest.Bits("type", u, 40, 2), symtest.Bits("end", u, 42, 1))
	case orcV2:
		oe = append(oe, symtest.Bits("type", u, 40, 2), symtest.Bits("signal", u, 42, 1), symtest.Bits("end", u, 43, 1))
	default:
		oe = append(oe, symtest.Bits("type", u, 40, 3), symtest.Bits("signal", u, 43, 1))
	}
	k.Types.Struct("orc_entry", 6, oe...)
	lh := k.ListHead
	arch := k.Types.Struct("mod_arch_specific", 24,
		symtest.F("num_orcs", u, 0), symtest.F("orc_unwind_ip", k.Types.Ptr(intT), 8), symtest.F("orc_unwind", ptr, 16))
	layout := k.Types.Struct("module_layout", 16,
		symtest.F("base", ptr, 0), symtest.F("size", u, 8), symtest.F("text_size", u, 12))
	k.Types.Struct("module", 256, symtest.F("list", lh, 8), symtest.F("name", k.Types.Array(k.Types.Get("char"), 56), 24),
		symtest.F("arch", arch, 128), symtest.F("core_layout", layout, 160))
	return k
}

func (k *kernel) sym(name string, addr, size uint64, typ byte) { k.Syms.Add(name, addr, size, typ) }

// writeORC writes an ORC table (rows sorted by ip) at ipAddr/orcAddr.
func (k *kernel) writeORC(f orcFormat, ipAddr, orcAddr uint64, rows []orcRow) {
	for i, r := range rows {
		a := ipAddr + 4*uint64(i)
		k.Mem.WriteU32(a, uint32(int32(int64(r.ip-a))))
		k.Mem.Write(orcAddr+6*uint64(i), r.encode(f))
	}
}

// vmlinuxORC writes vmlinux's ORC table at tORCIP/tORC with the symbols
// bounding it.
func (k *kernel) vmlinuxORC(f orcFormat, rows []orcRow) {
	k.writeORC(f, tORCIP, tORC, rows)
	k.sym("__start_orc_unwind_ip", tORCIP, 0, 'D')
	k.sym("__stop_orc_unwind_ip", tORCIP+4*uint64(len(rows)), 0, 'D')
	k.sym("__start_orc_unwind", tORC, 0, 'D')
	k.sym("__stop_orc_unwind", tORC+6*uint64(len(rows)), 0, 'D')
}

// mapStack makes the task stack [tStack, top) readable (a zero at the
// start of each page: call it before writing frames) and returns top.
func (k *kernel) mapStack() uint64 {
	top := uint64(tStack + defaultThreadSize)
	for a := uint64(tStack); a < top; a += 4096 {
		k.Mem.WriteU64(a, 0)
	}
	return top
}

func (k *kernel) program() *symbols.Program {
	return symtest.Program(k.Mem, k.Types, k.Syms)
}

// userTask builds a sleeping user task: __schedule <- schedule <- do_thing
// <- do_syscall_64 <- entry_SYSCALL_64 (pt_regs at the top of the stack).
// do_thing keeps a frame pointer (bp saved at CFA-16).
func userTask(t *testing.T, f orcFormat) (*symbols.Program, []string) {
	k := newKernel(f)
	funcs := []fn{
		{"__schedule", tText + 0x1000, 0x300},
		{"schedule", tText + 0x1300, 0x80},
		{"do_thing", tText + 0x1400, 0x100},
		{"do_syscall_64", tText + 0x1500, 0x90},
		{"entry_SYSCALL_64", tText + 0x2000, 0x100},
		{"filler", tText + 0x3000, 0x10},
	}
	for _, fn := range funcs {
		k.sym(fn.name, fn.addr, fn.size, 'T')
	}
	frameSize := []uint64{0x40, 0x10, 0x30, 0x10}
	rows := []orcRow{
		{ip: tText, typ: 1}, // start of text: end of stack (terminator)
		{ip: funcs[0].addr, spReg: rSP, spOff: int16(frameSize[0]), typ: 2},
		{ip: funcs[1].addr, spReg: rSP, spOff: int16(frameSize[1]), typ: 2},
		{ip: funcs[2].addr, spReg: rSP, spOff: int16(frameSize[2]), bpReg: rPrevSP, bpOff: -16, typ: 2},
		{ip: funcs[3].addr, spReg: rSP, spOff: int16(frameSize[3]), typ: 2},
		{ip: funcs[4].addr, spReg: rSP, spOff: 0, typ: 3},
		{ip: funcs[5].addr, typ: 0},
	}
	// Plenty of ordinary entries so format detection has data.
	for i := 0; i < 64; i++ {
		rows = append(rows, orcRow{ip: tText + 0x4000 + uint64(i)*16, spReg: rSP, spOff: 8, typ: 2})
	}
	k.vmlinuxORC(f, rows)

	top := k.mapStack()
	ptregs := top - 168
	for r := Reg(0); r < numPtRegs; r++ {
		k.Mem.WriteU64(ptregs+uint64(r)*8, 0x1000+uint64(r))
	}
	k.Mem.WriteU64(ptregs+uint64(RegCS)*8, 0x33)
	k.Mem.WriteU64(ptregs+uint64(RegIP)*8, 0x7f0000001234)
	k.Mem.WriteU64(ptregs+uint64(RegOrigAX)*8, 87)
	// Return addresses, outermost first.
	ret := []uint64{funcs[0].addr + 0x2f5, funcs[1].addr + 0x3e, funcs[2].addr + 0x55, funcs[3].addr + 0x5d, funcs[4].addr + 0x6e}
	cfa := ptregs
	sp := make([]uint64, 4)
	for i := 3; i >= 0; i-- {
		k.Mem.WriteU64(cfa-8, ret[i+1])
		sp[i] = cfa - frameSize[i]
		cfa = sp[i]
	}
	// do_thing saved the caller's bp at its CFA-16.
	k.Mem.WriteU64(sp[2]+frameSize[2]-16, 0xbeef0)
	tsp := sp[0] - 56
	for i := uint64(0); i < 6; i++ {
		k.Mem.WriteU64(tsp+i*8, 0xaa00+i)
	}
	k.Mem.WriteU64(tsp+48, ret[0])
	k.sleepAt(tsp)
	k.Mem.WriteString(tTask+200, "rm")
	want := []string{"__schedule+0x2f5", "schedule+0x3e", "do_thing+0x55", "do_syscall_64+0x5d", "entry_SYSCALL_64+0x6e"}
	return k.program(), want
}

// sleepAt makes the task at tTask a sleeping one: its stack at tStack, its
// saved stack pointer (thread.sp) tsp, at the inactive_task_frame.
func (k *kernel) sleepAt(tsp uint64) {
	k.Mem.WriteU64(tTask+32, tStack)
	k.Mem.WriteU64(tTask+128+8, tsp)
}

// taskStack unwinds the task at tTask.
func taskStack(t *testing.T, p *symbols.Program) *Trace {
	t.Helper()
	tr, err := Stack(p, taskObj(t, p))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// wantFrames fails unless tr unwound without error to exactly want
// (frameNames, space-separated).
func wantFrames(t *testing.T, tr *Trace, want string) {
	t.Helper()
	if tr.Err != nil {
		t.Fatalf("unwind error: %v (frames %v)", tr.Err, frameNames(tr))
	}
	if got := strings.Join(frameNames(tr), " "); got != want {
		t.Fatalf("frames:\n got %s\nwant %s", got, want)
	}
}

func taskObj(t *testing.T, p *symbols.Program) symbols.Object {
	o, err := p.Object("struct task_struct", tTask)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func frameNames(tr *Trace) []string {
	var s []string
	for _, f := range tr.Frames {
		n := f.Name()
		if i := strings.IndexByte(n, '/'); i >= 0 {
			rest := n[i:]
			j := strings.IndexByte(rest, ' ')
			if j < 0 {
				j = len(rest)
			}
			n = n[:i] + rest[j:]
		}
		s = append(s, n)
	}
	return s
}

func TestUnwindSleepingUserTask(t *testing.T) {
	for _, f := range []orcFormat{orcV1, orcV2, orcV3, orcV4} {
		t.Run(f.String(), func(t *testing.T) {
			p, want := userTask(t, f)
			u, err := NewUnwinder(p)
			if err != nil {
				t.Fatal(err)
			}
			if u.orc == nil || u.orc.format != f {
				t.Fatalf("format: got %v (%v), want %v", u.ORCFormat(), u.orcErr, f)
			}
			tr, err := u.Stack(taskObj(t, p))
			if err != nil {
				t.Fatal(err)
			}
			if tr.Err != nil {
				t.Fatalf("unwind error: %v (frames %v)", tr.Err, frameNames(tr))
			}
			if got := strings.Join(frameNames(tr), " "); got != strings.Join(want, " ") {
				t.Fatalf("frames:\n got %s\nwant %s", got, strings.Join(want, " "))
			}
			if tr.UserRegs == nil || !tr.UserRegs.User {
				t.Fatalf("no user pt_regs at the top")
			}
			if v, _ := tr.UserRegs.Regs.Get(RegOrigAX); v != 87 {
				t.Errorf("orig_ax = %d, want 87", v)
			}
			if tr.UserRegs.Addr != tr.StackTop-168 {
				t.Errorf("pt_regs at %#x, want %#x", tr.UserRegs.Addr, tr.StackTop-168)
			}
			last := tr.Frames[len(tr.Frames)-1]
			if last.Exception != tr.UserRegs {
				t.Errorf("last frame does not carry the user pt_regs")
			}
			// Every frame's return-address slot holds its IP, and slots grow.
			for i, fr := range tr.Frames {
				if fr.SP <= tr.StackBase || fr.SP >= tr.StackTop {
					t.Errorf("frame %d slot %#x outside the stack", i, fr.SP)
				}
				if i > 0 && fr.SP <= tr.Frames[i-1].SP {
					t.Errorf("frame %d slot %#x not above the previous", i, fr.SP)
				}
				if fr.CFA != 0 && fr.CFA < fr.RSP {
					t.Errorf("frame %d: cfa %#x < rsp %#x", i, fr.CFA, fr.RSP)
				}
			}
			if bx, ok := tr.Frames[0].Regs.Get(RegBX); !ok || bx != 0xaa04 {
				t.Errorf("frame 0 rbx = %#x,%v; want 0xaa04 from the switch frame", bx, ok)
			}
			if bp, ok := tr.Frames[3].Regs.Get(RegBP); !ok || bp != 0xbeef0 {
				t.Errorf("frame 3 rbp = %#x,%v; want 0xbeef0 recovered through ORC", bp, ok)
			}
		})
	}
}

func TestUnwindModuleFrames(t *testing.T) {
	k := newKernel(orcV3)
	// vmlinux: schedule at the top; kthread calls a module function which
	// calls schedule. kthread's caller is ret_from_fork: end of stack.
	k.sym("schedule", tText+0x100, 0x80, 'T')
	k.sym("kthread", tText+0x200, 0x100, 'T')
	k.sym("ret_from_fork", tText+0x300, 0x30, 'T')
	k.sym("filler", tText+0x400, 0x10, 'T')
	rows := []orcRow{
		{ip: tText + 0x100, spReg: rSP, spOff: 16, typ: 2},
		{ip: tText + 0x200, spReg: rSP, spOff: 32, typ: 2},
		{ip: tText + 0x300, typ: 1},
		{ip: tText + 0x400, typ: 0},
	}
	for i := 0; i < 32; i++ {
		rows = append(rows, orcRow{ip: tText + 0x1000 + uint64(i)*16, spReg: rSP, spOff: 8, typ: 2})
	}
	k.vmlinuxORC(orcV3, rows)
	// Module "fuse": request_wait_answer.
	k.Syms.AddSymbol(symbols.Symbol{Name: "request_wait_answer", Addr: tModText + 0x40, Size: 0x2a0, Type: 't', Module: "fuse"})
	modRows := []orcRow{
		{ip: tModText, typ: 0},
		{ip: tModText + 0x40, spReg: rSP, spOff: 48, typ: 2},
		{ip: tModText + 0x2e0, typ: 0},
	}
	k.writeORC(orcV3, tModORCIP, tModORC, modRows)
	// A module loaded earlier, first on the list, whose table still has the
	// entries of its freed init text: their IPs surround fuse's text, where
	// the table must not answer (its entry there would end the unwind).
	const early = tModStruct + 0x1000
	earlyRows := []orcRow{
		{ip: tModText - 0x10000, spReg: rSP, spOff: 8, typ: 2},
		{ip: tModText - 0x10000 + 0x20, typ: 1},
		{ip: tModText + 0x100000, spReg: rSP, spOff: 8, typ: 2},
		{ip: tModText + 0x100000 + 0x80, typ: 0},
	}
	k.writeORC(orcV3, tModORCIP+0x800, tModORC+0x800, earlyRows)
	k.Mem.WriteU64(tModules, early+8)      // modules.next -> early.list
	k.Mem.WriteU64(early+8, tModStruct+8)  // early.list.next -> fuse.list
	k.Mem.WriteU64(tModStruct+8, tModules) // fuse.list.next -> modules
	k.Mem.WriteString(early+24, "grace")
	k.Mem.WriteU32(early+128, uint32(len(earlyRows)))
	k.Mem.WriteU64(early+136, tModORCIP+0x800)
	k.Mem.WriteU64(early+144, tModORC+0x800)
	k.Mem.WriteU64(early+160, tModText+0x100000)
	k.Mem.WriteU32(early+168, 0x1000)
	k.Mem.WriteU32(early+172, 0x100)
	k.Mem.WriteString(tModStruct+24, "fuse")
	k.Mem.WriteU32(tModStruct+128, uint32(len(modRows)))
	k.Mem.WriteU64(tModStruct+136, tModORCIP)
	k.Mem.WriteU64(tModStruct+144, tModORC)
	k.Mem.WriteU64(tModStruct+160, tModText)
	k.Mem.WriteU32(tModStruct+168, 0x2000)
	k.Mem.WriteU32(tModStruct+172, 0x1000)
	k.sym("modules", tModules, 16, 'D')

	top := k.mapStack()
	// kthread's frame ends 0x100 below the top; its return address is into ret_from_fork.
	cfaK := top - 0x100
	k.Mem.WriteU64(cfaK-8, tText+0x322)
	spK := cfaK - 32
	k.Mem.WriteU64(spK-8, tText+0x2da) // request_wait_answer returns into kthread
	spM := spK - 48
	k.Mem.WriteU64(spM-8, tModText+0x40+0x159) // schedule returns into request_wait_answer
	spS := spM - 16
	tsp := spS - 56
	k.Mem.WriteU64(tsp+48, tText+0x100+0x3e)
	k.sleepAt(tsp)
	p := k.program()
	tr := taskStack(t, p)
	wantFrames(t, tr, "schedule+0x3e request_wait_answer+0x159 [fuse] kthread+0xda ret_from_fork+0x22")
	if tr.Frames[1].Module != "fuse" {
		t.Errorf("module = %q", tr.Frames[1].Module)
	}
}

func TestUnwindFramePointerFallback(t *testing.T) {
	k := newKernel(orcV1)
	k.sym("a", tText+0x100, 0x100, 'T')
	k.sym("b", tText+0x200, 0x100, 'T')
	k.sym("c", tText+0x300, 0x100, 'T')
	top := k.mapStack()
	// Frame records: [bp] = caller's bp, [bp+8] = return address.
	bpC := top - 0x200
	k.Mem.WriteU64(bpC, 0)
	k.Mem.WriteU64(bpC+8, 0)
	bpB := bpC - 0x40
	k.Mem.WriteU64(bpB, bpC)
	k.Mem.WriteU64(bpB+8, tText+0x310)
	bpA := bpB - 0x40
	k.Mem.WriteU64(bpA, bpB)
	k.Mem.WriteU64(bpA+8, tText+0x220)
	tsp := bpA - 0x20 - 56
	k.Mem.WriteU64(tsp+40, bpA)
	k.Mem.WriteU64(tsp+48, tText+0x150)
	k.sleepAt(tsp)
	p := k.program()
	tr := taskStack(t, p)
	if tr.Method != "frame pointers" {
		t.Errorf("method %q", tr.Method)
	}
	got := strings.Join(frameNames(tr), " ")
	if !strings.HasPrefix(got, "a+0x50 b+0x20 c+0x10") {
		t.Fatalf("frames %s (err %v)", got, tr.Err)
	}
	if got != "a+0x50 b+0x20 c+0x10" || tr.Err != nil {
		t.Errorf("frames %s, err %v: want a clean end at the zero frame", got, tr.Err)
	}
}

// TestUnwindGarbage feeds random stacks: the unwinder must stop with an
// error, never panic or loop.
func TestUnwindGarbage(t *testing.T) {
	p, _ := userTask(t, orcV1)
	mem := p.Mem.(*symtest.Memory)
	rng := rand.New(rand.NewSource(1))
	for iter := 0; iter < 200; iter++ {
		for a := uint64(tStack); a < tStack+defaultThreadSize; a += 8 {
			v := rng.Uint64()
			switch rng.Intn(4) {
			case 0:
				v = tText + uint64(rng.Intn(0x5000))
			case 1:
				v = tStack + uint64(rng.Intn(defaultThreadSize))
			}
			mem.WriteU64(a, v)
		}
		mem.WriteU64(tTask+128+8, tStack+uint64(rng.Intn(defaultThreadSize)))
		u, err := NewUnwinder(p)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := u.Stack(taskObj(t, p))
		if err != nil {
			continue
		}
		if len(tr.Frames) > MaxFrames {
			t.Fatalf("%d frames", len(tr.Frames))
		}
	}
}

func TestStackNotATask(t *testing.T) {
	p, _ := userTask(t, orcV1)
	o, _ := p.Object("struct pt_regs", tTask)
	if _, err := Stack(p, o); !errors.Is(err, errNotTask) {
		t.Fatalf("err = %v", err)
	}
}

func TestORCFormatFromSamplesWithoutBTF(t *testing.T) {
	for _, f := range []orcFormat{orcV1, orcV3, orcV4} {
		var samples [][]byte
		for i := 0; i < 100; i++ {
			r := orcRow{spReg: rSP, spOff: int16(8 + 8*(i%5)), typ: 2}
			samples = append(samples, r.encode(f))
		}
		best, bestScore := orcFormat(0), -1
		for _, c := range []orcFormat{orcV1, orcV3, orcV4} {
			s := 0
			for _, b := range samples {
				if c.decode(b).plausibleCall() {
					s++
				}
			}
			if s > bestScore {
				best, bestScore = c, s
			}
		}
		if best != f {
			t.Errorf("%v detected as %v", f, best)
		}
	}
}

// TestSPIndirect covers both meanings of ORC_REG_SP_INDIRECT: *(sp)+off
// since 5.12 and *(sp+off) before.
func TestSPIndirect(t *testing.T) {
	mem := symtest.NewMemory()
	const base = 0xffffc90000020000
	for a := uint64(base); a < base+defaultThreadSize; a += 4096 {
		mem.WriteU64(a, 0)
	}
	sm := &stackMem{mem: mem}
	sm.add(base, base+defaultThreadSize, StackTask, "task stack")
	c := &unwindCore{mem: sm}
	sp := uint64(base + 0x100)
	for _, tc := range []struct {
		name    string
		atSP    uint64 // word at sp
		atSPOff uint64 // word at sp+off
		off     uint64
		want    uint64
	}{
		{"offset 0", base + 0x2000, 0, 0, base + 0x2000},
		{"new rule", base + 0x2000, 0xdead, 8, base + 0x2008},
		{"old rule", 0xdead, base + 0x3000, 16, base + 0x3000},
	} {
		mem.WriteU64(sp, tc.atSP)
		mem.WriteU64(sp+tc.off, tc.atSPOff)
		if tc.off == 0 {
			mem.WriteU64(sp, tc.atSP)
		}
		sm.regions[0].loaded = false
		got, err := c.spIndirect(&unwState{sp: sp}, tc.off)
		if err != nil || got != tc.want {
			t.Errorf("%s: %#x, %v; want %#x", tc.name, got, err, tc.want)
		}
	}
}

// TestUnwindFramePointerToUserRegs: without ORC, a frame chain whose last
// frame returns into the syscall entry ends at the user pt_regs.
func TestUnwindFramePointerToUserRegs(t *testing.T) {
	k := newKernel(orcV1)
	k.sym("a", tText+0x100, 0x100, 'T')
	k.sym("do_syscall_64", tText+0x200, 0x100, 'T')
	k.sym("entry_SYSCALL_64_after_hwframe", tText+0x300, 0x100, 'T')
	top := k.mapStack()
	ptregs := top - 168
	k.Mem.WriteU64(ptregs+uint64(RegCS)*8, 0x33)
	k.Mem.WriteU64(ptregs+uint64(RegIP)*8, 0x401000)
	bpD := ptregs - 16 // do_syscall_64: [bp] = 0 (cleared rbp), [bp+8] = into the entry
	k.Mem.WriteU64(bpD, 0)
	k.Mem.WriteU64(bpD+8, tText+0x36e)
	bpA := bpD - 0x40
	k.Mem.WriteU64(bpA, bpD)
	k.Mem.WriteU64(bpA+8, tText+0x25d)
	tsp := bpA - 0x20 - 56
	k.Mem.WriteU64(tsp+40, bpA)
	k.Mem.WriteU64(tsp+48, tText+0x150)
	k.sleepAt(tsp)
	p := k.program()
	tr := taskStack(t, p)
	got := strings.Join(frameNames(tr), " ")
	if got != "a+0x50 do_syscall_64+0x5d entry_SYSCALL_64_after_hwframe+0x6e" || tr.Err != nil || tr.UserRegs == nil {
		t.Fatalf("frames %s, err %v, user regs %v", got, tr.Err, tr.UserRegs)
	}
}

// TestUnwindScanPastORCGap: the saved IP lies where ORC has no data (as
// the registers crash_setup_regs saves in __crash_kexec); the unwind
// resumes at the first return address above the stack pointer that comes
// after a call and from which ORC unwinds cleanly, and says so.
func TestUnwindScanPastORCGap(t *testing.T) {
	p, want := userTask(t, orcV3)
	// A call instruction before every return address of the stack.
	for _, ret := range []uint64{tText + 0x1000 + 0x2f5, tText + 0x1300 + 0x3e, tText + 0x1400 + 0x55, tText + 0x1500 + 0x5d, tText + 0x2000 + 0x6e} {
		mustWrite(t, p, ret-5, []byte{0xe8, 0, 0, 0, 0})
	}
	// The sleeping task's first return address is replaced by one in
	// "filler", whose ORC type is undefined; a decoy text address with no
	// call before it sits just above it.
	tsp, err := taskObj(t, p).MemberUint("thread.sp")
	if err != nil {
		t.Fatal(err)
	}
	mustWriteU64(t, p, tsp+48, tText+0x3000+8)
	mustWriteU64(t, p, tsp+40, tText+0x1400+0x10)
	tr := taskStack(t, p)
	if tr.Err != nil {
		t.Fatalf("unwind error: %v (frames %v)", tr.Err, frameNames(tr))
	}
	got := frameNames(tr)
	if tr.Scanned == "" || len(got) < 2 || !strings.HasPrefix(got[0], "filler") {
		t.Fatalf("frames %v, scanned %q: want filler, then a scan", got, tr.Scanned)
	}
	if !tr.Frames[1].Scan {
		t.Errorf("frame 1 %s not marked Scan", got[1])
	}
	if strings.Join(got[len(got)-len(want)+1:], " ") != strings.Join(want[1:], " ") {
		t.Errorf("frames %v, want filler then %v", got, want[1:])
	}
}

func mustWrite(t *testing.T, p *symbols.Program, addr uint64, b []byte) {
	t.Helper()
	w, ok := p.Mem.(interface{ Write(uint64, []byte) })
	if !ok {
		t.Skip("memory not writable")
	}
	w.Write(addr, b)
}

func mustWriteU64(t *testing.T, p *symbols.Program, addr, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	mustWrite(t, p, addr, b[:])
}
