package waitfor

import (
	"fmt"

	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/locking"
)

// A folio of a FUSE file is locked while a FUSE READ fills it (fs/fuse/
// file.c): fuse_read_folio sends the READ synchronously and sleeps in
// request_wait_answer with the folio locked; readahead (fuse_readahead →
// fuse_send_readpages) sends it in the background with no task waiting,
// and fuse_readpages_end unlocks the folios when the answer comes. A
// buffered write locks them too: fuse_perform_write → fuse_fill_write_pages
// locks the folios it copies into and fuse_send_write_pages unlocks them
// only after the synchronous WRITE that carries them is answered. So a
// task waiting on such a folio waits, through the READ or WRITE, for the
// server.

// maxFolioReadCheck bounds the requests compared per folio wait.
const maxFolioReadCheck = 4096

// linkFolioReads gives each wait on a locked folio of a FUSE file the
// READ that holds it: the task waiting for that READ (it holds the folio
// lock), or, for a background READ, the connection's servers.
func (a *waitAnalysis) linkFolioReads(ws []TaskWait) {
	if len(a.conns) == 0 {
		return
	}
	for i := range ws {
		w := &ws[i]
		fr := w.Object.Folio
		if w.Kind != locking.WaitFolio || fr == nil || fr.Inode == 0 || len(w.Holders) > 0 {
			continue
		}
		if fr.Bit == "PG_writeback" {
			a.linkFolioWrite(w)
			continue
		}
		if fr.Bit != "PG_locked" {
			continue // a READ holds the lock bit only
		}
		nodeid, conn, ok := a.fuseNode(fr.Inode)
		if !ok {
			continue
		}
		req, verified := a.requestCovering(conn, "READ", nodeid, fr.Offset)
		if req == nil || !verified {
			if a.linkFolioWriter(w, conn, nodeid) {
				continue
			}
		}
		if req == nil {
			continue
		}
		how := fmt.Sprintf("FUSE READ #%d of the same file", req.Unique)
		if verified {
			how += fmt.Sprintf(" (its range holds offset %d)", fr.Offset)
		} else {
			how += " (its offset not read: a READ of the file, maybe of another folio)"
		}
		waiting := false
		for _, rw := range req.Waiters {
			if rw.Addr == w.Task.Addr {
				continue
			}
			waiting = true
			w.Holders = append(w.Holders, Holder{Task: a.Ref(rw.Addr), Certain: verified,
				How: how + " is pending and this task waits for it with the folio locked (fuse_read_folio)"})
		}
		if !waiting {
			for _, h := range a.fuseHolders(conn.Addr) {
				h.Certain = false
				h.How = how + " was sent in the background (readahead): the folio stays locked until the server answers; " + h.How
				w.Holders = append(w.Holders, h)
			}
			w.Object.Fuse = a.fuseRef(req)
		}
		w.Note = fmt.Sprintf("the folio is locked by FUSE READ #%d (%s) on connection %d", req.Unique, req.Queue, conn.ID)
	}
}

// linkFolioWriter gives a wait on a locked folio the task whose buffered
// write holds it: a WRITE of the file whose argument folios include this
// one (fuse_args_pages.folios, .pages before 6.14; certain), else one
// whose range holds the folio's offset (a hint), with the task waiting for
// its answer (fs/fuse/file.c fuse_perform_write). It reports whether it
// found one.
func (a *waitAnalysis) linkFolioWriter(w *TaskWait, conn *fuse.FuseConn, nodeid uint64) bool {
	fr := w.Object.Folio
	var req *fuse.FuseReq
	certain := false
	for _, io := range a.fileRequests(conn, "WRITE", nodeid) {
		if len(io.req.Waiters) == 0 {
			continue // a write-back WRITE: nobody sleeps holding the lock
		}
		if holds, known := a.argsHoldFolio(io.req.Addr, fr.Folio); known && holds {
			req, certain = io.req, true
			break
		}
		if req == nil && io.ok && fr.Offset < io.lo+io.n && io.lo < fr.Offset+a.p.PageSize() {
			req = io.req
		}
	}
	if req == nil {
		return false
	}
	how := fmt.Sprintf("FUSE WRITE #%d of the same file", req.Unique)
	if certain {
		how += " carries this folio"
	} else {
		how += fmt.Sprintf(" covers offset %d (its folios not read)", fr.Offset)
	}
	added := false
	for _, rw := range req.Waiters {
		if rw.Addr == w.Task.Addr {
			continue
		}
		added = true
		w.Holders = append(w.Holders, Holder{Task: a.Ref(rw.Addr), Certain: certain,
			How: how + ": the writer keeps the folio locked until the server answers (fuse_perform_write)"})
	}
	if !added {
		return false
	}
	w.Note = fmt.Sprintf("the folio is locked by a buffered write waiting for FUSE WRITE #%d (%s) on connection %d", req.Unique, req.Queue, conn.ID)
	return true
}

// maxArgFolios bounds the folios read from one request's arguments
// (FUSE_MAX_MAX_PAGES is 256).
const maxArgFolios = 1024

// argsHoldFolio reports whether the READ or WRITE request's argument
// folios (struct fuse_args_pages in its fuse_io_args: folios/num_folios
// since 6.14, pages/num_pages before; in 6.13's union both name the same
// array) include folio; known is false when they could not be read. A
// folio's address is that of its head page, so either array compares.
func (a *waitAnalysis) argsHoldFolio(req, folio uint64) (holds, known bool) {
	r, err := a.p.Object("struct fuse_req", req)
	if err != nil {
		return false, false
	}
	args, err := r.MemberUint("args")
	if err != nil || args == 0 {
		return false, false
	}
	ia, err := a.p.ContainerOf(args, "struct fuse_io_args", "ap.args")
	if err != nil {
		return false, false
	}
	arr, err1 := ia.MemberUint("ap.folios")
	n, err2 := ia.MemberUint("ap.num_folios")
	if err1 != nil || err2 != nil {
		arr, err1 = ia.MemberUint("ap.pages")
		n, err2 = ia.MemberUint("ap.num_pages")
	}
	if err1 != nil || err2 != nil || arr == 0 || n > maxArgFolios {
		return false, false
	}
	for i := range n {
		f, err := a.p.ReadU64(arr + 8*i)
		if err != nil {
			return false, false
		}
		if f == folio {
			return true, true
		}
	}
	return false, true
}

// fuseNode returns the FUSE node id of the inode and its connection, when
// the inode is a FUSE inode of a known connection (struct fuse_inode
// embeds the inode first, fs/fuse/fuse_i.h).
func (a *waitAnalysis) fuseNode(inode uint64) (uint64, *fuse.FuseConn, bool) {
	sb, err := a.p.ReadU64(inode + a.offset("struct inode", "i_sb"))
	if err != nil {
		return 0, nil, false
	}
	var conn *fuse.FuseConn
	for _, c := range a.conns {
		for _, m := range c.Mounts {
			if m.SuperBlock == sb {
				conn = c
			}
		}
	}
	if conn == nil {
		return 0, nil, false
	}
	fi, err := a.p.ContainerOf(inode, "struct fuse_inode", "inode")
	if err != nil {
		return 0, nil, false
	}
	id, err := fi.MemberUint("nodeid")
	if err != nil {
		return 0, nil, false
	}
	return id, conn, true
}

// linkFolioWrite gives a wait for the write-back of a FUSE file's folio
// the WRITE that carries it. Since fuse writes back folios in place
// (fs/fuse/file.c fuse_writepages, 6.14+; before, a temporary page
// ended the folio's write-back at once and waiters used page_waitq,
// kind_fuse_waitq.go), PG_writeback stays set until the server answers
// the WRITE (fuse_writepage_end); nobody waits for that request but the
// server can end it.
func (a *waitAnalysis) linkFolioWrite(w *TaskWait) {
	fr := w.Object.Folio
	nodeid, conn, ok := a.fuseNode(fr.Inode)
	if !ok {
		return
	}
	req, verified := a.requestCovering(conn, "WRITE", nodeid, fr.Offset)
	if req == nil {
		return
	}
	how := fmt.Sprintf("FUSE WRITE #%d of the same file", req.Unique)
	if verified {
		how += fmt.Sprintf(" (its range holds offset %d)", fr.Offset)
	} else {
		how += " (its offset not read: a WRITE of the file, maybe of another folio)"
	}
	for _, h := range a.fuseHolders(conn.Addr) {
		h.Certain = false
		h.How = how + " carries the folio's write-back: it ends when the server answers; " + h.How
		w.Holders = append(w.Holders, h)
	}
	w.Object.Fuse = a.fuseRef(req)
	w.Object.What = fmt.Sprintf("FUSE WRITE #%d, which carries %s", req.Unique, w.Object.What)
	w.Note = fmt.Sprintf("the folio is under write-back by FUSE WRITE #%d (%s) on connection %d", req.Unique, req.Queue, conn.ID)
}

// requestCovering finds a request of opcode op (READ or WRITE) of nodeid
// on conn, preferring one whose range (fuse_io_args.read.in or
// write.in: offset, size) holds off; verified says the range was read
// and holds it.
func (a *waitAnalysis) requestCovering(conn *fuse.FuseConn, op string, nodeid, off uint64) (*fuse.FuseReq, bool) {
	ios := a.fileRequests(conn, op, nodeid)
	for _, io := range ios {
		if io.ok && off >= io.lo && off < io.lo+io.n {
			return io.req, true
		}
	}
	if len(ios) > 0 {
		return ios[0].req, false
	}
	return nil, false
}

type fileRequestsKey struct {
	conn, nodeid uint64
	op           string
}

// fileIO is a READ or WRITE request with its byte range (ok when read).
type fileIO struct {
	req   *fuse.FuseReq
	lo, n uint64
	ok    bool
}

// fileRequests lists conn's requests of opcode op on nodeid with their
// ranges, once per analysis: many waiters of one file's folios (every
// reader of a file whose READ hangs) look at the same few requests.
func (a *waitAnalysis) fileRequests(conn *fuse.FuseConn, op string, nodeid uint64) []fileIO {
	return a.Memo(fileRequestsKey{conn.Addr, nodeid, op}, func() any {
		var out []fileIO
		for i := range conn.Requests {
			if i >= maxFolioReadCheck {
				break
			}
			r := &conn.Requests[i]
			if r.Op != op || r.NodeID != nodeid {
				continue
			}
			lo, n, ok := a.ioRange(r.Addr, op)
			out = append(out, fileIO{req: r, lo: lo, n: n, ok: ok})
		}
		return out
	}).([]fileIO)
}

// ioRange reads a READ or WRITE request's offset and size from its
// arguments: req->args is &fuse_io_args.ap.args (fs/fuse/file.c
// fuse_read_args_fill, fuse_write_args_fill; a write-back WRITE's
// fuse_writepage_args embeds the fuse_io_args).
func (a *waitAnalysis) ioRange(req uint64, op string) (uint64, uint64, bool) {
	member := "read.in"
	if op == "WRITE" {
		member = "write.in"
	}
	r, err := a.p.Object("struct fuse_req", req)
	if err != nil {
		return 0, 0, false
	}
	args, err := r.MemberUint("args")
	if err != nil || args == 0 {
		return 0, 0, false
	}
	ia, err := a.p.ContainerOf(args, "struct fuse_io_args", "ap.args")
	if err != nil {
		return 0, 0, false
	}
	lo, err1 := ia.MemberUint(member + ".offset")
	n, err2 := ia.MemberUint(member + ".size")
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return lo, n, true
}

func (a *waitAnalysis) offset(typ, member string) uint64 {
	off, _ := a.p.OffsetOf(typ, member)
	return off
}
