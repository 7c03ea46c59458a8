package walktest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/testdata"
)

// The real dumps the walker tests run on are testdata.RealDumps: the shared
// 6.1 dump and every generated dump, each with the guest's own record.

// OpenedDump is a real dump's program, opened once per test binary.
type OpenedDump struct {
	Once sync.Once
	Prog *symbols.Program
	Err  error
}

var (
	openedMu    sync.Mutex
	openedDumps = map[string]*OpenedDump{} // by dump file
)

// OpenReal returns d's program (kwalk.Open: kallsyms, BTF and module
// symbols from the dump's own memory), opening it on first use.
func OpenReal(t testing.TB, d testdata.RealDump) *symbols.Program {
	t.Helper()
	openedMu.Lock()
	o := openedDumps[d.Path]
	if o == nil {
		o = &OpenedDump{}
		openedDumps[d.Path] = o
	}
	openedMu.Unlock()
	o.Once.Do(func() {
		o.Prog, o.Err = kwalk.Open(d.Path, kwalk.Options{})
		if o.Err != nil {
			o.Err = fmt.Errorf("%s: open %s: %w", d.Name, d.Path, o.Err)
		}
	})
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	return o.Prog
}
