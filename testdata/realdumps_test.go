package testdata

import (
	"os"
	"path/filepath"
	"testing"
)

// Every real dump names an existing file, a record of the same release and
// a unique name; the shared dump is found from the module root.
func TestRealDumps(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root %s: %v", root, err)
	}
	seen := map[string]bool{}
	for _, d := range RealDumps(t) {
		if seen[d.Name] {
			t.Errorf("%s listed twice", d.Name)
		}
		seen[d.Name] = true
		if st, err := os.Stat(d.Path); err != nil || st.Size() < 1<<20 {
			t.Errorf("%s: %s: %v", d.Name, d.Path, err)
		}
		if d.Truth == nil || len(d.Truth.Tasks) == 0 {
			t.Errorf("%s: no record", d.Name)
			continue
		}
		if d.Release == "" || (d.Truth.Release() != "" && d.Truth.Release() != d.Release) {
			t.Errorf("%s: release %q, record %q", d.Name, d.Release, d.Truth.Release())
		}
		if (d.Name == SharedDumpName) != (d.Generated == nil) {
			t.Errorf("%s: generated %v", d.Name, d.Generated != nil)
		}
		t.Logf("%s: %s (%s), %d tasks", d.Name, d.Path, d.Format, len(d.Truth.Tasks))
	}
}
