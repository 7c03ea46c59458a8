package unwind

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// flatMem is kernel memory of one range.
type flatMem struct {
	base uint64
	b    []byte
}

func (m *flatMem) ReadVirt(p []byte, addr uint64) error {
	if addr < m.base || addr-m.base+uint64(len(p)) > uint64(len(m.b)) {
		return &kcore.ReadError{Addr: addr, Err: kcore.ErrNotMapped}
	}
	copy(p, m.b[addr-m.base:])
	return nil
}

func (m *flatMem) ReadPhys(p []byte, addr uint64) error { return errors.New("no physical memory") }

func (m *flatMem) put(addr, v uint64) { binary.LittleEndian.PutUint64(m.b[addr-m.base:], v) }

func TestARM64FrameRecords(t *testing.T) {
	const (
		base    = 0xffff_8000_0830_0000
		size    = 16 << 10
		pac     = 0x003a_0000_0000_0000 // PAC bits in a signed return address
		text    = 0xffff_a42c_f800_0000
		regsOff = 0x100 // pt_regs at base+regsOff in the IRQ case
	)
	l := &arm64Layout{regsX: 0, regsSP: 31 * 8, regsPC: 32 * 8, regsPState: 33 * 8, regsFrame: 0x130, regsSize: 0x150, pacMask: defaultPACMask}
	// 6.13+ (7.2's arm64 pt_regs): stackframe is a struct
	// frame_record_meta at 0x128 whose type is at 0x138; pt_regs is 320
	// bytes, so the record at the stack's top is 8 bytes off 16.
	l7 := &arm64Layout{regsX: 0, regsSP: 31 * 8, regsPC: 32 * 8, regsPState: 33 * 8, regsFrame: 0x128, regsMetaType: 0x138, regsSize: 0x140, pacMask: 0xfff0_0000_0000_0000}
	for _, tc := range []struct {
		name      string
		build     func(m *flatMem) (pc, fp uint64)
		want      []uint64 // frame IPs
		user, exc bool
		err       bool
		layout    *arm64Layout // l when nil
	}{
		{"sleeping to EL0 entry", func(m *flatMem) (uint64, uint64) {
			top := uint64(base + size)
			regs := top - l.regsSize
			m.put(regs+l.regsPC, 0x44e03c) // user pc
			m.put(regs+l.regsPState, 0)    // EL0t
			fp2 := regs + l.regsFrame      // final record {0, 0}
			fp1 := uint64(base + 0x3e00)   // caller's record
			m.put(fp1, fp2)                // -> final record
			m.put(fp1+8, (text+0x200)&^defaultPACMask|pac|1<<55)
			fp0 := uint64(base + 0x3d00)
			m.put(fp0, fp1)
			m.put(fp0+8, (text+0x100)&^defaultPACMask|pac|1<<55)
			return text + 0x10, fp0
		}, []uint64{text + 0x10, text + 0x100, text + 0x200}, true, false, false, nil},
		{"IRQ in the kernel", func(m *flatMem) (uint64, uint64) {
			regs := uint64(base + regsOff)
			rec := regs + l.regsFrame
			outer := uint64(base + 0x3f00) // the interrupted code's record
			m.put(regs+l.regsPC, text+0x400)
			m.put(regs+29*8, outer)
			m.put(regs+l.regsSP, base+0x3000)
			m.put(regs+l.regsPState, 0x3c5) // EL1h
			m.put(rec, outer)
			m.put(rec+8, text+0x400)
			fp0 := uint64(base + 0x80)
			m.put(fp0, rec)
			m.put(fp0+8, (text+0x300)&^defaultPACMask|pac|1<<55)
			return text + 0x20, fp0
		}, []uint64{text + 0x20, text + 0x300, text + 0x400}, false, true, false, nil},
		{"meta: sleeping to EL0 entry", func(m *flatMem) (uint64, uint64) {
			top := uint64(base + size)
			regs := top - l7.regsSize
			m.put(regs+l7.regsPC, 0x44e03c)
			m.put(regs+l7.regsPState, 0)
			fp2 := regs + l7.regsFrame // {0, 0}, FRAME_META_TYPE_FINAL
			m.put(regs+l7.regsMetaType, frameMetaFinal)
			fp1 := uint64(base + 0x3e00)
			m.put(fp1, fp2)
			m.put(fp1+8, (text+0x200)&^l7.pacMask|0x0fa0_0000_0000_0000|1<<55)
			return text + 0x10, fp1
		}, []uint64{text + 0x10, text + 0x200}, true, false, false, l7},
		{"meta: IRQ in the kernel", func(m *flatMem) (uint64, uint64) {
			regs := uint64(base + regsOff)
			rec := regs + l7.regsFrame // {0, 0}, FRAME_META_TYPE_PT_REGS
			outer := uint64(base + 0x3f00)
			m.put(regs+l7.regsPC, text+0x400)
			m.put(regs+29*8, outer)
			m.put(regs+l7.regsSP, base+0x3000)
			m.put(regs+l7.regsPState, 0x3c5)
			m.put(regs+l7.regsMetaType, frameMetaPtRegs)
			m.put(outer+8, text+0x500)
			fp0 := uint64(base + 0x80)
			m.put(fp0, rec)
			m.put(fp0+8, text+0x300)
			return text + 0x20, fp0
		}, []uint64{text + 0x20, text + 0x300, text + 0x400, text + 0x500}, false, true, false, l7},
		{"meta: kernel thread's final record", func(m *flatMem) (uint64, uint64) {
			regs := uint64(base + size - l7.regsSize) // zeroed pt_regs
			m.put(regs+l7.regsMetaType, frameMetaFinal)
			fp0 := uint64(base + 0x3e00)
			m.put(fp0, regs+l7.regsFrame)
			m.put(fp0+8, text+0x300)
			return text + 0x20, fp0
		}, []uint64{text + 0x20, text + 0x300}, false, false, false, l7},
		{"cycle", func(m *flatMem) (uint64, uint64) {
			fp0 := uint64(base + 0x200)
			m.put(fp0, fp0)
			m.put(fp0+8, text+0x100)
			return text, fp0
		}, []uint64{text, text + 0x100}, false, false, true, nil},
		{"off the stack", func(m *flatMem) (uint64, uint64) {
			return text, base - 0x100
		}, []uint64{text}, false, false, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &flatMem{base: base, b: make([]byte, size)}
			pc, fp := tc.build(m)
			lay := l
			if tc.layout != nil {
				lay = tc.layout
			}
			u := &Unwinder{p: &symbols.Program{Mem: m}, arm64: lay}
			mem := &stackMem{mem: m}
			mem.add(base, base+size, StackTask, "task stack")
			tr := &Trace{}
			u.arm64Walk(tr, mem, pc, fp, base+0x100, true)
			var got []uint64
			exc := false
			for _, f := range tr.Frames {
				got = append(got, f.IP)
				if f.Exception != nil && !f.Exception.User {
					exc = true
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("frames %x, want %x (err %v)", got, tc.want, tr.Err)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("frame %d ip %#x, want %#x", i, got[i], tc.want[i])
				}
			}
			if (tr.UserRegs != nil) != tc.user {
				t.Errorf("user regs %v, want %v", tr.UserRegs != nil, tc.user)
			}
			if exc != tc.exc {
				t.Errorf("kernel exception frame %v, want %v", exc, tc.exc)
			}
			if (tr.Err != nil) != tc.err {
				t.Errorf("err %v, want error %v", tr.Err, tc.err)
			}
		})
	}
}

func TestARM64Strip(t *testing.T) {
	l := &arm64Layout{pacMask: 0xff7f_0000_0000_0000}
	for _, c := range []struct{ in, want uint64 }{
		{0x003a_a42c_f89a_f1a0 | 1<<55, 0xffff_a42c_f89a_f1a0},
		{0xffff_a42c_f89a_f1a0, 0xffff_a42c_f89a_f1a0},
		{0x0012_0000_0044_e03c, 0x44e03c},
	} {
		if got := l.strip(c.in); got != c.want {
			t.Errorf("strip(%#x) = %#x, want %#x", c.in, got, c.want)
		}
	}
}

func TestARM64StackFrom(t *testing.T) {
	const (
		base = 0xffff_8000_0840_0000
		size = 16 << 10
		text = 0xffff_a42c_f800_0000
	)
	l := &arm64Layout{pacMask: defaultPACMask}
	m := &flatMem{base: base, b: make([]byte, size)}
	syms := symtest.NewSymbols()
	syms.Add("func_a", text, 0x100, 'T')
	syms.Add("func_b", text+0x100, 0x100, 'T')
	syms.Add("func_c", text+0x200, 0x100, 'T')
	syms.Add("some_data", text+0x1000, 0x100, 'D')
	// Three frame records: {fp, lr} chained upwards, then the final one.
	m.put(base+0x100, base+0x200)
	m.put(base+0x108, text+0x10)
	m.put(base+0x200, base+0x300)
	m.put(base+0x208, text+0x110)
	// A decoy below them: lr not in text.
	m.put(base+0x80, base+0x200)
	m.put(base+0x88, text+0x1010)
	for _, tc := range []struct {
		name    string
		ip, sp  uint64
		want    []string
		wantErr bool
	}{
		{"the slot of a return address", 0, base + 0x108, []string{"func_a", "func_b"}, false},
		{"an address below a record", 0, base + 0x60, []string{"func_a", "func_b"}, false},
		{"with the instruction", text + 0x240, base + 0xf0, []string{"func_c", "func_a", "func_b"}, false},
		{"no record above", 0, base + size - 64, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &Unwinder{p: &symbols.Program{Mem: m, Syms: syms}, arm64: l}
			mem := &stackMem{mem: m}
			mem.add(base, base+size, StackTask, "task stack")
			tr, err := u.arm64StackFrom(symbols.Object{}, &Trace{}, mem, tc.ip, tc.sp)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("trace %+v, want an error", tr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range tr.Frames {
				got = append(got, f.Symbol)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("frames %v, want %v (err %v)", got, tc.want, tr.Err)
			}
		})
	}
}

// TestARM64CPUStacks: the stacks a CPU runs on besides a task's, from the
// per-CPU variables arm64 keeps them in; an SDEI stack pointer that is NULL
// (no SDEI firmware) adds nothing.
func TestARM64CPUStacks(t *testing.T) {
	const (
		data     = 0xffff_8000_8200_0000 // link-time per-CPU and data symbols
		pcpu1    = 0x0000_0000_1000_0000 // __per_cpu_offset[1]
		irqBase  = 0xffff_8000_8800_0000
		sdeiBase = 0xffff_8000_8900_0000
		efiTop   = 0xffff_8000_8a00_4000
		ts       = 16 << 10
	)
	k := symtest.NewKernel()
	k.Syms.Add("__per_cpu_offset", data, 16, 'D')
	k.Mem.WriteU64(data, 0)
	k.Mem.WriteU64(data+8, pcpu1)
	k.Syms.Add("irq_stack_ptr", data+0x100, 8, 'D')
	k.Syms.Add("overflow_stack", data+0x1000, arm64OverflowStackSize, 'D')
	k.Syms.Add("sdei_stack_normal_ptr", data+0x108, 8, 'D')
	k.Syms.Add("sdei_stack_critical_ptr", data+0x110, 8, 'D')
	k.Syms.Add("efi_rt_stack_top", data+0x2000, 8, 'D')
	k.Mem.WriteU64(data+0x100+pcpu1, irqBase)
	k.Mem.WriteU64(data+0x108+pcpu1, sdeiBase)
	k.Mem.WriteU64(data+0x110+pcpu1, 0) // no SDEI critical stack
	k.Mem.WriteU64(data+0x2000, efiTop)
	u := &Unwinder{p: k.Program(), arm64: &arm64Layout{}, task: &taskStackLayout{threadSize: ts}}
	mem := &stackMem{mem: k.Mem}
	u.addARM64CPUStacks(mem, 1)
	got := map[string][2]uint64{}
	for _, r := range mem.regions {
		got[r.name] = [2]uint64{r.lo, r.hi}
	}
	want := map[string][2]uint64{
		"irq stack of cpu 1":         {irqBase, irqBase + ts},
		"overflow stack of cpu 1":    {data + 0x1000 + pcpu1, data + 0x1000 + pcpu1 + 4096},
		"SDEI normal stack of cpu 1": {sdeiBase, sdeiBase + ts},
		"EFI runtime services stack": {efiTop - ts, efiTop},
	}
	if len(got) != len(want) {
		t.Errorf("stacks %v, want %v", got, want)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: [%#x, %#x), want [%#x, %#x)", name, got[name][0], got[name][1], w[0], w[1])
		}
	}
}
