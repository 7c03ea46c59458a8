package unwind

import (
	"fmt"
	"math/rand"
	"regexp"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/testdata/truth"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// dumpFixture is a real dump's program with its record indexed for the
// stack tests.
type dumpFixture struct {
	name  string
	prog  *symbols.Program
	truth map[int]*truthTask
	// staged are the pids the record names as roles of the staged hangs.
	staged map[int]bool
	roles  map[string]int // role name → pid
}

// openStackDump opens d (openReal) and indexes its record.
func openStackDump(t testing.TB, d testdata.RealDump) *dumpFixture {
	t.Helper()
	f := &dumpFixture{name: d.Name, prog: walktest.OpenReal(t, d), truth: truthTasks(d.Truth), staged: map[int]bool{}, roles: d.Truth.Roles}
	for _, pid := range d.Truth.Roles {
		f.staged[pid] = true
	}
	return f
}

// truthTask is one task of the guest's KWALK-TRUTH record.
type truthTask struct {
	tid, pid int
	comm     string
	state    string
	stack    []truthFrame
	fds      map[int]string
}

type truthFrame struct {
	fn     string
	off    uint64
	size   uint64
	module string
}

// truthTasks indexes the record's tasks by thread id.
func truthTasks(rec *truth.Record) map[int]*truthTask {
	out := map[int]*truthTask{}
	for _, rt := range rec.Tasks {
		tt := &truthTask{tid: rt.TID, pid: rt.PID, comm: rt.Comm, state: string(rt.State), fds: map[int]string{}}
		for _, f := range rt.Stack {
			tt.stack = append(tt.stack, truthFrame{fn: f.Func, off: f.Offset, size: f.Size, module: f.Module})
		}
		for _, fd := range rt.FDs {
			tt.fds[fd.Num] = fd.Target
		}
		out[rt.TID] = tt
	}
	return out
}

// isSubsequence reports whether want appears in got in order (by function
// and offset), and where the first missing frame is.
func isSubsequence(got []Frame, want []truthFrame) (bool, int) {
	j := 0
	for _, f := range got {
		if j < len(want) && f.Symbol == want[j].fn && f.Offset == want[j].off {
			j++
		}
	}
	return j == len(want), j
}

func TestStackDumpMatchesProcStack(t *testing.T) {
	for _, spec := range testdata.RealDumps(t) {
		t.Run(spec.Name, func(t *testing.T) {
			f := openStackDump(t, spec)
			u, err := UnwinderFor(f.prog)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("unwinder: %s %s", u.Method(), u.ORCFormat())
			tasks, err := sched.Tasks(f.prog)
			if err != nil {
				t.Fatal(err)
			}
			checked, changed, skippedModFrames, clean := 0, 0, 0, 0
			for _, task := range tasks {
				tr, err := Stack(f.prog, task.Obj)
				if err != nil {
					// Only a task that has released its stack may fail.
					if task.ExitState == 0 {
						t.Errorf("pid %d %s: %v", task.PID, task.Comm, err)
					}
					continue
				}
				if tr.Err != nil {
					t.Errorf("pid %d %s: unwind ended early: %v", task.PID, task.Comm, tr.Err)
				} else {
					clean++
				}
				tt, ok := f.truth[task.PID]
				if !ok || len(tt.stack) == 0 {
					continue
				}
				checked++
				// Module functions can only be matched by name when the
				// symbol table has module symbols.
				var want []truthFrame
				for _, w := range tt.stack {
					if w.module != "" {
						if _, err := f.prog.Syms.Lookup(w.fn); err != nil {
							skippedModFrames++
							continue
						}
					}
					want = append(want, w)
				}
				if ok, at := isSubsequence(tr.Frames, want); !ok {
					var got []string
					for _, fr := range tr.Frames {
						got = append(got, fr.Name())
					}
					msg := fmt.Sprintf("pid %d %s (%s): /proc stack frame %d (%s+%#x) missing from\n  %s\n  (unwind err: %v)",
						task.PID, task.Comm, tt.state, at, want[at].fn, want[at].off, strings.Join(got, "\n  "), tr.Err)
					// Tasks may run between the guest's record and the dump
					// (idle kernel threads, the Go runtime threads of the
					// FUSE servers, the recorder itself); the staged tasks
					// and every task in D may not.
					if !f.staged[task.PID] && !f.staged[task.TGID] && tt.state != "D" {
						changed++
						t.Log("moved since the record: " + msg)
					} else {
						t.Error(msg)
					}
					continue
				}
				// Module frames name their module.
				for _, want := range tt.stack {
					if want.module == "" {
						continue
					}
					for _, fr := range tr.Frames {
						if fr.Symbol == want.fn && fr.Module != want.module {
							t.Errorf("pid %d: %s in module %q, want %q", task.PID, want.fn, fr.Module, want.module)
						}
					}
				}
			}
			if checked == 0 {
				t.Fatal("no task of the record was checked")
			}
			if changed*4 > checked {
				t.Errorf("%d of %d tasks differ from the record", changed, checked)
			}
			t.Logf("%d of %d tasks unwound to the bottom of their stacks", clean, len(tasks))
			t.Logf("%d tasks checked against their /proc stacks (%d unstaged tasks moved since the record; %d module frames unchecked for lack of module symbols)",
				checked, changed, skippedModFrames)
		})
	}
}

// TestSyscallDumpMatchesRecord decodes the syscall of every user task and
// checks fd arguments against the guest's own fd links, and that the staged
// rm and truncate are in unlink/ftruncate on /mnt/w.
func TestSyscallDumpMatchesRecord(t *testing.T) {
	for _, spec := range testdata.RealDumps(t) {
		t.Run(spec.Name, func(t *testing.T) { testSyscallDump(t, openStackDump(t, spec)) })
	}
}

func testSyscallDump(t *testing.T, f *dumpFixture) {
	tasks, err := sched.Tasks(f.prog)
	if err != nil {
		t.Fatal(err)
	}
	decoded, fdArgs := 0, 0
	seen := map[int]string{}
	for _, task := range tasks {
		tr, err := Stack(f.prog, task.Obj)
		if err != nil {
			continue
		}
		sc, err := DecodeSyscall(f.prog, task.Obj, tr, SyscallOptions{FDPath: TaskFDPath})
		if err != nil {
			t.Errorf("pid %d: %v", task.PID, err)
			continue
		}
		if sc == nil {
			continue // a kernel thread, or a task interrupted in user mode
		}
		decoded++
		if sc.Name == "" {
			t.Errorf("pid %d %s: syscall %d has no name", task.PID, task.Comm, sc.Nr)
		}
		seen[task.PID] = sc.String()
		// The record lists fds of thread-group leaders.
		tt, ok := f.truth[task.TGID]
		if !ok {
			continue
		}
		for _, a := range sc.Args {
			if a.Kind != ArgFD {
				continue
			}
			want, ok := tt.fds[int(int32(a.Value))]
			if !ok {
				continue
			}
			fdArgs++
			if got := fmt.Sprintf("%d<%s>", int32(a.Value), want); a.Text != got {
				t.Errorf("pid %d %s: fd argument %s, want %s", task.PID, sc.Name, a.Text, got)
			}
		}
	}
	t.Logf("%d syscalls decoded, %d fd arguments matched the guest's fd links", decoded, fdArgs)
	for role, re := range map[string]*regexp.Regexp{
		"square.rm":       regexp.MustCompile(`^unlink(at)?\((AT_FDCWD, )?"/mnt/w/`),
		"square.truncate": regexp.MustCompile(`^ftruncate\(3</mnt/w/data>, `),
	} {
		pid, staged := f.roles[role]
		if !staged {
			continue
		}
		if got, ok := seen[pid]; !ok {
			t.Errorf("%s (pid %d): no syscall decoded", role, pid)
		} else if !re.MatchString(got) {
			t.Errorf("%s (pid %d): syscall %s does not match %v", role, pid, got, re)
		}
	}
}

// BenchmarkStackAllTasks unwinds every task of each dump (the unwinder's
// tables are built once, outside the loop).
func BenchmarkStackAllTasks(b *testing.B) {
	for _, spec := range testdata.RealDumps(b) {
		b.Run(spec.Name, func(b *testing.B) {
			f := openStackDump(b, spec)
			tasks, err := sched.Tasks(f.prog)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := UnwinderFor(f.prog); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			frames := 0
			for i := 0; i < b.N; i++ {
				for _, task := range tasks {
					if tr, err := Stack(f.prog, task.Obj); err == nil {
						frames += len(tr.Frames)
					}
				}
			}
			b.ReportMetric(float64(len(tasks)), "tasks/op")
			b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
		})
	}
}

// BenchmarkStackAllTasksCold is the first bt of a session: a new unwinder
// (ORC tables and type layouts found again, table pages read again; the
// image's own page cache stays warm).
func BenchmarkStackAllTasksCold(b *testing.B) {
	f := openStackDump(b, testdata.RealDumps(b)[0])
	tasks, err := sched.Tasks(f.prog)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		u, err := NewUnwinder(f.prog)
		if err != nil {
			b.Fatal(err)
		}
		for _, task := range tasks {
			u.Stack(task.Obj)
		}
	}
}

// TestORCLookupTableAgreesWithSearch checks the orc_lookup fast path
// against a plain binary search over the whole vmlinux table.
func TestORCLookupTableAgreesWithSearch(t *testing.T) {
	f := openStackDump(t, testdata.RealDumps(t)[0])
	u, err := UnwinderFor(f.prog)
	if err != nil || u.orc == nil {
		t.Fatalf("no ORC: %v %v", err, u.orcErr)
	}
	fast := u.orc.vmlinux
	if fast.lookup == nil {
		t.Skip("SKIP: the dump's kallsyms has no orc_lookup (no KALLSYMS_ALL)")
	}
	slow := *fast
	slow.lookup = nil
	lk := fast.lookup
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < 2000; i++ {
		ip := lk.start + uint64(rng.Int63n(int64(lk.end-lk.start)))
		a, okA, errA := fast.find(ip)
		b, okB, errB := slow.find(ip)
		if a != b || okA != okB || (errA == nil) != (errB == nil) {
			t.Fatalf("ip %#x: lookup gives %d,%v,%v; search gives %d,%v,%v", ip, a, okA, errA, b, okB, errB)
		}
	}
}
