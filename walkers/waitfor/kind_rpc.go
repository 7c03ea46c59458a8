package waitfor

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/net"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// WaitRPC: a task waits for the reply to a sunrpc request (NFS, its
// MOUNT and lock protocols).
const WaitRPC = "rpc"

// RootRPCServer: the RPC server has not answered (alive and not blocked,
// on another machine, or unreachable).
const RootRPCServer = "rpc-server-not-answering"

// A synchronous RPC (net/sunrpc/clnt.c rpc_call_sync → rpc_run_task →
// net/sunrpc/sched.c __rpc_execute) sleeps while the task is queued:
// out_of_line_wait_on_bit(&task->tk_runstate, RPC_TASK_QUEUED,
// rpc_wait_bit_killable, TASK_KILLABLE) leaves a wait_bit_queue_entry on
// the stack whose key names the rpc_task. The reply (or, for a soft
// task, the timeouts) wakes it; on a hard mount the task retransmits for
// ever. The server is the process holding the other end of the
// transport's socket when it is on this machine (struct sock_xprt,
// include/linux/sunrpc/xprtsock.h).

var rpcFrames = waitkind.NewFrames("rpc_wait_bit_killable", "__rpc_execute", "__rpc_wait_for_completion_task")

// RPCWait is the sunrpc kind.
var RPCWait = &waitkind.Kind{
	Name:     WaitRPC,
	Verb:     "waits for",
	Frames:   rpcFrames,
	Detect:   detectRPC,
	Classify: classifyRPC,
	Remedies: rpcRemedies,
}

// Flags of rpc_task.tk_flags and bits of rpc_xprt.state (#defines of
// include/linux/sunrpc/sched.h and xprt.h, the same since 2.6).
const (
	rpcTaskSoft      = 0x0200
	rpcTaskSoftConn  = 0x0400
	xprtConnectedBit = 1
)

func detectRPC(c waitkind.Context, t *sched.Task) (TaskWait, bool) {
	a, ok := c.(*waitAnalysis)
	if !ok || t.State != "D" || !a.HasFrame(t, rpcFrames) {
		return TaskWait{}, false
	}
	w := TaskWait{Task: a.Blocked(t), Kind: WaitRPC}
	task, ok := a.rpcTaskOnStack(t)
	if !ok {
		w.How = "frame rpc_wait_bit_killable/__rpc_execute (the rpc_task could not be read: no sunrpc types, or no wait entry on the stack)"
		w.Object = WaitObject{Type: "rpc_task", What: "the reply to an RPC (sunrpc request not decoded)",
			RPC: &waitkind.RPCRef{Undecoded: true}}
		return w, true
	}
	w.Certain = true
	w.How = "wait_bit_queue_entry on the task's stack for RPC_TASK_QUEUED of an rpc_task (net/sunrpc/sched.c __rpc_execute)"
	ref, holders, note := a.rpcServer(task)
	w.Object = WaitObject{Type: "rpc_task", Addr: task, RPC: ref, What: rpcWhat(ref)}
	if len(ref.MountPoints) > 0 {
		w.Object.Where = ref.MountPoints[0]
	}
	w.Holders = holders
	w.Note = note
	return w, true
}

// rpcWhat describes the request: "the reply of NFS server 127.0.0.1
// (127.0.0.1:20490 tcp) to nfs v3 MKDIR (rpc_task 0x…) for /mnt/nfs".
func rpcWhat(r *waitkind.RPCRef) string {
	s := "the reply"
	if r.Server != "" {
		s += " of " + strings.ToUpper(progName(r.Program)) + " server " + r.Server
		if r.Addr != "" && r.Addr != r.Server {
			s += " (" + r.Addr
			if r.Transport != "" {
				s += " " + r.Transport
			}
			s += ")"
		}
	}
	s += " to " + progName(r.Program)
	if r.Version != 0 {
		s += fmt.Sprintf(" v%d", r.Version)
	}
	if r.Proc != "" {
		s += " " + r.Proc
	}
	s += fmt.Sprintf(" (rpc_task %#x", r.Task)
	if !r.Connected {
		s += ", transport not connected"
	}
	s += ")"
	if len(r.MountPoints) > 0 {
		s += " for " + strings.Join(r.MountPoints, ", ")
	}
	return s
}

func progName(p string) string {
	if p == "" {
		return "RPC"
	}
	return p
}

// rpcTaskOnStack finds the rpc_task t waits for: a wait_bit_queue_entry
// (wake_bit_function) whose key.flags is an rpc_task's tk_runstate.
func (a *waitAnalysis) rpcTaskOnStack(t *sched.Task) (uint64, bool) {
	entryOff, err1 := a.p.OffsetOf("struct wait_bit_queue_entry", "wq_entry")
	flagsOff, err2 := a.p.OffsetOf("struct wait_bit_queue_entry", "key.flags")
	runOff, err3 := a.p.OffsetOf("struct rpc_task", "tk_runstate")
	clientOff, err4 := a.p.OffsetOf("struct rpc_task", "tk_client")
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return 0, false
	}
	for _, sw := range a.findStackWaiters(t) {
		if sw.broken != "" || sw.shape.w.Type != "struct wait_queue_entry" || a.wakeFunc(sw) != "wake_bit_function" {
			continue
		}
		word, err := a.p.ReadU64(sw.addr - entryOff + flagsOff)
		if err != nil || word < runOff {
			continue
		}
		task := word - runOff
		clnt, err := a.p.ReadU64(task + clientOff)
		if err != nil || clnt == 0 {
			continue
		}
		if _, err := a.p.Object("struct rpc_clnt", clnt); err != nil {
			continue
		}
		return task, true
	}
	return 0, false
}

type rpcXprtKey uint64

// rpcXprtServer is what one transport's server is: its holders (the local
// processes at the other end) and a note.
type rpcXprtServer struct {
	addr, transport, server string
	connected, remote       bool
	holders                 []Holder
	note                    string
}

// rpcServer decodes the task's program, procedure, transport and server.
func (a *waitAnalysis) rpcServer(task uint64) (*waitkind.RPCRef, []Holder, string) {
	ref := &waitkind.RPCRef{Task: task}
	o, err := a.p.Object("struct rpc_task", task)
	if err != nil {
		return ref, nil, ""
	}
	if fl, err := o.MemberUint("tk_flags"); err == nil {
		ref.Soft = fl&(rpcTaskSoft|rpcTaskSoftConn) != 0
	}
	if proc, err := o.MemberUint("tk_msg.rpc_proc"); err == nil && proc != 0 {
		if pi, err := a.p.Object("struct rpc_procinfo", proc); err == nil {
			if name, err := pi.MemberUint("p_name"); err == nil && name != 0 {
				ref.Proc, _ = a.p.ReadString(name, 32)
			}
		}
	}
	clnt, _ := o.MemberUint("tk_client")
	xprt, _ := o.MemberUint("tk_xprt")
	if c, err := a.p.Object("struct rpc_clnt", clnt); err == nil {
		if v, err := c.MemberUint("cl_vers"); err == nil {
			ref.Version = uint32(v)
		}
		if prog, err := c.MemberUint("cl_program"); err == nil && prog != 0 {
			if po, err := a.p.Object("struct rpc_program", prog); err == nil {
				if name, err := po.MemberUint("name"); err == nil && name != 0 {
					ref.Program, _ = a.p.ReadString(name, 32)
				}
			}
		}
		if xprt == 0 {
			xprt, _ = c.MemberUint("cl_xprt")
		}
	}
	ref.MountPoints = a.nfsMountsOf(clnt)
	if xprt == 0 {
		return ref, nil, ""
	}
	s := a.rpcXprt(xprt)
	ref.Addr, ref.Transport, ref.Server, ref.Connected, ref.Remote = s.addr, s.transport, s.server, s.connected, s.remote
	var holders []Holder
	for _, h := range s.holders {
		h.How = fmt.Sprintf("the %s server: %s", strings.ToUpper(progName(ref.Program)), h.How)
		holders = append(holders, h)
	}
	return ref, holders, s.note
}

// rpcXprt reads a transport once: its address and the local processes at
// the other end of its socket.
func (a *waitAnalysis) rpcXprt(xprt uint64) *rpcXprtServer {
	return a.Memo(rpcXprtKey(xprt), func() any {
		s := &rpcXprtServer{}
		x, err := a.p.Object("struct rpc_xprt", xprt)
		if err != nil {
			a.Warn(fmt.Sprintf("rpc_xprt %#x: %v", xprt, err))
			return s
		}
		if st, err := x.MemberUint("state"); err == nil {
			s.connected = st&(1<<xprtConnectedBit) != 0
		}
		if name, err := x.MemberUint("servername"); err == nil && name != 0 {
			s.server, _ = a.p.ReadString(name, 256)
		}
		strs := a.offset("struct rpc_xprt", "address_strings")
		addr := a.addressString(xprt+strs, "RPC_DISPLAY_ADDR", 0)
		port := a.addressString(xprt+strs, "RPC_DISPLAY_PORT", 1)
		s.transport = a.addressString(xprt+strs, "RPC_DISPLAY_NETID", 5)
		switch {
		case addr != "" && port != "" && strings.Contains(addr, ":"):
			s.addr = "[" + addr + "]:" + port
		case addr != "" && port != "":
			s.addr = addr + ":" + port
		default:
			s.addr = addr
		}
		if s.server == "" {
			s.server = addr
		}
		// Sockets only for the socket transports (xprtsock.c embeds the
		// rpc_xprt first in struct sock_xprt).
		if s.transport != "tcp" && s.transport != "udp" && s.transport != "tcp6" && s.transport != "udp6" && s.transport != "local" {
			s.remote = s.transport != ""
			return s
		}
		sx, err := a.p.ContainerOf(xprt, "struct sock_xprt", "xprt")
		if err != nil {
			return s
		}
		sockAddr, err := sx.MemberUint("sock")
		if err != nil || sockAddr == 0 {
			s.note = "the transport has no socket (not connected)"
			return s
		}
		sock, err := net.ReadSocket(a.p, sockAddr)
		if err != nil {
			a.Warn(fmt.Sprintf("rpc_xprt %#x: socket: %v", xprt, err))
			return s
		}
		desc := sock.Endpoints()
		owners, err := net.PeerOwners(a.p, a.tasks, sock)
		if err != nil {
			a.Warn(fmt.Sprintf("rpc_xprt %#x: looking for the server of %s: %v", xprt, desc, err))
		}
		if len(owners) == 0 {
			s.remote = true
			s.note = fmt.Sprintf("the server %s is not a process of this machine (%s)", s.addr, desc)
			return s
		}
		for _, o := range owners {
			s.holders = append(s.holders, Holder{Task: a.Ref(o.Task.Addr), Certain: true,
				How: fmt.Sprintf("has the other end of the RPC connection %s as fd %d; only its reply ends the call (net/sunrpc)", desc, o.FD)})
		}
		s.note = fmt.Sprintf("served by %s (pid %d) over %s", owners[0].Task.Name, owners[0].Task.PID, desc)
		return s
	}).(*rpcXprtServer)
}

// addressString reads xprt->address_strings[name] (enum
// rpc_display_format_t, include/linux/sunrpc/xprt.h; def when the enum
// is not in the types).
func (a *waitAnalysis) addressString(base uint64, name string, def int64) string {
	idx := def
	if e, err := a.p.Type("enum rpc_display_format_t"); err == nil {
		if v, ok := e.EnumValue(name); ok {
			idx = v
		}
	}
	ptr, err := a.p.ReadU64(base + uint64(idx)*8)
	if err != nil || ptr == 0 {
		return ""
	}
	s, _ := a.p.ReadString(ptr, 64)
	return s
}

type nfsMountsKey struct{}

// nfsMountsOf returns the mount points of the NFS superblocks whose
// nfs_server uses RPC client clnt (sb->s_fs_info, fs/nfs/super.c).
func (a *waitAnalysis) nfsMountsOf(clnt uint64) []string {
	byClient := a.Memo(nfsMountsKey{}, func() any {
		out := map[uint64][]string{}
		ms, err := vfs.Mounts(a.p)
		if err != nil {
			return out
		}
		infoOff, err := a.p.OffsetOf("struct super_block", "s_fs_info")
		if err != nil {
			return out
		}
		for _, m := range ms {
			if !strings.HasPrefix(m.Super.FSType, "nfs") {
				continue
			}
			srv, err := a.p.ReadU64(m.Super.Addr + infoOff)
			if err != nil || srv == 0 {
				continue
			}
			so, err := a.p.Object("struct nfs_server", srv)
			if err != nil {
				continue
			}
			c, err := so.MemberUint("client")
			if err != nil || c == 0 || len(out[c]) >= 8 {
				continue
			}
			out[c] = append(out[c], m.MountPoint)
		}
		return out
	}).(map[uint64][]string)
	return byClient[clnt]
}

// classifyRPC: a chain ending at an RPC whose server is alive and not
// blocked, on another machine, or unreachable (a stopped server was
// classified before, as any stopped holder).
func classifyRPC(w *TaskWait, r *Root) bool {
	ref := w.Object.RPC
	if ref == nil {
		return false
	}
	r.Kind = RootRPCServer
	prog := strings.ToUpper(progName(ref.Program))
	since := forNote(w.Task.BlockedFor)
	call := strings.TrimSpace(progName(ref.Program) + " " + ref.Proc)
	switch {
	case ref.Undecoded:
		r.Certain = false
		r.Summary = fmt.Sprintf("%s waits for the reply to an RPC%s (sunrpc types not available: server unknown)", taskName(w.Task.TaskRef), since)
	case len(r.Holders) == 0 && ref.Server == "" && ref.Addr == "":
		// The transport could not be read: nothing is known of the
		// server, not even whether it is connected.
		r.Certain = false
		r.Summary = fmt.Sprintf("%s waits for the reply to %s%s; its transport (rpc_xprt) could not be read, so the server is unknown", taskName(w.Task.TaskRef), call, since)
	case len(r.Holders) > 0:
		r.Summary = fmt.Sprintf("%s, the %s server at %s, has not answered %s%s: it is alive and not blocked on anything kwalk recognises",
			serverNames(r.Holders), prog, ref.Addr, call, since)
		for _, h := range r.Holders {
			r.Certain = r.Certain && h.Certain
		}
	case !ref.Connected:
		r.Summary = fmt.Sprintf("%s server %s (%s) is unreachable: %s waits for a connection%s", prog, ref.Server, ref.Addr, call, since)
	default:
		r.Summary = fmt.Sprintf("%s server %s (%s), on another machine, has not answered %s%s", prog, ref.Server, ref.Addr, call, since)
	}
	if !ref.Soft && !ref.Undecoded {
		r.Summary += " (hard: the call is retried for ever)"
	}
	r.Certain = r.Certain && w.Task.BlockedFor >= blockStuckAfter
	return true
}

func rpcRemedies(r *Root) []string {
	ref := r.Object.RPC
	if ref == nil {
		return nil
	}
	var out []string
	for _, h := range r.Holders {
		if r.Kind == RootHolderStopped {
			break // resuming it is the remedy (report.go)
		}
		out = append(out, fmt.Sprintf("look at the %s server %s (bt %d): it must read the call and reply", strings.ToUpper(progName(ref.Program)), taskName(h.Task), h.Task.PID))
		break
	}
	if len(r.Holders) == 0 && ref.Server != "" {
		out = append(out, fmt.Sprintf("check that %s answers: rpcinfo -t %s nfs (and the network between)", ref.Server, ref.Server))
	}
	for _, mp := range ref.MountPoints {
		out = append(out, fmt.Sprintf("umount -f %s  # fails the mount's pending calls with EIO (umount -l detaches it)", mp))
	}
	if !ref.Soft {
		out = append(out, "mount with soft or softerr,timeo=…,retrans=… to fail calls instead of waiting for ever")
	}
	return out
}

// maxRPCTasks bounds the tasks walked on one RPC client's list.
const maxRPCTasks = 4096

type rpcPendingKey uint64

// rpcCall is one task on an RPC client's list, with its procedure.
type rpcCall struct {
	task uint64
	proc string
}

// rpcPending lists the tasks of RPC client clnt (rpc_clnt.cl_tasks of
// rpc_task.tk_task, net/sunrpc/clnt.c rpc_task_set_client), once.
func (a *waitAnalysis) rpcPending(clnt uint64) []rpcCall {
	return a.Memo(rpcPendingKey(clnt), func() any {
		var out []rpcCall
		headOff, err1 := a.p.OffsetOf("struct rpc_clnt", "cl_tasks")
		linkOff, err2 := a.p.OffsetOf("struct rpc_task", "tk_task")
		procOff, err3 := a.p.OffsetOf("struct rpc_task", "tk_msg.rpc_proc")
		nameOff, err4 := a.p.OffsetOf("struct rpc_procinfo", "p_name")
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return out
		}
		head := clnt + headOff
		next, err := a.p.ReadU64(head)
		for i := 0; err == nil && next != head && next != 0; i++ {
			if i >= maxRPCTasks {
				a.Warn(fmt.Sprintf("rpc_clnt %#x: more than %d tasks; the rest not read", clnt, maxRPCTasks))
				break
			}
			task := next - linkOff
			c := rpcCall{task: task}
			if proc, err := a.p.ReadU64(task + procOff); err == nil && proc != 0 {
				if name, err := a.p.ReadU64(proc + nameOff); err == nil && name != 0 {
					c.proc, _ = a.p.ReadString(name, 32)
				}
			}
			out = append(out, c)
			next, err = a.p.ReadU64(next)
		}
		if err != nil {
			a.Warn(fmt.Sprintf("rpc_clnt %#x: task list: %v", clnt, err))
		}
		return out
	}).([]rpcCall)
}

// linkNFSFolios gives a wait on a folio of an NFS file (locked for a
// read, or under write-back) the RPC that must end it: the NFS client
// reads and writes pages with asynchronous RPCs (fs/nfs/read.c,
// write.c), so no task waits for the call itself; the folio is unlocked
// or its write-back ended when the server answers. The call is taken
// from the mount's RPC client (a READ for a locked folio, a WRITE or
// COMMIT for write-back, else any pending call): holders are hints.
func (a *waitAnalysis) linkNFSFolios(ws []TaskWait) {
	infoOff, err := a.p.OffsetOf("struct super_block", "s_fs_info")
	if err != nil {
		return
	}
	for i := range ws {
		w := &ws[i]
		fr := w.Object.Folio
		if w.Kind != locking.WaitFolio || fr == nil || fr.Inode == 0 || len(w.Holders) > 0 || w.Object.RPC != nil {
			continue
		}
		sb, err := vfs.InodeSuper(a.p, fr.Inode)
		if err != nil || !strings.HasPrefix(sb.FSType, "nfs") {
			continue
		}
		srv, err := a.p.ReadU64(sb.Addr + infoOff)
		if err != nil || srv == 0 {
			continue
		}
		so, err := a.p.Object("struct nfs_server", srv)
		if err != nil {
			continue
		}
		clnt, err := so.MemberUint("client")
		if err != nil || clnt == 0 {
			continue
		}
		want := map[string]bool{"READ": true}
		if fr.Bit == "PG_writeback" {
			want = map[string]bool{"WRITE": true, "COMMIT": true}
		}
		calls := a.rpcPending(clnt)
		var pick *rpcCall
		for j := range calls {
			if want[calls[j].proc] {
				pick = &calls[j]
				break
			}
		}
		if pick == nil && len(calls) > 0 {
			pick = &calls[0]
		}
		if pick == nil {
			continue
		}
		ref, holders, note := a.rpcServer(pick.task)
		for _, h := range holders {
			h.Certain = false
			h.How = fmt.Sprintf("the %s call %s on the file's mount (rpc_task %#x, one of %d pending) must end for the folio's %s to clear; %s",
				strings.ToUpper(progName(ref.Program)), ref.Proc, pick.task, len(calls), fr.Bit, h.How)
			w.Holders = append(w.Holders, h)
		}
		w.Object.RPC = ref
		w.Note = fmt.Sprintf("a folio of an NFS file: %s clears when the server answers the client's %s call (%d call(s) pending on it)", fr.Bit, ref.Proc, len(calls))
		if note != "" {
			w.Note += "; " + note
		}
	}
}
