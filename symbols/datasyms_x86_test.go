package symbols

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/testdata"
)

// TestDataSymbolsTextOnlyKallsyms checks that discovery does not depend on
// one kernel: on the x86_64 dumps of every kernel (whose kallsyms has all
// symbols) it is run over a text-only copy of kallsyms, as a kernel
// without CONFIG_KALLSYMS_ALL would have, and every data symbol it finds
// must be where the full kallsyms has it (zero-based per-CPU addresses
// included).
func TestDataSymbolsTextOnlyKallsyms(t *testing.T) {
	seen := map[string]bool{}
	for _, rd := range testdata.GeneratedDumps(t) {
		gd := rd.Generated
		if gd == nil || !strings.HasSuffix(rd.Name, "/hangs") || seen[rd.Name] {
			continue
		}
		seen[rd.Name] = true
		t.Run(rd.Name, func(t *testing.T) {
			d, err := kcore.Open(rd.Path, kcore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			info := d.VMCoreInfo()
			full, err := LoadKernelSymbols(d, info, SymbolOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := full.(*DataSymTable); ok {
				// Debian's arm64 6.1: kallsyms is text-only already
				// (TestDataSymbolsAgainstSystemMap checks it).
				t.Skipf("SKIP: %s: kallsyms has no data symbols to compare with", rd.Name)
			}
			st, ok := full.(*SymTable)
			if !ok {
				t.Fatalf("kallsyms is %T", full)
			}
			img, err := imageLayoutOf(full, info)
			if err != nil {
				t.Fatal(err)
			}
			// What scripts/kallsyms.c keeps without --all-symbols: the
			// symbols in the text ranges.
			var text []Symbol
			for _, s := range st.Symbols() {
				if img.isText(s.Addr) || s.Name == "_etext" || s.Name == "_einittext" {
					text = append(text, s)
				}
			}
			textOnly := NewSymTable("text-only kallsyms", text, st.Extents())
			if !lacksData(textOnly) {
				t.Fatal("the text-only copy has init_task")
			}
			types, err := LoadBTFFromMemory(d, full)
			if err != nil {
				t.Fatal(err)
			}
			ds := newDataSymTable(textOnly, d, info)
			NewProgram(d, ds, types)
			found := ds.Found()
			for _, s := range found {
				all := st.LookupAll(s.Name)
				if len(all) == 0 {
					if v, ok := info.Symbol(s.Name); !ok || v != s.Addr {
						t.Errorf("%s at %#x: not in kallsyms, nor VMCOREINFO's", s.Name, s.Addr)
					}
					continue
				}
				match := false
				for _, m := range all {
					match = match || m.Addr == s.Addr
				}
				if !match {
					t.Errorf("%s found at %#x, kallsyms says %#x", s.Name, s.Addr, all[0].Addr)
				}
			}
			need := []string{"init_task", "__per_cpu_offset", "nr_cpu_ids", "__cpu_online_mask", "runqueues", "prb", "jiffies_64", "modules", "super_blocks"}
			if _, _, err := types.PerCPUSection(); err == nil {
				need = append(need, "timer_bases", "hrtimer_bases", "worker_pool_idr")
			} else {
				t.Logf("no per-CPU section in BTF (%v): only runqueues is looked for", err)
			}
			for _, n := range need {
				if _, err := ds.Lookup(n); err != nil {
					t.Error(err)
				}
			}
			t.Logf("%s", ds.Describe())
		})
	}
}
