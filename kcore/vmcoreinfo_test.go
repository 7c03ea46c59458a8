package kcore

import (
	"encoding/binary"
	"strings"
	"testing"
)

func TestVMCoreInfoBases(t *testing.T) {
	text := "OSRELEASE=6.1.0-50-cloud-amd64\nPAGESIZE=4096\nBUILD-ID=bb603a9147d3efe4744bf83c83eee397c591cc20\n" +
		"SYMBOL(init_uts_ns)=ffffffff82bf9b60\nOFFSET(uts_namespace.name)=0\nOFFSET(list_head.prev)=010\n" +
		"SIZE(page)=64\nLENGTH(mem_section)=2048\nNUMBER(phys_base)=73400320\nNUMBER(neg)=-33554432\n" +
		"NUMBER(VMALLOC_START)=0xffffc90000000000\nKERNELOFFSET=1a000000\nCRASHTIME=1700000000\n" +
		"garbage line\n=novalue\nSYMBOL(bad)=xyz\nNUMBER(phys_base)=1\n\x00\x00\x00"
	v, err := ParseVMCoreInfo([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	u := func(n uint64, ok bool) any {
		if !ok {
			return "absent"
		}
		return n
	}
	s := func(n int64, ok bool) any {
		if !ok {
			return "absent"
		}
		return n
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"OSRelease", v.OSRelease(), "6.1.0-50-cloud-amd64"},
		{"BuildID", v.BuildID(), "bb603a9147d3efe4744bf83c83eee397c591cc20"},
		{"PageSize", u(v.PageSize()), uint64(4096)},
		{"Symbol hex without 0x", u(v.Symbol("init_uts_ns")), uint64(0xffffffff82bf9b60)},
		{"Symbol bad", u(v.Symbol("bad")), "absent"},
		{"Symbol missing", u(v.Symbol("nope")), "absent"},
		{"Offset zero", u(v.Offset("uts_namespace.name")), uint64(0)},
		{"Offset leading zero is decimal", u(v.Offset("list_head.prev")), uint64(10)},
		{"Size", u(v.Size("page")), uint64(64)},
		{"Length", u(v.Length("mem_section")), uint64(2048)},
		{"Number last wins", s(v.Number("phys_base")), int64(1)},
		{"Number negative", s(v.Number("neg")), int64(-33554432)},
		{"Number 0x hex", s(v.Number("VMALLOC_START")), int64(-0x370000000000)},
		{"KernelOffset hex", u(v.KernelOffset()), uint64(0x1a000000)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if ct, ok := v.CrashTime(); !ok || ct.Unix() != 1700000000 {
		t.Errorf("CrashTime = %v, %v", ct, ok)
	}
	keys := v.Keys()
	if keys[0] != "OSRELEASE" || strings.Contains(strings.Join(keys, ","), "garbage") {
		t.Errorf("Keys = %v", keys)
	}
	if raw, _ := v.Get("NUMBER(phys_base)"); raw != "1" {
		t.Errorf("Get = %q", raw)
	}
	if _, err := ParseVMCoreInfo([]byte("no pairs here\n")); err == nil {
		t.Error("text without KEY=VALUE parsed")
	}
	if _, err := ParseVMCoreInfo(make([]byte, maxVMCoreInfo+1)); err == nil {
		t.Error("oversized VMCOREINFO parsed")
	}
}

func TestNotes(t *testing.T) {
	m := newTinySynth()
	m.cpus = append(m.cpus, CPUState{CPU: 1, PID: 7, CR3: 0x2000, CR4: 1 << 12, KernelGSBase: 0xffff888000100000})
	for _, c := range []struct {
		name    string
		notes   []byte
		wantErr bool
		check   func(t *testing.T, ni noteInfo)
	}{
		{"kdump", m.notes(noteOpts{vmcoreinfo: true}), false, func(t *testing.T, ni noteInfo) {
			if len(ni.cpus) != 2 || ni.cpus[1].PID != 7 || ni.cpus[1].CPU != 1 || ni.cpus[1].CR3 != 0 || ni.qemu {
				t.Errorf("cpus %+v", ni.cpus)
			}
			if !strings.HasPrefix(string(ni.vmcoreinfo), "OSRELEASE=") {
				t.Errorf("vmcoreinfo %q", ni.vmcoreinfo)
			}
		}},
		{"qemu", m.notes(noteOpts{qemu: true}), false, func(t *testing.T, ni noteInfo) {
			if !ni.qemu || len(ni.cpus) != 2 {
				t.Fatalf("qemu %v cpus %+v", ni.qemu, ni.cpus)
			}
			c := ni.cpus[1]
			if c.CPU != 1 || c.PID != 2 || c.CR3 != 0x2000 || c.CR4 != 1<<12 || c.KernelGSBase != 0xffff888000100000 {
				t.Errorf("cpu 1 %+v", c)
			}
		}},
		{"truncated", m.notes(noteOpts{vmcoreinfo: true})[:500], true, nil},
		{"short prstatus", appendNote(nil, "CORE", ntPRStatus, make([]byte, 100)), false, func(t *testing.T, ni noteInfo) {
			if len(ni.cpus) != 0 {
				t.Errorf("cpus from a short PRSTATUS: %+v", ni.cpus)
			}
		}},
		{"huge namesz", func() []byte {
			b := make([]byte, 24)
			binary.LittleEndian.PutUint32(b, 0xffffffff)
			return b
		}(), true, nil},
		{"zero padding", append(appendNote(nil, "VMCOREINFO", 0, []byte("A=1\n")), make([]byte, 40)...), false, func(t *testing.T, ni noteInfo) {
			if string(ni.vmcoreinfo) != "A=1\n" {
				t.Errorf("vmcoreinfo %q", ni.vmcoreinfo)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			notes, err := parseNotes(c.notes, binary.LittleEndian)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if c.check != nil {
				c.check(t, interpretNotes(notes, binary.LittleEndian))
			}
		})
	}
}
