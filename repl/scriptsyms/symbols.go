// Package scriptsyms holds the yaegi symbol tables of kwalk's public
// packages, so "kwalk run SCRIPT.go" can interpret scripts that import
// github.com/kwalk/kwalk, .../symbols, .../kcore and .../walkers/* without a
// build step. The github_com-*.go files are generated: after changing the
// exported API of those packages, run
//
//	go generate ./repl/scriptsyms
//
// (TestExportsCurrent fails while they are stale).
package scriptsyms

import "reflect"

//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract github.com/kwalk/kwalk github.com/kwalk/kwalk/symbols github.com/kwalk/kwalk/kcore github.com/kwalk/kwalk/walkers/kmem github.com/kwalk/kwalk/walkers/sched github.com/kwalk/kwalk/walkers/vfs github.com/kwalk/kwalk/walkers/locking github.com/kwalk/kwalk/walkers/printk github.com/kwalk/kwalk/walkers/unwind github.com/kwalk/kwalk/walkers/fuse github.com/kwalk/kwalk/walkers/waitkind github.com/kwalk/kwalk/walkers/waitfor

// Symbols maps "import/path/name" to the package's exported symbols, in
// the form interp.Interpreter.Use takes. It is filled by the generated
// files' init functions and only read afterwards.
var Symbols = map[string]map[string]reflect.Value{}

// Packages are the import paths scripts may use beyond the standard library.
var Packages = []string{
	"github.com/kwalk/kwalk",
	"github.com/kwalk/kwalk/symbols",
	"github.com/kwalk/kwalk/kcore",
	"github.com/kwalk/kwalk/walkers/kmem",
	"github.com/kwalk/kwalk/walkers/sched",
	"github.com/kwalk/kwalk/walkers/vfs",
	"github.com/kwalk/kwalk/walkers/locking",
	"github.com/kwalk/kwalk/walkers/printk",
	"github.com/kwalk/kwalk/walkers/unwind",
	"github.com/kwalk/kwalk/walkers/fuse",
	"github.com/kwalk/kwalk/walkers/waitkind",
	"github.com/kwalk/kwalk/walkers/waitfor",
}
