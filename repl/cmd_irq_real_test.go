package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// execJSON runs line with --json in a session on p and decodes its
// document into v.
func execJSON(t *testing.T, s *Session, out, errb *bytes.Buffer, line string, v any) {
	t.Helper()
	out.Reset()
	errb.Reset()
	if st := s.Exec(context.Background(), line+" --json"); st != ExitOK {
		t.Fatalf("%s: status %d: %s %s", line, st, out.String(), errb.String())
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		t.Fatalf("%s: %v: %s", line, err, out.String())
	}
}

// TestIRQRealDumps compares irq -s with the guest's /proc/interrupts on
// every generated dump: the same numbered lines, each with the same chip,
// hwirq, flow and action names, and per-CPU counts that are at least the
// recorded ones (they only grow; the timer's and the serial console's
// grow between the record and the dump, the others stay).
func TestIRQRealDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			rec := d.Truth.Files["/proc/interrupts"]
			if len(rec) == 0 {
				t.Skip("the record has no /proc/interrupts")
			}
			p := walktest.OpenReal(t, d)
			needDataSymbols(t, p, "sparse_irqs|irq_desc_tree")
			var out, errb bytes.Buffer
			s := NewSession(p, NewDefaultRegistry(), &out, &errb)
			var res IRQResult
			execJSON(t, s, &out, &errb, "irq -s", &res)
			if len(res.Warnings) > 0 {
				t.Errorf("warnings: %v", res.Warnings)
			}
			got := map[int]IRQRow{}
			for _, ds := range res.IRQs {
				got[ds.IRQ] = ds
			}
			ncpu := len(strings.Fields(rec[0]))
			if ncpu != len(res.CPUs) {
				t.Errorf("record has %d CPU columns, dump %d online CPUs", ncpu, len(res.CPUs))
			}
			lines, same := 0, 0
			for _, l := range rec[1:] {
				f := strings.Fields(l)
				if len(f) < 1+ncpu {
					continue
				}
				n, err := strconv.Atoi(strings.TrimSuffix(f[0], ":"))
				if err != nil {
					continue // an architecture line (NMI, LOC, ...)
				}
				lines++
				ds, ok := got[n]
				if !ok {
					t.Errorf("irq %d of /proc/interrupts not shown", n)
					continue
				}
				delete(got, n)
				// The text after the counts: chip, hwirq-flow, actions.
				want := strings.Join(f[1+ncpu:], " ")
				var b strings.Builder
				b.WriteString(ds.ChipName)
				if ds.PrintChip != "" {
					// A chip that prints its own name (irq_print_chip):
					// the record's first word is that name.
					b.Reset()
					b.WriteString(f[1+ncpu])
				}
				if ds.HasDomain {
					fmt.Fprintf(&b, " %d", ds.HWIRQ)
				}
				if ds.Trigger != "" {
					b.WriteString(" " + ds.Trigger)
				}
				if ds.FlowName != "" {
					fmt.Fprintf(&b, "-%s", ds.FlowName)
				}
				for i, a := range ds.Actions {
					if i == 0 {
						b.WriteString(" " + a.Name)
					} else {
						b.WriteString(", " + a.Name)
					}
				}
				if gotText := strings.Join(strings.Fields(b.String()), " "); gotText != want {
					t.Errorf("irq %d: %q, record %q", n, gotText, want)
				}
				moved := false
				for i, c := range res.CPUs {
					if i >= ncpu {
						break
					}
					w, err := strconv.ParseUint(f[1+i], 10, 64)
					if err != nil {
						t.Fatalf("record line %q: %v", l, err)
					}
					var g uint64
					if c < len(ds.Counts) {
						g = ds.Counts[c]
					}
					if g < w {
						t.Errorf("irq %d cpu %d: count %d, record %d (counts only grow)", n, c, g, w)
					}
					moved = moved || g != w
				}
				if !moved {
					same++
				}
			}
			for n := range got {
				t.Errorf("irq %d shown but not in /proc/interrupts", n)
			}
			if lines == 0 {
				t.Fatal("no numbered line in the record's /proc/interrupts")
			}
			if same*2 < lines {
				t.Errorf("only %d of %d irqs have the recorded counts", same, lines)
			}
			t.Logf("%d irqs match /proc/interrupts, %d with the same counts", lines, same)
		})
	}
}

// needDataSymbols skips a real-dump test whose kallsyms has no data
// symbols (a kernel without CONFIG_KALLSYMS_ALL, such as Debian's arm64
// ones, opened without its System.map) and whose dump does not give the
// ones it needs either (symbols/datasyms.go finds only some): init_task,
// and of each of names (alternatives separated by "|") one.
func needDataSymbols(t *testing.T, p *symbols.Program, names ...string) {
	t.Helper()
	if _, err := p.Symbol("init_task"); err != nil {
		t.Skipf("SKIP: no data symbols in the dump's kallsyms (CONFIG_KALLSYMS_ALL off; give --system-map): %v", err)
	}
	for _, alts := range names {
		var err error
		for _, n := range strings.Split(alts, "|") {
			if _, err = p.Symbol(n); err == nil {
				break
			}
		}
		if err != nil {
			t.Skipf("SKIP: %s not found in a text-only kallsyms nor in the dump (give --system-map): %v", alts, err)
		}
	}
}
