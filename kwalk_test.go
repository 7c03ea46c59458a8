package kwalk_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/testdata"
)

// With no vmlinux, the dump alone gives symbols, types and values: the
// zero-config path most users take.
func TestOpenZeroConfig(t *testing.T) {
	for _, d := range testdata.RealDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			prog, err := kwalk.Open(d.Path, kwalk.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer prog.Dump.Close()
			for _, name := range []string{"struct task_struct", "struct mutex", "struct rw_semaphore", "struct inode"} {
				if _, err := prog.Type(name); err != nil {
					t.Errorf("type %s: %v", name, err)
				}
			}
			// fuse_conn lives in fuse.ko on Debian's cloud kernels up to 6.1:
			// its type comes from module BTF, which kernels keep since
			// CONFIG_DEBUG_INFO_BTF_MODULES (5.11, kernel/bpf/btf.c btf_modules).
			// Without it the error must say that module types are what is missing.
			if _, err := prog.Type("struct fuse_conn"); err != nil {
				if _, hasModBTF := prog.Syms.Lookup("btf_modules"); hasModBTF == nil || !strings.Contains(err.Error(), "--debuginfo") {
					t.Errorf("type struct fuse_conn: %v", err)
				} else {
					t.Logf("no module BTF in this kernel: %v", err)
				}
			}
			task, err := prog.Variable("init_task")
			if err != nil {
				t.Fatal(err)
			}
			if comm, err := task.MemberString("comm"); err != nil || comm != "swapper/0" {
				t.Errorf("init_task.comm = %q, %v; want swapper/0", comm, err)
			}
			uts, err := prog.Variable("init_uts_ns")
			if err != nil {
				t.Fatal(err)
			}
			rel, err := uts.MemberString("name.release")
			if err != nil {
				t.Fatal(err)
			}
			if want := prog.Dump.VMCoreInfo().OSRelease(); rel != want {
				t.Errorf("init_uts_ns.name.release = %q, VMCOREINFO OSRELEASE = %q", rel, want)
			}
			for _, w := range prog.Warnings {
				t.Logf("warning: %s", w)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDump := filepath.Join(dir, "notes.txt")
	os.WriteFile(notDump, []byte("hello, this is not a kernel dump\n"), 0o644)
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "missing"},
		{notDump, "notes.txt"},
	} {
		_, err := kwalk.Open(tc.path, kwalk.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s) error = %v; want one naming %q", tc.path, err, tc.want)
		}
	}
}
