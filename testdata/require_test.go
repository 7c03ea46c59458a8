package testdata

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTB records what Require asks of its test; the embedded nil TB is never
// reached because Require calls only the methods below.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Log(args ...any)   { f.msg = args[0].(string) }
func (f *fakeTB) Skip(args ...any)  { f.skipped, f.msg = true, args[0].(string) }
func (f *fakeTB) Fatal(args ...any) { f.failed, f.msg = true, args[0].(string) }

func TestRequireMissing(t *testing.T) {
	t.Setenv("KWALK_DUMP_CACHE", t.TempDir())
	for _, tc := range []struct {
		require    string
		wantSkip   bool
		wantFailed bool
	}{
		{"", true, false},
		{"0", true, false},
		{"1", false, true},
	} {
		t.Run("KWALK_REQUIRE_DUMPS="+tc.require, func(t *testing.T) {
			t.Setenv("KWALK_REQUIRE_DUMPS", tc.require)
			f := &fakeTB{}
			if got := Require(f, Filter{Kernel: "6.1"}); len(got) != 0 {
				t.Errorf("Require returned %d dumps from an empty cache", len(got))
			}
			if f.skipped != tc.wantSkip || f.failed != tc.wantFailed {
				t.Errorf("skipped=%v failed=%v, want %v %v", f.skipped, f.failed, tc.wantSkip, tc.wantFailed)
			}
			for _, want := range []string{"6.1/hangs", GenerateCommand} {
				if !strings.Contains(f.msg, want) {
					t.Errorf("message %q does not name %q", f.msg, want)
				}
			}
		})
	}
}

func TestLoadDirErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := LoadDir(dir); err == nil {
		t.Error("no error without manifest.json")
	}
	write("manifest.json", "{")
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "manifest.json") {
		t.Errorf("bad manifest: err = %v", err)
	}
	write("manifest.json", `{"Files":{"elf":"vmcore.elf"},"Console":"console.log"}`)
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "elf") {
		t.Errorf("missing dump file: err = %v", err)
	}
	write("vmcore.elf", "x")
	write("console.log", "no record\n")
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "KWALK-TRUTH-BEGIN") {
		t.Errorf("console without record: err = %v", err)
	}
	write("console.log", "KWALK-TRUTH-BEGIN\ntask tid=1 pid=1 comm=init state=S\nKWALK-TRUTH-END\nKWALK-SCENARIO-READY\n")
	d, err := LoadDir(dir)
	if err != nil || d.Path(FormatELF) != filepath.Join(dir, "vmcore.elf") || d.Path(FormatKdumpZlib) != "" || len(d.Truth.Tasks) != 1 {
		t.Errorf("LoadDir = %+v, %v", d, err)
	}
}

func TestResolveKernel(t *testing.T) {
	k, _ := KernelByID("6.1")
	t.Setenv("KWALK_KERNEL_6_1", "a=1 b=2")
	got, err := ResolveKernel(k)
	if err != nil || len(got.Packages) != 2 || got.Packages[1] != (Package{"b", "2"}) {
		t.Errorf("override: %+v, %v", got.Packages, err)
	}
	if Key(Guests[0], got) == Key(Guests[0], k) {
		t.Error("override kept the cache key")
	}
	t.Setenv("KWALK_KERNEL_6_1", "nonsense")
	if _, err := ResolveKernel(k); err == nil || !strings.Contains(err.Error(), "KWALK_KERNEL_6_1") {
		t.Errorf("bad override: err = %v", err)
	}
}
