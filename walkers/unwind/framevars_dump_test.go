package unwind

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/testdata/truth"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
	"github.com/kwalk/kwalk/walkers/walktest"
)

var (
	dwarfDumpsMu sync.Mutex
	dwarfDumps   = map[string]*walktest.OpenedDump{}
)

// debugVmlinux finds the -dbg package's vmlinux of a release among the
// generator's unpacked debug packages.
func debugVmlinux(d testdata.RealDump) string {
	if d.Release == "" {
		return ""
	}
	var roots []string
	if d.Generated != nil && d.Generated.DebugRoot != "" {
		roots = append(roots, d.Generated.DebugRoot)
	}
	if m, _ := filepath.Glob(filepath.Join(testdata.CacheDir(), "debug", "*", "usr", "lib", "debug")); m != nil {
		roots = append(roots, m...)
	}
	for _, r := range roots {
		v := filepath.Join(r, "boot", "vmlinux-"+d.Release)
		if _, err := os.Stat(v); err == nil {
			return v
		}
	}
	return ""
}

// openWithDWARF opens d with its debug vmlinux (once per test binary).
func openWithDWARF(t *testing.T, d testdata.RealDump, vmlinux string) *symbols.Program {
	t.Helper()
	dwarfDumpsMu.Lock()
	o := dwarfDumps[d.Path]
	if o == nil {
		o = &walktest.OpenedDump{}
		dwarfDumps[d.Path] = o
	}
	dwarfDumpsMu.Unlock()
	o.Once.Do(func() {
		o.Prog, o.Err = kwalk.Open(d.Path, kwalk.Options{Vmlinux: vmlinux})
		if o.Err != nil {
			o.Err = fmt.Errorf("%s: open %s with %s: %w", d.Name, d.Path, vmlinux, o.Err)
		}
	})
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	return o.Prog
}

// squareTasks returns the square scenario's rm and dd pids from the
// record: roles on generated dumps, comms on the shared one.
func squareTasks(rec *truth.Record) (rm, dd int) {
	rm, dd = rec.Roles["square.rm"], rec.Roles["square.dd"]
	for _, tk := range rec.Tasks {
		if rm == 0 && tk.Comm == "rm" && tk.TID == tk.PID {
			rm = tk.PID
		}
		if dd == 0 && tk.Comm == "dd" && tk.TID == tk.PID {
			for _, fd := range tk.FDs {
				if strings.HasPrefix(fd.Target, "/mnt/w/") {
					dd = tk.PID
				}
			}
		}
	}
	return rm, dd
}

// TestFrameVarsUnlinkDentry checks bt -v's variables against the guest's
// record: the rm of the square scenario sleeps on the inode lock of the
// file dd keeps open for writing; its vfs_unlink frame must give that
// file's dentry (d_name = the base name of dd's fd target) and the parent
// directory's inode.
func TestFrameVarsUnlinkDentry(t *testing.T) {
	ran := 0
	for _, d := range testdata.RealDumps(t) {
		if !strings.HasPrefix(d.Release, "6.1.") || !d.Has("square") {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			vmlinux := debugVmlinux(d)
			if vmlinux == "" {
				t.Skipf("SKIP: no debug vmlinux-%s under %s/debug (%s)", d.Release, testdata.CacheDir(), testdata.GenerateCommand)
			}
			ran++
			p := openWithDWARF(t, d, vmlinux)
			rmPID, ddPID := squareTasks(d.Truth)
			if rmPID == 0 || ddPID == 0 {
				t.Fatalf("record names no square rm (%d) or dd (%d)", rmPID, ddPID)
			}
			want := ""
			for _, fd := range d.Truth.Task(ddPID).FDs {
				if strings.HasPrefix(fd.Target, "/mnt/w/") {
					want = path.Base(fd.Target)
				}
			}
			task, err := sched.TaskByPID(p, rmPID)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := TaskStack(p, task)
			if err != nil {
				t.Fatal(err)
			}
			vars, err := FrameVariables(p, tr)
			if err != nil {
				t.Fatal(err)
			}
			logRecoverable(t, tr, vars)
			fi := -1
			for i := range tr.Frames {
				if tr.Frames[i].Symbol == "vfs_unlink" {
					fi = i
				}
			}
			if fi < 0 {
				t.Fatalf("rm (pid %d) has no vfs_unlink frame", rmPID)
			}
			got := map[string]FrameVar{}
			for _, sc := range vars[fi] {
				if sc.Function != "vfs_unlink" {
					continue
				}
				for _, v := range sc.Vars {
					got[v.Name] = v
				}
			}
			dentry, dir := got["dentry"], got["dir"]
			if !dentry.Known && !dir.Known {
				t.Fatalf("vfs_unlink: neither dentry (%s %s) nor dir (%s %s) recoverable", dentry.Text, dentry.Reason, dir.Text, dir.Reason)
			}
			if dentry.Known {
				name, err := vfs.DentryName(p, dentry.Value)
				if err != nil {
					t.Fatalf("dentry %#x: %v", dentry.Value, err)
				}
				if name != want {
					t.Errorf("vfs_unlink dentry %#x is %q, want %q (dd's file in the record)", dentry.Value, name, want)
				}
				if !strings.Contains(dentry.Text, fmt.Sprintf("%q", want)) {
					t.Errorf("dentry text %q lacks the name %q", dentry.Text, want)
				}
			}
			if dentry.Known && dir.Known {
				d, err := p.Object("struct dentry", dentry.Value)
				if err != nil {
					t.Fatal(err)
				}
				parentInode, err := d.MemberUint("d_parent")
				if err == nil {
					pd, err := p.Object("struct dentry", parentInode)
					if err != nil {
						t.Fatal(err)
					}
					if ino, err := pd.MemberUint("d_inode"); err != nil || ino != dir.Value {
						t.Errorf("dir %#x is not the inode %#x of the dentry's parent (%v)", dir.Value, ino, err)
					}
				}
			}
		})
	}
	if ran == 0 {
		t.Skip("no 6.1 dump with the square scenario and a debug vmlinux: nothing checked")
	}
}

// logRecoverable reports which variables each frame recovered.
func logRecoverable(t *testing.T, tr *Trace, vars [][]FrameScopeVars) {
	for i, scopes := range vars {
		var known, lost []string
		for _, sc := range scopes {
			for _, v := range sc.Vars {
				if v.Known {
					known = append(known, sc.Function+"."+v.Name)
				} else {
					lost = append(lost, sc.Function+"."+v.Name+"="+v.Text)
				}
			}
		}
		t.Logf("#%d %s: recovered %v; not %v", i, tr.Frames[i].Symbol, known, lost)
	}
}

// BenchmarkFrameVariables measures bt -v's variable lookup for every
// task of the first 6.1 dump with a debug vmlinux.
func BenchmarkFrameVariables(b *testing.B) {
	for _, d := range testdata.RealDumps(b) {
		vmlinux := debugVmlinux(d)
		if vmlinux == "" {
			continue
		}
		p, err := kwalk.Open(d.Path, kwalk.Options{Vmlinux: vmlinux})
		if err != nil {
			b.Fatal(err)
		}
		tasks, err := sched.Tasks(p)
		if err != nil {
			b.Fatal(err)
		}
		var traces []*Trace
		for _, tk := range tasks {
			if tr, err := TaskStack(p, tk); err == nil {
				traces = append(traces, tr)
			}
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			for _, tr := range traces {
				if _, err := FrameVariables(p, tr); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(traces)), "traces/op")
		return
	}
	b.Skip("SKIP: no dump with a debug vmlinux")
}
