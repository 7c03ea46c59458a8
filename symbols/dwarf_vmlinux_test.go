package symbols

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tests against the Debian 6.1.0-50-cloud-amd64 debug package (the shared
// dump's kernel), unpacked under debugRoot(). They skip, naming the path,
// when it is absent.

const debugRelease = "6.1.0-50-cloud-amd64"

func openDebugDWARF(t testing.TB) (*DWARFTypes, string) {
	t.Helper()
	vmlinux := filepath.Join(debugRoot(), "boot", "vmlinux-"+debugRelease)
	if _, err := os.Stat(vmlinux); err != nil {
		t.Skipf("SKIP: needs the debug vmlinux %s (apt-get download linux-image-%s-dbg; dpkg-deb -x it so that usr/lib/debug is $KWALK_DEBUG_ROOT): %v", vmlinux, debugRelease, err)
	}
	d, err := OpenDWARF(vmlinux, []string{filepath.Join(debugRoot(), "lib", "modules", debugRelease)})
	if err != nil {
		t.Fatal(err)
	}
	return d, vmlinux
}

func TestDWARFVmlinuxFirstLookup(t *testing.T) {
	t0 := time.Now()
	d, _ := openDebugDWARF(t)
	defer d.Close()
	t1 := time.Now()
	ts, err := d.LookupType("struct task_struct")
	if err != nil {
		t.Fatal(err)
	}
	t2 := time.Now()
	t.Logf("open %v, first struct task_struct %v (%d units indexed), size %d", t1.Sub(t0), t2.Sub(t1), d.vmlinux.idx.units, ts.Size)
	if !ts.HasMember("__state") {
		t.Error("6.1 task_struct has no __state") // include/linux/sched.h
	}
	if t2.Sub(t0) > 5*time.Second {
		t.Errorf("open to first lookup took %v", t2.Sub(t0))
	}
}

// TestDWARFAgreesWithBTF compares the walkers' structs member by member:
// the vmlinux .BTF section was generated from this same DWARF by pahole.
func TestDWARFAgreesWithBTF(t *testing.T) {
	d, vmlinux := openDebugDWARF(t)
	defer d.Close()
	b, err := LoadBTFFile(vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	fuseKo := filepath.Join(debugRoot(), "lib", "modules", debugRelease, "kernel", "fs", "fuse", "fuse.ko")
	if err := b.AddModuleFile("fuse", fuseKo); err != nil {
		t.Fatal(err)
	}
	d.SetModules([]string{"fuse"})
	for _, name := range []string{
		"struct task_struct", "struct mutex", "struct rw_semaphore", "struct inode",
		"struct file", "struct dentry", "struct super_block", "struct mm_struct",
		"struct fuse_conn", "struct fuse_req", "struct fuse_iqueue", "struct wait_queue_entry",
	} {
		dt, err := d.LookupType(name)
		if err != nil {
			t.Errorf("DWARF %s: %v", name, err)
			continue
		}
		bt, err := b.LookupType(name)
		if err != nil {
			t.Errorf("BTF %s: %v", name, err)
			continue
		}
		if msg := compareTypes(dt, bt, name, 0); msg != "" {
			t.Errorf("DWARF and BTF disagree: %s", msg)
		}
	}
}

// compareTypes compares two aggregates member by member (name, offset,
// bit offset/size, member type size), descending into anonymous members.
func compareTypes(a, b *Type, path string, depth int) string {
	a, b = a.Resolve(), b.Resolve()
	if a.Kind != b.Kind || a.Size != b.Size {
		return fmt.Sprintf("%s: %v/%d vs %v/%d", path, a.Kind, a.Size, b.Kind, b.Size)
	}
	if len(a.Members) != len(b.Members) {
		return fmt.Sprintf("%s: %d vs %d members", path, len(a.Members), len(b.Members))
	}
	for i := range a.Members {
		ma, mb := a.Members[i], b.Members[i]
		p := path + "." + ma.Name
		if ma.Name != mb.Name || ma.Offset != mb.Offset || ma.BitOffset != mb.BitOffset || ma.BitSize != mb.BitSize {
			return fmt.Sprintf("%s: %q@%d/%d:%d vs %q@%d/%d:%d", p, ma.Name, ma.Offset, ma.BitOffset, ma.BitSize, mb.Name, mb.Offset, mb.BitOffset, mb.BitSize)
		}
		if sa, sb := ma.Type.Resolve().Size, mb.Type.Resolve().Size; sa != sb {
			return fmt.Sprintf("%s: member size %d vs %d", p, sa, sb)
		}
		if ma.Name == "" && depth < 8 {
			if msg := compareTypes(ma.Type, mb.Type, p+"<anon>", depth+1); msg != "" {
				return msg
			}
		}
	}
	return ""
}

func TestDWARFVmlinuxVariables(t *testing.T) {
	d, _ := openDebugDWARF(t)
	defer d.Close()
	d.SetModules([]string{"fuse"}) // the shared dump's loaded modules
	// Every table entry must agree with DWARF on the type's spelling and
	// size, where DWARF knows the variable.
	for _, name := range GlobalNames() {
		want, _ := GlobalType(name)
		dt, err := d.VariableType(name)
		if err != nil {
			t.Logf("%s: not in this kernel's DWARF: %v", name, err)
			continue
		}
		if dt.Resolve().Kind == KindFwd {
			t.Errorf("%s: DWARF gave the declaration %v, not the definition", name, dt)
		}
		tt, err := d.LookupType(want)
		if err != nil {
			t.Errorf("%s: table type %q: %v", name, want, err)
			continue
		}
		if dt.Resolve().Kind != tt.Resolve().Kind || (tt.Size != 0 && dt.Size != tt.Size) {
			t.Errorf("%s: DWARF says %v (%d bytes), the table %q (%d bytes)", name, dt, dt.Size, want, tt.Size)
		}
	}
}

// systemMap reads the -dbg package's System.map for function addresses.
func systemMap(t *testing.T) map[string]uint64 {
	t.Helper()
	p := filepath.Join(debugRoot(), "boot", "System.map-"+debugRelease)
	f, err := os.Open(p)
	if err != nil {
		t.Skipf("SKIP: needs %s: %v", p, err)
	}
	defer f.Close()
	m := make(map[string]uint64)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 3 && (fs[1] == "T" || fs[1] == "t") {
			if a, err := strconv.ParseUint(fs[0], 16, 64); err == nil {
				m[fs[2]] = a
			}
		}
	}
	return m
}

// checkOuterFile checks that addr (fn+off) has a line, and that its
// outermost location (the caller of any inlined code) is in file.
func checkOuterFile(t *testing.T, d *DWARFTypes, fn string, off, addr uint64, file string) {
	t.Helper()
	f, line, inl, err := d.LineForAddr(addr)
	if err != nil {
		t.Errorf("%s+%#x: %v", fn, off, err)
		return
	}
	outer := f
	if len(inl) > 0 {
		outer = inl[len(inl)-1].CallFile
	}
	if !strings.HasSuffix(outer, file) || line <= 0 {
		t.Errorf("%s+%#x: %s:%d inlined %v; outermost file %q, want %q", fn, off, f, line, inl, outer, file)
	}
	t.Logf("%s+%#x: %s:%d %v", fn, off, f, line, inl)
}

func TestDWARFLineForAddr(t *testing.T) {
	d, _ := openDebugDWARF(t)
	defer d.Close()
	sm := systemMap(t)
	// Each function's own source file (the kernel tree layout): the
	// outermost location of an address inside it must be there.
	tests := []struct {
		fn, file string
		off      uint64
	}{
		{"mutex_lock", "kernel/locking/mutex.c", 0x10},
		{"down_write", "kernel/locking/rwsem.c", 0x20},
		{"schedule", "kernel/sched/core.c", 0x40},
		{"filemap_fault", "mm/filemap.c", 0x80},
		{"fuse_dev_read", "", 0}, // a module function: not in vmlinux
	}
	for _, tt := range tests {
		addr, ok := sm[tt.fn]
		if !ok {
			if tt.file != "" {
				t.Errorf("%s not in System.map", tt.fn)
			}
			continue
		}
		checkOuterFile(t, d, tt.fn, tt.off, addr+tt.off, tt.file)
	}
	// A KASLR slide is subtracted.
	d.SetKASLROffset(0x1000000)
	if _, _, _, err := d.LineForAddr(sm["mutex_lock"] + 0x1000000 + 0x10); err != nil {
		t.Errorf("with KASLR offset: %v", err)
	}
	if _, _, _, err := d.LineForAddr(0x1234); err == nil {
		t.Error("no error for an address outside the kernel")
	}
}

// BenchmarkDWARFFirstLookup measures opening the 600 MB vmlinux and the
// first struct task_struct (the index scans only the units it needs).
func BenchmarkDWARFFirstLookup(b *testing.B) {
	for i := 0; i < b.N; i++ {
		d, _ := openDebugDWARF(b)
		if _, err := d.LookupType("struct task_struct"); err != nil {
			b.Fatal(err)
		}
		d.Close()
	}
	reportMaxRSS(b)
}

// reportMaxRSS reports the process's peak resident set size.
func reportMaxRSS(b *testing.B) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MB")
	}
}

// BenchmarkDWARFFullIndex measures indexing every unit (TypeNames, misses).
func BenchmarkDWARFFullIndex(b *testing.B) {
	for i := 0; i < b.N; i++ {
		d, _ := openDebugDWARF(b)
		n := len(d.TypeNames())
		b.ReportMetric(float64(n), "names")
		d.Close()
	}
	reportMaxRSS(b)
}

// TestDWARFVmlinuxSkimMatchesReader indexes all of vmlinux with the
// skimmer and with debug/dwarf's Reader: the indexes must be identical.
func TestDWARFVmlinuxSkimMatchesReader(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: full vmlinux index comparison is slow; run without -short")
	}
	_, vmlinux := openDebugDWARF(t)
	compareIndexes(t, vmlinux)
}

// TestDWARFAgreesWithBTFSample compares a sample of every struct and union
// both sources define. A few names have different definitions in
// different compile units (struct irq_info: kernel/irq/ vs drivers/):
// DWARF answers with the first unit's, pahole kept another, so a small
// share of disagreements is expected and logged; more means a converter bug.
func TestDWARFAgreesWithBTFSample(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: the sampled comparison converts thousands of DWARF types; run without -short")
	}
	d, vmlinux := openDebugDWARF(t)
	defer d.Close()
	b, err := LoadBTFFile(vmlinux)
	if err != nil {
		t.Fatal(err)
	}
	const every = 16
	compared, bad, i := 0, 0, 0
	for _, name := range b.TypeNames() {
		if !strings.HasPrefix(name, "struct ") && !strings.HasPrefix(name, "union ") {
			continue
		}
		if i++; i%every != 0 {
			continue
		}
		bt, err := b.LookupType(name)
		if err != nil || bt.Kind == KindFwd {
			continue
		}
		dt, err := d.LookupType(name)
		if err != nil || dt.Kind == KindFwd {
			continue
		}
		compared++
		if msg := compareTypes(dt, bt, name, 0); msg != "" {
			bad++
			t.Logf("differs: %s", msg)
		}
	}
	t.Logf("%d types compared, %d differ", compared, bad)
	if compared < 300 || bad > compared/100 {
		t.Errorf("%d of %d sampled types differ between DWARF and BTF", bad, compared)
	}
}

// oneModuleSyms is a SymbolTable placing module functions at made-up
// runtime addresses: base + their offset in the module's .text.
type oneModuleSyms struct {
	module string
	funcs  map[string][2]uint64 // name → runtime start, size
}

func (s oneModuleSyms) Lookup(name string) (Symbol, error) {
	f, ok := s.funcs[name]
	if !ok {
		return Symbol{}, ErrNoSymbol
	}
	return Symbol{Name: name, Addr: f[0], Size: f[1], Type: 't', Module: s.module}, nil
}

func (s oneModuleSyms) LookupAddr(addr uint64) (Symbol, uint64, bool) {
	for n, f := range s.funcs {
		if addr >= f[0] && addr < f[0]+f[1] {
			return Symbol{Name: n, Addr: f[0], Size: f[1], Type: 't', Module: s.module}, addr - f[0], true
		}
	}
	return Symbol{}, 0, false
}
func (s oneModuleSyms) Names() []string  { return nil }
func (s oneModuleSyms) Describe() string { return "test module symbols" }

func TestDWARFModuleLines(t *testing.T) {
	d, _ := openDebugDWARF(t)
	defer d.Close()
	const base = 0xffffffffc0400000
	d.SetSymbols(oneModuleSyms{module: "fuse", funcs: map[string][2]uint64{
		"request_wait_answer": {base + 0x1000, 0x400},
		"fuse_dev_read":       {base + 0x3000, 0x200},
		"fuse_flush":          {base + 0x5000, 0x300},
		"fuse_init":           {base + 0x8000, 0x100}, // in .init.text: overlaps .text offsets
	}})
	// Where each function lives (fs/fuse/), and where the outermost frame
	// of an address a little inside it must be.
	tests := []struct {
		fn   string
		off  uint64
		file string
	}{
		{"request_wait_answer", 0xa0, "fs/fuse/dev.c"},
		{"fuse_dev_read", 0x50, "fs/fuse/dev.c"},
		{"fuse_flush", 0x30, "fs/fuse/file.c"},
		{"fuse_init", 0xb, "fs/fuse/inode.c"},
	}
	syms := d.syms.(oneModuleSyms)
	for _, tt := range tests {
		checkOuterFile(t, d, tt.fn, tt.off, syms.funcs[tt.fn][0]+tt.off, tt.file)
	}
	if _, _, _, err := d.LineForAddr(syms.funcs["fuse_flush"][0] + 0x10000); err == nil {
		t.Error("no error for an address past the module's functions")
	}
}
