package symbols

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/testdata"
)

// openBTFSharedDump opens the shared dump (Debian 6.1.0-50-cloud-amd64,
// FUSE as a module) and its symbols, or skips.
func openBTFSharedDump(t testing.TB) (*kcore.Dump, SymbolTable) {
	t.Helper()
	d := openSharedDump(t)
	syms, err := LoadKernelSymbols(d, d.VMCoreInfo(), SymbolOptions{})
	if err != nil {
		t.Fatalf("symbols of the shared dump: %v", err)
	}
	return d, syms
}

// memberWant is a member the walkers rely on, with its kernel source file.
type memberWant struct {
	typ, member string
}

// dumpTypeChecks are the types and members the walkers need on the 6.1
// dump; each is a fact of that kernel's headers.
var dumpTypeChecks = []memberWant{
	{"struct task_struct", "__state"}, // include/linux/sched.h (6.1: __state)
	{"struct task_struct", "comm"},
	{"struct task_struct", "tasks"},
	{"struct mutex", "owner"},                         // include/linux/mutex.h
	{"struct mutex", "wait_list|first_waiter"},        // include/linux/mutex.h (first_waiter in 7.x)
	{"struct rw_semaphore", "count"},                  // include/linux/rwsem.h
	{"struct rw_semaphore", "wait_list|first_waiter"}, // include/linux/rwsem.h (first_waiter in 7.x)
	{"struct inode", "i_rwsem"},                       // include/linux/fs.h
	{"struct inode", "i_sb"},
	{"struct fuse_conn", "iq"},      // fs/fuse/fuse_i.h (module fuse.ko on 6.1)
	{"struct fuse_conn", "entry"},   // fs/fuse/fuse_i.h
	{"struct fuse_conn", "devices"}, // fs/fuse/fuse_i.h
	{"struct fuse_req", "waitq"},    // fs/fuse/fuse_i.h
}

func TestBTFSharedDump(t *testing.T) {
	d, syms := openBTFSharedDump(t)
	b, err := LoadBTFFromMemory(d, syms)
	if err != nil {
		t.Fatal(err)
	}
	checkDumpTypes(t, b, true)
	ts, _ := b.LookupType("struct task_struct")
	if ts != nil && (ts.Size < 1024 || ts.Size > 64<<10) {
		t.Errorf("task_struct size %d implausible", ts.Size)
	}
	mods := b.Modules()
	if len(mods) == 0 {
		t.Fatalf("no module BTF loaded; warnings: %q", b.Warnings())
	}
	hasFuse := false
	for _, m := range mods {
		hasFuse = hasFuse || m == "fuse"
	}
	if !hasFuse {
		t.Errorf("module fuse not among %v", mods)
	}
	if w := b.Warnings(); len(w) > 0 {
		t.Logf("warnings: %q", w)
	}
	for _, v := range []string{"runqueues", "current_task"} {
		if ty, err := b.VariableType(v); err != nil {
			t.Errorf("per-CPU variable %s: %v", v, err)
		} else {
			t.Logf("%s: %v", v, ty)
		}
	}
	t.Logf("%s (%v); %d type names", b.Describe(), mods, len(b.TypeNames()))
	checkGlobals(t, b, syms)
	// The same bytes as the vmlinux file's .BTF section, when the debug
	// package is unpacked.
	if vmlinux := debugVmlinuxPath(t); vmlinux != "" {
		fb, err := LoadBTFFile(vmlinux)
		if err != nil {
			t.Fatal(err)
		}
		if string(fb.vmlinux.raw) != string(b.vmlinux.raw) {
			t.Error("BTF in dump memory differs from the vmlinux .BTF section")
		}
	}
}

// checkGlobals checks that every global of the table that this kernel has
// gets a complete type from b.
func checkGlobals(t *testing.T, b *BTFTypes, syms SymbolTable) {
	t.Helper()
	for _, name := range GlobalNames() {
		if _, err := syms.Lookup(name); err != nil {
			continue // not in this kernel (pcpu_hot before 6.2, ...)
		}
		ty, err := LookupVariableType(b, name)
		if err != nil {
			t.Errorf("global %s: %v", name, err)
			continue
		}
		if r := ty.Resolve(); r.Kind == KindFwd || (r.Kind != KindArray && r.Size == 0) {
			t.Errorf("global %s: incomplete type %v", name, ty)
		}
	}

}

// debugVmlinuxPath returns the unpacked -dbg vmlinux of the shared dump's
// kernel, or "" (logged) when it is absent.
func debugVmlinuxPath(t testing.TB) string {
	t.Helper()
	p := filepath.Join(debugRoot(), "boot", "vmlinux-6.1.0-50-cloud-amd64")
	if _, err := os.Stat(p); err != nil {
		t.Logf("SKIP part: no debug vmlinux at %s (unpack linux-image-6.1.0-50-cloud-amd64-dbg there; $KWALK_DEBUG_ROOT overrides)", p)
		return ""
	}
	return p
}

// BenchmarkBTFDumpFirstLookup measures opening the dump, loading symbols
// and BTF from its memory, and the first struct task_struct.
func BenchmarkBTFDumpFirstLookup(b *testing.B) {
	path := testdata.SharedDump(b).Path
	var open, syms, load, lookup time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		d, err := kcore.Open(path, kcore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		st, err := LoadKernelSymbols(d, d.VMCoreInfo(), SymbolOptions{})
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		bt, err := LoadBTFFromMemory(d, st)
		if err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if _, err := bt.LookupType("struct task_struct"); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		open += t1.Sub(t0)
		syms += t2.Sub(t1)
		load += t3.Sub(t2)
		lookup += t4.Sub(t3)
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64((open/n).Microseconds())/1000, "open-ms")
	b.ReportMetric(float64((syms/n).Microseconds())/1000, "syms-ms")
	b.ReportMetric(float64((load/n).Microseconds())/1000, "btf-ms")
	b.ReportMetric(float64((lookup/n).Microseconds())/1000, "task_struct-ms")
	reportMaxRSS(b)
}

// BenchmarkBTFLookupCached is the hot path: a lookup already converted.
func BenchmarkBTFLookupCached(b *testing.B) {
	bt := fixtureTypes(b)
	if _, err := bt.LookupType("struct list_head *"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := bt.LookupType("struct list_head *"); err != nil {
			b.Fatal(err)
		}
	}
}
