package testdata

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/kwalk/kwalk/testdata/truth"
)

// SharedDumpRel is where the hand-made shared dump lives, relative to the
// module root (the directory of go.mod): Debian 6.1.0-50-cloud-amd64 under
// QEMU, vmcore.kdump beside the guest's console.log.
const SharedDumpRel = "../shared/vmcores/6.1-cloud"

// SharedDumpName is the Name of the shared dump in RealDumps.
const SharedDumpName = "shared-6.1"

// RealDump is one real kernel dump and the guest kernel's own record of it.
// Package testdata opens nothing: each test package opens Path its own way
// (kwalk.Open, or kcore and symbols where kwalk would be an import cycle).
type RealDump struct {
	Name    string // SharedDumpName, or the generated dump's ID ("5.10/hangs")
	Path    string // the dump file, in Format
	Format  Format
	Console string        // the guest's serial console log
	Truth   *truth.Record // parsed from Console
	Release string        // uname -r of the guest ("" when nothing says)
	// Generated is the generator's description of the dump (kernel
	// packages, guest, debug files); nil for the shared dump.
	Generated *Dump
}

// Has reports whether the dump's guest staged scenario sc. The shared dump
// staged the hangs (its README.md): square, reenter and netflix.
func (r RealDump) Has(sc string) bool {
	if r.Generated != nil {
		return r.Generated.Has(sc)
	}
	for _, s := range hangs {
		if s == sc {
			return true
		}
	}
	return false
}

// realDumpSet is what the cache and the shared directory hold, found once
// per test binary (parsing the records of the larger guests takes a while).
type realDumpSet struct {
	shared    *RealDump
	sharedErr error
	generated []*Dump
	missing   []Missing // guests with no dump of any generator version
	current   bool      // every guest has a dump of the current generator
}

var (
	realDumpsOnce sync.Once
	realDumpsSet  realDumpSet
)

func loadRealDumps() *realDumpSet {
	realDumpsOnce.Do(func() {
		s := &realDumpsSet
		s.shared, s.sharedErr = loadSharedDump()
		found, missing := Dumps()
		s.current = len(missing) == 0
		s.generated, s.missing = addOlderDumps(found, missing)
	})
	return &realDumpsSet
}

// SharedDumpDir returns the shared dump's directory, found from the module
// root, or an error naming where it looked.
func SharedDumpDir() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Clean(filepath.Join(root, SharedDumpRel))
	if _, err := os.Stat(filepath.Join(dir, "vmcore.kdump")); err != nil {
		return "", fmt.Errorf("shared dump: %w", err)
	}
	return dir, nil
}

// moduleRoot walks up from the working directory (a test runs in its
// package's directory) to the directory holding go.mod.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("module root: no go.mod above %s", wd)
		}
	}
}

func loadSharedDump() (*RealDump, error) {
	dir, err := SharedDumpDir()
	if err != nil {
		return nil, err
	}
	con := filepath.Join(dir, "console.log")
	rec, err := truth.ParseFile(con)
	if err != nil {
		return nil, fmt.Errorf("shared dump record: %w", err)
	}
	release := rec.Release()
	if release == "" {
		// Its record predates meta release=; the directory's KERNEL file
		// says "PACKAGE RELEASE".
		if b, err := os.ReadFile(filepath.Join(dir, "KERNEL")); err == nil {
			if f := strings.Fields(string(b)); len(f) == 2 {
				release = f[1]
			}
		}
	}
	return &RealDump{
		Name:    SharedDumpName,
		Path:    filepath.Join(dir, "vmcore.kdump"),
		Format:  FormatKdumpZlibFlat, // QEMU dump-guest-memory -z
		Console: con,
		Truth:   rec,
		Release: release,
	}, nil
}

// addOlderDumps adds, for each missing guest, the newest dump an earlier
// generator version left in the cache: a stale cache key says the generator
// changed since, not that the dump is wrong — it is still a real kernel's
// dump with that guest's own record. It returns the guests that have none.
func addOlderDumps(found []*Dump, missing []Missing) ([]*Dump, []Missing) {
	if len(missing) == 0 {
		return found, nil
	}
	have := make(map[string]bool)
	for _, d := range found {
		have[d.ID()] = true
	}
	manifests, _ := filepath.Glob(filepath.Join(CacheDir(), "dumps", "*", "*", "manifest.json"))
	mtime := make(map[string]int64, len(manifests))
	for _, m := range manifests {
		if st, err := os.Stat(m); err == nil {
			mtime[m] = st.ModTime().UnixNano()
		}
	}
	sort.SliceStable(manifests, func(i, j int) bool { return mtime[manifests[i]] > mtime[manifests[j]] })
	for _, m := range manifests {
		d, err := LoadDir(filepath.Dir(m))
		if err != nil || have[d.ID()] {
			continue
		}
		have[d.ID()] = true
		found = append(found, d)
	}
	var still []Missing
	for _, m := range missing {
		if !have[m.Guest.Kernel+"/"+m.Guest.Name] {
			still = append(still, m)
		}
	}
	return found, still
}

// GeneratedDumps returns a dump of every generated guest the cache has (the
// current generator's, else the newest an earlier version left), each as
// one file picked as RealDumps does. It skips the test (through Require,
// naming what is missing and how to make it) when there is none, and logs
// the guests that have none. With KWALK_REQUIRE_DUMPS=1 any dump missing
// for the current generator fails the test (Require).
func GeneratedDumps(t testing.TB) []RealDump {
	t.Helper()
	s := loadRealDumps()
	out := s.generatedFiles()
	s.require(t, len(out) == 0)
	return out
}

// RealDumps returns the shared dump and every generated dump (as
// GeneratedDumps), each as one file in the format KWALK_DUMP_FORMAT names
// when the dump has it, else kdump-zlib-flat, ELF, kdump-zlib or any other
// it has. It skips the test, naming what is missing, only when there is no
// real dump at all.
func RealDumps(t testing.TB) []RealDump {
	t.Helper()
	s := loadRealDumps()
	var out []RealDump
	if s.shared != nil {
		out = append(out, *s.shared)
	} else {
		t.Logf("MISSING the shared dump (%s from the module root): %v", SharedDumpRel, s.sharedErr)
	}
	out = append(out, s.generatedFiles()...)
	s.require(t, len(out) == 0)
	return out
}

// SharedDump returns the shared dump, or skips the test naming where it
// looked.
func SharedDump(t testing.TB) RealDump {
	t.Helper()
	s := loadRealDumps()
	if s.shared == nil {
		t.Skipf("SKIP: real-dump test needs the shared dump (%s from the module root): %v", SharedDumpRel, s.sharedErr)
	}
	return *s.shared
}

// require applies Require's rules to what the cache lacks: it skips when
// none is there, fails with KWALK_REQUIRE_DUMPS=1 when the current
// generator's dumps are not all there, and otherwise logs the guests
// without any dump.
func (s *realDumpSet) require(t testing.TB, none bool) {
	t.Helper()
	if none || (!s.current && os.Getenv("KWALK_REQUIRE_DUMPS") == "1") {
		Require(t, Filter{})
	}
	if len(s.missing) > 0 {
		var lack []string
		for _, m := range s.missing {
			lack = append(lack, m.Guest.Kernel+"/"+m.Guest.Name)
		}
		t.Logf("PARTIAL: no dump of %s in %s (make them with %s)", strings.Join(lack, ", "), CacheDir(), GenerateCommand)
	}
}

// generatedFiles picks a file of every generated dump.
func (s *realDumpSet) generatedFiles() []RealDump {
	var out []RealDump
	for _, d := range s.generated {
		if r, ok := realDumpOf(d); ok {
			out = append(out, r)
		}
	}
	return out
}

// dumpFormats is the order RealDumps picks a generated dump's file in. A
// kdump guest's is its copy of /proc/vmcore: its makedumpfile -d 31 files
// leave pages out (sid's makedumpfile 1.7.8 even slab pages of 7.2: README
// "kdump guests"), and tests of everything else would read them.
var dumpFormats = []Format{FormatKdumpZlibFlat, FormatELF, FormatKdumpZlib, FormatKdumpELF}

func realDumpOf(d *Dump) (RealDump, bool) {
	if d.Truth == nil {
		return RealDump{}, false
	}
	var formats []Format
	if f := os.Getenv("KWALK_DUMP_FORMAT"); f != "" {
		formats = append(formats, Format(f))
	}
	formats = append(formats, dumpFormats...)
	formats = append(formats, d.Formats()...)
	for _, f := range formats {
		if p := d.Path(f); p != "" {
			return RealDump{
				Name:      d.ID(),
				Path:      p,
				Format:    f,
				Console:   filepath.Join(d.Dir, d.Console),
				Truth:     d.Truth,
				Release:   d.Release,
				Generated: d,
			}, true
		}
	}
	return RealDump{}, false
}
