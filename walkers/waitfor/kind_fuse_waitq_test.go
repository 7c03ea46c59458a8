package waitfor

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols/symtest"
	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

func TestFuseBlockedWaitQueue(t *testing.T) {
	k := symtest.NewKernel()
	wqh := k.Types.Struct("wait_queue_head", 24)
	k.Types.Struct("fuse_conn", 512, symtest.F("blocked_waitq", wqh, 0x120))
	const conn = 0xffff888000400000
	server := sched.TaskRef{Addr: 0xffff888000500000, PID: 90, TGID: 90, Comm: "sshfs"}
	for _, tc := range []struct {
		name        string
		initialized bool
		head        uint64
		want        string // in Note; "" for no link
	}{
		{"before INIT", false, conn + 0x120, "has not answered INIT"},
		{"no free background slot", true, conn + 0x120, "max_background"},
		{"another wait queue", false, conn + 0x128, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &waitAnalysis{p: k.Program(), byAddr: map[uint64]*sched.Task{},
				conns:   []*fuse.FuseConn{{Addr: conn, ID: 41, Initialized: tc.initialized}},
				servers: map[uint64][]fuse.FuseServer{conn: {{Task: server, How: "holds /dev/fuse fd 3"}}}}
			ws := []TaskWait{{Kind: locking.WaitQueueEvent, Certain: true, Object: WaitObject{Type: "wait_queue_head", Addr: tc.head, What: "wait_queue_head"}}}
			a.linkFuseWaitQueues(ws)
			w := ws[0]
			if tc.want == "" {
				if len(w.Holders) != 0 {
					t.Fatalf("holders %+v on an unrelated wait queue", w.Holders)
				}
				return
			}
			if len(w.Holders) != 1 || w.Holders[0].Task.PID != 90 || w.Holders[0].Certain ||
				!strings.Contains(w.Note, tc.want) || !strings.Contains(w.Object.What, "FUSE connection 41") {
				t.Errorf("wait %+v", w)
			}
		})
	}
}

// TestFuseInitNotAnswered: before INIT is answered, a wait on the
// connection's blocked_waitq is a wait for that INIT request, so the
// chain ends at a FUSE server not answering it (with the abort remedy).
func TestFuseInitNotAnswered(t *testing.T) {
	k := symtest.NewKernel()
	wqh := k.Types.Struct("wait_queue_head", 24)
	k.Types.Struct("fuse_conn", 512, symtest.F("blocked_waitq", wqh, 0x120))
	const conn = 0xffff888000400000
	server := sched.TaskRef{Addr: 0xffff888000500000, PID: 90, TGID: 90, Comm: "fused"}
	fc := &fuse.FuseConn{Addr: conn, ID: 41, Connected: true, Remedy: "echo 1 > /sys/fs/fuse/connections/41/abort",
		Requests: []fuse.FuseReq{{Addr: 0xffff888000600000, Conn: conn, Op: "INIT", Unique: 2, Queue: "pending"}}}
	a := &waitAnalysis{p: k.Program(), byAddr: map[uint64]*sched.Task{},
		conns: []*fuse.FuseConn{fc}, connBy: map[uint64]*fuse.FuseConn{conn: fc},
		servers: map[uint64][]fuse.FuseServer{conn: {{Task: server, How: "holds /dev/fuse fd 3"}}}}
	ws := []TaskWait{{Kind: locking.WaitQueueEvent, Certain: true, Task: BlockedTask{TaskRef: sched.TaskRef{Addr: 0xffff888000700000, PID: 91, TGID: 91, Comm: "cat"}},
		Object: WaitObject{Type: "wait_queue_head", Addr: conn + 0x120, What: "wait_queue_head"}}}
	a.linkFuseWaitQueues(ws)
	w := ws[0]
	if w.Object.Fuse == nil || w.Object.Fuse.Op != "INIT" || !strings.Contains(w.Object.What, "FUSE INIT #2") || len(w.Holders) != 1 {
		t.Fatalf("wait %+v", w)
	}
	r := classifyRoot(&w)
	if r.Kind != RootFuseNotAnswering || !strings.Contains(r.Summary, "INIT") {
		t.Errorf("root %s: %s", r.Kind, r.Summary)
	}
	if rem := fuseRemedies(&r); len(rem) == 0 || !strings.Contains(rem[0], "abort") {
		t.Errorf("remedies %q", rem)
	}
}

// TestFuseFolioWriteback: a wait for PG_writeback of a FUSE file's folio
// (6.14+, written back in place) is held by the WRITE that carries the
// folio: its range is read from fuse_io_args.write.in.
func TestFuseFolioWriteback(t *testing.T) {
	k := symtest.NewKernel()
	u64 := k.Types.Get("u64")
	u32 := k.Types.Get("u32")
	sb := k.Types.Struct("super_block", 64)
	inodeT := k.Types.Add(symtest.Layout("inode", symtest.M("i_mode", u64), symtest.M("i_sb", symtest.Ptr(sb)), symtest.M("pad", symtest.Array(u64, 6))))
	k.Types.Add(symtest.Layout("fuse_inode", symtest.M("inode", inodeT), symtest.M("nodeid", u64)))
	args := k.Types.Add(symtest.Layout("fuse_args", symtest.M("nodeid", u64), symtest.M("opcode", u32)))
	k.Types.Add(symtest.Layout("fuse_req", symtest.M("list", symtest.Array(u64, 2)), symtest.M("args", symtest.Ptr(args))))
	in := symtest.Layout("", symtest.M("fh", u64), symtest.M("offset", u64), symtest.M("size", u32))
	u := symtest.Union("", symtest.M("read", symtest.Layout("", symtest.M("in", in), symtest.M("attr_ver", u64))),
		symtest.M("write", symtest.Layout("", symtest.M("in", in), symtest.M("out", u64))))
	ap := symtest.Layout("fuse_args_pages", symtest.M("args", args), symtest.M("folios", u64))
	k.Types.Add(symtest.Layout("fuse_io_args", symtest.M("", u), symtest.M("ap", ap)))

	const conn, sbAddr = 0xffff888000400000, 0xffff888000410000
	fi := k.NewObj("struct fuse_inode")
	k.Mem.WriteU64(fi+k.Off("struct inode", "i_sb"), sbAddr)
	k.Mem.WriteU64(fi+k.Off("struct fuse_inode", "nodeid"), 7)
	mkWrite := func(off uint64) uint64 {
		ia := k.NewObj("struct fuse_io_args")
		k.Mem.WriteU64(ia+k.Off("struct fuse_io_args", "write.in.offset"), off)
		k.Mem.WriteU32(ia+k.Off("struct fuse_io_args", "write.in.size"), 4096)
		req := k.NewObj("struct fuse_req")
		k.Mem.WriteU64(req+k.Off("struct fuse_req", "args"), ia+k.Off("struct fuse_io_args", "ap.args"))
		return req
	}
	other, covering := mkWrite(0), mkWrite(8192)
	server := sched.TaskRef{Addr: 0xffff888000500000, PID: 90, TGID: 90, Comm: "fused"}
	fc := &fuse.FuseConn{Addr: conn, ID: 41, Connected: true, Mounts: []fuse.FuseMountInfo{{SuperBlock: sbAddr}},
		Requests: []fuse.FuseReq{
			{Addr: other, Conn: conn, Op: "WRITE", Unique: 10, NodeID: 7, Queue: "processing"},
			{Addr: covering, Conn: conn, Op: "WRITE", Unique: 12, NodeID: 7, Queue: "processing"},
		}}
	a := &waitAnalysis{p: k.Program(), byAddr: map[uint64]*sched.Task{},
		conns: []*fuse.FuseConn{fc}, connBy: map[uint64]*fuse.FuseConn{conn: fc},
		servers: map[uint64][]fuse.FuseServer{conn: {{Task: server, How: "holds /dev/fuse fd 3"}}}}
	for _, tc := range []struct {
		bit    string
		unique uint64 // 0: no link
	}{{"PG_writeback", 12}, {"PG_locked", 0}} {
		ws := []TaskWait{{Kind: locking.WaitFolio, Certain: true,
			Object: WaitObject{Type: "folio", Folio: &waitkind.FolioRef{Folio: 0xffffea0000001000, Bit: tc.bit, Inode: fi, Offset: 8192}}}}
		a.linkFolioReads(ws)
		w := ws[0]
		if tc.unique == 0 {
			if len(w.Holders) != 0 || w.Object.Fuse != nil {
				t.Errorf("%s: linked to %+v", tc.bit, w.Object.Fuse)
			}
			continue
		}
		if w.Object.Fuse == nil || w.Object.Fuse.Unique != tc.unique || len(w.Holders) != 1 ||
			w.Holders[0].Task.PID != 90 || !strings.Contains(w.Holders[0].How, "holds offset 8192") {
			t.Errorf("%s: wait %+v (fuse %+v)", tc.bit, w, w.Object.Fuse)
		}
	}
}

// TestFuseFolioLockedByWriter: a folio a buffered write filled in part
// stays locked while the writer waits for its WRITE (fs/fuse/file.c
// fuse_perform_write). A wait for its lock is held by that writer: for
// certain when the WRITE's argument folios hold it, as a hint when only
// the WRITE's range covers it, not at all for a write-back WRITE nobody
// waits for or one of another range.
func TestFuseFolioLockedByWriter(t *testing.T) {
	k := symtest.NewKernel()
	u64 := k.Types.Get("u64")
	u32 := k.Types.Get("u32")
	sb := k.Types.Struct("super_block", 64)
	inodeT := k.Types.Add(symtest.Layout("inode", symtest.M("i_mode", u64), symtest.M("i_sb", symtest.Ptr(sb)), symtest.M("pad", symtest.Array(u64, 6))))
	k.Types.Add(symtest.Layout("fuse_inode", symtest.M("inode", inodeT), symtest.M("nodeid", u64)))
	args := k.Types.Add(symtest.Layout("fuse_args", symtest.M("nodeid", u64), symtest.M("opcode", u32)))
	k.Types.Add(symtest.Layout("fuse_req", symtest.M("list", symtest.Array(u64, 2)), symtest.M("args", symtest.Ptr(args))))
	in := symtest.Layout("", symtest.M("fh", u64), symtest.M("offset", u64), symtest.M("size", u32))
	u := symtest.Union("", symtest.M("read", symtest.Layout("", symtest.M("in", in), symtest.M("attr_ver", u64))),
		symtest.M("write", symtest.Layout("", symtest.M("in", in), symtest.M("out", u64))))
	ap := symtest.Layout("fuse_args_pages", symtest.M("args", args), symtest.M("folios", u64), symtest.M("descs", u64), symtest.M("num_folios", u32))
	k.Types.Add(symtest.Layout("fuse_io_args", symtest.M("", u), symtest.M("ap", ap)))

	const conn, sbAddr, folio = 0xffff888000400000, 0xffff888000410000, 0xffffea0000001000
	fi := k.NewObj("struct fuse_inode")
	k.Mem.WriteU64(fi+k.Off("struct inode", "i_sb"), sbAddr)
	k.Mem.WriteU64(fi+k.Off("struct fuse_inode", "nodeid"), 7)
	// mkWrite makes a WRITE of 100 bytes at off whose argument folios are
	// folios (none: the array is not readable).
	mkWrite := func(off uint64, folios ...uint64) uint64 {
		ia := k.NewObj("struct fuse_io_args")
		k.Mem.WriteU64(ia+k.Off("struct fuse_io_args", "write.in.offset"), off)
		k.Mem.WriteU32(ia+k.Off("struct fuse_io_args", "write.in.size"), 100)
		if len(folios) > 0 {
			arr := k.Alloc(uint64(8 * len(folios)))
			for i, f := range folios {
				k.Mem.WriteU64(arr+uint64(8*i), f)
			}
			k.Mem.WriteU64(ia+k.Off("struct fuse_io_args", "ap.folios"), arr)
			k.Mem.WriteU32(ia+k.Off("struct fuse_io_args", "ap.num_folios"), uint32(len(folios)))
		}
		req := k.NewObj("struct fuse_req")
		k.Mem.WriteU64(req+k.Off("struct fuse_req", "args"), ia+k.Off("struct fuse_io_args", "ap.args"))
		return req
	}
	writer := sched.TaskRef{Addr: 0xffff888000600000, PID: 77, TGID: 77, Comm: "dd"}
	server := sched.TaskRef{Addr: 0xffff888000500000, PID: 90, TGID: 90, Comm: "fused"}
	for _, tc := range []struct {
		name    string
		reqs    []fuse.FuseReq
		pid     int // the holder, 0 for none
		certain bool
	}{
		{"folio in the WRITE's arguments", []fuse.FuseReq{
			{Addr: mkWrite(0, 0xffffea0000002000, folio), Op: "WRITE", Unique: 12, Waiters: []sched.TaskRef{writer}}}, 77, true},
		{"range only", []fuse.FuseReq{
			{Addr: mkWrite(8192 + 10), Op: "WRITE", Unique: 14, Waiters: []sched.TaskRef{writer}}}, 77, false},
		{"write-back WRITE", []fuse.FuseReq{
			{Addr: mkWrite(8192, folio), Op: "WRITE", Unique: 16}}, 0, false},
		{"another range", []fuse.FuseReq{
			{Addr: mkWrite(0), Op: "WRITE", Unique: 18, Waiters: []sched.TaskRef{writer}}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.reqs {
				tc.reqs[i].Conn, tc.reqs[i].NodeID, tc.reqs[i].Queue = conn, 7, "processing"
			}
			fc := &fuse.FuseConn{Addr: conn, ID: 41, Connected: true, Mounts: []fuse.FuseMountInfo{{SuperBlock: sbAddr}}, Requests: tc.reqs}
			a := &waitAnalysis{p: k.Program(), byAddr: map[uint64]*sched.Task{},
				conns: []*fuse.FuseConn{fc}, connBy: map[uint64]*fuse.FuseConn{conn: fc},
				servers: map[uint64][]fuse.FuseServer{conn: {{Task: server, How: "holds /dev/fuse fd 3"}}}}
			ws := []TaskWait{{Kind: locking.WaitFolio, Certain: true,
				Task:   BlockedTask{TaskRef: sched.TaskRef{Addr: 0xffff888000700000, PID: 91, TGID: 91, Comm: "cat"}},
				Object: WaitObject{Type: "folio", Folio: &waitkind.FolioRef{Folio: folio, Bit: "PG_locked", Inode: fi, Offset: 8192}}}}
			a.linkFolioReads(ws)
			w := ws[0]
			if tc.pid == 0 {
				if len(w.Holders) != 0 {
					t.Fatalf("held by %+v", w.Holders)
				}
				return
			}
			if len(w.Holders) != 1 || w.Holders[0].Task.Addr != writer.Addr || w.Holders[0].Certain != tc.certain ||
				!strings.Contains(w.Holders[0].How, "fuse_perform_write") || !strings.Contains(w.Note, "buffered write") {
				t.Fatalf("holders %+v note %q", w.Holders, w.Note)
			}
		})
	}
}
