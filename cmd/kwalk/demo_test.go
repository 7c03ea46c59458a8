package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMadeDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vmcore.kdump-zlib-flat"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, log := range []string{
		"17:07:10 6.1/hangs  done in 42s: " + dir + "\n17:07:10 gen        total 46s for 1 guests\n",
		"17:07:10 6.1/hangs: cached in " + dir + "\n",
	} {
		if got := madeDir(log); got != dir {
			t.Errorf("madeDir(%q) = %q, want %q", log, got, dir)
		}
	}
	if got := madeDir("17:07:10 6.1/hangs  done in 42s: /nonexistent\n"); got != "" {
		t.Errorf("a directory without a dump: got %q", got)
	}
}
