package waitfor_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/testdata/truth"
	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/waitfor"
)

// sharedDump is the dump every engineer starts from; its README lists the
// staged hangs (square, reenter, netflix).
const sharedDump = "/work/shared/vmcores/6.1-cloud"

// hangDump is a dump with the three staged hang scenarios and its record.
type hangDump struct {
	name string
	path string
	rec  *truth.Record
}

// hangDumps returns the shared dump and the generated "hangs" dumps that
// exist, skipping loudly when there are none.
func hangDumps(t *testing.T) []hangDump {
	t.Helper()
	var out []hangDump
	if _, err := os.Stat(filepath.Join(sharedDump, "vmcore.kdump")); err == nil {
		rec, err := truth.ParseFile(filepath.Join(sharedDump, "console.log"))
		if err != nil {
			t.Fatalf("%s/console.log: %v", sharedDump, err)
		}
		out = append(out, hangDump{"shared 6.1", filepath.Join(sharedDump, "vmcore.kdump"), rec})
	} else {
		t.Logf("MISSING %s (the shared dump): testing generated dumps only", sharedDump)
	}
	for _, d := range cachedDumps() {
		// aarch64 dumps too, read with nothing but the dump.
		if !d.Has(testdata.ScenarioSquare) || !d.Has(testdata.ScenarioNetflix) || d.Truth == nil {
			continue
		}
		path := d.Path(testdata.FormatKdumpZlibFlat)
		if path == "" {
			path = d.Path(testdata.FormatELF)
		}
		if path != "" {
			out = append(out, hangDump{d.ID(), path, d.Truth})
		}
	}
	if len(out) == 0 {
		t.Skipf("SKIP: no dump with staged hangs: neither %s nor generated dumps (%s)", sharedDump, testdata.GenerateCommand)
	}
	return out
}

// cachedDumps returns the generated dumps of the current generator and any
// older finished dump still in the cache (a dump stays a valid dump when the
// generator's sources change; its record says what it holds).
func cachedDumps() []*testdata.Dump {
	found, _ := testdata.Dumps()
	seen := map[string]bool{}
	for _, d := range found {
		seen[filepath.Clean(d.Dir)] = true
	}
	dirs, _ := filepath.Glob(filepath.Join(testdata.CacheDir(), "dumps", "*", "*"))
	for _, dir := range dirs {
		if seen[filepath.Clean(dir)] {
			continue
		}
		if d, err := testdata.LoadDir(dir); err == nil {
			found = append(found, d)
		}
	}
	return found
}

func openDump(t testing.TB, path string) *symbols.Program {
	t.Helper()
	p, err := kwalk.Open(path, kwalk.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return p
}

// fuseTypes reports whether the program can decode FUSE structures (the
// fuse module's BTF is loaded).
func fuseTypes(p *symbols.Program) bool {
	_, err := p.Type("struct fuse_conn")
	return err == nil
}

// connOf returns the /sys/fs/fuse/connections number of the FUSE mount at
// mountPoint from the record (anonymous device: the minor).
func connOf(t *testing.T, rec *truth.Record, mountPoint string) uint32 {
	t.Helper()
	m := rec.Mount(mountPoint)
	if m == nil {
		t.Fatalf("record has no mount %s", mountPoint)
	}
	return m.Major<<20 | m.Minor
}

// leaderFD reports whether thread group pid has an fd pointing at target.
func leaderFD(rec *truth.Record, pid int, target string) bool {
	ld := rec.Task(pid)
	if ld == nil {
		return false
	}
	for _, fd := range ld.FDs {
		if fd.Target == target {
			return true
		}
	}
	return false
}

// recordTask finds the one thread in function fn whose process has an fd
// on target ("" for any).
func recordTask(t *testing.T, rec *truth.Record, fn, target string) *truth.Task {
	t.Helper()
	var found []*truth.Task
	for _, tk := range rec.TasksIn(fn) {
		if target == "" || leaderFD(rec, tk.PID, target) {
			found = append(found, tk)
		}
	}
	if len(found) != 1 {
		t.Fatalf("record: %d threads in %s with fd %q, want 1", len(found), fn, target)
	}
	return found[0]
}

func chainWith(rep *waitfor.DeadlockReport, pid int) *waitfor.Chain {
	for i := range rep.Chains {
		c := &rep.Chains[i]
		for _, w := range append(append([]waitfor.TaskWait(nil), c.Path...), c.Others...) {
			if w.Task.PID == pid {
				return c
			}
		}
	}
	return nil
}

func waitOf(rep *waitfor.DeadlockReport, pid int) *waitfor.TaskWait {
	for i := range rep.Waits {
		if rep.Waits[i].Task.PID == pid {
			return &rep.Waits[i]
		}
	}
	return nil
}

func heldBy(w *waitfor.TaskWait, pid int) bool {
	for _, h := range w.Holders {
		if h.Task.PID == pid {
			return true
		}
	}
	return false
}

func TestDeadlockStagedHangs(t *testing.T) {
	for _, d := range hangDumps(t) {
		t.Run(d.name, func(t *testing.T) {
			p := openDump(t, d.path)
			if !fuseTypes(p) {
				// Without the fuse module's types (5.10: no module BTF) the
				// requests are not decoded, but connections, servers and
				// roots must come out the same, found without FUSE types.
				t.Logf("%s: no FUSE types (fuse module BTF not in the dump): connections and servers found through fuse_mount.fc / fuse_dev.fc", d.name)
			}
			checkStagedHangs(t, mustDeadlock(t, p), d.rec)
		})
	}
}

// checkStagedHangs checks a report on a dump with the three staged hangs
// against the dump's record.
func checkStagedHangs(t *testing.T, rep *waitfor.DeadlockReport, rec *truth.Record) {
	t.Helper()
	if rep.Status != "deadlock" || rep.ExitCode != waitfor.DeadlockCycle {
		t.Fatalf("status %s exit %d, want deadlock/2; warnings %v", rep.Status, rep.ExitCode, rep.Warnings)
	}
	t.Run("fuse connections", func(t *testing.T) { checkFuseConns(t, rep, rec) })
	t.Run("square", func(t *testing.T) { checkSquare(t, rep, rec) })
	t.Run("reenter", func(t *testing.T) { checkReenter(t, rep, rec) })
	t.Run("netflix", func(t *testing.T) { checkNetflix(t, rep, rec) })
}

// moduleDebugDir returns a directory of module debug files for release
// in the dump cache (DIR/usr/lib/debug/lib/modules/RELEASE of an unpacked
// -dbg package, holding fuse.ko), or "".
func moduleDebugDir(release string) string {
	if release == "" {
		return ""
	}
	dirs, _ := filepath.Glob(filepath.Join(testdata.CacheDir(), "debug", "*", "usr", "lib", "debug", "lib", "modules", release))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "kernel", "fs", "fuse", "fuse.ko")); err == nil {
			return d
		}
	}
	return ""
}

// TestDeadlockModuleDWARF: where the fuse module has no BTF (5.10), its
// DWARF from the -dbg package (kwalk.Options.DebugDirs, no vmlinux)
// supplies the FUSE types, and requests are decoded as with BTF.
func TestDeadlockModuleDWARF(t *testing.T) {
	ran := 0
	for _, d := range hangDumps(t) {
		if fuseTypes(openDump(t, d.path)) {
			continue
		}
		rel := d.rec.Release()
		dir := moduleDebugDir(rel)
		if dir == "" {
			t.Logf("MISSING module debug files for %s (%s): apt-get download linux-image-%s-dbg, then dpkg-deb --fsys-tarfile X.deb | tar -x --wildcards '*fuse.ko*' into %s/debug/<name>/",
				d.name, rel, rel, testdata.CacheDir())
			continue
		}
		ran++
		t.Run(d.name, func(t *testing.T) {
			p, err := kwalk.Open(d.path, kwalk.Options{DebugDirs: []string{dir}})
			if err != nil {
				t.Fatal(err)
			}
			if !fuseTypes(p) {
				t.Fatalf("struct fuse_conn does not resolve from %s (types: %s)", dir, p.Types.Describe())
			}
			rep := mustDeadlock(t, p)
			for _, c := range rep.FuseConns {
				if c.TypesFree || len(c.Devices) == 0 {
					t.Errorf("connection %d not decoded from DWARF: %+v", c.ID, c)
				}
			}
			checkStagedHangs(t, rep, d.rec)
		})
	}
	if ran == 0 {
		t.Skip("SKIP: no dump without FUSE BTF that has module debug files in the cache")
	}
}

// checkFuseConns: every connection of the record exists with its waiting
// count (fuse_conn.num_waiting, which /sys/fs/fuse/connections/N/waiting shows).
func checkFuseConns(t *testing.T, rep *waitfor.DeadlockReport, rec *truth.Record) {
	byID := map[uint32]*fuse.FuseConn{}
	for _, c := range rep.FuseConns {
		byID[c.ID] = c
	}
	if len(rec.FuseConn) == 0 {
		t.Fatal("record lists no FUSE connections")
	}
	for _, rc := range rec.FuseConn {
		c := byID[rc.Dev]
		if c == nil {
			t.Errorf("connection %d of the record not found", rc.Dev)
			continue
		}
		if c.TypesFree {
			// num_waiting is not read without FUSE types; the servers are
			// matched through fuse_dev.fc and must be processes holding
			// /dev/fuse in the record.
			if len(c.Requests) != 0 || len(c.Errors) == 0 {
				t.Errorf("connection %d without FUSE types: %d requests, errors %q; want none and a note", rc.Dev, len(c.Requests), c.Errors)
			}
			for _, s := range c.Servers {
				if !leaderFD(rec, s.Task.TGID, "/dev/fuse") && !strings.Contains(s.How, "being closed") {
					t.Errorf("connection %d: server %v holds no /dev/fuse in the record", rc.Dev, s.Task)
				}
				if !strings.Contains(s.How, "fuse_dev.fc at offset 0") {
					t.Errorf("connection %d: server %v found %q, not marked as found without types", rc.Dev, s.Task, s.How)
				}
			}
			continue
		}
		if int(c.NumWaiting) != rc.Waiting {
			t.Errorf("connection %d: num_waiting %d, record %d", rc.Dev, c.NumWaiting, rc.Waiting)
		}
	}
	// Every FUSE mount of the record has its connection, with that mount point.
	for _, m := range rec.Mounts {
		if !strings.HasPrefix(m.FSType, "fuse.") {
			continue
		}
		c := byID[m.Major<<20|m.Minor]
		if c == nil {
			t.Errorf("mount %s: no connection %d", m.MountPoint, m.Major<<20|m.Minor)
			continue
		}
		found := false
		for _, fm := range c.Mounts {
			for _, mp := range fm.MountPoints {
				found = found || mp == m.MountPoint
			}
		}
		if !found {
			t.Errorf("connection %d: mounts %+v lack %s", c.ID, c.Mounts, m.MountPoint)
		}
	}
}

// checkFuseOp checks a FUSE wait's request: its opcode when the request was
// decoded; without FUSE types, that the opcode is the one the sending
// function on the stack names, marked as taken from that frame (never read
// from the request), and that the connection hop says how it was found.
func checkFuseOp(t *testing.T, w *waitfor.TaskWait, conn uint32, op string) {
	t.Helper()
	if w == nil || w.Object.Fuse == nil || w.Object.Fuse.ConnID != conn {
		t.Errorf("wait %+v, want a FUSE request on connection %d", w, conn)
		return
	}
	f := w.Object.Fuse
	if !f.Undecoded {
		if f.Op != op {
			t.Errorf("%s (pid %d): op %q, want %s", w.Task.Comm, w.Task.PID, f.Op, op)
		}
		return
	}
	if f.Op != op || !strings.HasPrefix(f.OpFrom, "frame fuse_") || f.Unique != 0 || !strings.Contains(w.Object.What, "opcode from the frame") {
		t.Errorf("%s (pid %d): undecoded request with op %q (from %q) unique %d, %q: want %s from a frame, and a note", w.Task.Comm, w.Task.PID, f.Op, f.OpFrom, f.Unique, w.Object.What, op)
	}
	if !strings.Contains(w.How, "fuse_mount, fc at offset 0") {
		t.Errorf("%s (pid %d): connection hop %q does not say how it was found", w.Task.Comm, w.Task.PID, w.How)
	}
}

// checkSquare: touch → rm (dir i_rwsem) → dd (file i_rwsem), truncate → dd,
// dd waits on a WRITE of /mnt/w whose server is alive.
func checkSquare(t *testing.T, rep *waitfor.DeadlockReport, rec *truth.Record) {
	conn := connOf(t, rec, "/mnt/w")
	dd := recordTask(t, rec, "fuse_perform_write", "/mnt/w/data")
	trunc := recordTask(t, rec, "do_truncate", "/mnt/w/data")
	rm := recordTask(t, rec, "vfs_unlink", "")
	touch := recordTask(t, rec, "do_utimes", "")

	c := chainWith(rep, touch.TID)
	if c == nil {
		t.Fatalf("no chain holds touch (pid %d)", touch.TID)
	}
	if c.Root.Kind != waitfor.RootFuseNotAnswering {
		t.Errorf("root %s, want %s: %s", c.Root.Kind, waitfor.RootFuseNotAnswering, c.Root.Summary)
	}
	if c.Root.Task == nil || c.Root.Task.PID != dd.TID {
		t.Errorf("root task %v, want dd %d", c.Root.Task, dd.TID)
	}
	if c.Root.Task != nil {
		checkFuseOp(t, waitOf(rep, c.Root.Task.PID), conn, "WRITE")
	}
	for _, pid := range []int{dd.TID, trunc.TID, rm.TID, touch.TID} {
		if chainWith(rep, pid) != c {
			t.Errorf("pid %d is not in the square chain", pid)
		}
	}
	checkSquareHops(t, rep, rec)
	// A request's age (create_time, 6.14+) cannot be younger than the time
	// its waiter has been asleep.
	if w := waitOf(rep, dd.TID); w != nil && w.Object.Fuse != nil {
		for _, fc := range rep.FuseConns {
			for _, r := range fc.Requests {
				if r.Addr == w.Object.Addr && r.Age > 0 && w.Task.BlockedFor > 0 && r.Age+100*time.Millisecond < w.Task.BlockedFor {
					t.Errorf("request #%d is %v old, but its waiter has slept %v", r.Unique, r.Age, w.Task.BlockedFor)
				}
			}
		}
	}
	// The servers: threads of a process holding /dev/fuse, idle in
	// fuse_dev_do_read according to the record.
	for _, h := range c.Root.Holders {
		if !leaderFD(rec, h.Task.TGID, "/dev/fuse") {
			t.Errorf("server %v: its process has no /dev/fuse fd in the record", h.Task)
		}
	}
	if len(c.Root.Holders) == 0 {
		t.Error("no server named")
	}
	if role, ok := rec.Roles["square.server"]; ok && len(c.Root.Holders) > 0 && c.Root.Holders[0].Task.TGID != role {
		t.Errorf("server %v, record role square.server pid %d", c.Root.Holders[0].Task, role)
	}
}

// checkSquareHops checks the lock hops of the square scenario: touch waits
// to read /mnt/w's directory lock held by rm; rm and truncate wait to write
// /mnt/w/data's lock held by dd.
func checkSquareHops(t *testing.T, rep *waitfor.DeadlockReport, rec *truth.Record) {
	dd := recordTask(t, rec, "fuse_perform_write", "/mnt/w/data")
	trunc := recordTask(t, rec, "do_truncate", "/mnt/w/data")
	rm := recordTask(t, rec, "vfs_unlink", "")
	touch := recordTask(t, rec, "do_utimes", "")
	for _, pid := range []int{dd.TID, trunc.TID, rm.TID} {
		if chainWith(rep, pid) != chainWith(rep, touch.TID) {
			t.Errorf("pid %d is not in touch's chain", pid)
		}
	}
	for _, hop := range []struct {
		who, holder *truth.Task
		kind, obj   string
	}{
		{touch, rm, locking.WaitRwsemRead, "/mnt/w"},
		{rm, dd, locking.WaitRwsemWrite, "/mnt/w/data"},
		{trunc, dd, locking.WaitRwsemWrite, "/mnt/w/data"},
	} {
		w := waitOf(rep, hop.who.TID)
		if w == nil {
			t.Errorf("%s (pid %d): no wait found", hop.who.Comm, hop.who.TID)
			continue
		}
		if w.Kind != hop.kind || !strings.Contains(w.Object.What, "i_rwsem") || !strings.Contains(w.Object.What, hop.obj+" ") {
			t.Errorf("%s: %s on %q, want %s on i_rwsem of %s", hop.who.Comm, w.Kind, w.Object.What, hop.kind, hop.obj)
		}
		if !heldBy(w, hop.holder.TID) {
			t.Errorf("%s: holders %+v, want %s (pid %d)", hop.who.Comm, w.Holders, hop.holder.Comm, hop.holder.TID)
		}
	}
}

// checkNetflixInit: the namespace init in zap_pid_ns_processes waits for
// the thread flushing in fuse_flush, and both are in one chain.
func checkNetflixInit(t *testing.T, rep *waitfor.DeadlockReport, rec *truth.Record) {
	flush := rec.TasksIn("fuse_flush")
	init := rec.TasksIn("zap_pid_ns_processes")
	if len(flush) != 1 || len(init) != 1 {
		t.Fatalf("record: %d threads in fuse_flush, %d in zap_pid_ns_processes; want 1 and 1", len(flush), len(init))
	}
	iw := waitOf(rep, init[0].TID)
	if iw == nil || iw.Kind != waitfor.WaitPidNSExit || !heldBy(iw, flush[0].TID) {
		t.Errorf("init's wait %+v, want pid namespace teardown waiting for %d", iw, flush[0].TID)
	}
	if c := chainWith(rep, init[0].TID); c == nil || c != chainWith(rep, flush[0].TID) {
		t.Errorf("init %d and the flushing thread %d are not in one chain", init[0].TID, flush[0].TID)
	}
}

// checkReenter: the /mnt/c dd holds the inode lock and waits for WRITE; a
// server thread of /mnt/c waits for that inode lock: a cycle.
func checkReenter(t *testing.T, rep *waitfor.DeadlockReport, rec *truth.Record) {
	conn := connOf(t, rec, "/mnt/c")
	dd := recordTask(t, rec, "fuse_perform_write", "/mnt/c/data")
	var server *truth.Task
	for _, tk := range rec.TasksIn("do_truncate") {
		if leaderFD(rec, tk.PID, "/dev/fuse") {
			server = tk
		}
	}
	if server == nil {
		t.Fatal("record: no FUSE server thread in do_truncate")
	}
	c := chainWith(rep, dd.TID)
	if c == nil || c.Root.Kind != waitfor.RootCycle {
		t.Fatalf("dd (pid %d) is not in a cycle: %+v", dd.TID, c)
	}
	if chainWith(rep, server.TID) != c {
		t.Errorf("server thread %d is not in dd's cycle", server.TID)
	}
	if len(c.Path) != 2 {
		t.Errorf("cycle of %d hops, want 2", len(c.Path))
	}
	checkFuseOp(t, waitOf(rep, dd.TID), conn, "WRITE")
	sw := waitOf(rep, server.TID)
	if sw == nil || sw.Kind != locking.WaitRwsemWrite || !heldBy(sw, dd.TID) || !strings.Contains(sw.Object.What, "/mnt/c/data") {
		t.Errorf("server's wait %+v, want i_rwsem of /mnt/c/data held by dd %d", sw, dd.TID)
	}
	if !strings.Contains(strings.Join(c.Remedy, "\n"), "connections/"+strconv.Itoa(int(conn))+"/abort") {
		t.Errorf("remedy %q does not abort connection %d", c.Remedy, conn)
	}
}

// checkNetflix: the namespace init waits in zap_pid_ns_processes for the
// exiting server thread in fuse_flush, which waits on its own connection.
func checkNetflix(t *testing.T, rep *waitfor.DeadlockReport, rec *truth.Record) {
	conn := connOf(t, rec, "/mnt/n")
	flush := rec.TasksIn("fuse_flush")
	if len(flush) != 1 {
		t.Fatalf("record: %d threads in fuse_flush, want 1", len(flush))
	}
	srv := flush[0]
	init := rec.TasksIn("zap_pid_ns_processes")
	if len(init) != 1 {
		t.Fatalf("record: %d threads in zap_pid_ns_processes, want 1", len(init))
	}
	c := chainWith(rep, srv.TID)
	if c == nil {
		t.Fatalf("no chain holds the flushing thread %d", srv.TID)
	}
	if c.Root.Kind != waitfor.RootFuseServerIsWaite {
		t.Errorf("root %s, want %s: %s", c.Root.Kind, waitfor.RootFuseServerIsWaite, c.Root.Summary)
	}
	if chainWith(rep, init[0].TID) != c {
		t.Errorf("namespace init %d is not in the flushing thread's chain", init[0].TID)
	}
	w := waitOf(rep, srv.TID)
	if w == nil || w.Object.Fuse == nil {
		t.Fatalf("flushing thread's wait %+v, want a FUSE request on connection %d", w, conn)
	}
	checkFuseOp(t, w, conn, "FLUSH")
	if w.Task.FatalSignal != srv.Pending(9) {
		t.Errorf("fatal signal %v, record SIGKILL pending %v", w.Task.FatalSignal, srv.Pending(9))
	}
	if srv.HasFlags && w.Task.Exiting != srv.Exiting() {
		t.Errorf("exiting %v, record %v", w.Task.Exiting, srv.Exiting())
	}
	if !w.Task.Exiting {
		t.Error("the flushing thread is not reported exiting")
	}
	checkNetflixInit(t, rep, rec)
}

// TestDeadlockIdle: nothing is stuck on a dump where nothing is.
func TestDeadlockIdle(t *testing.T) {
	var dumps []*testdata.Dump
	for _, d := range cachedDumps() {
		if d.Guest.Name == testdata.GuestIdle {
			dumps = append(dumps, d)
		}
	}
	if len(dumps) == 0 {
		testdata.Require(t, testdata.Filter{Guest: testdata.GuestIdle}) // skips loudly
	}
	for _, d := range dumps {
		path := d.Path(testdata.FormatKdumpZlibFlat)
		if path == "" {
			path = d.Path(testdata.FormatELF)
		}
		if path == "" {
			continue
		}
		t.Run(d.ID(), func(t *testing.T) {
			rep := mustDeadlock(t, openDump(t, path))
			if rep.Status != "ok" || rep.ExitCode != waitfor.DeadlockOK {
				for _, c := range rep.Chains {
					t.Logf("chain: %s", c.Root.Summary)
				}
				t.Errorf("status %s exit %d, want ok/0", rep.Status, rep.ExitCode)
			}
		})
	}
}

// BenchmarkDeadlockEndToEnd opens the shared dump and runs the analysis,
// as "kwalk deadlock VMCORE" does.
func BenchmarkDeadlockEndToEnd(b *testing.B) {
	path := filepath.Join(sharedDump, "vmcore.kdump")
	if _, err := os.Stat(path); err != nil {
		b.Skipf("SKIP: %s missing", path)
	}
	for i := 0; i < b.N; i++ {
		p := openDump(b, path)
		if rep := mustDeadlock(b, p); rep.ExitCode != waitfor.DeadlockCycle {
			b.Fatalf("exit %d", rep.ExitCode)
		}
	}
}

// BenchmarkDeadlockAnalysis runs only the analysis on an opened dump.
func BenchmarkDeadlockAnalysis(b *testing.B) {
	path := filepath.Join(sharedDump, "vmcore.kdump")
	if _, err := os.Stat(path); err != nil {
		b.Skipf("SKIP: %s missing", path)
	}
	p := openDump(b, path)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mustDeadlock(b, p)
	}
}

// patchedMem overlays a few bytes on a program's memory.
type patchedMem struct {
	inner interface {
		ReadVirt(p []byte, addr uint64) error
		ReadPhys(p []byte, addr uint64) error
	}
	patch map[uint64]byte
}

func (m patchedMem) ReadVirt(b []byte, addr uint64) error {
	if err := m.inner.ReadVirt(b, addr); err != nil {
		return err
	}
	for i := range b {
		if v, ok := m.patch[addr+uint64(i)]; ok {
			b[i] = v
		}
	}
	return nil
}

func (m patchedMem) ReadPhys(b []byte, addr uint64) error { return m.inner.ReadPhys(b, addr) }

func (m patchedMem) put64(addr, v uint64) {
	for i := 0; i < 8; i++ {
		m.patch[addr+uint64(i)] = byte(v >> (8 * i))
	}
}

// TestDeadlockCorruptChain corrupts the wait list of the square scenario's
// file lock (a garbage pointer, then a list that loops without its head):
// the other chains must still come out whole, and nothing may hang.
func TestDeadlockCorruptChain(t *testing.T) {
	path := filepath.Join(sharedDump, "vmcore.kdump")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("SKIP: %s missing", path)
	}
	rec, err := truth.ParseFile(filepath.Join(sharedDump, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	base := openDump(t, path)
	if !fuseTypes(base) {
		t.Skip("SKIP: no FUSE types")
	}
	trunc := recordTask(t, rec, "do_truncate", "/mnt/w/data")
	rep := mustDeadlock(t, base)
	tw := waitOf(rep, trunc.TID)
	if tw == nil {
		t.Fatal("truncate's wait not found")
	}
	waitList, err := base.OffsetOf("struct rw_semaphore", "wait_list")
	if err != nil {
		t.Fatal(err)
	}
	head := tw.Object.Addr + waitList
	for _, tc := range []struct {
		name string
		next uint64
	}{
		{"garbage pointer", 0xdead4ead00000000},
		{"loop without head", 0}, // filled below: the first waiter points at itself
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := patchedMem{inner: base.Mem, patch: map[uint64]byte{}}
			first, err := base.ReadU64(head)
			if err != nil {
				t.Fatal(err)
			}
			if tc.next != 0 {
				m.put64(head, tc.next)
			} else {
				m.put64(first, first) // first waiter's next: itself
			}
			p := symbols.NewProgram(m, base.Syms, base.Types)
			r := mustDeadlock(t, p)
			if r.Status == "error" {
				t.Fatalf("analysis failed: %s", r.Error)
			}
			kinds := map[string]bool{}
			for _, c := range r.Chains {
				kinds[c.Root.Kind] = true
			}
			if !kinds[waitfor.RootCycle] || !kinds[waitfor.RootFuseServerIsWaite] {
				t.Errorf("other chains lost: %v", kinds)
			}
			// The damaged chain is still reported, with what could be read.
			w := waitOf(r, trunc.TID)
			if w == nil {
				t.Fatal("truncate's wait is no longer reported")
			}
			t.Logf("truncate with a damaged list: %s on %s (%s) %s", w.Kind, w.Object.What, w.How, w.Error)
		})
	}
}

// BenchmarkDeadlockTypesFree runs the analysis on a generated dump whose
// fuse module has no types (5.10): connections and servers found through
// fuse_mount.fc / fuse_dev.fc, waiters' syscalls and stacks read.
func BenchmarkDeadlockTypesFree(b *testing.B) {
	for _, d := range cachedDumps() {
		path := d.Path(testdata.FormatKdumpZlibFlat)
		if path == "" || !d.Has(testdata.ScenarioSquare) {
			continue
		}
		p := openDump(b, path)
		if fuseTypes(p) {
			continue
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if rep := mustDeadlock(b, p); rep.ExitCode != waitfor.DeadlockCycle {
				b.Fatalf("%s: exit %d", d.ID(), rep.ExitCode)
			}
		}
		return
	}
	b.Skipf("SKIP: no generated dump without FUSE types (%s)", testdata.GenerateCommand)
}

// mustDeadlock runs the analysis and fails the test when it cannot run.
func mustDeadlock(t testing.TB, p *symbols.Program) *waitfor.DeadlockReport {
	t.Helper()
	rep, err := waitfor.Deadlock(p)
	if err != nil {
		t.Fatalf("deadlock: %v", err)
	}
	return rep
}
