package repl

import (
	"os"
	"sync"
	"testing"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
)

// realDumpPath is the shared 6.1 dump the integration tests use.
const realDumpPath = "/work/shared/vmcores/6.1-cloud/vmcore.kdump"

var (
	realOnce sync.Once
	realProg *symbols.Program
	realErr  error
)

// openRealDump opens the shared dump once per test binary: through
// kwalk.Open, or, while that cannot open it, by assembling the Program
// from kcore, kallsyms and BTF directly. It skips the test when the dump is
// absent.
func openRealDump(t testing.TB) *symbols.Program {
	t.Helper()
	if _, err := os.Stat(realDumpPath); err != nil {
		t.Skipf("SKIP: real dump %s not present: %v", realDumpPath, err)
	}
	realOnce.Do(func() {
		if p, err := kwalk.Open(realDumpPath, kwalk.Options{}); err == nil {
			realProg = p
			return
		}
		d, err := kcore.Open(realDumpPath, kcore.Options{})
		if err != nil {
			realErr = err
			return
		}
		syms, err := symbols.LoadKernelSymbols(d, d.VMCoreInfo(), symbols.SymbolOptions{})
		if err != nil {
			realErr = err
			return
		}
		types, err := symbols.LoadBTFFromMemory(d, syms)
		if err != nil {
			realErr = err
			return
		}
		realProg = symbols.NewProgram(d, syms, types)
	})
	if realErr != nil {
		t.Fatalf("opening %s: %v", realDumpPath, realErr)
	}
	return realProg
}
