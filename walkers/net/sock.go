package net

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
)

// Socket is a struct socket and its struct sock (include/linux/net.h,
// include/net/sock.h).
type Socket struct {
	Socket uint64 `json:"socket"`
	Sock   uint64 `json:"sock"`
	// Family is AF_*: "UNIX", "INET", "INET6", "NETLINK", "PACKET", or
	// the number; Type SOCK_*: "STREAM", "DGRAM", "RAW", "SEQPACKET"...
	Family    string `json:"family"`
	FamilyNum int    `json:"family_num"`
	Type      string `json:"type"`
	// Protocol is sk_protocol; ProtoName "TCP", "UDP"... for INET
	// sockets, the netlink family for NETLINK ones.
	Protocol  int    `json:"protocol"`
	ProtoName string `json:"proto_name,omitempty"`
	// State: TCP_* for inet sockets (skc_state: "ESTABLISHED",
	// "LISTEN"...), SS_* of the socket for unix ones (what
	// /proc/net/unix's St column shows: "UNCONNECTED", "CONNECTED"...).
	State    string `json:"state"`
	SkState  int    `json:"sk_state"`
	Listen   bool   `json:"listening,omitempty"`
	Local    string `json:"local,omitempty"`  // address (inet) or path (unix)
	Remote   string `json:"remote,omitempty"` // inet only
	LocalPt  int    `json:"local_port,omitempty"`
	RemotePt int    `json:"remote_port,omitempty"`
	// RecvQ and SendQ are the queued data as /proc/net/tcp and udp show
	// it: bytes not yet read by the application and not yet acknowledged
	// (TCP: rcv_nxt-copied_seq, write_seq-snd_una; a listener's RecvQ is
	// its accept backlog), or the receive and send buffer memory in use
	// (sk_rmem_alloc, sk_wmem_alloc-1); for unix sockets RecvQ counts the
	// skbs on the receive queue (a listener's: its backlog), as ss does.
	RecvQ uint64 `json:"recv_q"`
	SendQ uint64 `json:"send_q"`
	// Peer is a connected unix socket's peer struct sock.
	Peer   uint64   `json:"peer,omitempty"`
	Errors []string `json:"errors,omitempty"`
}

// FDSocket is an open file that is a socket.
type FDSocket struct {
	FD    int    `json:"fd"`
	File  uint64 `json:"file"`
	Inode uint64 `json:"inode"` // the socket inode's number: "socket:[INODE]"
	Socket
}

// Address families (include/linux/socket.h).
var families = map[int]string{1: "UNIX", 2: "INET", 10: "INET6", 16: "NETLINK", 17: "PACKET", 40: "VSOCK", 44: "XDP"}

// Socket types (include/linux/net.h enum sock_type).
var sockTypes = map[int]string{1: "STREAM", 2: "DGRAM", 3: "RAW", 4: "RDM", 5: "SEQPACKET", 6: "DCCP", 10: "PACKET"}

// TCP states (include/net/tcp_states.h).
var tcpStates = []string{"", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
	"CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE"}

// Socket states (include/uapi/linux/net.h socket_state).
var ssStates = []string{"FREE", "UNCONNECTED", "CONNECTING", "CONNECTED", "DISCONNECTING"}

// IP protocols (include/uapi/linux/in.h).
// ipprotoMPTCP is IPPROTO_MPTCP (include/uapi/linux/in.h): Go's
// listeners ask for it by default since Go 1.24. An MPTCP listener's
// backlog is counted like TCP's; its established sockets (struct
// mptcp_sock) have no tcp_sock sequence numbers: their queues are the
// buffer memory in use.
const ipprotoMPTCP = 262

var ipProtos = map[int]string{0: "IP", 1: "ICMP", 6: "TCP", 17: "UDP", 58: "ICMPV6", 132: "SCTP", 136: "UDPLITE", 255: "RAW", 262: "MPTCP"}

const (
	afUnix    = 1
	afInet    = 2
	afInet6   = 10
	tcpListen = 10
)

func name(m map[int]string, v int) string {
	if s, ok := m[v]; ok {
		return s
	}
	return strconv.Itoa(v)
}

// TaskSockets returns task's open files that are sockets (fs/... the
// inode's S_IFSOCK; net/socket.c sock_alloc_file: file->private_data is
// the struct socket), in fd order.
func TaskSockets(p *symbols.Program, task sched.Task) ([]FDSocket, error) {
	files, err := vfs.Files(p, task)
	var out []FDSocket
	for _, f := range files {
		if f.Type != "SOCK" || f.Private == 0 {
			continue
		}
		s, err2 := ReadSocket(p, f.Private)
		if err2 != nil {
			s.Errors = append(s.Errors, err2.Error())
		}
		out = append(out, FDSocket{FD: f.FD, File: f.File, Inode: f.Ino, Socket: s})
	}
	return out, err
}

// ReadSocket decodes the struct socket at addr and its sock.
func ReadSocket(p *symbols.Program, addr uint64) (Socket, error) {
	s := Socket{Socket: addr}
	so, err := p.Object("struct socket", addr)
	if err != nil {
		return s, fmt.Errorf("socket %#x: %w", addr, err)
	}
	ss, _ := so.MemberUint("state")
	typ, err := so.MemberUint("type")
	if err != nil {
		return s, fmt.Errorf("socket %#x: %w", addr, err)
	}
	s.Type = name(sockTypes, int(int16(typ)))
	if s.Sock, err = so.MemberUint("sk"); err != nil {
		return s, fmt.Errorf("socket %#x: %w", addr, err)
	}
	if s.Sock == 0 {
		s.State = "released"
		return s, nil
	}
	sk, err := p.Object("struct sock", s.Sock)
	if err != nil {
		return s, fmt.Errorf("sock %#x: %w", s.Sock, err)
	}
	note := func(err error) {
		if err != nil {
			s.Errors = append(s.Errors, err.Error())
		}
	}
	fam, err := sk.MemberUint("__sk_common.skc_family")
	if err != nil {
		return s, fmt.Errorf("sock %#x: %w", s.Sock, err)
	}
	s.FamilyNum = int(fam)
	s.Family = name(families, s.FamilyNum)
	st, err := sk.MemberUint("__sk_common.skc_state")
	note(err)
	s.SkState = int(st)
	proto, err := sk.MemberUint("sk_protocol")
	note(err)
	s.Protocol = int(proto)
	s.Listen = s.SkState == tcpListen
	switch s.FamilyNum {
	case afUnix:
		// net/unix/af_unix.c unix_seq_show: the socket's state.
		if int(ss) < len(ssStates) {
			s.State = ssStates[ss]
		} else {
			s.State = strconv.Itoa(int(ss))
		}
		note(s.unix(p, sk))
	case afInet, afInet6:
		s.ProtoName = name(ipProtos, s.Protocol)
		if s.SkState < len(tcpStates) && s.SkState > 0 {
			s.State = tcpStates[s.SkState]
		} else {
			s.State = strconv.Itoa(s.SkState)
		}
		note(s.inet(p, sk))
	default:
		s.State = strconv.Itoa(s.SkState)
		if s.FamilyNum == 16 {
			s.ProtoName = strconv.Itoa(s.Protocol)
		}
	}
	return s, nil
}

// inet reads an inet socket's addresses, ports and queues
// (include/net/sock.h struct sock_common; net/ipv4/tcp_ipv4.c
// get_tcp4_sock, net/ipv4/udp.c udp4_format_sock).
func (s *Socket) inet(p *symbols.Program, sk symbols.Object) error {
	dport, err := sk.MemberUint("__sk_common.skc_dport")
	if err != nil {
		return err
	}
	num, err := sk.MemberUint("__sk_common.skc_num")
	if err != nil {
		return err
	}
	s.RemotePt = int(dport>>8 | (dport&0xff)<<8) // __be16
	s.LocalPt = int(num)
	if s.FamilyNum == afInet {
		for _, m := range []struct {
			member string
			dst    *string
		}{{"__sk_common.skc_rcv_saddr", &s.Local}, {"__sk_common.skc_daddr", &s.Remote}} {
			o, err := sk.Member(m.member)
			if err != nil {
				return err
			}
			b, err := o.Read()
			if err != nil || len(b) != 4 {
				return fmt.Errorf("sock %#x %s: %v", s.Sock, m.member, err)
			}
			*m.dst = netip.AddrFrom4([4]byte(b)).String()
		}
	} else {
		for _, m := range []struct {
			member string
			dst    *string
		}{{"__sk_common.skc_v6_rcv_saddr", &s.Local}, {"__sk_common.skc_v6_daddr", &s.Remote}} {
			o, err := sk.Member(m.member)
			if err != nil {
				return err
			}
			b, err := o.Read()
			if err != nil || len(b) != 16 {
				return fmt.Errorf("sock %#x %s: %v", s.Sock, m.member, err)
			}
			*m.dst = netip.AddrFrom16([16]byte(b)).String()
		}
	}
	if s.Protocol == 6 || s.Protocol == ipprotoMPTCP && s.Listen {
		if s.Listen {
			v, err := sk.MemberUint("sk_ack_backlog")
			s.RecvQ = v
			return err
		}
		tp, err := p.Object("struct tcp_sock", s.Sock)
		if err != nil {
			return err
		}
		rcvNxt, err1 := tp.MemberUint("rcv_nxt")
		copied, err2 := tp.MemberUint("copied_seq")
		writeSeq, err3 := tp.MemberUint("write_seq")
		sndUna, err4 := tp.MemberUint("snd_una")
		for _, e := range []error{err1, err2, err3, err4} {
			if e != nil {
				return e
			}
		}
		s.RecvQ = uint64(uint32(rcvNxt - copied))
		s.SendQ = uint64(uint32(writeSeq - sndUna))
		return nil
	}
	return s.memQueues(sk)
}

// memQueues reads the receive and send buffer memory in use
// (sk_rmem_alloc, sk_wmem_alloc_get: the refcount less its bias of 1).
func (s *Socket) memQueues(sk symbols.Object) error {
	// atomic_t sk_backlog.rmem_alloc (sk_rmem_alloc), refcount_t
	// sk_wmem_alloc (include/net/sock.h).
	r, err := memberCounter(sk, "sk_backlog.rmem_alloc", "sk_backlog.rmem_alloc.counter")
	if err != nil {
		return err
	}
	w, err := memberCounter(sk, "sk_wmem_alloc", "sk_wmem_alloc.refs.counter")
	if err != nil {
		return err
	}
	s.RecvQ = uint64(uint32(r))
	if w > 0 {
		s.SendQ = uint64(uint32(w - 1))
	}
	return nil
}

// memberCounter reads the first of paths that is an integer: a counter
// that is a plain int on some kernels and an atomic_t or refcount_t on
// others.
func memberCounter(o symbols.Object, paths ...string) (uint64, error) {
	var err error
	for _, path := range paths {
		var v uint64
		if v, err = o.MemberUint(path); err == nil {
			return v, nil
		}
	}
	return 0, err
}

// unix reads a unix socket's path and peer (net/unix/af_unix.c,
// include/net/af_unix.h struct unix_sock { sock; addr; ... peer }).
func (s *Socket) unix(p *symbols.Program, sk symbols.Object) error {
	u, err := p.Object("struct unix_sock", s.Sock)
	if err != nil {
		return err
	}
	s.Peer, _ = u.MemberUint("peer")
	if s.Listen {
		s.RecvQ, _ = sk.MemberUint("sk_ack_backlog")
	} else if q, err := sk.MemberUint("sk_receive_queue.qlen"); err == nil {
		s.RecvQ = q
	}
	addr, err := u.MemberUint("addr")
	if err != nil || addr == 0 {
		return err
	}
	s.Local, err = unixPath(p, addr)
	return err
}

// unixPath is the path /proc/net/unix shows for a struct unix_address
// (unix_seq_show): sun_path without its NUL, or "@" and the rest of an
// abstract name, NULs shown as "@".
func unixPath(p *symbols.Program, addr uint64) (string, error) {
	a, err := p.Object("struct unix_address", addr)
	if err != nil {
		return "", err
	}
	n, err := a.MemberUint("len")
	if err != nil {
		return "", err
	}
	nameOff, err := p.OffsetOf("struct unix_address", "name")
	if err != nil {
		return "", err
	}
	pathOff, err := p.OffsetOf("struct sockaddr_un", "sun_path")
	if err != nil {
		return "", err
	}
	l := int(int32(n)) - int(pathOff)
	if l <= 0 {
		return "", nil
	}
	if l > 108 {
		return "", fmt.Errorf("unix_address %#x: length %d", addr, n)
	}
	buf := make([]byte, l)
	if err := p.Mem.ReadVirt(buf, addr+nameOff+pathOff); err != nil {
		return "", fmt.Errorf("unix_address %#x: %w", addr, err)
	}
	out := make([]byte, 0, l)
	i := 0
	if buf[0] != 0 {
		l-- // the NUL that ends a path name
	} else {
		out = append(out, '@')
		i++
	}
	for ; i < l; i++ {
		if buf[i] == 0 {
			out = append(out, '@')
		} else {
			out = append(out, buf[i])
		}
	}
	return string(out), nil
}
