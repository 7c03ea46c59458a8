package kcore

// Fuzz targets for every parser that reads untrusted bytes. The image
// targets minimize slowly (each run decodes pages), so run them with a
// bounded minimization, e.g.
//
//	go test -run XXX -fuzz '^FuzzKdump$' -fuzztime 5m -fuzzminimizetime 200x ./kcore/

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// newTinySynth is a machine small enough for fuzz seeds (the fuzzer
// minimizes slowly on big inputs): 12 pages of 512 bytes, no page tables.
func newTinySynth() *synthMachine {
	const ps = 512
	m := &synthMachine{
		levels:     4,
		ram:        []synthRange{{0, 8 * ps}, {12 * ps, 16 * ps}},
		mem:        map[uint64][]byte{},
		excluded:   map[uint64]bool{3: true},
		zero:       map[uint64]bool{},
		vmcoreinfo: "OSRELEASE=6.99\nPAGESIZE=4096\nSYMBOL(init_top_pgt)=ffffffff82a10000\nNUMBER(phys_base)=-33554432\n",
		cpus:       []CPUState{{CPU: 0, PID: 1, CR3: 0x1000}},
	}
	for _, r := range m.ram {
		for pa := r.lo; pa < r.hi; pa += ps {
			pg := make([]byte, ps)
			if pa%(2*ps) == 0 {
				for i := range pg {
					pg[i] = byte(pa>>9) + byte(i%7)
				}
			}
			m.mem[pa/ps] = pg
		}
	}
	return m
}

func FuzzVMCoreInfo(f *testing.F) {
	f.Add([]byte(newTinySynth().vmcoreinfo))
	f.Add([]byte("SYMBOL(x)=ffffffffffffffffff\nNUMBER(y)=-0x10\nOFFSET(a.b)=0x\nCRASHTIME=-9223372036854775808\n"))
	f.Add([]byte("\x00\x00=\n=\n==\nKERNELOFFSET=0x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVMCoreInfo(b)
		if err != nil {
			return
		}
		for _, k := range v.Keys() {
			if _, ok := v.Get(k); !ok {
				t.Fatalf("key %q listed but absent", k)
			}
		}
		v.OSRelease()
		v.BuildID()
		v.PageSize()
		v.KernelOffset()
		v.CrashTime()
		v.Symbol("x")
		v.Number("y")
		v.Offset("a.b")
		v.Size("page")
		v.Length("mem_section")
	})
}

func FuzzNotes(f *testing.F) {
	m := newTinySynth()
	f.Add(m.notes(noteOpts{qemu: true, vmcoreinfo: true}))
	f.Add(m.notes(noteOpts{vmcoreinfo: true}))
	f.Add(appendNote(nil, "CORE", ntPRStatus, []byte{1, 2, 3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		notes, _ := parseNotes(b, binary.LittleEndian)
		ni := interpretNotes(notes, binary.LittleEndian)
		if len(ni.cpus) > len(b)/12+1 {
			t.Fatalf("%d CPUs from %d bytes", len(ni.cpus), len(b))
		}
	})
}

// fuzzReadImage opens an image from memory and reads a little of it; any
// error is fine, a panic or hang is not.
func fuzzReadImage(t *testing.T, b []byte) {
	r := bytes.NewReader(b)
	var d *Dump
	switch {
	case isFlattened(b):
		fr, err := newFlatReader(r, int64(len(b)))
		if err != nil {
			return
		}
		buf := make([]byte, 100)
		fr.ReadAt(buf, 0)
		fr.ReadAt(buf, fr.size/2)
		d = &Dump{}
		if d.openKdump(fr, fr.size, int64(len(b))) != nil {
			return
		}
	case isKdump(b):
		d = &Dump{}
		if d.openKdump(r, int64(len(b)), int64(len(b))) != nil {
			return
		}
	case isELF(b):
		d = &Dump{}
		if d.openELF(r, int64(len(b))) != nil {
			return
		}
	default:
		return
	}
	buf := make([]byte, 1024)
	for pa := uint64(0); pa < 20*512; pa += 612 {
		d.ReadPhys(buf, pa)
	}
	d.ReadVirt(buf[:64], startKernelMap+0x1000000)
	d.ReadVirt(buf[:64], 0xffff888000001000)
	d.Close()
}

func FuzzKdump(f *testing.F) {
	m := newTinySynth()
	for _, c := range compressions {
		f.Add(m.writeKdump(f, kdumpOpts{version: 6, compression: c.flag, vmcoreinfo: true, notes: true, shareZero: true}))
	}
	f.Add(m.writeKdump(f, kdumpOpts{version: 2}))
	f.Fuzz(fuzzReadImage)
}

func FuzzFlattened(f *testing.F) {
	m := newTinySynth()
	kd := m.writeKdump(f, kdumpOpts{version: 6, compression: dumpCompressedZlib, vmcoreinfo: true, notes: true})
	f.Add(flatten(kd, 700, 1))
	f.Add(flatten(kd[:len(kd)/2], 256, 2))
	f.Fuzz(fuzzReadImage)
}

func FuzzELF(f *testing.F) {
	m := newTinySynth()
	f.Add(readFileT(f, m.writeELF(f, elfQEMU, true, false)))
	f.Add(readFileT(f, m.writeELF(f, elfKdump, true, true)))
	f.Fuzz(fuzzReadImage)
}
