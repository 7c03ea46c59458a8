package symbols

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/kcore"
)

func TestKallsymsSharedDump(t *testing.T) {
	d := openSharedDump(t)
	info := d.VMCoreInfo()
	tab, ki, err := loadKallsymsVMCoreInfo(d, info)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", tab.Describe())
	checkVmlinuxTable(t, d, info, tab)
	if !ki.MarkersChecked {
		t.Errorf("kallsyms_markers after the names were not found or disagree")
	}
}

// TestKallsymsScanSharedDump finds the same tables by scanning, as for a
// 5.10 kernel (6.1 emits them in the 5.10 order).
func TestKallsymsScanSharedDump(t *testing.T) {
	d := openSharedDump(t)
	info := d.VMCoreInfo()
	tab, ki, err := loadKallsymsScan(d, info)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := info.Symbol("kallsyms_names"); ki.NamesAddr != want {
		t.Errorf("scan found kallsyms_names at %#x, VMCOREINFO says %#x", ki.NamesAddr, want)
	}
	checkVmlinuxTable(t, d, info, tab)
}

func checkVmlinuxTable(t *testing.T, d *kcore.Dump, info *kcore.VMCoreInfo, tab *SymTable) {
	t.Helper()
	numAddr, _ := info.Symbol("kallsyms_num_syms")
	n, err := readTableU32(d, numAddr, "kallsyms_num_syms")
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != int(n) {
		t.Errorf("decoded %d symbols, kallsyms_num_syms is %d", tab.Len(), n)
	}
	for _, name := range []string{"_stext", "init_uts_ns", "swapper_pg_dir", "node_data"} {
		want, ok := info.Symbol(name)
		if !ok {
			continue
		}
		got, err := tab.Lookup(name)
		if name == "swapper_pg_dir" { // #define'd to init_top_pgt on x86_64
			got, err = tab.Lookup("init_top_pgt")
		}
		if err != nil || got.Addr != want {
			t.Errorf("%s: table %#x (%v), VMCOREINFO %#x", name, got.Addr, err, want)
		}
	}
	for _, name := range []string{"init_task", "linux_banner", "__start_BTF", "__stop_BTF", "__start_orc_unwind_ip", "modules"} {
		if _, err := tab.Lookup(name); err != nil {
			t.Errorf("%v", err)
		}
	}
	// linux_banner in memory names the release VMCOREINFO gives.
	lb, _ := tab.Lookup("linux_banner")
	buf := make([]byte, 256)
	if err := d.ReadVirt(buf, lb.Addr); err != nil {
		t.Errorf("read linux_banner: %v", err)
	} else if rel := info.OSRelease(); !strings.Contains(string(buf), rel) {
		t.Errorf("linux_banner %q does not mention %q", buf, rel)
	}
	// The guest's own /proc stacks: name+off/size of every vmlinux frame.
	checkTruthFrames(t, tab, sharedTruthFrames(t), framesVmlinux)
}

func TestLoadKernelSymbolsSharedDump(t *testing.T) {
	d := openSharedDump(t)
	st, err := LoadKernelSymbols(d, d.VMCoreInfo(), SymbolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Describe(), "VMCOREINFO") {
		t.Errorf("auto load chose %s", st.Describe())
	}
	st, err = LoadKernelSymbols(d, d.VMCoreInfo(), SymbolOptions{Source: SourceScan})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Describe(), "scanning") {
		t.Errorf("forced scan gave %s", st.Describe())
	}
}

// BenchmarkKallsymsDecodeSharedDump reads and decodes the whole kallsyms
// table of the shared dump (the dump's page cache is warm after the first
// iteration, so this is mostly the decode).
func BenchmarkKallsymsDecodeSharedDump(b *testing.B) {
	d := openSharedDump(b)
	info := d.VMCoreInfo()
	for b.Loop() {
		if _, _, err := loadKallsymsVMCoreInfo(d, info); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/decode")
}

func BenchmarkKallsymsScanSharedDump(b *testing.B) {
	d := openSharedDump(b)
	info := d.VMCoreInfo()
	for b.Loop() {
		if _, _, err := loadKallsymsScan(d, info); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scan")
}

func sharedTable(b *testing.B) *SymTable {
	d := openSharedDump(b)
	tab, _, err := loadKallsymsVMCoreInfo(d, d.VMCoreInfo())
	if err != nil {
		b.Fatal(err)
	}
	return tab
}

func BenchmarkLookupSharedDump(b *testing.B) {
	tab := sharedTable(b)
	syms := tab.Symbols()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := tab.Lookup(syms[(i*7919)%len(syms)].Name); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookupAddrSharedDump(b *testing.B) {
	tab := sharedTable(b)
	syms := tab.Symbols()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		tab.LookupAddr(syms[(i*7919)%len(syms)].Addr + 1)
	}
}
