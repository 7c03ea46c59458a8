package unwind

import (
	"errors"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// writePtRegs writes a struct pt_regs (the synthetic kernel's layout) at
// addr with the given registers, the others zero.
func (k *kernel) writePtRegs(addr uint64, regs map[Reg]uint64) {
	for r := Reg(0); r < numPtRegs; r++ {
		k.Mem.WriteU64(addr+uint64(r)*8, regs[r])
	}
}

func TestSearchExceptionFrames(t *testing.T) {
	k := newKernel(orcV3)
	k.sym("do_thing", tText+0x1400, 0x100, 'T')
	k.sym("some_data", tText+0x800000, 0x100, 'D')
	top := k.mapStack()
	k.sleepAt(top - 0x200)
	kernelAt, userAt := uint64(tStack+0x1000), top-168
	k.writePtRegs(kernelAt, map[Reg]uint64{RegCS: 0x10, RegSS: 0x18, RegFlags: 0x246, RegIP: tText + 0x1410, RegSP: tStack + 0x1200, RegAX: 7})
	k.writePtRegs(userAt, map[Reg]uint64{RegCS: 0x33, RegSS: 0x2b, RegFlags: 0x246, RegIP: 0x7f0000001234, RegSP: 0x7ffc00001000, RegOrigAX: 1})
	// Near misses: each breaks one rule.
	decoys := []map[Reg]uint64{
		{RegCS: 0x10, RegSS: 0x18, RegFlags: 0x246, RegIP: tText + 0x800010, RegSP: tStack + 0x1200}, // ip in data
		{RegCS: 0x10, RegSS: 0x18, RegFlags: 0x244, RegIP: tText + 0x1410, RegSP: tStack + 0x1200},   // flags bit 1 clear
		{RegCS: 0x10, RegSS: 0x18, RegFlags: 0x8246, RegIP: tText + 0x1410, RegSP: tStack + 0x1200},  // reserved bit 15
		{RegCS: 0x10, RegSS: 0x2b, RegFlags: 0x246, RegIP: tText + 0x1410, RegSP: tStack + 0x1200},   // user ss in kernel mode
		{RegCS: 0x33, RegSS: 0x2b, RegFlags: 0x246, RegIP: tText + 0x1410, RegSP: 0x7ffc00001000},    // user cs, kernel ip
		{RegCS: 0x33, RegSS: 0x2b, RegFlags: 0x246, RegIP: 0x400000, RegSP: 0},                       // no user sp
	}
	for i, d := range decoys {
		k.writePtRegs(tStack+0x2000+uint64(i)*0x200, d)
	}
	p := k.program()
	got, err := SearchTaskExceptionFrames(p, taskObj(t, p))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("found %d frames, want 2: %+v", len(got), got)
	}
	if got[0].Addr != kernelAt || got[0].User || got[1].Addr != userAt || !got[1].User {
		t.Fatalf("frames at %#x (user %v), %#x (user %v); want %#x kernel, %#x user",
			got[0].Addr, got[0].User, got[1].Addr, got[1].User, kernelAt, userAt)
	}
	if v, _ := got[0].Regs.Get(RegAX); v != 7 {
		t.Errorf("kernel frame ax = %d, want 7", v)
	}

	// A search over memory the image lacks says so.
	if _, err := SearchExceptionFrames(p, tStack+defaultThreadSize, tStack+defaultThreadSize+4096); err == nil || !strings.Contains(err.Error(), "no page readable") {
		t.Errorf("search of an unmapped page: err %v", err)
	}
	// One page of two missing: the other is searched, the error says so.
	k.Mem.Unmap(tStack + 0x2000)
	got, err = SearchExceptionFrames(p, tStack, tStack+0x3000)
	if err == nil || !strings.Contains(err.Error(), "1 page(s)") || len(got) != 1 || got[0].Addr != kernelAt {
		t.Errorf("search past a missing page: %d frames, err %v", len(got), err)
	}
	if _, err := SearchExceptionFrames(p, tStack, tStack+maxSearchBytes+8); err == nil {
		t.Errorf("oversized search accepted")
	}
}

func TestStackFrom(t *testing.T) {
	p, want := userTask(t, orcV3)
	task := taskObj(t, p)
	full := taskStack(t, p)
	for _, c := range []struct {
		name   string
		ip, sp uint64
		want   []string
	}{
		{"slot of frame 2", 0, full.Frames[2].SP, want[2:]},
		{"ip and sp of frame 1", full.Frames[1].IP, full.Frames[1].RSP, want[1:]},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr, err := StackFrom(p, task, c.ip, c.sp)
			if err != nil {
				t.Fatal(err)
			}
			wantFrames(t, tr, strings.Join(c.want, " "))
			if tr.UserRegs == nil {
				t.Errorf("no user registers at the end")
			}
		})
	}
	if _, err := StackFrom(p, task, 0, tStack-4096); !errors.Is(err, errOffStack) {
		t.Errorf("sp off every stack: err %v", err)
	}
}

func TestSearchExceptionFramesARM64(t *testing.T) {
	const (
		base = 0xffff_8000_0830_0000
		size = 16 << 10
		text = 0xffff_a42c_f800_0000
	)
	l := &arm64Layout{regsX: 0, regsSP: 31 * 8, regsPC: 32 * 8, regsPState: 33 * 8, regsFrame: 0x130, regsSize: 0x150, pacMask: defaultPACMask}
	m := &flatMem{base: base, b: make([]byte, size)}
	syms := symtest.NewSymbols()
	syms.Add("el1_interrupt", text, 0x1000, 'T')
	u := &Unwinder{p: &symbols.Program{Mem: m, Syms: syms}, arm64: l}
	put := func(regs uint64, pc, sp, pstate, x29, fp, lr uint64) {
		m.put(regs+l.regsPC, pc)
		m.put(regs+l.regsSP, sp)
		m.put(regs+l.regsPState, pstate)
		m.put(regs+29*8, x29)
		m.put(regs+l.regsFrame, fp)
		m.put(regs+l.regsFrame+8, lr)
	}
	kernelAt, userAt := uint64(base+0x1000), uint64(base+size-0x150)
	put(kernelAt, text+0x40, base+0x1800, 0x3c5, base+0x1900, base+0x1900, text+0x40) // EL1h, record {x29, pc}
	put(userAt, 0x44e03c, 0xffffe5dd9000, 0, 0x1234, 0, 0)                            // EL0t, final record
	// Near misses: a record that disagrees, a pc outside text, EL2.
	put(base+0x2000, text+0x40, base+0x1800, 0x3c5, base+0x1900, base+0x1a00, text+0x40)
	put(base+0x2400, text+0x2000, base+0x1800, 0x3c5, base+0x1900, base+0x1900, text+0x2000)
	put(base+0x2800, text+0x40, base+0x1800, 0x3c9, base+0x1900, base+0x1900, text+0x40)
	got, err := u.searchExceptionFrames(base, base+size)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Addr != kernelAt || got[0].User || got[1].Addr != userAt || !got[1].User || got[0].ARM64 == nil {
		t.Fatalf("found %+v; want kernel at %#x, user at %#x", got, kernelAt, userAt)
	}
	if got[0].ARM64.X[29] != base+0x1900 || got[1].ARM64.PC != 0x44e03c {
		t.Errorf("registers: %+v %+v", got[0].ARM64, got[1].ARM64)
	}
}

// TestSearchExceptionFramesARM64Meta: 6.13+ pt_regs (320 bytes, a struct
// frame_record_meta at 0x128): both entries leave a {0, 0} record, told
// apart by its type.
func TestSearchExceptionFramesARM64Meta(t *testing.T) {
	const (
		base = 0xffff_8000_0830_0000
		size = 16 << 10
		text = 0xffff_a42c_f800_0000
	)
	l := &arm64Layout{regsX: 0, regsSP: 31 * 8, regsPC: 32 * 8, regsPState: 33 * 8, regsFrame: 0x128, regsMetaType: 0x138, regsSize: 0x140, pacMask: 0xfff0_0000_0000_0000}
	m := &flatMem{base: base, b: make([]byte, size)}
	syms := symtest.NewSymbols()
	syms.Add("el1_interrupt", text, 0x1000, 'T')
	u := &Unwinder{p: &symbols.Program{Mem: m, Syms: syms}, arm64: l}
	put := func(regs uint64, pc, sp, pstate, x29, typ uint64) {
		m.put(regs+l.regsPC, pc)
		m.put(regs+l.regsSP, sp)
		m.put(regs+l.regsPState, pstate)
		m.put(regs+29*8, x29)
		m.put(regs+l.regsMetaType, typ)
	}
	kernelAt, userAt := uint64(base+0x1000), uint64(base+size-0x140)
	put(kernelAt, text+0x40, base+0x1800, 0x3c5, base+0x1900, frameMetaPtRegs) // EL1h
	put(userAt, 0x44e03c, 0xffffe5dd9000, 0, 0x1234, frameMetaFinal)           // EL0t
	// Near misses: EL1 with the final type, EL0 with the pt_regs type.
	put(base+0x2000, text+0x40, base+0x1800, 0x3c5, base+0x1900, frameMetaFinal)
	put(base+0x2400, 0x44e03c, 0xffffe5dd9000, 0, 0x1234, frameMetaPtRegs)
	got, err := u.searchExceptionFrames(base, base+size)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Addr != kernelAt || got[0].User || got[1].Addr != userAt || !got[1].User {
		t.Fatalf("found %+v; want kernel at %#x, user at %#x", got, kernelAt, userAt)
	}
}
