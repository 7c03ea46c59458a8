package waitfor

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/walkers/block"
	"github.com/kwalk/kwalk/walkers/net"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// RootBlockServer: a network block device's I/O waits for the user-space
// server at the other end of its connection, which has not answered (it
// is alive and not blocked, or on another machine, or gone).
const RootBlockServer = "block-server-not-answering"

// A network block device (drivers/block/nbd.c) sends each request over a
// socket (nbd_send_cmd) and completes it only when the receive worker
// (recv_work) reads the server's reply for it (nbd_handle_reply). With
// no request timeout (tag_set.timeout 0, the default) nbd_xmit_timeout
// only warns and re-arms the timer: the I/O waits for the server for
// ever. The server is the process holding the other end of the
// connection: the unix socket's peer, or the local TCP socket whose
// addresses are the connection's, swapped; a server on another machine
// is named by its address.

// nbdServer is what a wait on an NBD disk's I/O is held by.
type nbdServer struct {
	ref     *waitkind.ServerRef
	holders []Holder
	note    string
}

type nbdServerKey uint64

// maxNBDNoteConns bounds the connections named in a note.
const maxNBDNoteConns = 4

// nbdServerOf decodes the NBD device behind disk d and finds its server
// processes, once per disk.
func (a *waitAnalysis) nbdServerOf(d *block.Disk) *nbdServer {
	return a.Memo(nbdServerKey(d.Addr), func() any {
		n, err := block.ReadNBD(a.p, d)
		if err != nil {
			a.Warn(err.Error())
			return (*nbdServer)(nil)
		}
		for _, e := range n.Errors {
			a.Warn(fmt.Sprintf("nbd %s: %s", d.Name, e))
		}
		s := &nbdServer{ref: &waitkind.ServerRef{Protocol: "nbd", Live: n.Live, ClientPID: n.ClientPID,
			NoTimeout: n.Timeout == 0, Disconnecting: n.Disconnecting(), Flags: n.Flags}}
		if n.Config == 0 {
			s.note = fmt.Sprintf("%s is a network block device with no connection configured", d.Name)
			return s
		}
		var remote, unowned int
		var notes []string
		for _, c := range n.Conns {
			sock, err := net.ReadSocket(a.p, c.Socket)
			if err != nil {
				a.Warn(fmt.Sprintf("nbd %s: connection %#x: %v", d.Name, c.Addr, err))
				s.ref.Conns = append(s.ref.Conns, fmt.Sprintf("socket %#x (unreadable)", c.Socket))
				continue
			}
			desc := sock.Endpoints()
			if c.Dead {
				desc += " (dead)"
			}
			s.ref.Conns = append(s.ref.Conns, desc)
			owners, err := net.PeerOwners(a.p, a.tasks, sock)
			if err != nil {
				a.Warn(fmt.Sprintf("nbd %s: looking for the server of %s: %v", d.Name, desc, err))
			}
			if len(owners) == 0 {
				if sock.FamilyNum == 2 || sock.FamilyNum == 10 {
					remote++
					if len(notes) < maxNBDNoteConns {
						notes = append(notes, fmt.Sprintf("its server at %s is not on this machine (%s)", sock.RemoteAddr(), desc))
					}
				} else {
					unowned++
					if len(notes) < maxNBDNoteConns {
						notes = append(notes, fmt.Sprintf("no process has the other end of its %s open", desc))
					}
				}
				continue
			}
			for _, o := range owners {
				how := fmt.Sprintf("the NBD server of %s: has the other end of its %s as fd %d; only its reply completes the request (drivers/block/nbd.c)", d.Name, desc, o.FD)
				certain := !c.Dead && !n.Disconnecting()
				if c.Dead {
					how += "; the connection is marked dead"
				}
				s.holders = append(s.holders, Holder{Task: a.Ref(o.Task.Addr), Certain: certain, How: how})
				if len(notes) < maxNBDNoteConns {
					notes = append(notes, fmt.Sprintf("served by %s (pid %d) over %s", o.Task.Name, o.Task.PID, desc))
				}
			}
		}
		s.ref.Remote = remote > 0 && len(s.holders) == 0
		s.ref.Unowned = unowned > 0 && len(s.holders) == 0
		head := fmt.Sprintf("%s is a network block device (%d of %d connection(s) live", d.Name, n.Live, len(n.Conns))
		if n.Timeout == 0 {
			head += ", no request timeout: requests wait for the server for ever"
		}
		if n.Disconnecting() {
			head += ", being disconnected: " + strings.Join(n.Flags, ", ")
		}
		s.note = head + ")"
		if len(notes) > 0 {
			s.note += ": " + strings.Join(notes, "; ")
		}
		return s
	}).(*nbdServer)
}

// classifyBlockServer: a chain ending at the I/O of a network block
// device whose server is alive and not blocked (a stopped server was
// classified before, as any stopped holder), on another machine, or
// unreachable.
func classifyBlockServer(w *TaskWait, r *Root) bool {
	b := w.Object.Block
	if b == nil || b.Server == nil {
		return false
	}
	sv := b.Server
	r.Kind = RootBlockServer
	since := forNote(w.Task.BlockedFor)
	switch {
	case len(r.Holders) > 0:
		r.Summary = fmt.Sprintf("%s, the %s server of %s, has not answered its request%s: it is alive and not blocked on anything kwalk recognises",
			serverNames(r.Holders), strings.ToUpper(sv.Protocol), b.Disk, since)
		for _, h := range r.Holders {
			r.Certain = r.Certain && h.Certain
		}
	case sv.Disconnecting || sv.Live == 0:
		r.Summary = fmt.Sprintf("%s has lost its connection to its %s server%s; its I/O waits for a reconnect", b.Disk, strings.ToUpper(sv.Protocol), since)
	case sv.Remote:
		r.Summary = fmt.Sprintf("the %s server of %s, on another machine (%s), has not answered its request%s",
			strings.ToUpper(sv.Protocol), b.Disk, strings.Join(sv.Conns, ", "), since)
	default:
		r.Summary = fmt.Sprintf("the %s server of %s has not answered its request%s, and no process has the other end of its connection (%s)",
			strings.ToUpper(sv.Protocol), b.Disk, since, strings.Join(sv.Conns, ", "))
	}
	if sv.NoTimeout {
		r.Summary += " (no request timeout: it waits for ever)"
	}
	r.Certain = r.Certain && w.Task.BlockedFor >= blockStuckAfter
	return true
}

func blockServerRemedies(r *Root) []string {
	b := r.Object.Block
	if b == nil || b.Server == nil {
		return nil
	}
	var out []string
	for _, h := range r.Holders {
		out = append(out, fmt.Sprintf("look at the %s server %s (bt %d): it must read the request and reply", strings.ToUpper(b.Server.Protocol), taskName(h.Task), h.Task.PID))
		break
	}
	out = append(out, fmt.Sprintf("nbd-client -d /dev/%s  # disconnect: the waiting I/O fails with EIO and its tasks go on", b.Disk))
	if b.Server.NoTimeout {
		out = append(out, fmt.Sprintf("set a request timeout when connecting (nbd-client -t SECONDS … /dev/%s) so I/O fails instead of waiting for ever", b.Disk))
	}
	return out
}
