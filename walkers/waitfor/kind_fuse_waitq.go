package waitfor

import (
	"fmt"

	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/vfs"
)

// Two FUSE wait queues have a known waker, the connection's server:
//
//   - fuse_conn.blocked_waitq (fs/fuse/dev.c fuse_get_req →
//     fuse_block_alloc): a new request waits there until the connection
//     is initialized (the server answers INIT) and has a free background
//     slot (max_background);
//   - fuse_inode.page_waitq (fs/fuse/file.c fuse_wait_on_page_writeback,
//     fuse_set_nowrite, fuse_sync_writes): a truncate, setattr or fsync
//     waits for the inode's WRITEs of dirty pages to be answered.
//
// A wait-queue wait on either is given the connection's servers as
// holders (hints: the queue says which server, not which request).

// linkFuseWaitQueues gives such waits their connection's servers.
func (a *waitAnalysis) linkFuseWaitQueues(ws []TaskWait) {
	if len(a.conns) == 0 {
		return
	}
	blocked := map[uint64]*fuse.FuseConn{}
	for _, c := range a.conns {
		if q, err := fuse.BlockedWaitQueue(a.p, c.Addr); err == nil {
			blocked[q] = c
		}
	}
	pageOff, errP := a.p.OffsetOf("struct fuse_inode", "page_waitq")
	inodeOff, errI := a.p.OffsetOf("struct fuse_inode", "inode")
	for i := range ws {
		w := &ws[i]
		if w.Kind != locking.WaitQueueEvent || len(w.Holders) > 0 || w.Object.Addr == 0 {
			continue
		}
		head := w.Object.Addr
		if c := blocked[head]; c != nil {
			why := "the connection is not initialized (the server has not answered INIT)"
			if c.Initialized {
				why = "every background slot is taken (max_background) or the connection is blocked"
			}
			w.Object.What = fmt.Sprintf("a free request slot on FUSE connection %d (fuse_conn.blocked_waitq)", c.ID)
			w.Note = fmt.Sprintf("fuse_get_req waits until the server frees one: %s", why)
			if init := firstRequest(c, "INIT", 0); init != nil && !c.Initialized {
				// fs/fuse/inode.c fuse_send_init sends INIT in the
				// background at mount; fuse_block_alloc holds every
				// other request until process_init_reply.
				w.Object.What = fmt.Sprintf("FUSE INIT #%d on connection %d (new requests wait for its answer on fuse_conn.blocked_waitq)", init.Unique, c.ID)
				w.Object.Fuse = a.fuseRef(init)
				w.Note = fmt.Sprintf("fuse_get_req waits until the connection is initialized: INIT is %s", init.Queue)
			}
			a.fuseServersHold(w, c.Addr, "new requests on its connection wait for it (fuse_conn.blocked_waitq)")
		}
		if errP == nil && errI == nil && head >= pageOff && len(w.Holders) == 0 {
			inode := head - pageOff + inodeOff
			if nodeid, conn, ok := a.fuseNode(inode); ok {
				what := fmt.Sprintf("inode %#x", inode)
				if d, err := vfs.DescribeInode(a.p, inode); err == nil {
					what = d.String()
				}
				w.Object.What = fmt.Sprintf("the FUSE WRITEs of %s (fuse_inode.page_waitq: its write-back requests)", what)
				w.Note = fmt.Sprintf("truncate, setattr and fsync wait for the inode's write-back requests on connection %d (fs/fuse/file.c)", conn.ID)
				if req := firstRequest(conn, "WRITE", nodeid); req != nil {
					w.Object.Fuse = a.fuseRef(req)
					w.Note += fmt.Sprintf("; WRITE #%d is %s", req.Unique, req.Queue)
				}
				a.fuseServersHold(w, conn.Addr, "the inode's WRITE requests wait for its answers (fuse_inode.page_waitq)")
			}
		}
	}
}

// fuseServersHold makes the servers of connection conn w's holders.
func (a *waitAnalysis) fuseServersHold(w *TaskWait, conn uint64, why string) {
	for _, h := range a.fuseHolders(conn) {
		h.Certain = false
		h.How = why + "; " + h.How
		w.Holders = append(w.Holders, h)
	}
}

// firstRequest returns the first request of conn with opcode op (and
// node id nodeid, unless 0), nil if none (bounded like the folio checks).
func firstRequest(conn *fuse.FuseConn, op string, nodeid uint64) *fuse.FuseReq {
	for i := range conn.Requests {
		if i >= maxFolioReadCheck {
			break
		}
		r := &conn.Requests[i]
		if r.Op == op && (nodeid == 0 || r.NodeID == nodeid) {
			return r
		}
	}
	return nil
}
