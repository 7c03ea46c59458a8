package kwalk_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
)

// With the -dbg vmlinux of the dumped kernel, every frame of every task
// the guest recorded in D state has a file and line (bt -l), module frames
// (fuse) included: their debug files sit beside the vmlinux in the package.
// outOfTreeModule is the kmod guest's module (testdata/kmod), which the
// kernel's -dbg package has no debug file for.
const outOfTreeModule = "kwalk_hang"

func TestLinesForBlockedTasks(t *testing.T) {
	var kernel testdata.Kernel
	for _, k := range testdata.Kernels {
		if k.ID == "6.1" {
			kernel = k
		}
	}
	root, err := testdata.DebugRoot(kernel)
	if err != nil {
		t.Skipf("SKIP: no 6.1 debug package: %v", err)
	}
	for _, d := range testdata.RealDumps(t) {
		if !strings.HasPrefix(d.Release, "6.1.") { // the kernel of the pinned debug package
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			vmlinux := filepath.Join(root, "boot", "vmlinux-"+d.Release)
			prog, err := kwalk.Open(d.Path, kwalk.Options{Vmlinux: vmlinux})
			if err != nil {
				t.Fatal(err)
			}
			defer prog.Dump.Close()
			ll, ok := prog.Types.(symbols.LineLocator)
			if !ok {
				t.Fatalf("types %s have no line tables", prog.Types.Describe())
			}
			frames := 0
			for i := range d.Truth.Tasks {
				rt := &d.Truth.Tasks[i]
				if rt.State != 'D' {
					continue
				}
				task, err := sched.TaskByPID(prog, rt.TID)
				if err != nil {
					t.Errorf("task %d: %v", rt.TID, err)
					continue
				}
				tr, err := unwind.Stack(prog, task.Obj)
				if err != nil {
					t.Errorf("task %d: %v", rt.TID, err)
					continue
				}
				for _, f := range tr.Frames {
					if f.Module == outOfTreeModule {
						continue // built by the generator: no debug file in the package
					}
					pc := f.IP
					if !f.Exact {
						pc--
					}
					file, line, _, err := ll.LineForAddr(pc)
					if err != nil || file == "" || line == 0 {
						t.Errorf("task %d (%s) frame #%d %s+%#x [%s]: no line: %v", rt.TID, rt.Comm, f.Level, f.Symbol, f.Offset, f.Module, err)
					}
					frames++
				}
			}
			t.Logf("%d frames of D tasks, each with a line", frames)
		})
	}
}
