package waitfor

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
)

// Kinds of waits (TaskWait.Kind).
const (
	WaitMutex       = "mutex"
	WaitRwsemRead   = "rwsem-read"
	WaitRwsemWrite  = "rwsem-write"
	WaitSemaphore   = "semaphore"
	WaitCompletion  = "completion"
	WaitQueueEvent  = "waitqueue"
	WaitFolio       = "folio"
	WaitFuseRequest = "fuse-request"
	WaitPidNSExit   = "pidns-exit"   // a pid namespace init in zap_pid_ns_processes
	WaitThreadsExit = "threads-exit" // a zombie group leader whose threads still run
)

// BlockedTask is a task of the wait-for graph.
type BlockedTask struct {
	sched.TaskRef
	State string `json:"state"`
	// NSPID is the task's id in its own pid namespace (= PID outside containers).
	NSPID   int  `json:"ns_pid"`
	Exiting bool `json:"exiting,omitempty"` // PF_EXITING
	// FatalSignal: SIGKILL pending (ignored by the kernel when Exiting).
	FatalSignal bool `json:"fatal_signal,omitempty"`
	// BlockedFor is how long since the task last ran (rq clock), when known.
	BlockedFor time.Duration `json:"blocked_for_ns,omitempty"`
	// Frames are the function names of the kernel stack, innermost first.
	Frames []string `json:"frames,omitempty"`
}

// WaitObject is what a task waits on.
type WaitObject struct {
	// Type is the kernel type: "rw_semaphore", "mutex", "fuse_req", ...
	Type string `json:"type"`
	Addr uint64 `json:"addr"`
	// What describes it: "i_rwsem of inode 12 /mnt/w/data (fuse.hangfs)".
	What string `json:"what"`
	// Fuse is set for FUSE requests.
	Fuse *FuseReqRef `json:"fuse,omitempty"`
	// FuseCandidates are, for a FUSE request that could not be decoded,
	// the connections (/sys/fs/fuse/connections numbers) the task has
	// files open on: the request's connection is one of them.
	FuseCandidates []uint32 `json:"fuse_candidates,omitempty"`
}

// FuseReqRef summarises a FUSE request and its connection.
type FuseReqRef struct {
	Conn        uint64   `json:"conn"`
	ConnID      uint32   `json:"conn_id"`
	MountPoints []string `json:"mount_points,omitempty"`
	Unique      uint64   `json:"unique"`
	Op          string   `json:"op"`
	Queue       string   `json:"queue"`
	Flags       []string `json:"flags"`
	NodeID      uint64   `json:"nodeid"`
	Path        string   `json:"path,omitempty"`
	Connected   bool     `json:"connected"`
	Remedy      string   `json:"remedy"`
	// Undecoded: the request itself could not be read (no FUSE types, or
	// it is on no queue kwalk walks);
	// only Conn, ConnID, MountPoints and Remedy are known, the other
	// fields are empty, not zero.
	Undecoded bool `json:"undecoded,omitempty"`
}

// Holder is a task that holds (or must act on) the object a task waits on.
type Holder struct {
	Task sched.TaskRef `json:"task"`
	// How the holder was established, e.g. "rw_semaphore.owner (writer)",
	// "FUSE server: holds /dev/fuse fd 6", "last reader hint in
	// rw_semaphore.owner".
	How string `json:"how"`
	// Certain is false for guesses (reader hints, stack matches).
	Certain bool `json:"certain"`
}

// TaskWait is what one task waits for and who holds it.
type TaskWait struct {
	Task   BlockedTask `json:"task"`
	Kind   string      `json:"kind"`
	Object WaitObject  `json:"object"`
	// How the wait was found: "task on req->waitq", "stack waiter verified
	// on the lock's list", "frame zap_pid_ns_processes".
	How     string `json:"how"`
	Certain bool   `json:"certain"`
	// Position is the task's place in the waiter queue (1 = first), 0 if
	// not applicable; QueueLen the number of waiters.
	Position int      `json:"position,omitempty"`
	QueueLen int      `json:"queue_len,omitempty"`
	Holders  []Holder `json:"holders"`
	// ReaderOwned: the object is a read-locked rw_semaphore, whose holders
	// the kernel does not record (the holders are hints or guesses).
	ReaderOwned bool `json:"reader_owned,omitempty"`
	// Note adds what the holders alone do not say.
	Note  string `json:"note,omitempty"`
	Error string `json:"error,omitempty"`
}

// waitAnalysis is the state of one analysis of a Program.
type waitAnalysis struct {
	p       *symbols.Program
	tasks   []sched.Task
	byAddr  map[uint64]*sched.Task
	bases   []uint64 // sorted task stack bases
	traces  map[uint64]*unwind.Trace
	stacks  map[uint64][]byte
	conns   []*fuse.FuseConn
	connBy  map[uint64]*fuse.FuseConn
	reqWait map[uint64]*fuse.FuseReq // waiting task → request
	fusefs  *fuse.FuseFileScanner
	servers map[uint64][]fuse.FuseServer // conn → servers
	errs    []string
}

// threadSize is THREAD_SIZE on x86_64 without KASAN (16 KiB,
// arch/x86/include/asm/page_64_types.h); traces give the real bounds.
const threadSize = 16 << 10

func newWaitAnalysis(p *symbols.Program) (*waitAnalysis, error) {
	a := &waitAnalysis{p: p, byAddr: map[uint64]*sched.Task{}, traces: map[uint64]*unwind.Trace{},
		stacks: map[uint64][]byte{}, connBy: map[uint64]*fuse.FuseConn{}, reqWait: map[uint64]*fuse.FuseReq{},
		servers: map[uint64][]fuse.FuseServer{}}
	tasks, err := sched.Tasks(p)
	if len(tasks) == 0 {
		if err == nil {
			err = fmt.Errorf("no tasks found")
		}
		return nil, fmt.Errorf("wait-for analysis: %w", err)
	}
	if err != nil {
		a.errs = append(a.errs, err.Error())
	}
	a.tasks = tasks
	for i := range a.tasks {
		t := &a.tasks[i]
		a.byAddr[t.Addr] = t
		if st, err := t.Obj.MemberUint("stack"); err == nil && st != 0 {
			a.bases = append(a.bases, st)
		}
	}
	sort.Slice(a.bases, func(i, j int) bool { return a.bases[i] < a.bases[j] })
	a.loadFuse()
	return a, nil
}

// onStack reports whether addr lies on some task's kernel stack.
func (a *waitAnalysis) onStack(addr uint64) bool {
	i := sort.Search(len(a.bases), func(i int) bool { return a.bases[i] > addr }) - 1
	return i >= 0 && addr < a.bases[i]+threadSize
}

// loadFuse reads every FUSE connection, maps waiting tasks to requests and
// finds each connection's server tasks. Without the fuse module's types
// the connections come from the FUSE superblocks and the servers are
// matched through fuse_dev.fc (fuse_typesfree.go); requests stay unknown.
func (a *waitAnalysis) loadFuse() {
	typed := true
	if _, err := a.p.Type("struct fuse_conn"); err != nil {
		typed = false
	}
	addConn := func(c uint64) {
		if _, done := a.connBy[c]; done || c == 0 || !typed {
			return
		}
		fc, err := fuse.FuseConnection(a.p, c)
		if err != nil {
			a.errs = append(a.errs, err.Error())
			a.connBy[c] = nil
			return
		}
		a.conns = append(a.conns, fc)
		a.connBy[c] = fc
		for i := range fc.Requests {
			r := &fc.Requests[i]
			for _, w := range r.Waiters {
				a.reqWait[w.Addr] = r
			}
		}
	}
	if typed {
		addrs, errs := fuse.FuseConnAddrs(a.p)
		a.errs = append(a.errs, errs...)
		for _, c := range addrs {
			addConn(c)
		}
	} else {
		conns, errs := fuse.TypesFreeConns(a.p)
		if len(conns) == 0 {
			return // fuse not loaded, or no FUSE mount
		}
		a.errs = append(a.errs, errs...)
		for _, c := range conns {
			a.conns = append(a.conns, c)
			a.connBy[c.Addr] = c
		}
	}
	a.fusefs = fuse.NewFuseFileScanner(a.p)
	unmatched := 0
	serverHow := func(d fuse.FuseDevFile, how string) string {
		if d.RawConn {
			how += "; " + fuse.HowFuseDevFC
		}
		return how
	}
	for i := range a.tasks {
		t := &a.tasks[i]
		files, err := t.Obj.MemberUint("files")
		if err != nil || files == 0 {
			continue
		}
		devs, _ := a.fusefs.Scan(files)
		for _, d := range devs {
			// The third way to find connections, when neither
			// fuse_conn_list nor super_blocks is known: the servers' files.
			addConn(d.Conn)
			if fc := a.connBy[d.Conn]; fc != nil {
				how := fmt.Sprintf("holds /dev/fuse fd %d", d.FD)
				if t.Exiting() {
					how += " (exiting)"
				}
				a.servers[d.Conn] = append(a.servers[d.Conn], fuse.FuseServer{Task: a.ref(t), State: t.State,
					Exiting: t.Exiting(), FD: d.FD, Dev: d.Dev, How: serverHow(d, how)})
				if !typed && !slices.Contains(fc.Devices, d.Dev) {
					// Without types fc->devices cannot be walked: the
					// servers' devices are the ones known.
					fc.Devices = append(fc.Devices, d.Dev)
				}
			} else if d.RawConn && d.Dev != 0 && t.IsLeader() {
				unmatched++
			}
		}
	}
	if !typed && unmatched > 0 {
		a.errs = append(a.errs, fmt.Sprintf("%d /dev/fuse file(s) whose fuse_dev's first word is no FUSE superblock's connection: not yet mounted, or fuse_dev.fc is not at offset 0 in this kernel (no FUSE types to tell)", unmatched))
	}
	// A server that is exiting has task->files = NULL while do_exit puts
	// its files (kernel/exit.c exit_files): look for the files_struct
	// being closed on the stacks of exiting tasks, for connections that
	// have no server otherwise.
	for i := range a.tasks {
		t := &a.tasks[i]
		if !t.Exiting() || t.State == "Z" || t.State == "X" {
			continue
		}
		if files, err := t.Obj.MemberUint("files"); err != nil || files != 0 {
			continue
		}
		stack, base := a.stack(t)
		if stack == nil {
			continue
		}
		files := fuse.ClosingFiles(a.p, stack, base)
		if files == 0 {
			continue
		}
		devs, _ := a.fusefs.Scan(files)
		for _, d := range devs {
			addConn(d.Conn)
			if fc := a.connBy[d.Conn]; fc != nil && (len(a.servers[d.Conn]) == 0 || a.closingOnly(d.Conn)) {
				a.servers[d.Conn] = append(a.servers[d.Conn], fuse.FuseServer{Task: a.ref(t), State: t.State, Exiting: true,
					FD: d.FD, Dev: d.Dev, How: serverHow(d, fmt.Sprintf("its files_struct %#x, being closed on exit (exiting), holds /dev/fuse fd %d", files, d.FD))})
			}
		}
	}
	for _, fc := range a.conns {
		fc.Servers = a.servers[fc.Addr]
	}
}

// closingOnly reports whether every server found for conn so far was found
// through a files_struct being closed.
func (a *waitAnalysis) closingOnly(conn uint64) bool {
	ss := a.servers[conn]
	for _, s := range ss {
		if !strings.Contains(s.How, "being closed") {
			return false
		}
	}
	return len(ss) > 0
}

func (a *waitAnalysis) ref(t *sched.Task) sched.TaskRef {
	return sched.TaskRef{Addr: t.Addr, PID: t.PID, TGID: t.TGID, Comm: t.Comm}
}

func (a *waitAnalysis) refAt(addr uint64) sched.TaskRef {
	if t, ok := a.byAddr[addr]; ok {
		return a.ref(t)
	}
	r, _ := sched.TaskRefAt(a.p, addr)
	return r
}

func (a *waitAnalysis) blocked(t *sched.Task) BlockedTask {
	b := BlockedTask{TaskRef: a.ref(t), State: t.State, NSPID: t.NSPID(), Exiting: t.Exiting(), FatalSignal: t.FatalSignalPending()}
	if t.HasSinceRan {
		b.BlockedFor = t.SinceRan
	}
	if tr := a.trace(t); tr != nil {
		for _, f := range tr.Frames {
			b.Frames = append(b.Frames, frameName(f))
		}
	}
	return b
}

func frameName(f unwind.Frame) string {
	if f.Symbol == "" {
		return fmt.Sprintf("%#x", f.IP)
	}
	if f.Module != "" {
		return f.Symbol + " [" + f.Module + "]"
	}
	return f.Symbol
}

// trace unwinds t once.
func (a *waitAnalysis) trace(t *sched.Task) *unwind.Trace {
	if tr, ok := a.traces[t.Addr]; ok {
		return tr
	}
	tr, err := unwind.Stack(a.p, t.Obj)
	if err != nil {
		tr = nil
	}
	a.traces[t.Addr] = tr
	return tr
}

// stack reads t's whole kernel stack once.
func (a *waitAnalysis) stack(t *sched.Task) ([]byte, uint64) {
	base, err := t.Obj.MemberUint("stack")
	if err != nil || base == 0 {
		return nil, 0
	}
	if b, ok := a.stacks[t.Addr]; ok {
		return b, base
	}
	b := make([]byte, threadSize)
	if err := a.p.Mem.ReadVirt(b, base); err != nil {
		b = nil
	}
	a.stacks[t.Addr] = b
	return b, base
}

// hasFrame reports whether any frame of t is one of names.
func (a *waitAnalysis) hasFrame(t *sched.Task, names ...string) bool {
	tr := a.trace(t)
	if tr == nil {
		return false
	}
	for _, f := range tr.Frames {
		for _, n := range names {
			if f.Symbol == n {
				return true
			}
		}
	}
	return false
}

// Frames that mark lock waits (kernel/locking/*.c, kernel/sched/completion.c).
var (
	rwsemFrames = []string{"rwsem_down_write_slowpath", "rwsem_down_read_slowpath", "down_write",
		"down_read", "down_write_killable", "down_read_killable", "down_read_interruptible"}
	mutexFrames = []string{"__mutex_lock", "__mutex_lock_slowpath", "mutex_lock", "mutex_lock_killable",
		"mutex_lock_interruptible", "__mutex_lock_killable_slowpath", "__mutex_lock_interruptible_slowpath", "mutex_lock_io"}
	semFrames = []string{"__down", "__down_common", "down", "down_interruptible", "down_killable",
		"down_timeout", "__down_killable", "__down_interruptible", "__down_timeout"}
	completionFrames = []string{"wait_for_completion", "__wait_for_common", "wait_for_common",
		"do_wait_for_common", "wait_for_completion_killable", "wait_for_completion_interruptible",
		"wait_for_completion_timeout", "wait_for_completion_io"}
)

// Waits returns, for every task that is blocked in the kernel on
// something kwalk can name, what it waits for and who holds it. Tasks
// sleeping normally (idle kernel threads, wait4 for a child, read of an
// idle pipe) are left out unless they wait on a lock, a FUSE request or
// a pid namespace's teardown. Problems that did not stop the analysis are
// returned as warnings.
func Waits(p *symbols.Program) ([]TaskWait, []string, error) {
	a, err := newWaitAnalysis(p)
	if err != nil {
		return nil, nil, err
	}
	return a.waits(), a.errs, nil
}

func (a *waitAnalysis) waits() []TaskWait {
	var out []TaskWait
	have := map[uint64]bool{}
	for i := range a.tasks {
		t := &a.tasks[i]
		if t.Idle || t.State == "R" || t.State == "I" || t.State == "X" || t.OnCPU {
			continue
		}
		if t.State != "D" && !t.Exiting() && a.reqWait[t.Addr] == nil && !a.sleepsInLock(t) {
			continue // an ordinary sleep: not worth a full unwind
		}
		if w, ok := a.waitOf(t); ok {
			out = append(out, w)
			have[t.Addr] = true
		}
	}
	// Follow holders that are not blocked in a recognised way: a zombie
	// leader waiting for its threads, or a sleeping task whose wait only
	// shows on its stack (a wait queue in plain S state). Bounded by the
	// number of tasks.
	for i := 0; i < len(out) && i < len(a.tasks); i++ {
		for _, h := range out[i].Holders {
			t := a.byAddr[h.Task.Addr]
			if t == nil || have[t.Addr] || t.State == "R" || t.OnCPU || t.Idle {
				continue
			}
			have[t.Addr] = true
			if w, ok := a.holderWait(t); ok {
				out = append(out, w)
			}
		}
	}
	guessReaders(out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Task.PID < out[j].Task.PID })
	return out
}

// maxSameObject is how far apart two locks may be to be taken as locks of
// one object (an inode's VFS i_rwsem and its file system's own lock in the
// containing xfs_inode, ext4_inode_info, ...): less than a page.
const maxSameObject = 4096

// guessReaders adds ABBA suspects as holders of read-locked rw-semaphores:
// a task T waits on reader-owned lock B; another task U waits on a lock A
// that T holds, and A lies within maxSameObject bytes of B (same object).
// U likely holds B for reading and took the two in the opposite order.
func guessReaders(ws []TaskWait) {
	for i := range ws {
		w := &ws[i]
		if !w.ReaderOwned {
			continue
		}
		have := map[uint64]bool{}
		for _, h := range w.Holders {
			have[h.Task.Addr] = true
		}
		for j := range ws {
			u := &ws[j]
			if j == i || have[u.Task.Addr] || u.Object.Addr == w.Object.Addr || u.Object.Addr == 0 {
				continue
			}
			d := int64(u.Object.Addr) - int64(w.Object.Addr)
			if d < -maxSameObject || d > maxSameObject {
				continue
			}
			holdsA := false
			for _, h := range u.Holders {
				holdsA = holdsA || h.Task.Addr == w.Task.Addr
			}
			if !holdsA {
				continue
			}
			have[u.Task.Addr] = true
			w.Holders = append(w.Holders, Holder{Task: u.Task.TaskRef, Certain: false,
				How: fmt.Sprintf("guess (ABBA): it waits on %s held by this task, %d bytes from this lock (same object), so it may hold this lock for reading, taken in the opposite order", u.Object.What, d)})
		}
	}
}

// holderWait finds what a lock holder or FUSE server that is not blocked
// in a recognised way waits for: a zombie leader's threads, or any waiter
// structure on its stack.
func (a *waitAnalysis) holderWait(t *sched.Task) (TaskWait, bool) {
	if t.State == "Z" {
		return a.zombieWait(t)
	}
	if a.hasFrame(t, "fuse_dev_do_read") {
		return TaskWait{}, false // a FUSE server waiting for requests
	}
	return a.stackWaitRelaxed(t)
}

// waitOf finds what t waits for.
func (a *waitAnalysis) waitOf(t *sched.Task) (TaskWait, bool) {
	if r, ok := a.reqWait[t.Addr]; ok {
		return a.fuseWait(t, r), true
	}
	if a.hasFrame(t, "zap_pid_ns_processes") {
		return a.pidnsWait(t), true
	}
	if w, ok := a.fieldWait(t); ok {
		return w, true
	}
	if w, ok := a.stackLockWait(t); ok {
		return w, true
	}
	if t.State == "D" {
		w := TaskWait{Task: a.blocked(t), Kind: "unknown", How: "uninterruptible sleep; no waiter structure found on its stack"}
		w.Object = WaitObject{Type: "unknown", What: "unidentified (" + topFrames(w.Task.Frames) + ")"}
		return w, true
	}
	return TaskWait{}, false
}

// topFrames names the first frames below the scheduler.
func topFrames(frames []string) string {
	var out []string
	for _, f := range frames {
		if strings.HasPrefix(f, "__schedule") || strings.HasPrefix(f, "schedule") || strings.HasPrefix(f, "io_schedule") {
			continue
		}
		out = append(out, f)
		if len(out) == 3 {
			break
		}
	}
	return strings.Join(out, " ← ")
}

// fuseWait: the task sleeps on req->waitq (request_wait_answer,
// fs/fuse/dev.c); the server tasks of the connection must answer.
func (a *waitAnalysis) fuseWait(t *sched.Task, r *fuse.FuseReq) TaskWait {
	fc := a.connBy[r.Conn]
	w := TaskWait{Task: a.blocked(t), Kind: WaitFuseRequest, Certain: true,
		How: "task's wait_queue_entry is on fuse_req.waitq"}
	ref := &FuseReqRef{Conn: r.Conn, Unique: r.Unique, Op: r.Op, Queue: r.Queue, Flags: r.Flags, NodeID: r.NodeID, Path: r.Path}
	what := fmt.Sprintf("FUSE request #%d %s (%s)", r.Unique, r.Op, r.Queue)
	if r.Path != "" {
		what = fmt.Sprintf("FUSE request #%d %s of %s (%s)", r.Unique, r.Op, r.Path, r.Queue)
	}
	if r.Age > 0 {
		what += fmt.Sprintf(", %s old", r.Age.Round(time.Millisecond))
	}
	if fc != nil {
		ref.ConnID, ref.Connected, ref.Remedy = fc.ID, fc.Connected, fc.Remedy
		for _, m := range fc.Mounts {
			ref.MountPoints = append(ref.MountPoints, m.MountPoints...)
		}
		what += fmt.Sprintf(" on connection %d", fc.ID)
		if len(ref.MountPoints) > 0 {
			what += " (" + strings.Join(ref.MountPoints, ", ") + ")"
		}
	}
	w.Object = WaitObject{Type: "fuse_req", Addr: r.Addr, What: what, Fuse: ref}
	w.Holders = a.fuseHolders(r.Conn)
	if len(w.Holders) == 0 {
		w.Note = "no task holds a /dev/fuse file of this connection: the server is gone"
	}
	return w
}

// maxServerLook bounds the server threads unwound per request.
const maxServerLook = 64

// zombieWait: a zombie group leader cannot be reaped while other threads
// of its group live (kernel/exit.c delay_group_leader / thread_group_empty).
func (a *waitAnalysis) zombieWait(t *sched.Task) (TaskWait, bool) {
	if !t.IsLeader() {
		return TaskWait{}, false
	}
	w := TaskWait{Task: a.blocked(t), Kind: WaitThreadsExit, Certain: true,
		How: "zombie thread-group leader: reaped only when its other threads have exited (kernel/exit.c delay_group_leader)"}
	w.Object = WaitObject{Type: "task_struct", Addr: t.Addr, What: fmt.Sprintf("exit of the other threads of process %d", t.TGID)}
	for i := range a.tasks {
		o := &a.tasks[i]
		if o.TGID == t.TGID && o.Addr != t.Addr && o.State != "Z" && o.State != "X" {
			w.Holders = append(w.Holders, Holder{Task: a.ref(o), How: "live thread of the zombie's group", Certain: true})
		}
	}
	if len(w.Holders) == 0 {
		return TaskWait{}, false
	}
	return w, true
}

// pidnsWait: a pid namespace's init in zap_pid_ns_processes
// (kernel/pid_namespace.c) waits, in kernel_wait4 and then until
// pid_ns->pid_allocated drops to its own, for every other task of the
// namespace to be gone.
func (a *waitAnalysis) pidnsWait(t *sched.Task) TaskWait {
	w := TaskWait{Task: a.blocked(t), Kind: WaitPidNSExit, Certain: true,
		How: "frame zap_pid_ns_processes: the namespace init waits for every other task of its pid namespace"}
	ns, level := taskPidNS(a.p, t)
	w.Object = WaitObject{Type: "pid_namespace", Addr: ns, What: fmt.Sprintf("teardown of pid namespace %#x (level %d)", ns, level)}
	if ns == 0 {
		w.Error = "could not read the task's pid namespace"
		return w
	}
	if pns, err := a.p.Object("struct pid_namespace", ns); err == nil {
		if n, err := pns.MemberUint("pid_allocated"); err == nil {
			w.Note = fmt.Sprintf("pid_allocated = %#x", n)
		}
	}
	for i := range a.tasks {
		o := &a.tasks[i]
		if o.Addr == t.Addr || len(o.NSPIDs) <= level {
			continue
		}
		if ons, _ := taskPidNSAt(a.p, o, level); ons == ns {
			w.Holders = append(w.Holders, Holder{Task: a.ref(o), Certain: true,
				How: fmt.Sprintf("task of the namespace (pid %d there, state %s)", o.NSPIDs[level], o.State)})
		}
	}
	return w
}

// taskPidNS returns the task's own pid namespace, thread_pid->numbers[
// level].ns (include/linux/pid.h ns_of_pid), and its level.
func taskPidNS(p *symbols.Program, t *sched.Task) (uint64, int) {
	level := len(t.NSPIDs) - 1
	if level < 0 {
		level = 0
	}
	ns, _ := taskPidNSAt(p, t, level)
	return ns, level
}

// taskPidNSAt reads thread_pid->numbers[level].ns. numbers is declared
// numbers[1] in 5.x and as a flexible array later (include/linux/pid.h),
// so the element address is computed rather than indexed.
func taskPidNSAt(p *symbols.Program, t *sched.Task, level int) (uint64, error) {
	pid, err := t.Obj.MemberUint("thread_pid")
	if err != nil || pid == 0 {
		return 0, fmt.Errorf("task %#x: thread_pid: %v", t.Addr, err)
	}
	pt, err := p.Type("struct pid")
	if err != nil {
		return 0, err
	}
	m, ok := pt.FindMember("numbers")
	if !ok {
		return 0, fmt.Errorf("%w: struct pid has no numbers", symbols.ErrNoMember)
	}
	at := m.Type.Resolve()
	if at == nil || at.Kind != symbols.KindArray {
		return 0, fmt.Errorf("struct pid.numbers is not an array")
	}
	esz := at.Elem.Resolve().Size
	nsOff, err := p.OffsetOfType(at.Elem, "ns")
	if err != nil {
		return 0, err
	}
	return p.ReadU64(pid + m.Offset + uint64(level)*esz + nsOff)
}

// FuseConnections returns every FUSE connection with its requests (and
// the tasks waiting on each) and its server tasks: the tasks holding a
// /dev/fuse file of the connection. Warnings are problems that did not
// stop the walk.
func FuseConnections(p *symbols.Program) ([]*fuse.FuseConn, []string, error) {
	a, err := newWaitAnalysis(p)
	if err != nil {
		return nil, nil, err
	}
	conns := append([]*fuse.FuseConn(nil), a.conns...)
	sort.SliceStable(conns, func(i, j int) bool { return conns[i].ID < conns[j].ID })
	return conns, a.errs, nil
}

// sleepWindow is how much of a sleeping task's stack above its saved
// stack pointer sleepsInLock looks at: the lock slowpath frames sit right
// above __schedule's.
const sleepWindow = 1024

// sleepsInLock is a cheap test for a task in S state: does the top of its
// stack (from thread.sp, arch/x86 __switch_to_asm) hold a return address
// into a lock slowpath? It spares the full unwind of the thousands of
// tasks sleeping in futex_wait, poll or read.
func (a *waitAnalysis) sleepsInLock(t *sched.Task) bool {
	if a.p.Syms == nil {
		return true
	}
	sp, err := t.Obj.MemberUint("thread.sp")
	if err != nil || sp == 0 {
		return true // cannot tell: look properly
	}
	base, err := t.Obj.MemberUint("stack")
	if err != nil {
		return true
	}
	n := uint64(sleepWindow)
	if top := base + threadSize; sp >= top {
		return false
	} else if sp+n > top {
		n = top - sp
	}
	buf := make([]byte, n)
	if err := a.p.Mem.ReadVirt(buf, sp); err != nil {
		return true
	}
	for off := 0; off+8 <= len(buf); off += 8 {
		v := binary.LittleEndian.Uint64(buf[off:])
		if v < 0xffffffff80000000 {
			continue
		}
		if sym, _, ok := a.p.Syms.LookupAddr(v); ok && sym.IsText() && sleepLockFrames[sym.Name] {
			return true
		}
	}
	return false
}

// sleepLockFrames are the functions that make an S-state task worth a
// full look: interruptible lock slowpaths.
var sleepLockFrames = func() map[string]bool {
	m := map[string]bool{}
	for _, l := range [][]string{rwsemFrames, mutexFrames, semFrames} {
		for _, n := range l {
			m[n] = true
		}
	}
	return m
}()
