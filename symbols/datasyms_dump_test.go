package symbols

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/testdata"
)

// TestDataSymbolsAgainstSystemMap opens the aarch64 dumps (kallsyms without
// data symbols, or reduced to its text symbols where the kernel has
// CONFIG_KALLSYMS_ALL) with nothing but the dump and checks every data symbol
// discovery found against the -dbg package's System.map: none may be at
// another address. Names System.map does not have must be VMCOREINFO's
// own (node_online_map is node_states[N_ONLINE]). The symbols ps, bt, log,
// sys and deadlock need must all be found.
func TestDataSymbolsAgainstSystemMap(t *testing.T) {
	testdata.EachArm64(t, testdata.GuestHangs, func(t *testing.T, d *testdata.Dump) {
		if d.DebugRoot == "" {
			t.Skipf("SKIP: no -dbg package unpacked for %s (%s)", d.ID(), testdata.GenerateCommand)
		}
		sysMap := filepath.Join(d.DebugRoot, "boot", "System.map-"+d.Truth.Release())
		if _, err := os.Stat(sysMap); err != nil {
			t.Fatal(err)
		}
		need := []string{
			"init_task", "__per_cpu_offset", "nr_cpu_ids", "__cpu_online_mask", "__cpu_possible_mask",
			"runqueues", "irq_stack_ptr", "timer_bases", "hrtimer_bases", "prb", "init_uts_ns",
			"jiffies_64", "avenrun", "_totalram_pages", "modules", "btf_modules", "super_blocks", "worker_pool_idr",
		}
		for _, f := range []testdata.Format{testdata.FormatELF, testdata.FormatKdumpZlib} {
			path := d.Path(f)
			if path == "" {
				t.Errorf("%s has no %s dump", d.ID(), f)
				continue
			}
			t.Run(string(f), func(t *testing.T) {
				dump, err := kcore.Open(path, kcore.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer dump.Close()
				info := dump.VMCoreInfo()
				syms, err := LoadKernelSymbols(dump, info, SymbolOptions{})
				if err != nil {
					t.Fatal(err)
				}
				ds, ok := syms.(*DataSymTable)
				if st, full := syms.(*SymTable); full && !lacksData(st) {
					// A kernel with CONFIG_KALLSYMS_ALL (Debian's 7.x
					// arm64 ones): discovery runs on a text-only copy of
					// its kallsyms, as TestDataSymbolsX86 does.
					img, err := imageLayoutOf(st, info)
					if err != nil {
						t.Fatal(err)
					}
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
					ds, ok = newDataSymTable(textOnly, dump, info), true
					syms = ds
				}
				if !ok {
					t.Fatalf("kallsyms of %s: %T (%s), want the table that finds data symbols", path, syms, syms.Describe())
				}
				btf, err := LoadBTFFromMemory(dump, syms)
				if err != nil {
					t.Fatal(err)
				}
				NewProgram(dump, syms, btf) // runs discovery
				sm, err := LoadSystemMap(sysMap, info)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range ds.Found() {
					all := sm.LookupAll(s.Name)
					if len(all) == 0 {
						if v, ok := info.Symbol(s.Name); !ok || v != s.Addr {
							t.Errorf("%s at %#x: not in System.map, nor VMCOREINFO's", s.Name, s.Addr)
						}
						continue
					}
					match := false
					for _, m := range all {
						match = match || m.Addr == s.Addr
					}
					if !match {
						t.Errorf("%s found at %#x, System.map says %#x", s.Name, s.Addr, all[0].Addr)
					}
				}
				for _, n := range need {
					if _, err := syms.Lookup(n); err != nil {
						t.Errorf("%v", err)
					}
				}
				// kernel/time/timekeeping.c: tk_core up to 6.12,
				// timekeeper_data[] (struct tk_data) since.
				tk := "tk_core"
				if _, err := btf.LookupType("struct tk_data"); err == nil {
					tk = "timekeeper_data"
				}
				if _, err := syms.Lookup(tk); err != nil {
					t.Errorf("%v", err)
				}
				if n := len(ds.Found()); n < 500 {
					t.Errorf("only %d data symbols found", n)
				}
				t.Logf("%s", ds.Describe())
			})
		}
	})
}
