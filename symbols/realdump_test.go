package symbols

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/testdata/truth"
)

// Helpers of the tests on real dumps (testdata.SharedDump,
// testdata.GeneratedDumps) and on the kernels' -dbg packages. The tests of
// this package cannot open a dump through kwalk.Open (kwalk imports
// symbols), so they assemble what they test from kcore and this package.

var (
	sharedDumpOnce sync.Once
	sharedDump     *kcore.Dump
	sharedDumpErr  error
)

// openSharedDump opens the shared dump (testdata.SharedDump) once per test
// binary, or skips.
func openSharedDump(t testing.TB) *kcore.Dump {
	t.Helper()
	path := testdata.SharedDump(t).Path
	sharedDumpOnce.Do(func() { sharedDump, sharedDumpErr = kcore.Open(path, kcore.Options{}) })
	if sharedDumpErr != nil {
		t.Fatalf("kcore.Open(%s): %v", path, sharedDumpErr)
	}
	if sharedDump.VMCoreInfo() == nil {
		t.Fatalf("%s has no VMCOREINFO", path)
	}
	return sharedDump
}

// truthFrames returns the distinct frames (by function, offset and module)
// of the guest's /proc stacks in rec.
func truthFrames(t testing.TB, rec *truth.Record) []truth.Frame {
	t.Helper()
	var out []truth.Frame
	seen := map[truth.Frame]bool{}
	for _, task := range rec.Tasks {
		for _, f := range task.Stack {
			key := truth.Frame{Func: f.Func, Offset: f.Offset, Module: f.Module}
			if !seen[key] {
				seen[key] = true
				out = append(out, f)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the guest's record has no stack frames")
	}
	return out
}

// sharedTruthFrames is truthFrames of the shared dump's record.
func sharedTruthFrames(t testing.TB) []truth.Frame {
	t.Helper()
	return truthFrames(t, testdata.SharedDump(t).Truth)
}

// frameSet says which of the guest's frames a table must resolve.
type frameSet int

const (
	framesAll     frameSet = iota
	framesVmlinux          // Module == ""
	framesModules          // Module != ""
)

func (w frameSet) has(f truth.Frame) bool {
	return w == framesAll || (w == framesVmlinux) == (f.Module == "")
}

// checkTruthFrames resolves the guest's frames (of the set which) by name,
// and back from address to name, offset, size and module.
func checkTruthFrames(t *testing.T, st SymbolTable, frames []truth.Frame, which frameSet) {
	t.Helper()
	checked := 0
	for _, f := range frames {
		if !which.has(f) {
			continue
		}
		s, err := st.Lookup(f.Func)
		if err != nil {
			t.Errorf("truth frame %s [%s]: %v", f.Func, f.Module, err)
			continue
		}
		// A static function's name can repeat (six
		// percpu_down_read_internal.constprop.0 in arm64's 7.2): the
		// frame is one of them, the one of its size.
		cands := []Symbol{s}
		if all, ok := st.(interface{ LookupAll(string) []Symbol }); ok {
			if l := all.LookupAll(f.Func); len(l) > 0 {
				cands = l
			}
		}
		for _, c := range cands {
			if c.Module == f.Module && c.Size == f.Size {
				s = c
				break
			}
		}
		got, off, ok := st.LookupAddr(s.Addr + f.Offset)
		if !ok || got.Name != f.Func || got.Module != f.Module || off != f.Offset || got.Size != f.Size {
			t.Errorf("LookupAddr(%s+%#x) = %s+%#x/%#x [%s] ok=%v; the guest printed %s+%#x/%#x [%s]",
				f.Func, f.Offset, got.Name, off, got.Size, got.Module, ok, f.Func, f.Offset, f.Size, f.Module)
		}
		checked++
	}
	t.Logf("%d distinct truth frames checked", checked)
	if checked == 0 {
		t.Error("no truth frames checked")
	}
}

// debugRoots lists, best first, where kernel k's -dbg package (its
// usr/lib/debug) may be unpacked: $KWALK_DEBUG_ROOT, the dump's own
// (dumpRoot, when not ""), where the dump generator unpacks it, and
// ~/.cache/kwalk-debug/root/usr/lib/debug for one unpacked by hand.
func debugRoots(k testdata.Kernel, dumpRoot string) []string {
	var out []string
	if r := os.Getenv("KWALK_DEBUG_ROOT"); r != "" {
		out = append(out, r)
	}
	if dumpRoot != "" {
		out = append(out, dumpRoot)
	}
	if r, err := testdata.DebugRoot(k); err == nil {
		out = append(out, r)
	}
	if home, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(home, ".cache", "kwalk-debug", "root", "usr", "lib", "debug"))
	}
	return out
}

// sharedDebugRoots is debugRoots of the shared dump's kernel (6.1).
func sharedDebugRoots() []string {
	k, _ := testdata.KernelByID("6.1")
	return debugRoots(k, "")
}

// debugRoot is the first of sharedDebugRoots that exists, else the last.
func debugRoot() string {
	roots := sharedDebugRoots()
	for _, r := range roots {
		if _, err := os.Stat(r); err == nil {
			return r
		}
	}
	if len(roots) == 0 {
		return ""
	}
	return roots[len(roots)-1]
}

// dbgFile finds rel (a path below usr/lib/debug) of the shared dump
// kernel's -dbg package, or skips naming where it looked.
func dbgFile(t *testing.T, rel string) string {
	t.Helper()
	var tried []string
	for _, r := range sharedDebugRoots() {
		p := filepath.Join(r, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		tried = append(tried, p)
	}
	t.Skipf("SKIP: no %s of the -dbg package (looked at %v; %s fetches it)", rel, tried, testdata.GenerateCommand)
	return ""
}
