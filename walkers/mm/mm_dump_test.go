package mm_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/mm"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// The guest writes its record (/proc files) before the scenarios run and
// the dump is taken; what the kernel keeps constant (totals, sizes) must
// match exactly, what moves (free pages, object counts) within a
// tolerance of this share of the total.
const movingTolerance = 0.15

// recordFile returns a file of the record, skipping the test when the
// record predates the system files.
func recordFile(t *testing.T, d testdata.RealDump, path string) []string {
	t.Helper()
	lines, ok := d.Truth.Files[path]
	if !ok {
		t.Skipf("the record has no %s (older generator)", path)
	}
	return lines
}

// needX86Kernel skips a real-dump test on a dump these walkers do not
// read: a kernel whose kallsyms has no data symbols (CONFIG_KALLSYMS_ALL
// off, as on Debian's arm64 kernels, opened without a System.map) or a
// machine other than x86_64 (the page tables and memory map layout read
// here are x86_64's).
func needX86Kernel(t *testing.T, p *symbols.Program) {
	t.Helper()
	if _, err := p.Symbol("init_task"); err != nil {
		t.Skipf("SKIP: no data symbols in the dump's kallsyms (CONFIG_KALLSYMS_ALL off; give --system-map): %v", err)
	}
	if p.Dump != nil && p.Dump.Machine() != "" && p.Dump.Machine() != "x86_64" {
		t.Skipf("SKIP: %s dump: the memory walkers read x86_64 kernels", p.Dump.Machine())
	}
}

func near(got, want, total uint64) bool {
	diff := float64(got) - float64(want)
	if diff < 0 {
		diff = -diff
	}
	return diff <= movingTolerance*float64(total)+8
}

// TestMemInfoMatchesRecord: kmem -i against /proc/meminfo.
func TestMemInfoMatchesRecord(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			lines := recordFile(t, d, "/proc/meminfo")
			rec := map[string]uint64{}
			for _, l := range lines {
				k, v, ok := strings.Cut(l, ":")
				if !ok {
					continue
				}
				f := strings.Fields(v)
				if len(f) == 0 {
					continue
				}
				n, err := strconv.ParseUint(f[0], 10, 64)
				if err == nil {
					rec[k] = n
				}
			}
			p := walktest.OpenReal(t, d)
			needX86Kernel(t, p)
			m, err := mm.ReadMemInfo(p)
			if err != nil {
				t.Fatal(err)
			}
			kb := m.PageSize / 1024
			if m.Total*kb != rec["MemTotal"] {
				t.Errorf("total %d kB, record MemTotal %d kB", m.Total*kb, rec["MemTotal"])
			}
			if m.SwapTotal*kb != rec["SwapTotal"] {
				t.Errorf("swap total %d kB, record %d kB", m.SwapTotal*kb, rec["SwapTotal"])
			}
			if m.CommitLimit*kb != rec["CommitLimit"] {
				t.Errorf("commit limit %d kB, record %d kB", m.CommitLimit*kb, rec["CommitLimit"])
			}
			if m.HugePages != rec["HugePages_Total"] {
				t.Errorf("huge pages %d, record %d", m.HugePages, rec["HugePages_Total"])
			}
			for _, c := range []struct {
				name string
				got  uint64
			}{{"MemFree", m.Free}, {"Shmem", m.Shared}, {"Cached", m.Cached}, {"Buffers", m.Buffers}, {"Slab", m.Slab}, {"SwapFree", m.SwapFree}} {
				if !near(c.got*kb, rec[c.name], rec["MemTotal"]) {
					t.Errorf("%s: %d kB, record %d kB (beyond %.0f%% of MemTotal)", c.name, c.got*kb, rec[c.name], movingTolerance*100)
				}
			}
			if len(m.Notes) > 0 {
				t.Errorf("notes: %v", m.Notes)
			}
		})
	}
}

// TestZonesMatchRecord: kmem -z against /proc/zoneinfo.
func TestZonesMatchRecord(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			lines := recordFile(t, d, "/proc/zoneinfo")
			type recZone map[string]uint64
			rec := map[string]recZone{}
			var cur recZone
			for _, l := range lines {
				f := strings.Fields(strings.ReplaceAll(l, ",", " "))
				if len(f) >= 4 && f[0] == "Node" && f[2] == "zone" {
					cur = recZone{}
					rec[f[1]+"/"+f[3]] = cur
					continue
				}
				if cur == nil || len(f) < 2 {
					continue
				}
				key, val := f[0], f[1]
				if f[0] == "pages" && len(f) >= 3 && f[1] == "free" {
					key, val = "free", f[2]
				}
				if _, seen := cur[key]; seen {
					continue
				}
				if n, err := strconv.ParseUint(val, 10, 64); err == nil {
					cur[key] = n
				}
			}
			p := walktest.OpenReal(t, d)
			needX86Kernel(t, p)
			nodes, err := mm.Nodes(p, false)
			if err != nil {
				t.Fatal(err)
			}
			var managed uint64
			for _, n := range nodes {
				for _, z := range n.Zones {
					managed += z.Managed
				}
			}
			seen := 0
			for _, n := range nodes {
				for _, z := range n.Zones {
					r, ok := rec[fmt.Sprintf("%d/%s", n.ID, z.Name)]
					if !ok {
						continue
					}
					seen++
					for _, c := range []struct {
						name string
						got  uint64
					}{{"spanned", z.Spanned}, {"present", z.Present}, {"managed", z.Managed}, {"min", z.Min}, {"low", z.Low}, {"high", z.High}} {
						if want, ok := r[c.name]; ok && c.got != want {
							t.Errorf("node %d zone %s %s: %d, record %d", n.ID, z.Name, c.name, c.got, want)
						}
					}
					if !near(z.Free, r["free"], managed) {
						t.Errorf("node %d zone %s free: %d, record %d", n.ID, z.Name, z.Free, r["free"])
					}
				}
			}
			if seen != len(rec) {
				t.Errorf("%d zones matched, the record has %d", seen, len(rec))
			}
		})
	}
}

// TestVMStatMatchesRecord: kmem -V names and counters against /proc/vmstat.
func TestVMStatMatchesRecord(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			lines := recordFile(t, d, "/proc/vmstat")
			rec := map[string]int64{}
			for _, l := range lines {
				f := strings.Fields(l)
				if len(f) == 2 {
					if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
						rec[f[0]] = n
					}
				}
			}
			p := walktest.OpenReal(t, d)
			needX86Kernel(t, p)
			s, err := mm.ReadVMStat(p)
			if err != nil {
				t.Fatal(err)
			}
			var missing []string
			total := 0
			for _, set := range [][]mm.Counter{s.Zone, s.Node, s.NUMA} {
				for _, c := range set {
					total++
					if _, ok := rec[c.Name]; !ok {
						missing = append(missing, c.Name)
					}
				}
			}
			// a few counters are not shown (NR_FREE_PAGES_BLOCKS of 7.x…)
			if len(missing) > total/10 {
				t.Errorf("%d of %d counters not named as /proc/vmstat names them: %v", len(missing), total, missing)
			}
			mi, _ := mm.ReadMemInfo(p)
			for _, name := range []string{"NR_FREE_PAGES", "NR_SHMEM", "NR_FILE_PAGES"} {
				v, _ := s.Get(name)
				if !near(uint64(v), uint64(rec[strings.ToLower(name)]), mi.Total) {
					t.Errorf("%s: %d, record %d", name, v, rec[strings.ToLower(name)])
				}
			}
		})
	}
}

// TestCachesMatchSlabinfo: kmem -s against /proc/slabinfo: the same
// caches with the same object sizes and objects per slab; the object
// counts within the tolerance.
func TestCachesMatchSlabinfo(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			lines := recordFile(t, d, "/proc/slabinfo")
			type rc struct{ active, num, objsize, perSlab uint64 }
			rec := map[string]rc{}
			for _, l := range lines {
				f := strings.Fields(l)
				if len(f) < 6 || strings.HasPrefix(l, "slabinfo") || strings.HasPrefix(l, "#") {
					continue
				}
				var v [5]uint64
				ok := true
				for i := range v {
					n, err := strconv.ParseUint(f[i+1], 10, 64)
					ok = ok && err == nil
					v[i] = n
				}
				if ok {
					rec[f[0]] = rc{v[0], v[1], v[2], v[3]}
				}
			}
			p := walktest.OpenReal(t, d)
			needX86Kernel(t, p)
			got := map[string]*mm.Cache{}
			err := mm.Caches(context.Background(), p, true, func(c *mm.Cache) error {
				if len(c.Errors) > 0 {
					t.Errorf("cache %s: %v", c.Name, c.Errors)
				}
				got[c.Name] = c
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var totalRec, totalGot uint64
			for name, r := range rec {
				c, ok := got[name]
				if !ok {
					t.Errorf("cache %s of the record not found", name)
					continue
				}
				if c.Size != r.objsize || c.PerSlab != r.perSlab {
					t.Errorf("cache %s: size %d, %d per slab; record %d, %d", name, c.Size, c.PerSlab, r.objsize, r.perSlab)
				}
				if c.Active > c.Objects {
					t.Errorf("cache %s: %d active of %d", name, c.Active, c.Objects)
				}
				if recordGrows[name] {
					continue
				}
				totalRec += r.num * r.objsize
				totalGot += c.Objects * c.Size
			}
			if len(got) < len(rec) {
				t.Errorf("%d caches, record %d", len(got), len(rec))
			}
			if !near(totalGot, totalRec, totalRec) {
				t.Errorf("bytes of all objects: %d, record %d", totalGot, totalRec)
			}
			t.Logf("%d caches (record %d); object bytes %d (record %d)", len(got), len(rec), totalGot, totalRec)
		})
	}
}

// recordGrows are the caches the record itself fills after it reads
// /proc/slabinfo: it then reads /proc/PID/* of every task, whose inodes
// and dentries stay cached (10,000 threads: +17 MB on the scale guest).
var recordGrows = map[string]bool{"proc_inode_cache": true, "dentry": true, "lsm_inode_cache": true, "filp": true}

// TestSwapMatchesRecord: swap against /proc/swaps.
func TestSwapMatchesRecord(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			lines := recordFile(t, d, "/proc/swaps")
			var rec [][]string
			for _, l := range lines[min(1, len(lines)):] {
				if f := strings.Fields(l); len(f) >= 5 {
					rec = append(rec, f)
				}
			}
			p := walktest.OpenReal(t, d)
			needX86Kernel(t, p)
			devs, err := mm.SwapDevices(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(devs) != len(rec) {
				t.Fatalf("%d swap devices, record %d: %+v", len(devs), len(rec), devs)
			}
			kb := mm.PageSize(p) / 1024
			for i, r := range rec {
				dv := devs[i]
				if dv.Path != r[0] || dv.Kind != r[1] || fmt.Sprint(dv.Pages*kb) != r[2] || fmt.Sprint(dv.Priority) != r[4] {
					t.Errorf("swap %d: %s %s %dk prio %d; record %v", i, dv.Path, dv.Kind, dv.Pages*kb, dv.Priority, r)
				}
			}
		})
	}
}

// TestVMAsMatchRecord: vm against each process's /proc/PID/maps: every
// VMA's start, end and path (file, [heap], [stack], [vdso]...).
func TestVMAsMatchRecord(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			needX86Kernel(t, p)
			var same, differ int
			for _, rt := range d.Truth.Tasks {
				if len(rt.Maps) == 0 || rt.TID != rt.PID {
					continue
				}
				want := mapsLines(rt.Maps)
				task, err := sched.TaskByPID(p, rt.PID)
				if err != nil {
					differ++
					t.Logf("pid %d: %v", rt.PID, err)
					continue
				}
				got, err := vmaLines(p, task)
				if err != nil {
					t.Errorf("pid %d (%s): %v", rt.PID, rt.Comm, err)
					continue
				}
				if strings.Join(got, "\n") == strings.Join(want, "\n") {
					same++
					continue
				}
				differ++
				t.Logf("pid %d (%s):\n got %q\nwant %q", rt.PID, rt.Comm, got, want)
			}
			if same+differ == 0 {
				t.Skip("the record has no /proc/PID/maps")
			}
			// processes that ran on between record and dump may differ
			if same == 0 || differ > same {
				t.Errorf("%d processes' VMAs match the record, %d differ", same, differ)
			}
			t.Logf("%d processes match exactly, %d differ", same, differ)
		})
	}
}

func mapsLines(maps []string) []string {
	var out []string
	for _, l := range maps {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		if strings.HasPrefix(f[0], "ffffffffff600000") { // [vsyscall]: no VMA
			continue
		}
		path := ""
		if len(f) >= 6 {
			path = strings.Join(f[5:], " ")
		}
		out = append(out, f[0]+" "+path)
	}
	return out
}

func vmaLines(p *symbols.Program, task sched.Task) ([]string, error) {
	m, ok, err := mm.TaskMM(p, task)
	if err != nil || !ok {
		return nil, err
	}
	var out []string
	err = m.VMAs(p, func(v mm.VMA) error {
		if len(v.Errors) > 0 {
			return fmt.Errorf("vma %#x: %v", v.Addr, v.Errors)
		}
		out = append(out, fmt.Sprintf("%08x-%08x %s", v.Start, v.End, v.Path))
		return nil
	})
	return out, err
}
