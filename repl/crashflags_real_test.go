package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/testdata/truth"
	"github.com/kwalk/kwalk/walkers/vfs"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// crashFlagDump is one generated hangs dump, opened, with a session on it.
type crashFlagDump struct {
	t   *testing.T
	d   *testdata.Dump
	rec *truth.Record
	s   *Session
	out bytes.Buffer
	err bytes.Buffer
}

// hangsDumps returns the hangs guests' dumps of every kernel.
var hangsDumps = func(t *testing.T) []*testdata.Dump {
	return testdata.Require(t, testdata.Filter{Guest: "hangs"})
}

// eachHangsDump runs f on the hangs guest of every kernel the cache has.
func eachHangsDump(t *testing.T, f func(cd *crashFlagDump)) {
	for _, d := range hangsDumps(t) {
		t.Run(d.ID(), func(t *testing.T) {
			path := d.Path(testdata.FormatKdumpZlib)
			if path == "" {
				fs := d.Formats()
				if len(fs) == 0 {
					t.Skipf("SKIP: %s has no dump file", d.ID())
				}
				path = d.Path(fs[0])
			}
			p := walktest.OpenReal(t, testdata.RealDump{Name: d.ID(), Path: path})
			cd := &crashFlagDump{t: t, d: d, rec: d.Truth}
			cd.s = NewSession(p, NewDefaultRegistry(), &cd.out, &cd.err)
			f(cd)
		})
	}
}

// text runs line and returns its text output.
func (cd *crashFlagDump) text(line string) string {
	cd.t.Helper()
	cd.out.Reset()
	cd.err.Reset()
	if st := cd.s.Exec(context.Background(), line); st != ExitOK {
		cd.t.Fatalf("%s: status %d: %s", line, st, cd.err.String())
	}
	return cd.out.String()
}

// json runs line with --json and decodes it into v.
func (cd *crashFlagDump) json(line string, v any) {
	cd.t.Helper()
	out := cd.text(line + " --json")
	if err := json.Unmarshal([]byte(out), v); err != nil {
		cd.t.Fatalf("%s --json: %v in %.300q", line, err, out)
	}
}

// recorder reports whether tid belongs to the process that printed the
// record (it went on running after it).
func (cd *crashFlagDump) recorder(w truth.Task) bool {
	return walktest.RecorderTask(cd.rec, w.TID) || w.PID == walktest.RecorderPID(cd.rec)
}

// TestPsCrashFlagsRealDumps checks ps -p -c -g -S -A -y -t against the
// guest's record: parents against PPid, thread groups against Tgid, state
// counts against the recorded states.
func TestPsCrashFlagsRealDumps(t *testing.T) {
	eachHangsDump(t, func(cd *crashFlagDump) {
		t := cd.t
		var all PsResult
		cd.json("ps", &all)
		byTID := map[int]PsRow{}
		for _, r := range all.Tasks {
			if !r.Idle {
				byTID[r.TID] = r
			}
		}

		// -p: each task's parent (the last ancestor) is its PPid's task.
		var res PsResult
		cd.json("ps -p", &res)
		parentOf := map[int]PsRow{}
		for _, g := range res.Groups {
			if !g.Task.Idle && len(g.Ancestors) > 0 {
				parentOf[g.Task.TID] = g.Ancestors[len(g.Ancestors)-1]
				if a := g.Ancestors[0]; a.TID != 0 || a.Comm != "swapper/0" {
					t.Errorf("ps -p %d: the hierarchy starts at %d %s", g.Task.TID, a.TID, a.Comm)
				}
			}
		}
		checked := 0
		for _, w := range cd.rec.Tasks {
			if w.PPID < 0 || cd.recorder(w) {
				continue
			}
			par, ok := parentOf[w.TID]
			if !ok || par.TGID != w.PPID {
				t.Errorf("ps -p %d: parent %+v, the record says PPid %d", w.TID, par.TGID, w.PPID)
			}
			checked++
		}
		if checked == 0 {
			t.Errorf("ps -p: no task of the record checked")
		}

		// -c: every task is the child of the task -p names its parent, and
		// of no other.
		res = PsResult{}
		cd.json("ps -c", &res)
		childOf := map[int]int{}
		for _, g := range res.Groups {
			for _, ch := range g.Children {
				if prev, dup := childOf[ch.TID]; dup {
					t.Errorf("ps -c: %d is a child of %d and %d", ch.TID, prev, g.Task.TID)
				}
				childOf[ch.TID] = g.Task.TGID
			}
		}
		for _, w := range cd.rec.Tasks {
			if w.PPID < 0 || cd.recorder(w) {
				continue
			}
			if got, ok := childOf[w.TID]; !ok || got != w.PPID {
				t.Errorf("ps -c: %d is a child of tgid %d (found %v), the record says PPid %d", w.TID, got, ok, w.PPID)
			}
		}

		// -g: each group holds exactly the record's threads of that tgid.
		res = PsResult{}
		cd.json("ps -g", &res)
		groups := map[int]map[int]bool{}
		for _, g := range res.Groups {
			if g.Task.Idle {
				continue
			}
			if !g.Task.Kthread && g.Task.TID != g.Task.TGID {
				t.Errorf("ps -g: group %d led by %d", g.Task.TGID, g.Task.TID)
			}
			m := map[int]bool{g.Task.TID: true}
			for _, th := range g.Threads {
				if th.TGID != g.Task.TGID {
					t.Errorf("ps -g: thread %d (tgid %d) in group %d", th.TID, th.TGID, g.Task.TGID)
				}
				m[th.TID] = true
			}
			groups[g.Task.TGID] = m
		}
		for _, w := range cd.rec.Tasks {
			if !cd.recorder(w) && !groups[w.PID][w.TID] {
				t.Errorf("ps -g: tid %d not in group %d", w.TID, w.PID)
			}
		}

		// -S: the counts of the listing's states, and at least the record's.
		res = PsResult{}
		cd.json("ps -S", &res)
		want := map[string]int{}
		for _, r := range all.Tasks {
			want[r.CrashState]++
		}
		for st, n := range want {
			if res.Summary[st] != n {
				t.Errorf("ps -S: %s %d, the listing has %d", st, res.Summary[st], n)
			}
		}
		crashOf := map[byte]string{'R': "RU", 'S': "IN", 'D': "UN", 'T': "ST", 't': "TR", 'Z': "ZO", 'X': "DE", 'I': "ID", 'P': "PA"}
		recCount := map[string]int{}
		for _, w := range cd.rec.Tasks {
			if !cd.recorder(w) {
				recCount[crashOf[w.State]]++
			}
		}
		for st, n := range recCount {
			if res.Summary[st] < n {
				t.Errorf("ps -S: %s %d, the record has %d tasks in that state", st, res.Summary[st], n)
			}
		}
		if sum := cd.text("ps -S"); !strings.Contains(sum, "  IN: ") {
			t.Errorf("ps -S text: %q", sum)
		}

		// -A: one task per CPU, each on its CPU.
		var si SysInfo
		cd.json("sys", &si)
		res = PsResult{}
		cd.json("ps -A", &res)
		cpus := map[int]bool{}
		for _, r := range res.Tasks {
			if cpus[r.CPU] {
				t.Errorf("ps -A: two tasks on cpu %d", r.CPU)
			}
			cpus[r.CPU] = true
			if w := cd.rec.Task(r.TID); w != nil && !r.Idle && !cd.recorder(*w) && w.CPU >= 0 && w.CPU != r.CPU {
				t.Errorf("ps -A: pid %d active on cpu %d, recorded on cpu %d", r.TID, r.CPU, w.CPU)
			}
		}
		if len(res.Tasks) != si.CPUs {
			t.Errorf("ps -A: %d tasks, %d CPUs", len(res.Tasks), si.CPUs)
		}

		// -y FIFO: the stopper threads (sched_set_stop_task makes them
		// SCHED_FIFO), one per CPU.
		res = PsResult{}
		cd.json("ps -y FIFO", &res)
		mig := 0
		for _, r := range res.Tasks {
			if r.Policy != "FIFO" {
				t.Errorf("ps -y FIFO: pid %d policy %q", r.TID, r.Policy)
			}
			if strings.HasPrefix(r.Comm, "migration/") {
				mig++
			}
		}
		if mig != si.CPUs {
			t.Errorf("ps -y FIFO: %d migration threads, %d CPUs", mig, si.CPUs)
		}

		// -t: run time is uptime less start; a child starts after its parent.
		res = PsResult{}
		cd.json("ps -t", &res)
		start := map[int]uint64{}
		for _, r := range res.Tasks {
			if r.Times == nil || r.Times.RunTimeNs == nil {
				t.Errorf("ps -t: pid %d has no times: %v", r.TID, r.Errors)
				continue
			}
			if si.UptimeSeconds != nil && float64(*r.Times.RunTimeNs)/1e9 > *si.UptimeSeconds+1 {
				t.Errorf("ps -t: pid %d ran %d ns, longer than the uptime %.1f s", r.TID, *r.Times.RunTimeNs, *si.UptimeSeconds)
			}
			if !r.Idle {
				start[r.TID] = r.Times.StartBootNs
			}
		}
		for _, w := range cd.rec.Tasks {
			if w.PPID > 0 && !cd.recorder(w) && w.IsLeader() {
				if s, ps := start[w.TID], start[w.PPID]; s < ps {
					t.Errorf("ps -t: pid %d started at %d, before its parent %d at %d", w.TID, s, w.PPID, ps)
				}
			}
		}

		// -r: init's limits, 16 of them, soft at most hard.
		res = PsResult{}
		cd.json("ps -r 1", &res)
		if len(res.Tasks) != 1 || len(res.Tasks[0].Rlimits) != 16 {
			t.Fatalf("ps -r 1: %+v", res.Tasks)
		}
		for _, l := range res.Tasks[0].Rlimits {
			if l.Cur > l.Max {
				t.Errorf("ps -r 1: %s soft %d above hard %d", l.Name, l.Cur, l.Max)
			}
		}
	})
}

// TestLogCrashFlagsRealDumps checks log -T against the log itself: the
// RTC driver's "setting system clock to ... (EPOCH)" line, read back with
// -T, is at the time it states; -d finds dev_printk devices; -a reads the
// audit queues.
func TestLogCrashFlagsRealDumps(t *testing.T) {
	eachHangsDump(t, func(cd *crashFlagDump) {
		t := cd.t
		var lr LogResult
		cd.json("log -T", &lr)
		if lr.BootTime == nil {
			t.Fatalf("log -T: no boot time")
		}
		found := false
		for _, r := range lr.Records {
			i := strings.Index(r.Text, "setting system clock to ")
			j := strings.LastIndex(r.Text, "(")
			if i < 0 || j < 0 {
				continue
			}
			epoch, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(r.Text[j+1:]), ")"), 10, 64)
			if err != nil {
				t.Errorf("log: %q: %v", r.Text, err)
				continue
			}
			found = true
			// The RTC counts whole seconds; local_clock and the monotonic
			// clock may part by a little more.
			got := lr.BootTime.Add(time.Duration(r.TimeNs))
			if d := got.Sub(time.Unix(epoch, 0)); d < -2*time.Second || d > 2*time.Second {
				t.Errorf("log -T: %q printed at %s, %v from the time it states", r.Text, got, d)
			}
			if txt := cd.text("log -T -g 'setting system clock'"); !strings.Contains(txt, got.UTC().Format("Mon Jan _2 15:04:05 2006")) {
				t.Errorf("log -T text: %q lacks %s", txt, got.UTC().Format(time.ANSIC))
			}
		}
		if !found {
			t.Errorf("log: no RTC \"setting system clock\" line to check -T against")
		}
		var si SysInfo
		cd.json("sys", &si)
		if n := len(lr.Records); n > 0 && si.CrashTime != nil {
			if last := lr.BootTime.Add(time.Duration(lr.Records[n-1].TimeNs)); last.After(si.CrashTime.Add(2 * time.Second)) {
				t.Errorf("log -T: the last record at %s is after the crash time %s", last, si.CrashTime)
			}
		}
		lr = LogResult{}
		cd.json("log -d", &lr)
		devs := 0
		for _, r := range lr.Records {
			if r.Subsystem != "" {
				devs++
			}
		}
		if devs == 0 {
			t.Errorf("log -d: no record has a device")
		}
		cd.text("log -a")
	})
}

// TestSysModCrashFlagsRealDumps checks sys -t and mod -t against the
// log's "module verification failed ... tainting kernel" and the record's
// /proc/modules, sys -i against the log's "DMI:" line.
func TestSysModCrashFlagsRealDumps(t *testing.T) {
	eachHangsDump(t, func(cd *crashFlagDump) {
		t := cd.t
		var lr LogResult
		cd.json("log", &lr)
		unsigned := map[string]bool{} // modules the log says tainted the kernel unsigned
		dmiLine := ""
		for _, r := range lr.Records {
			if mod, ok := strings.CutSuffix(r.Text, ": module verification failed: signature and/or required key missing - tainting kernel"); ok {
				unsigned[mod] = true
			}
			if strings.HasPrefix(r.Text, "DMI: ") && strings.Contains(r.Text, "BIOS") {
				dmiLine = r.Text
			}
		}
		var taint SysTaint
		cd.json("sys -t", &taint)
		if len(unsigned) > 0 && !strings.Contains(taint.Letters, "E") {
			t.Errorf("sys -t: %q, but the log says %v tainted the kernel unsigned", taint.Letters, unsigned)
		}
		var mods ModList
		cd.json("mod -t", &mods)
		got := map[string]string{}
		for _, m := range mods.Modules {
			got[m.Name] = *m.Taints
			if taint.Mask == 0 {
				t.Errorf("mod -t: %s tainted %s, the kernel is not", m.Name, *m.Taints)
			}
		}
		for m := range unsigned {
			if !strings.Contains(got[m], "E") {
				t.Errorf("mod -t: %s has taints %q, the log says it is unsigned", m, got[m])
			}
		}
		// /proc/modules: "fuse 139264 3 - Live 0x0000000000000000 (E)".
		for _, line := range cd.rec.Files["/proc/modules"] {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			want := ""
			if l := f[len(f)-1]; strings.HasPrefix(l, "(") {
				want = strings.Trim(l, "()")
			}
			if got[f[0]] != want {
				t.Errorf("mod -t: %s taints %q, /proc/modules says %q", f[0], got[f[0]], want)
			}
		}
		var dmi SysDMI
		cd.json("sys -i", &dmi)
		vals := map[string]string{}
		for _, d := range dmi.DMI {
			vals[d.Name] = d.Value
		}
		if dmiLine == "" {
			t.Errorf("log: no DMI line to check sys -i against")
		}
		for _, f := range []string{"SYS_VENDOR", "PRODUCT_NAME", "BIOS_VERSION", "BIOS_DATE"} {
			if vals[f] == "" || !strings.Contains(dmiLine, vals[f]) {
				t.Errorf("sys -i: %s %q is not in the log's %q", f, vals[f], dmiLine)
			}
		}
		cd.text("mod -S")
	})
}

// TestFilesCrashFlagsRealDumps checks files -R against the record's fd
// links (every pipe and socket the record shows, found in exactly the
// fds that link to it), -d against the record's paths, -c and -p against
// each other.
func TestFilesCrashFlagsRealDumps(t *testing.T) {
	eachHangsDump(t, func(cd *crashFlagDump) {
		t := cd.t
		type fdKey struct{ pid, fd int }
		want := map[string]map[fdKey]bool{}
		for _, w := range cd.rec.Tasks {
			if cd.recorder(w) {
				continue
			}
			for _, fd := range w.FDs {
				if strings.HasPrefix(fd.Target, "pipe:[") || strings.HasPrefix(fd.Target, "socket:[") {
					if want[fd.Target] == nil {
						want[fd.Target] = map[fdKey]bool{}
					}
					want[fd.Target][fdKey{w.PID, fd.Num}] = true
				}
			}
		}
		if len(want) == 0 {
			t.Errorf("the record has no pipe or socket fd to check files -R against")
		}
		for target, fds := range want {
			var res FilesResult
			cd.json("files -R "+target, &res)
			got := map[fdKey]bool{}
			for _, ft := range res.Tasks {
				for _, f := range ft.Files {
					if ft.PID != walktest.RecorderPID(cd.rec) {
						got[fdKey{ft.PID, f.FD}] = true
					}
					if f.Path != target {
						t.Errorf("files -R %s: pid %d fd %d is %s", target, ft.PID, f.FD, f.Path)
					}
				}
			}
			if len(got) != len(fds) {
				t.Errorf("files -R %s: %v, the record has %v", target, got, fds)
			}
			for k := range fds {
				if !got[k] {
					t.Errorf("files -R %s: pid %d fd %d missing", target, k.pid, k.fd)
				}
			}
		}
		// init's files: -d gives each regular file's path (from its
		// filesystem's root, a suffix of the record's), -c's nrpages bound
		// -p's pages.
		var res FilesResult
		cd.json("files -c 1", &res)
		checked := 0
		for _, f := range res.Tasks[0].Files {
			if f.Type != "REG" || f.NrPages == nil {
				continue
			}
			var d FilesDentry
			cd.json(fmt.Sprintf("files -d %x", uint64(f.Dentry)), &d)
			if d.Inode != f.Inode || d.Type != "REG" || !strings.HasSuffix(f.Path, d.Path) {
				t.Errorf("files -d %x: %+v; files says inode %x path %s", uint64(f.Dentry), d, uint64(f.Inode), f.Path)
			}
			var pg FilesPages
			cd.json(fmt.Sprintf("files -p %x", uint64(f.Inode)), &pg)
			if pg.NrPages != *f.NrPages || uint64(len(pg.Pages)) > pg.NrPages || (pg.NrPages > 0 && len(pg.Pages) == 0) {
				t.Errorf("files -p %x: %d pages listed, nrpages %d (files -c: %d)", uint64(f.Inode), len(pg.Pages), pg.NrPages, *f.NrPages)
			}
			for i := 1; i < len(pg.Pages); i++ {
				if pg.Pages[i].Index <= pg.Pages[i-1].Index {
					t.Errorf("files -p %x: index %d after %d", uint64(f.Inode), pg.Pages[i].Index, pg.Pages[i-1].Index)
				}
			}
			checked++
		}
		if checked == 0 {
			t.Errorf("files -c 1: no regular file to check -d and -p on")
		}
	})
}

// TestMountCrashFlagsRealDumps checks mount -f against the record's fd
// links (each file under a mount point is listed under that mount with
// its process), -n (and its old name -t) against the initial namespace,
// -i's inodes against I_DIRTY.
func TestMountCrashFlagsRealDumps(t *testing.T) {
	eachHangsDump(t, func(cd *crashFlagDump) {
		t := cd.t
		var plain, byTask, byOld MountResult
		cd.json("mount", &plain)
		cd.json("mount -n 1", &byTask)
		cd.json("mount -t 1", &byOld)
		if len(byTask.Mounts) != len(plain.Mounts) || len(byOld.Mounts) != len(plain.Mounts) {
			t.Errorf("mount -n 1: %d mounts, -t 1: %d, mount: %d", len(byTask.Mounts), len(byOld.Mounts), len(plain.Mounts))
		}
		var res MountResult
		cd.json("mount -f", &res)
		// A file is listed under a mount whose mount point prefixes its
		// path: the deepest, or one below it when the file was opened
		// before the deeper mount covered it (init's /dev/console on the
		// rootfs, opened before devtmpfs was mounted on /dev).
		checked := 0
		for _, w := range cd.rec.Tasks {
			if cd.recorder(w) {
				continue
			}
			for _, fd := range w.FDs {
				if !strings.HasPrefix(fd.Target, "/") || strings.HasSuffix(fd.Target, " (deleted)") {
					continue
				}
				found := ""
				for _, m := range res.Mounts {
					mp := strings.TrimSuffix(m.MountPoint, "/") + "/"
					if m.OpenFiles == nil || !(strings.HasPrefix(fd.Target, mp) || fd.Target == m.MountPoint) {
						continue
					}
					for _, f := range *m.OpenFiles {
						for _, pid := range f.PIDs {
							if f.Path == fd.Target && pid == w.PID {
								found = m.MountPoint
							}
						}
					}
				}
				if found == "" {
					t.Errorf("mount -f: pid %d's fd %d (%s) under no mount", w.PID, fd.Num, fd.Target)
				}
				checked++
			}
		}
		if checked == 0 {
			t.Errorf("mount -f: the record has no file to check")
		}
		res = MountResult{}
		cd.json("mount -i", &res)
		for _, m := range res.Mounts {
			if m.DirtyInodes == nil {
				continue
			}
			for _, d := range *m.DirtyInodes {
				if d.State&vfs.IDirty == 0 {
					t.Errorf("mount -i: inode %#x state %#x is not dirty", d.Inode, d.State)
				}
			}
		}
	})
}

// TestBtTextScanRealDumps checks bt -t and -T: every frame the unwinder
// finds has its return-address slot among the text symbols -t lists, and
// -T lists all -t lists and more, for the record's sleeping tasks.
func TestBtTextScanRealDumps(t *testing.T) {
	eachHangsDump(t, func(cd *crashFlagDump) {
		t := cd.t
		checked := 0
		for _, w := range cd.rec.Tasks {
			if cd.recorder(w) || len(w.Stack) == 0 || w.State == 'R' || checked >= 10 {
				continue
			}
			checked++
			var bt, scan, whole BtResult
			id := strconv.Itoa(w.TID)
			cd.json("bt "+id, &bt)
			cd.json("bt -t "+id, &scan)
			cd.json("bt -T "+id, &whole)
			slots := map[Hex]Hex{}
			for _, s := range scan.Traces[0].TextSymbols {
				slots[s.Addr] = s.Value
			}
			for _, f := range bt.Traces[0].Frames {
				if f.Exception != nil || f.Guess {
					continue
				}
				if v, ok := slots[f.SP]; !ok || v != f.IP {
					t.Errorf("bt -t %d: frame #%d %s at slot %x not listed (%x)", w.TID, f.Level, f.Symbol, uint64(f.SP), uint64(v))
				}
			}
			all := map[Hex]bool{}
			for _, s := range whole.Traces[0].TextSymbols {
				all[s.Addr] = true
			}
			for a := range slots {
				if !all[a] {
					t.Errorf("bt -T %d: lacks slot %x that -t lists", w.TID, uint64(a))
				}
			}
		}
		if checked == 0 {
			t.Errorf("no recorded sleeping task to check bt -t on")
		}
	})
}
