package repl

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols/symtest"
	"github.com/kwalk/kwalk/walkers/printk"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestLogCrashFlags runs log's crash flags on a synthetic ring with a
// dev_printk record and a kauditd queue of two messages.
func TestLogCrashFlags(t *testing.T) {
	l := walktest.NewSynthLog()
	l.SetRange(4, 5)
	l.Record(4, printk.DescFinalized, 0, 24, 10, 6, "plain")
	l.Record(5, printk.DescFinalized, 24, 48, 11, 3, "nvme0: timeout")
	l.SetDevice(5, "pci", "+pci:0000:00:04.0")

	// audit_queue: a sk_buff_head and two sk_buffs whose data are netlink
	// messages.
	ty := l.Types
	skb := ty.Add(symtest.Layout("sk_buff", symtest.M("next", symtest.Ptr(l.Void)), symtest.M("prev", symtest.Ptr(l.Void)),
		symtest.M("len", l.U32), symtest.M("data", symtest.Ptr(l.Char))))
	ty.Add(symtest.Layout("sk_buff_head", symtest.M("next", symtest.Ptr(skb)), symtest.M("prev", symtest.Ptr(skb)), symtest.M("qlen", l.U32), symtest.M("lock", l.U32)))
	head := l.NewObj("struct sk_buff_head")
	l.Syms.Add("audit_queue", head, l.Size("struct sk_buff_head"), 'd')
	prev := head
	msgs := []struct {
		typ  uint16
		text string
	}{{1300, "arch=c000003e syscall=59"}, {1327, "proctitle=2F62696E"}}
	for _, m := range msgs {
		s := l.NewObj("struct sk_buff")
		data := l.Alloc(64)
		hdr := make([]byte, 16)
		binary.LittleEndian.PutUint32(hdr, uint32(16+len(m.text)))
		binary.LittleEndian.PutUint16(hdr[4:], m.typ)
		l.Mem.Write(data, append(hdr, []byte(m.text)...))
		l.Mem.WriteU64(s+l.Off("struct sk_buff", "data"), data)
		l.Mem.WriteU64(prev, s)
		prev = s
	}
	l.Mem.WriteU64(prev, head)
	l.Mem.WriteU32(head+l.Off("struct sk_buff_head", "qlen"), 2)

	var out, errb bytes.Buffer
	s := NewSession(l.Program(), NewDefaultRegistry(), &out, &errb)
	for _, tc := range []struct {
		line   string
		want   []string
		not    []string
		status int
	}{
		{"log -d", []string{"] plain\n", "] nvme0: timeout\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:04.0\n"}, nil, ExitOK},
		{"log", []string{"nvme0: timeout\n"}, []string{"SUBSYSTEM"}, ExitOK},
		{"log -m", []string{"<6>[", "<3>["}, nil, ExitOK},
		{"log -l", []string{"<6>["}, nil, ExitOK},
		{"log -t", []string{"plain\n"}, []string{"["}, ExitOK},
		{"log -a", []string{"type=1300 arch=c000003e syscall=59\ntype=1327 proctitle=2F62696E\n"}, nil, ExitOK},
		{"log -a -g proctitle", []string{"type=1327"}, []string{"1300"}, ExitOK},
		{"log -a --json", []string{`"audit":[{"queue":"audit_queue","type":1300,"text":"arch=c000003e syscall=59"}`}, nil, ExitOK},
		{"log -d --json", []string{`"subsystem":"pci","device":"+pci:0000:00:04.0"`}, nil, ExitOK},
		// No timekeeper in this kernel: -T says why it cannot.
		{"log -T", nil, nil, ExitFailed},
		{"log -t -T", nil, nil, ExitUsage},
	} {
		out.Reset()
		errb.Reset()
		if st := s.Exec(context.Background(), tc.line); st != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.line, st, tc.status, errb.String())
			continue
		}
		if tc.line == "log -T" && !strings.Contains(errb.String(), "timekeeper") {
			t.Errorf("log -T: %q does not say the timekeeper is missing", errb.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: %q missing from %q", tc.line, w, out.String())
			}
		}
		for _, w := range tc.not {
			if strings.Contains(out.String(), w) {
				t.Errorf("%s: %q in %q", tc.line, w, out.String())
			}
		}
	}
}
