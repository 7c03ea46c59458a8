package walkers

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

// openedDump is a real dump's program, opened once per test binary.
type openedDump struct {
	once sync.Once
	prog *symbols.Program
	err  error
}

var (
	openedMu    sync.Mutex
	openedDumps = map[string]*openedDump{} // by dump file
)

// openReal returns d's program (kwalk.Open: kallsyms, BTF and module
// symbols from the dump's own memory), opening it on first use.
func openReal(t testing.TB, d testdata.RealDump) *symbols.Program {
	t.Helper()
	openedMu.Lock()
	o := openedDumps[d.Path]
	if o == nil {
		o = &openedDump{}
		openedDumps[d.Path] = o
	}
	openedMu.Unlock()
	o.once.Do(func() {
		o.prog, o.err = kwalk.Open(d.Path, kwalk.Options{})
		if o.err != nil {
			o.err = fmt.Errorf("%s: open %s: %w", d.Name, d.Path, o.err)
		}
	})
	if o.err != nil {
		t.Fatal(o.err)
	}
	return o.prog
}
