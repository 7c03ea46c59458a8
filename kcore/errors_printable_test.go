package kcore

import (
	"strings"
	"testing"
)

// TestGarbageHeaderEscaped: header strings of a damaged dump reach error
// messages quoted, never as raw control bytes.
func TestGarbageHeaderEscaped(t *testing.T) {
	m := newTinySynth()
	kd := m.writeKdump(t, kdumpOpts{version: 6, compression: dumpCompressedZlib, vmcoreinfo: true, notes: true})
	copy(kd[dhUtsname+4*utsFieldLen:], "x86\r\x1b[2J\x00")
	d, err := Open(writeTemp(t, "vmcore", kd), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	err = d.ReadVirt(make([]byte, 8), startKernelMap+0x1000000)
	if err == nil {
		t.Fatal("read through the page tables of a non-x86_64 dump succeeded")
	}
	if msg := err.Error(); strings.ContainsAny(msg, "\r\x1b") || !strings.Contains(msg, `"x86\r\x1b[2J"`) {
		t.Errorf("error %q", msg)
	}
}
