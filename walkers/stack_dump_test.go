package walkers

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
)

// Real dumps the stack tests run on, when present: each directory holds
// vmcore.kdump and the guest's console.log with its KWALK-TRUTH record.
var stackDumpDirs = []string{
	"/work/shared/vmcores/6.1-cloud",
	"/work/shared/vmcores/5.10",
	"/work/shared/vmcores/6.12",
	"/work/shared/vmcores/sid",
}

type dumpFixture struct {
	dir   string
	prog  *symbols.Program
	truth map[int]*truthTask
	err   error
}

var (
	stackDumpMu    sync.Mutex
	stackDumpCache = map[string]*dumpFixture{}
)

// openStackDump opens the dump in dir once per test binary: kcore image,
// kallsyms and BTF from the dump's own memory.
func openStackDump(t testing.TB, dir string) *dumpFixture {
	t.Helper()
	stackDumpMu.Lock()
	defer stackDumpMu.Unlock()
	if f, ok := stackDumpCache[dir]; ok {
		if f.err != nil {
			t.Fatal(f.err)
		}
		return f
	}
	core := filepath.Join(dir, "vmcore.kdump")
	if _, err := os.Stat(core); err != nil {
		t.Skipf("SKIP: no dump at %s (%v)", core, err)
	}
	f := &dumpFixture{dir: dir}
	stackDumpCache[dir] = f
	d, err := kcore.Open(core, kcore.Options{})
	if err != nil {
		f.err = err
		t.Fatal(err)
	}
	syms, err := symbols.LoadKernelSymbols(d, d.VMCoreInfo(), symbols.SymbolOptions{})
	if err != nil {
		f.err = err
		t.Fatal(err)
	}
	types, err := symbols.LoadBTFFromMemory(d, syms)
	if err != nil {
		f.err = err
		t.Fatal(err)
	}
	f.prog = symbols.NewProgram(d, syms, types)
	if err := symbols.AttachModuleSymbols(f.prog); err != nil {
		t.Logf("module symbols: %v (module frames are checked by address only)", err)
	}
	f.truth, err = parseTruth(filepath.Join(dir, "console.log"))
	if err != nil {
		f.err = err
		t.Fatal(err)
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

var (
	truthTaskRE  = regexp.MustCompile(`^task tid=(\d+) pid=(\d+) comm=(.*) state=(\S+)`)
	truthFrameRE = regexp.MustCompile(`^\s+stack \[<[0-9a-f]+>\] ([^+\s]+)\+0x([0-9a-f]+)/0x([0-9a-f]+)(?: \[(\S+)\])?`)
	truthFdRE    = regexp.MustCompile(`^\s+fd (\d+) -> (.*)$`)
)

// parseTruth reads the guest's record between KWALK-TRUTH-BEGIN and -END.
func parseTruth(path string) (map[int]*truthTask, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	out := map[int]*truthTask{}
	var cur *truthTask
	in := false
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.Contains(line, "KWALK-TRUTH-BEGIN"):
			in = true
			continue
		case strings.Contains(line, "KWALK-TRUTH-END"):
			in = false
		}
		if !in {
			continue
		}
		if m := truthTaskRE.FindStringSubmatch(line); m != nil {
			tid, _ := strconv.Atoi(m[1])
			pid, _ := strconv.Atoi(m[2])
			cur = &truthTask{tid: tid, pid: pid, comm: m[3], state: m[4], fds: map[int]string{}}
			out[tid] = cur
			continue
		}
		if cur == nil {
			continue
		}
		if m := truthFrameRE.FindStringSubmatch(line); m != nil {
			off, _ := strconv.ParseUint(m[2], 16, 64)
			size, _ := strconv.ParseUint(m[3], 16, 64)
			cur.stack = append(cur.stack, truthFrame{fn: m[1], off: off, size: size, module: m[4]})
		} else if m := truthFdRE.FindStringSubmatch(line); m != nil {
			fd, _ := strconv.Atoi(m[1])
			cur.fds[fd] = m[2]
		}
	}
	return out, sc.Err()
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
	ran := false
	for _, dir := range stackDumpDirs {
		if _, err := os.Stat(filepath.Join(dir, "vmcore.kdump")); err != nil {
			t.Logf("no dump in %s", dir)
			continue
		}
		ran = true
		t.Run(filepath.Base(dir), func(t *testing.T) {
			f := openStackDump(t, dir)
			u, err := UnwinderFor(f.prog)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("unwinder: %s %s", u.Method(), u.ORCFormat())
			tasks, err := Tasks(f.prog)
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
					// An idle or sleeping kernel thread may have run between
					// the guest's record and the dump; hung and user tasks
					// may not.
					if task.Kthread() && (tt.state == "I" || tt.state == "S") {
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
			if changed*20 > checked {
				t.Errorf("%d of %d kernel threads differ from the record", changed, checked)
			}
			t.Logf("%d of %d tasks unwound to the bottom of their stacks", clean, len(tasks))
			t.Logf("%d tasks checked against their /proc stacks (%d kernel threads moved since the record; %d module frames unchecked for lack of module symbols)",
				checked, changed, skippedModFrames)
		})
	}
	if !ran {
		t.Skip("SKIP: no dump under /work/shared/vmcores")
	}
}

// TestSyscallDumpMatchesRecord decodes the syscall of every user task and
// checks fd arguments against the guest's own fd links, and that the staged
// rm and truncate are in unlink/ftruncate on /mnt/w.
func TestSyscallDumpMatchesRecord(t *testing.T) {
	dir := stackDumpDirs[0]
	f := openStackDump(t, dir)
	tasks, err := Tasks(f.prog)
	if err != nil {
		t.Fatal(err)
	}
	decoded, fdArgs := 0, 0
	seen := map[string]string{}
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
			if !task.Kthread() && task.ExitState == 0 && tr.UserRegs != nil {
				t.Errorf("pid %d %s: user task with user registers but no syscall", task.PID, task.Comm)
			}
			continue
		}
		decoded++
		if sc.Name == "" {
			t.Errorf("pid %d %s: syscall %d has no name", task.PID, task.Comm, sc.Nr)
		}
		seen[task.Comm] = sc.String()
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
	for comm, re := range map[string]*regexp.Regexp{
		"rm":       regexp.MustCompile(`^unlink(at)?\((AT_FDCWD, )?"/mnt/w/`),
		"truncate": regexp.MustCompile(`^ftruncate\(3</mnt/w/data>, `),
	} {
		if got, ok := seen[comm]; ok && !re.MatchString(got) {
			t.Errorf("%s: syscall %s does not match %v", comm, got, re)
		} else if !ok {
			t.Errorf("%s: no syscall decoded", comm)
		}
	}
}

// BenchmarkStackAllTasks unwinds every task of the dump (the unwinder's
// tables are built once, outside the loop).
func BenchmarkStackAllTasks(b *testing.B) {
	f := openStackDump(b, stackDumpDirs[0])
	tasks, err := Tasks(f.prog)
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
}

// BenchmarkStackAllTasksCold is the first bt of a session: a new unwinder
// (ORC tables and type layouts found again, table pages read again; the
// image's own page cache stays warm).
func BenchmarkStackAllTasksCold(b *testing.B) {
	f := openStackDump(b, stackDumpDirs[0])
	tasks, err := Tasks(f.prog)
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
	f := openStackDump(t, stackDumpDirs[0])
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
