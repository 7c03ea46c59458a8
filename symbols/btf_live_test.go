package symbols

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLiveBTF(t *testing.T) {
	if _, err := os.Stat(filepath.Join(LiveBTFDir, "vmlinux")); err != nil {
		t.Skipf("SKIP: no %s/vmlinux on this machine: %v", LiveBTFDir, err)
	}
	b, err := LoadLiveBTF()
	if err != nil {
		t.Fatal(err)
	}
	ts, err := b.LookupType("struct task_struct")
	if err != nil {
		t.Fatal(err)
	}
	// include/linux/sched.h: every supported kernel has these.
	for _, m := range []string{"pid", "comm", "tasks"} {
		if !ts.HasMember(m) {
			t.Errorf("live task_struct has no %s", m)
		}
	}
	if _, err := b.LookupType("struct no_such_struct_anywhere"); err == nil {
		t.Error("no error for a missing type")
	}
	t.Logf("%s", b.Describe())
}

// TestBTFDirModules checks the sysfs layout (vmlinux plus one file per
// module) on a copy made from the debug package's files.
func TestBTFDirModules(t *testing.T) {
	root := debugRoot()
	vmlinux := filepath.Join(root, "boot", "vmlinux-"+debugRelease)
	fuseKo := filepath.Join(root, "lib", "modules", debugRelease, "kernel", "fs", "fuse", "fuse.ko")
	if _, err := os.Stat(fuseKo); err != nil {
		t.Skipf("SKIP: needs %s: %v", fuseKo, err)
	}
	dir := t.TempDir()
	for name, src := range map[string]string{"vmlinux": vmlinux, "fuse": fuseKo} {
		raw, err := readBTFFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := loadBTFDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fc, err := b.LookupType("struct fuse_conn")
	if err != nil {
		t.Fatal(err)
	}
	if !fc.HasMember("iq") { // fs/fuse/fuse_i.h
		t.Error("fuse_conn has no iq")
	}
	if mods := b.Modules(); len(mods) != 1 || mods[0] != "fuse" {
		t.Errorf("modules %v", mods)
	}
}
