package repl

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/repl/internal/synth"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/unwind"
	"github.com/kwalk/kwalk/walkers/walktest"
)

func TestBtFormatWord(t *testing.T) {
	slab := BtWord{Value: 0xffff888001234560, Cache: "kmalloc-64", Object: 0xffff888001234540}
	sym := BtWord{Value: 0xffffffff81000123, Symbol: "do_thing+0x23"}
	plain := BtWord{Value: 0x2a}
	for _, c := range []struct {
		f    btFormat
		w    BtWord
		want string
	}{
		{btFormat{}, slab, "ffff888001234560"},
		{btFormat{symbolic: 1}, slab, "[kmalloc-64]    "},
		{btFormat{symbolic: 2}, slab, "[ffff888001234540:kmalloc-64]"},
		{btFormat{}, sym, "ffffffff81000123"},
		{btFormat{symbolic: 1}, sym, "do_thing+0x23   "},
		{btFormat{symbolic: 2}, plain, "000000000000002a"},
	} {
		if got := c.f.word(&c.w); got != c.want {
			t.Errorf("%+v %+v: %q, want %q", c.f, c.w, got, c.want)
		}
	}
	if got := (btFormat{decimal: true}).offset(0x2f5); got != "+757" {
		t.Errorf("decimal offset %q", got)
	}
	if got := (btFormat{}).offset(0x2f5); got != "+0x2f5" {
		t.Errorf("hex offset %q", got)
	}
}

func TestBtRefMatcher(t *testing.T) {
	regs := &unwind.Registers{}
	regs.Set(unwind.RegIP, 0xffffffff81005005)
	tr := BtTrace{Frames: []BtFrame{
		{Symbol: "__schedule", IP: 0xffffffff81001234, Offset: 0x234, Size: 0x800},
		{Symbol: "__mutex_lock.constprop.0", IP: 0xffffffff81002050, Offset: 0x50, Size: 0x400},
		{Symbol: "asm_common_interrupt", IP: 0xffffffff81003010, Offset: 0x10, Size: 0x20,
			Exception: &BtRegs{RIPSymbol: "native_safe_halt+5", regs: regs}},
	}, TextSymbols: []BtWord{{Value: 0xffffffff81009999, Symbol: "stale_func+0x19"}}}
	for _, c := range []struct {
		ref  string
		want bool
	}{
		{"__schedule", true},
		{"__mutex_lock", true},
		{"__mutex_lock.constprop.0", true},
		{"mutex_lock", false},
		{"native_safe_halt", true},
		{"stale_func", true},
		{"ffffffff81001000", true},   // start of __schedule
		{"0xffffffff810017ff", true}, // last byte of __schedule
		{"ffffffff81001800", false},  // past it
		{"ffffffff81005005", true},   // the exception's rip
		{"ffffffff81009999", true},   // a -t word
	} {
		if got := newBtRefMatcher(nil, c.ref).matches(&tr); got != c.want {
			t.Errorf("-R %s: %v, want %v", c.ref, got, c.want)
		}
	}
}

// btJSON is the part of bt's document the real-dump tests read.
type btJSON struct {
	Traces []struct {
		PID    int    `json:"pid"`
		Task   string `json:"task"`
		Error  string `json:"error"`
		Frames []struct {
			SP     string `json:"sp"`
			IP     string `json:"ip"`
			Symbol string `json:"symbol"`
			Words  []struct {
				Value  string `json:"value"`
				Symbol string `json:"symbol"`
				Cache  string `json:"cache"`
				Object string `json:"object"`
			} `json:"words"`
		} `json:"frames"`
		UserRegs *struct {
			Addr string `json:"addr"`
		} `json:"user_regs"`
		ExceptionFrames []struct {
			Addr string `json:"addr"`
			User bool   `json:"user"`
		} `json:"exception_frames"`
		SearchError string `json:"search_error"`
		StackBase   string `json:"stack_base"`
		StackTop    string `json:"stack_top"`
		RawStack    []struct {
			Addr  string `json:"addr"`
			Value string `json:"value"`
		} `json:"raw_stack"`
	} `json:"traces"`
	CPUStacks []struct {
		CPU    int    `json:"cpu"`
		Kind   string `json:"kind"`
		Error  string `json:"error"`
		Frames []struct {
			User bool `json:"user"`
		} `json:"exception_frames"`
	} `json:"cpu_stacks"`
}

// TestBtCrashFlagsRealDumps checks bt -R, -e, -S, -FF, -E, -d and -o on
// the generated x86_64 dumps of the hangs guest, against the guest's
// record where it says (the stacks of its tasks stuck in D state, which
// do not change between the record and the dump) and against bt's own
// unwind otherwise.
func TestBtCrashFlagsRealDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		if !strings.Contains(d.Name, "/hangs") || strings.HasPrefix(d.Name, "arm64") {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			var out, errb bytes.Buffer
			s := NewSession(p, NewDefaultRegistry(), &out, &errb)
			stuck := map[int][]string{} // tid -> recorded functions
			for _, w := range d.Truth.Tasks {
				if w.State != 'D' || len(w.Stack) < 3 {
					continue
				}
				for _, f := range w.Stack {
					stuck[w.TID] = append(stuck[w.TID], symbols.BaseName(f.Func))
				}
			}
			if len(stuck) == 0 {
				t.Skip("the record has no task in D state with a stack")
			}
			// -R: a function of a recorded D stack; every D task whose
			// recorded stack has it is listed, and every trace listed
			// goes through it.
			var ref string
			for _, fs := range stuck {
				ref = fs[2]
				break
			}
			var r btJSON
			execJSON(t, s, &out, &errb, "bt -R "+ref, &r)
			listed := map[int]bool{}
			for _, tr := range r.Traces {
				listed[tr.PID] = true
				found := false
				for _, f := range tr.Frames {
					found = found || symbols.BaseName(f.Symbol) == ref
				}
				if !found {
					t.Errorf("bt -R %s lists pid %d, whose trace does not go through it", ref, tr.PID)
				}
			}
			for tid, fs := range stuck {
				for _, f := range fs {
					if f == ref && !listed[tid] {
						t.Errorf("bt -R %s: pid %d's recorded stack goes through it, not listed", ref, tid)
					}
				}
			}
			// foreach bt -R prints the same tasks' traces and nothing
			// (not even a blank line) for the others.
			out.Reset()
			if st := s.Exec(context.Background(), "foreach bt -R "+ref); st != ExitOK {
				t.Errorf("foreach bt -R %s: status %d: %s", ref, st, errb.String())
			}
			if n := strings.Count(out.String(), "PID: "); n != len(listed) {
				t.Errorf("foreach bt -R %s: %d task headers, bt -R lists %d", ref, n, len(listed))
			}
			if strings.Contains(out.String(), "\n\n\n") || strings.HasPrefix(out.String(), "\n") {
				t.Errorf("foreach bt -R %s: blank lines for tasks it does not list: %.200q", ref, out.String())
			}

			for tid := range stuck {
				var full btJSON
				execJSON(t, s, &out, &errb, fmt.Sprintf("bt %d", tid), &full)
				tr := full.Traces[0]
				if tr.Error != "" || len(tr.Frames) < 3 {
					t.Errorf("bt %d: %d frames, error %q", tid, len(tr.Frames), tr.Error)
					continue
				}
				// -S from the third frame's slot gives the rest of the trace.
				var from btJSON
				execJSON(t, s, &out, &errb, fmt.Sprintf("bt -S %s %d", tr.Frames[2].SP, tid), &from)
				got := from.Traces[0].Frames
				if len(got) != len(tr.Frames)-2 {
					t.Errorf("bt -S %s %d: %d frames, want %d", tr.Frames[2].SP, tid, len(got), len(tr.Frames)-2)
				} else {
					for i := range got {
						if got[i].IP != tr.Frames[i+2].IP || got[i].SP != tr.Frames[i+2].SP {
							t.Errorf("bt -S frame %d: %s at %s, want %s at %s", i, got[i].Symbol, got[i].SP, tr.Frames[i+2].Symbol, tr.Frames[i+2].SP)
						}
					}
				}
				// -r: every word of the stack; each frame's slot holds its
				// return address.
				var raw btJSON
				execJSON(t, s, &out, &errb, fmt.Sprintf("bt -r %d", tid), &raw)
				words := map[string]string{}
				for _, w := range raw.Traces[0].RawStack {
					words[w.Addr] = w.Value
				}
				var base, top uint64
				fmt.Sscanf(tr.StackBase, "0x%x", &base)
				fmt.Sscanf(tr.StackTop, "0x%x", &top)
				if raw.Traces[0].SearchError == "" && uint64(len(words)) != (top-base)/8 {
					t.Errorf("bt -r %d: %d words, the stack [%s, %s) has %d", tid, len(words), tr.StackBase, tr.StackTop, (top-base)/8)
				}
				for _, f := range tr.Frames[1:] {
					if v, ok := words[f.SP]; ok && v != f.IP {
						t.Errorf("bt -r %d: word at %s is %s, frame %s returns to %s", tid, f.SP, v, f.Symbol, f.IP)
					}
				}
				// -e finds the user registers the unwind ended at.
				if tr.UserRegs != nil {
					var e btJSON
					execJSON(t, s, &out, &errb, fmt.Sprintf("bt -e %d", tid), &e)
					found := false
					for _, ef := range e.Traces[0].ExceptionFrames {
						found = found || (ef.User && ef.Addr == tr.UserRegs.Addr)
					}
					if !found || e.Traces[0].SearchError != "" {
						t.Errorf("bt -e %d: user pt_regs at %s not found in %+v (%s)", tid, tr.UserRegs.Addr, e.Traces[0].ExceptionFrames, e.Traces[0].SearchError)
					}
				}
			}

			// -FF: a sleeping task's own task_struct is on its stack
			// (__schedule's prev); some D task shows it by cache.
			sawTask := false
			for tid := range stuck {
				var f btJSON
				execJSON(t, s, &out, &errb, fmt.Sprintf("bt -FF %d", tid), &f)
				for _, fr := range f.Traces[0].Frames {
					for _, w := range fr.Words {
						if w.Cache == "task_struct" && w.Object == f.Traces[0].Task {
							sawTask = true
						}
						if w.Cache != "" && w.Symbol != "" {
							t.Errorf("word %s has both a cache and a symbol", w.Value)
						}
					}
				}
			}
			if !sawTask {
				t.Errorf("bt -FF: no D task's stack shows its own task_struct as [ADDR:task_struct]")
			}

			// -E: every CPU has an IRQ stack searched.
			var e btJSON
			execJSON(t, s, &out, &errb, "bt -E", &e)
			irq := map[int]bool{}
			for _, cs := range e.CPUStacks {
				if cs.Kind == "irq" {
					irq[cs.CPU] = true
				}
			}
			if len(irq) == 0 || len(irq) != len(allCPUs(p)) {
				t.Errorf("bt -E: IRQ stacks of %d CPUs, dump has %d", len(irq), len(allCPUs(p)))
			}

			// -n idle: the idle tasks' headers without frames, the others'
			// traces as bt -a gives them.
			var all, noIdle btJSON
			execJSON(t, s, &out, &errb, "bt -a", &all)
			execJSON(t, s, &out, &errb, "bt -a -n idle", &noIdle)
			if len(all.Traces) != len(noIdle.Traces) {
				t.Errorf("bt -a -n idle: %d traces, bt -a %d", len(noIdle.Traces), len(all.Traces))
			} else {
				for i, tr := range noIdle.Traces {
					idle := tr.PID == 0
					if idle && len(tr.Frames) != 0 || !idle && len(tr.Frames) != len(all.Traces[i].Frames) {
						t.Errorf("bt -a -n idle: pid %d has %d frames (bt -a: %d)", tr.PID, len(tr.Frames), len(all.Traces[i].Frames))
					}
				}
			}
			for _, bad := range []string{"bt -n idle 1", "bt -a -n busy", "bt -p 1", "bt -I ffffffff81000000 1", "bt -S 1 -a"} {
				if st := s.Exec(context.Background(), bad); st != ExitUsage {
					t.Errorf("%s: status %d, want %d", bad, st, ExitUsage)
				}
			}

			// -d: decimal offsets; -o: refused as a usage error.
			var tid int
			for tid = range stuck {
				break
			}
			out.Reset()
			if st := s.Exec(context.Background(), fmt.Sprintf("bt -d %d", tid)); st != ExitOK || !regexp.MustCompile(`\] \w+\+\d+ at `).MatchString(out.String()) || strings.Contains(out.String(), "+0x") {
				t.Errorf("bt -d: status %d:\n%s", st, out.String())
			}
			if st := s.Exec(context.Background(), "bt -o"); st != ExitUsage {
				t.Errorf("bt -o: status %d, want %d", st, ExitUsage)
			}
		})
	}
}

// TestBtPanicExceptionRealDumps checks bt -p and -e on the dumps of a
// kernel oops: the panic task's first frame is the faulting instruction,
// and -e finds the kernel-mode pt_regs the oops saved with that RIP.
func TestBtPanicExceptionRealDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		if !strings.Contains(d.Name, "kdump-oops") {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			var out, errb bytes.Buffer
			s := NewSession(p, NewDefaultRegistry(), &out, &errb)
			var bt btJSON
			execJSON(t, s, &out, &errb, "bt -p", &bt)
			if len(bt.Traces) != 1 || len(bt.Traces[0].Frames) == 0 {
				t.Fatalf("bt -p: %+v", bt)
			}
			rip := bt.Traces[0].Frames[0].IP
			var e struct {
				Traces []struct {
					ExceptionFrames []struct {
						User bool              `json:"user"`
						Regs map[string]string `json:"regs"`
					} `json:"exception_frames"`
				} `json:"traces"`
			}
			execJSON(t, s, &out, &errb, "bt -p -e", &e)
			found := false
			for _, ef := range e.Traces[0].ExceptionFrames {
				found = found || (!ef.User && ef.Regs["ip"] == rip)
			}
			if !found {
				t.Errorf("bt -p -e: no kernel-mode frame with ip %s (the panic task's first frame) in %+v", rip, e.Traces[0].ExceptionFrames)
			}
		})
	}
}

// TestBtThreadGroupRealDumps checks bt -g against the record's thread
// groups: the leader first, then every other thread of its tgid.
func TestBtThreadGroupRealDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		if !strings.Contains(d.Name, "/hangs") {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			groups := map[int][]int{}
			for _, w := range d.Truth.Tasks {
				if !walktest.RecorderTask(d.Truth, w.TID) && w.PID != walktest.RecorderPID(d.Truth) {
					groups[w.PID] = append(groups[w.PID], w.TID)
				}
			}
			tgid, n := 0, 0
			for g, tids := range groups {
				if len(tids) > n {
					tgid, n = g, len(tids)
				}
			}
			if n < 2 {
				t.Skip("no multi-threaded process in the record")
			}
			p := walktest.OpenReal(t, d)
			var out, errb bytes.Buffer
			s := NewSession(p, NewDefaultRegistry(), &out, &errb)
			var bt btJSON
			execJSON(t, s, &out, &errb, fmt.Sprintf("bt -g %d", groups[tgid][n-1]), &bt)
			got := map[int]bool{}
			for _, tr := range bt.Traces {
				got[tr.PID] = true
			}
			if len(bt.Traces) == 0 || bt.Traces[0].PID != tgid {
				t.Errorf("bt -g: first trace is not the leader %d", tgid)
			}
			for _, tid := range groups[tgid] {
				if !got[tid] {
					t.Errorf("bt -g: thread %d of %d missing", tid, tgid)
				}
			}
			if len(bt.Traces) != len(groups[tgid]) {
				t.Errorf("bt -g: %d traces, the record has %d threads in group %d", len(bt.Traces), len(groups[tgid]), tgid)
			}
		})
	}
}

// TestCrashFlagsBareKernel runs the new flags of bt, ps, net and dev on a
// kernel without the types they read: an error, never a panic.
func TestCrashFlagsBareKernel(t *testing.T) {
	k := synth.New()
	for _, line := range []string{"bt -F", "bt -FF 1", "bt -e", "bt -E", "bt -E -c 0", "bt -R schedule", "bt -S ffffc90000000000 1",
		"bt -S ffffc90000000000 -I schedule+4 1", "bt -r", "bt -p", "bt -g 1", "bt -a -n idle", "bt -sd", "ps -s", "ps -Y", "ps -a",
		"ps -m -C 0-3", "ps -H -I", "net -n", "net -n 1", "net -a", "dev -i"} {
		var out, errb bytes.Buffer
		s := NewSession(k.Prog, NewDefaultRegistry(), &out, &errb)
		s.Exec(context.Background(), line)
		if strings.Contains(errb.String(), "internal error") {
			t.Errorf("%s: %s", line, errb.String())
		}
	}
}

// TestBtExceptionSearchARM64RealDump checks bt -e and -E on the arm64
// guest: for each task the record shows in D state, the search finds the
// EL0 pt_regs the unwind ends at, and nothing it finds breaks the frame
// record rule the search checks.
func TestBtExceptionSearchARM64RealDump(t *testing.T) {
	testdata.EachArm64(t, testdata.GuestHangs, func(t *testing.T, d *testdata.Dump) {
		path := d.Path(testdata.FormatELF)
		if path == "" {
			t.Skipf("SKIP: %s has no ELF dump", d.ID())
		}
		p := walktest.OpenReal(t, testdata.RealDump{Name: d.ID(), Path: path})
		var out, errb bytes.Buffer
		s := NewSession(p, NewDefaultRegistry(), &out, &errb)
		checked := 0
		for _, w := range d.Truth.Tasks {
			if w.State != 'D' {
				continue
			}
			var full, e btJSON
			execJSON(t, s, &out, &errb, fmt.Sprintf("bt %d", w.TID), &full)
			if len(full.Traces) != 1 {
				t.Fatalf("bt %d: %d traces", w.TID, len(full.Traces))
			}
			user := full.Traces[0].UserRegs
			if user == nil {
				continue
			}
			execJSON(t, s, &out, &errb, fmt.Sprintf("bt -e %d", w.TID), &e)
			found := false
			for _, ef := range e.Traces[0].ExceptionFrames {
				found = found || (ef.User && ef.Addr == user.Addr)
			}
			if !found || e.Traces[0].SearchError != "" {
				t.Errorf("bt -e %d: user pt_regs at %s not among %+v (%s)", w.TID, user.Addr, e.Traces[0].ExceptionFrames, e.Traces[0].SearchError)
			}
			checked++
		}
		if checked == 0 {
			t.Errorf("no D task with user registers checked")
		}
		var cpus btJSON
		execJSON(t, s, &out, &errb, "bt -E", &cpus)
		if len(cpus.CPUStacks) == 0 {
			t.Errorf("bt -E: no CPU stack searched")
		}
		irqs := 0
		for _, cs := range cpus.CPUStacks {
			// The IRQ stacks, and with CONFIG_VMAP_STACK the overflow
			// stacks (exception kind).
			if (cs.Kind != "irq" && cs.Kind != "exception") || cs.Error != "" {
				t.Errorf("bt -E: cpu %d %s stack, error %q", cs.CPU, cs.Kind, cs.Error)
			}
			if cs.Kind == "irq" {
				irqs++
			}
		}
		if irqs == 0 {
			t.Errorf("bt -E: no IRQ stack searched")
		}
	})
}
