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
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// FUSE requests (fs/fuse/dev.c): a task waiting for the answer sleeps in
// request_wait_answer with its wait entry on fuse_req.waitq; the holders
// are the connection's server tasks (the holders of a /dev/fuse file of
// the connection: the kernel does not record which thread serves a
// request). With the fuse module's types the connections and requests
// are decoded and indexed when the analysis starts (loadFuse); without
// them the request is found from the wait entry on the task's stack
// (FuseTypesFreeWait, kind_fuse_typesfree.go).

// WaitFuseRequest is TaskWait.Kind of a wait for a FUSE answer.
const WaitFuseRequest = "fuse-request"

var (
	// fuseAnswerFrames mark a task waiting for a FUSE answer.
	fuseAnswerFrames = waitkind.NewFrames("request_wait_answer")
	// fuseServerIdle marks a server thread waiting for requests.
	fuseServerIdle = waitkind.NewFrames("fuse_dev_do_read")
)

// FuseRequestWait is the wait kind of a task whose wait entry is on a
// decoded fuse_req's waitq.
var FuseRequestWait = &waitkind.Kind{
	Name:     WaitFuseRequest,
	Verb:     "waits for the answer to",
	Idle:     fuseServerIdle,
	Detect:   detectFuseRequest,
	Classify: classifyFuseRoot,
	Remedies: fuseRemedies,
}

func detectFuseRequest(c waitkind.Context, t *sched.Task) (TaskWait, bool) {
	a := c.(*waitAnalysis)
	if r, ok := a.reqWait[t.Addr]; ok {
		return a.fuseWait(t, r), true
	}
	return TaskWait{}, false
}

// FuseTypesFreeWait is a task in request_wait_answer whose request could
// not be decoded (no FUSE types): a wait_queue_entry on its stack, the
// connection named from the file it operates on.
var FuseTypesFreeWait = &waitkind.Kind{
	Name:   WaitFuseRequest,
	Verb:   "waits for the answer to",
	Frames: fuseAnswerFrames,
	Waiter: locking.WaitEntryShape(),
	Decode: decodeFuseTypesFree,
}

func decodeFuseTypesFree(c waitkind.Context, t *sched.Task, f waitkind.Found) (TaskWait, bool) {
	a := c.(*waitAnalysis)
	qh := f.Object
	fw, cands, ok := a.fuseWaitTypesFree(t, qh)
	if ok {
		return fw, true
	}
	w := TaskWait{Task: a.Blocked(t), Kind: WaitFuseRequest, How: "wait_queue_entry on the task's stack, linked into the queue", Certain: true}
	w.Object = WaitObject{Type: "fuse_req waitq", Addr: qh,
		What: fmt.Sprintf("a FUSE request (request_wait_answer; wait queue %#x; not decodable: no FUSE types or connections)", qh)}
	w.Note = "the FUSE server must answer the request; its connection is unknown"
	if mounts, ids := a.taskFuseMounts(t); mounts != "" {
		w.Note = "the FUSE server must answer the request; the task has files open on " + mounts + " (the connection is one of these)"
		w.Object.FuseCandidates = ids
	} else if len(cands) > 0 {
		w.Note = fmt.Sprintf("the FUSE server must answer the request; its connection is one of %v", cands)
		w.Object.FuseCandidates = cands
	}
	return w, true
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
		stack, base := a.Stack(t)
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

// fuseWait: the task sleeps on req->waitq (request_wait_answer,
// fs/fuse/dev.c); the server tasks of the connection must answer.
func (a *waitAnalysis) fuseWait(t *sched.Task, r *fuse.FuseReq) TaskWait {
	fc := a.connBy[r.Conn]
	w := TaskWait{Task: a.Blocked(t), Kind: WaitFuseRequest, Certain: true,
		How: "task's wait_queue_entry is on fuse_req.waitq"}
	ref := a.fuseRef(r)
	what := fmt.Sprintf("FUSE request #%d %s (%s)", r.Unique, r.Op, r.Queue)
	if r.Path != "" {
		what = fmt.Sprintf("FUSE request #%d %s of %s (%s)", r.Unique, r.Op, r.Path, r.Queue)
	}
	if r.Age > 0 {
		what += fmt.Sprintf(", %s old", r.Age.Round(time.Millisecond))
	}
	if fc != nil {
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

// maxServerLook bounds the server threads unwound per request.
const maxServerLook = 64

// taskFuseMounts names the FUSE file systems t has files open on (its
// files, or the files_struct an exiting task is closing), as
// "connection N (/mnt/x)": without FUSE types this is what says which
// connection a request belongs to. Superblocks come from super_blocks.
func (a *waitAnalysis) taskFuseMounts(t *sched.Task) (string, []uint32) {
	sbs, err := fuse.FuseSuperBlocks(a.p)
	if err != nil || len(sbs) == 0 {
		return "", nil
	}
	set := map[uint64]bool{}
	for _, sb := range sbs {
		set[sb] = true
	}
	files, err := t.Obj.MemberUint("files")
	if err != nil {
		return "", nil
	}
	if files == 0 && t.Exiting() {
		if stack, base := a.Stack(t); stack != nil {
			files = fuse.ClosingFiles(a.p, stack, base)
		}
	}
	var found []fuse.FuseSBFile
	if files != 0 {
		found = fuse.FilesOnSuperBlocks(a.p, files, set)
	}
	if len(found) == 0 {
		// The file being flushed or written may already be out of the fd
		// table (fs/file.c close_files clears the slot before filp_close):
		// look for a struct file on a FUSE superblock among the stack words.
		found = a.stackFilesOn(t, set)
	}
	seen := map[uint64]bool{}
	var parts []string
	var ids []uint32
	for _, f := range found {
		if seen[f.SB] {
			continue
		}
		seen[f.SB] = true
		sb, err := a.p.Object("struct super_block", f.SB)
		if err != nil {
			continue
		}
		dev, err := sb.MemberUint("s_dev")
		if err != nil {
			continue
		}
		ids = append(ids, uint32(dev))
		part := fmt.Sprintf("connection %d", uint32(dev))
		if mps := vfs.SuperBlockMountPoints(a.p, f.SB); len(mps) > 0 {
			part += " (" + strings.Join(mps, ", ") + ")"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; "), ids
}

// stackFilesOn returns struct file pointers found among t's stack words
// whose inode lies on one of the superblocks in sbs.
func (a *waitAnalysis) stackFilesOn(t *sched.Task, sbs map[uint64]bool) []fuse.FuseSBFile {
	stack, base := a.Stack(t)
	if stack == nil {
		return nil
	}
	inodeOff, err1 := a.p.OffsetOf("struct file", "f_inode")
	sbOff, err2 := a.p.OffsetOf("struct inode", "i_sb")
	if err1 != nil || err2 != nil {
		return nil
	}
	seen := map[uint64]bool{}
	var out []fuse.FuseSBFile
	for off := 0; off+8 <= len(stack); off += 8 {
		v := binary.LittleEndian.Uint64(stack[off:])
		if !kmem.IsKernelPointer(v) || seen[v] || (v >= base && v < base+uint64(len(stack))) {
			continue
		}
		seen[v] = true
		in, err := a.p.ReadU64(v + inodeOff)
		if err != nil || !kmem.IsKernelPointer(in) {
			continue
		}
		if sb, err := a.p.ReadU64(in + sbOff); err == nil && sbs[sb] {
			out = append(out, fuse.FuseSBFile{FD: -1, SB: sb})
		}
	}
	return out
}

// classifyFuseRoot names the root cause of a chain ending in a wait for a
// FUSE answer: the server is the waiter itself, gone, exiting, or alive
// and not answering.
func classifyFuseRoot(w *TaskWait, r *Root) bool {
	t := w.Task.TaskRef
	f := w.Object.Fuse
	conn := "?"
	if f != nil {
		conn = fmt.Sprint(f.ConnID)
	}
	self := false
	for _, h := range w.Holders {
		self = self || h.Task.Addr == t.Addr
	}
	exiting := len(r.Holders) > 0
	for _, h := range r.Holders {
		exiting = exiting && strings.Contains(h.How, "exiting")
	}
	switch {
	case f == nil:
		r.Kind = RootFuseUnidentified
		r.Certain = false
		r.Summary = fmt.Sprintf("%s waits for the answer to a FUSE request that could not be decoded (no FUSE types)%s; %s",
			taskName(t), forNote(w.Task.BlockedFor), w.Note)
	case self:
		r.Kind = RootFuseServerIsWaite
		r.Certain = false
		r.Summary = fmt.Sprintf("the FUSE server of connection %s can never answer %s: it is %s itself%s, waiting for its own request",
			conn, w.Object.What, taskName(t), exitNote(w.Task))
	case len(r.Holders) == 0:
		r.Kind = RootFuseNoServer
		r.Summary = fmt.Sprintf("no FUSE server is left for connection %s: %s will never be answered", conn, w.Object.What)
		if f.Undecoded {
			// Servers were matched through fuse_dev.fc read without
			// types: their absence is not proven.
			r.Certain = false
			r.Summary += " (servers looked for without FUSE types)"
		}
	case exiting:
		r.Kind = RootFuseServerExiting
		r.Summary = fmt.Sprintf("the FUSE server of connection %s is exiting: %s will never be answered", conn, w.Object.What)
		r.Certain = r.Certain && !f.Undecoded
	default:
		r.Kind = RootFuseNotAnswering
		r.Certain = false
		idle := 0
		for _, h := range r.Holders {
			if strings.Contains(h.How, "idle in fuse_dev_do_read") {
				idle++
			}
		}
		idleNote := ""
		if idle > 0 {
			idleNote = fmt.Sprintf(" (%d of its threads idle, waiting for new requests)", idle)
		}
		r.Summary = fmt.Sprintf("FUSE server %s is alive%s but not answering %s%s",
			serverNames(r.Holders), idleNote, w.Object.What, forNote(w.Task.BlockedFor))
	}
	return true
}

// fuseRemedies: abort the connection (or one of the candidates when the
// request could not be decoded); kill a server that is alive.
func fuseRemedies(r *Root) []string {
	var out []string
	if r.Object != nil && r.Object.Fuse != nil {
		f := r.Object.Fuse
		out = append(out, f.Remedy+fmt.Sprintf("  # abort FUSE connection %d: fails its requests with ENOTCONN", f.ConnID))
		switch r.Kind {
		case RootFuseNotAnswering:
			tg := map[int]bool{}
			for _, h := range r.Holders {
				if !tg[h.Task.TGID] {
					tg[h.Task.TGID] = true
					out = append(out, fmt.Sprintf("kill %d  # kill the FUSE server %s (aborts the connection on last close)", h.Task.TGID, h.Task.Comm))
				}
			}
		case RootFuseServerIsWaite:
			out = append(out, "killing the task does not help: it is already exiting and ignores SIGKILL")
		}
	}
	switch r.Kind {
	case RootFuseUnidentified:
		if r.Object != nil && len(r.Object.FuseCandidates) > 0 {
			for _, id := range r.Object.FuseCandidates {
				out = append(out, fuse.FuseRemedy(id)+fmt.Sprintf("  # abort FUSE connection %d, one the waiting task has files on", id))
			}
		} else {
			out = append(out, "ls /sys/fs/fuse/connections/*/waiting  # find the connection with waiting requests, then: echo 1 > /sys/fs/fuse/connections/N/abort")
		}
	}
	return out
}

// fuseRef summarises request r and its connection.
func (a *waitAnalysis) fuseRef(r *fuse.FuseReq) *FuseReqRef {
	ref := &FuseReqRef{Conn: r.Conn, Unique: r.Unique, Op: r.Op, Queue: r.Queue, Flags: r.Flags, NodeID: r.NodeID, Path: r.Path}
	if fc := a.connBy[r.Conn]; fc != nil {
		ref.ConnID, ref.Connected, ref.Remedy = fc.ID, fc.Connected, fc.Remedy
		for _, m := range fc.Mounts {
			ref.MountPoints = append(ref.MountPoints, m.MountPoints...)
		}
	}
	return ref
}
