package net

import (
	"errors"
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
)

// SocketOwner is a process with an open fd on a socket.
type SocketOwner struct {
	Task sched.Task `json:"task"`
	FDSocket
}

// maxPeerOwners bounds the owners returned for one socket (a pre-forked
// server's workers may all share it).
const maxPeerOwners = 64

// IsLocalPeer reports whether o is the other end of the connected socket
// s on this machine: s's unix peer (unix_sock.peer, af_unix.c), or the
// TCP/UDP socket whose local and remote addresses and ports are s's,
// swapped (a loopback connection).
func IsLocalPeer(s, o Socket) bool {
	if o.Sock == 0 || o.Sock == s.Sock {
		return false
	}
	switch s.FamilyNum {
	case afUnix:
		return s.Peer != 0 && o.Sock == s.Peer
	case afInet, afInet6:
		return o.FamilyNum == s.FamilyNum && o.Protocol == s.Protocol && !o.Listen &&
			s.Remote != "" && s.RemotePt != 0 &&
			o.Local == s.Remote && o.LocalPt == s.RemotePt && o.Remote == s.Local && o.RemotePt == s.LocalPt
	}
	return false
}

// PeerOwners returns the processes holding an fd on the other end of the
// connected socket s (IsLocalPeer): what serves a connection, found from
// the fd tables of the thread-group leaders among tasks (threads share
// their leader's, kernel/fork.c CLONE_FILES). None for a connection to
// another machine, or a peer no process has open (passed in flight, or
// held by the kernel only). Tables that cannot be read are skipped, their
// errors joined.
func PeerOwners(p *symbols.Program, tasks []sched.Task, s Socket) ([]SocketOwner, error) {
	if s.FamilyNum != afUnix && s.FamilyNum != afInet && s.FamilyNum != afInet6 {
		return nil, fmt.Errorf("socket %#x: family %s has no peer kwalk can find", s.Socket, s.Family)
	}
	var out []SocketOwner
	var errs []error
	for _, t := range tasks {
		if !t.IsLeader() || t.Idle || t.Kthread() {
			continue
		}
		socks, err := TaskSockets(p, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("pid %d: %w", t.PID, err))
		}
		for _, fs := range socks {
			if IsLocalPeer(s, fs.Socket) {
				out = append(out, SocketOwner{Task: t, FDSocket: fs})
				if len(out) == maxPeerOwners {
					return out, errors.Join(errs...)
				}
			}
		}
	}
	return out, errors.Join(errs...)
}

// Endpoints describes a connected socket as "127.0.0.1:41234 → 127.0.0.1:10809"
// (inet) or "unix socket" with its path when bound.
func (s Socket) Endpoints() string {
	switch s.FamilyNum {
	case afInet, afInet6:
		proto := s.ProtoName
		if proto == "" {
			proto = s.Family
		}
		return fmt.Sprintf("%s %s → %s", proto, hostPort(s.Local, s.LocalPt), hostPort(s.Remote, s.RemotePt))
	case afUnix:
		if s.Local != "" {
			return "unix socket " + s.Local
		}
		return "unix socket"
	}
	return s.Family + " socket"
}

// RemoteAddr is an inet socket's remote end, "10.0.0.9:10809" or
// "[::1]:10809".
func (s Socket) RemoteAddr() string { return hostPort(s.Remote, s.RemotePt) }

func hostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		return fmt.Sprintf("[%s]:%d", host, port)
	}
	return fmt.Sprintf("%s:%d", host, port)
}
