package repl

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// percpuKernel is a small kernel for the per-CPU and direct-map commands:
// a per-CPU runqueues (struct rq {int cpu}) with areas for 4 CPUs of which
// nr_cpu_ids = 2 are CPUs, and page_offset_base.
func percpuKernel(t *testing.T) *symbols.Program {
	t.Helper()
	k := symtest.NewKernel()
	rq := k.Types.Add(symtest.Layout("rq", symtest.M("cpu", k.S32)))
	k.Types.AddVariable("runqueues", rq)
	k.Types.AddVariable("page_offset_base", k.U64)
	const rqLink = 0x100
	k.Syms.Add("__per_cpu_start", 0, 0, 'D')
	k.Syms.Add("runqueues", rqLink, 8, 'D')
	k.Syms.Add("__per_cpu_end", 0x2000, 0, 'D')
	offsets := k.Alloc(4 * 8)
	k.Syms.Add("__per_cpu_offset", offsets, 32, 'D')
	for cpu := 0; cpu < 4; cpu++ {
		area := k.Alloc(0x2000)
		k.Mem.WriteU64(offsets+uint64(cpu)*8, area)
		k.Mem.WriteU32(area+rqLink, uint32(cpu))
	}
	n := k.Alloc(4)
	k.Mem.WriteU32(n, 2)
	k.Syms.Add("nr_cpu_ids", n, 4, 'D')
	pob := k.Alloc(8)
	k.Mem.WriteU64(pob, 0xffff888000000000)
	k.Syms.Add("page_offset_base", pob, 8, 'D')
	return k.Program()
}

// TestWrongAnswersRefused: inputs that used to give a plausible but wrong
// answer (or an internal error) give a clear error instead.
func TestWrongAnswersRefused(t *testing.T) {
	tests := []struct {
		line   string
		percpu bool // run on percpuKernel instead of the synthetic kernel
		status int
		want   string // stdout on success, else stderr
	}{
		{"eval 1<<64", false, ExitUsage, "shift count 64 is not below 64"},
		{"ptov 0xffffffffffffffff", true, ExitUsage, "beyond the 52-bit physical address space"},
		{"ptov 0x10000000000000", true, ExitUsage, "beyond the 52-bit physical address space"},
		{"ptov 0xfffffffffffff", true, ExitUsage, "passes the end of the 64-bit address space"},
		{"ptov 0x777fffffffff", true, ExitOK, "ffffffffffffffff    777fffffffff"},
		{"ptov 1000", true, ExitOK, "ffff888000001000    1000"},
		{"set 0x0", false, ExitFailed, "0x0 is not a kernel address"},
		{"set 0x1000", false, ExitFailed, "0x1000 is not a kernel address"},
		{"set ffff888000300000", false, ExitFailed, "no task_struct can be read there"},
		{"set ffff888000101000", false, ExitOK, "PID: 42"},
		{"ps >> ''", false, ExitUsage, "redirection to an empty file name"},
		{`ps > ""`, false, ExitUsage, "redirection to an empty file name"},
		{"dis 0xffffffffffffffff 100", false, ExitFailed, "0xffffffffffffffff"},
		{"dis 0xfffffffffffffff0 100", false, ExitFailed, "0xfffffffffffffff0"},
		{"p runqueues:2.cpu", true, ExitFailed, "no cpu 2: nr_cpu_ids is 2 (CPUs 0-1)"},
		{"p runqueues:1.cpu", true, ExitOK, "= 1"},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			s, out, errb, _ := newTestSession(t)
			s.Reg.SetTaskSource(nil)
			if tc.percpu {
				s = NewSession(percpuKernel(t), NewDefaultRegistry(), out, errb)
			}
			st := s.Exec(context.Background(), tc.line)
			if st != tc.status {
				t.Fatalf("status %d, want %d; stdout:\n%s\nstderr:\n%s", st, tc.status, out, errb)
			}
			got := errb.String()
			if st == ExitOK {
				got = out.String()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, got)
			}
			if strings.Contains(errb.String(), "internal error") {
				t.Errorf("internal error: %s", errb)
			}
		})
	}
}

// TestDisEndOfAddressSpace disassembles code that ends at the top of the
// address space: the last instruction is shown, then a note that the
// address space ended, with no wrap to address 0.
func TestDisEndOfAddressSpace(t *testing.T) {
	k := symtest.NewKernel()
	top := ^uint64(0) - 3 // nop; nop; nop; ret in the last 4 bytes
	k.Mem.Write(top, []byte{0x90, 0x90, 0x90, 0xc3})
	k.Syms.Add("top_func", top, 4, 'T')
	var out, errb bytes.Buffer
	s := NewSession(k.Program(), NewDefaultRegistry(), &out, &errb)
	if st := s.Exec(context.Background(), "dis 0xfffffffffffffffc 100"); st != ExitOK {
		t.Fatalf("status %d: %s", st, errb.String())
	}
	if n := strings.Count(out.String(), "\n"); n != 5 || !strings.Contains(out.String(), "reached the end of the 64-bit address space") {
		t.Errorf("%d lines:\n%s", n, out.String())
	}
	// The whole function, which ends exactly at 2^64.
	out.Reset()
	if st := s.Exec(context.Background(), "dis top_func"); st != ExitOK || !strings.Contains(out.String(), "retq") || strings.Contains(out.String(), "<0x0>") {
		t.Errorf("dis top_func: status %d\n%s%s", st, out.String(), errb.String())
	}
}
