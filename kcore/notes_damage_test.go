package kcore

import (
	"encoding/binary"
	"strings"
	"testing"
)

// Damaged CPU notes are said, never silently dropped: each case keeps the
// CPUs it can and names what is lost.
func TestDamagedNotes(t *testing.T) {
	le := binary.LittleEndian
	cpu := func(n int) CPUState { return CPUState{PID: n + 1, Regs: Regs{IP: 0xffffffff81000000 + uint64(n)}} }
	whole := func() []byte {
		var b []byte
		for i := 0; i < 3; i++ {
			b = appendNote(b, "CORE", ntPRStatus, prstatus(cpu(i)))
		}
		for i := 0; i < 3; i++ {
			b = appendNote(b, "QEMU", 0, qemuState(cpu(i)))
		}
		return b
	}
	noteSize := 12 + 8 + 336 // one PRSTATUS note
	for _, c := range []struct {
		name     string
		damage   func([]byte) []byte
		wantCPUs []int
		problem  string
	}{
		{"sound", func(b []byte) []byte { return b }, []int{0, 1, 2}, ""},
		{"second note runs past the area", func(b []byte) []byte {
			le.PutUint32(b[noteSize+4:], 0x7fffff00)
			return b
		}, []int{0}, "run past"},
		{"second PRSTATUS cut short", func(b []byte) []byte {
			var out []byte
			out = appendNote(out, "CORE", ntPRStatus, prstatus(cpu(0)))
			out = appendNote(out, "CORE", ntPRStatus, prstatus(cpu(1))[:100])
			out = appendNote(out, "CORE", ntPRStatus, prstatus(cpu(2)))
			return append(out, b[3*noteSize:]...)
		}, []int{0, 2}, "fewer than"},
		{"pr_pid garbage", func(b []byte) []byte {
			le.PutUint32(b[noteSize+20+prstatusPIDOff:], 0x41414141)
			return b
		}, []int{0, 1, 2}, "is not a QEMU CPU number"},
	} {
		t.Run(c.name, func(t *testing.T) {
			area := c.damage(whole())
			notes, err := parseNotes(area, le)
			ni := interpretNotes(notes, le)
			if err != nil {
				ni.problems = append([]string{err.Error()}, ni.problems...)
			}
			var got []int
			for _, s := range ni.cpus {
				got = append(got, s.CPU)
			}
			if len(got) != len(c.wantCPUs) {
				t.Errorf("CPUs %v, want %v", got, c.wantCPUs)
			}
			switch {
			case c.problem == "" && len(ni.problems) > 0:
				t.Errorf("problems %q on sound notes", ni.problems)
			case c.problem != "" && !strings.Contains(strings.Join(ni.problems, "\n"), c.problem):
				t.Errorf("problems %q, want one saying %q", ni.problems, c.problem)
			}
		})
	}
}
