package block

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// NBD is the state of a network block device (drivers/block/nbd.c, module
// nbd): a blk-mq disk whose requests are sent over sockets to a server in
// user space (nbd-server, qemu-nbd, nbdkit…), and completed only by the
// server's replies, which a receive worker (recv_work on the device's
// recv_workq) reads from each socket.
type NBD struct {
	// Device is the struct nbd_device (gendisk.private_data), Index its
	// number (nbdN).
	Device uint64 `json:"device"`
	Index  int    `json:"index"`
	// Config is the struct nbd_config of the current connection, 0 when
	// the device is not configured (no connection was ever set up, or it
	// has been torn down).
	Config uint64 `json:"config,omitempty"`
	// ClientPID is the pid of the process that set the device up with
	// ioctls and sleeps in NBD_DO_IT (nbd-client without netlink),
	// nbd_device.pid (task_recv's pid before 5.x), 0 for a netlink setup.
	ClientPID int `json:"client_pid,omitempty"`
	// Backend is what the netlink client named the export (NBD_ATTR_BACKEND_IDENTIFIER).
	Backend string `json:"backend,omitempty"`
	// Conns are the device's connections (config->socks).
	Conns []NBDConn `json:"connections,omitempty"`
	// Live is config->live_connections: the connections not marked dead.
	Live int `json:"live"`
	// Timeout is the request timeout (tag_set.timeout, jiffies); 0 means
	// requests never time out (nbd_xmit_timeout only warns "Possible stuck
	// request" and re-arms the timer), so a server that never answers
	// blocks its I/O for ever.
	Timeout uint64 `json:"timeout"`
	// DeadConnTimeout is how long I/O waits for a dead connection to be
	// replaced (config->dead_conn_timeout, jiffies; 0: it fails at once).
	DeadConnTimeout uint64 `json:"dead_conn_timeout,omitempty"`
	// RuntimeFlags is config->runtime_flags; Flags names the bits below.
	RuntimeFlags uint64   `json:"runtime_flags"`
	Flags        []string `json:"flags,omitempty"`
	Errors       []string `json:"errors,omitempty"`
}

// NBDConn is one struct nbd_sock.
type NBDConn struct {
	Addr uint64 `json:"addr"`
	// Socket is the struct socket the kernel sends requests on.
	Socket uint64 `json:"socket"`
	// Dead: the connection failed (nbd_mark_nsock_dead); its requests
	// are requeued on another connection or wait for a reconnect.
	Dead bool `json:"dead,omitempty"`
	// Pending is a request whose send was interrupted midway (0 if none).
	Pending uint64 `json:"pending,omitempty"`
}

// nbdRuntimeFlags are the NBD_RT_* bit numbers of config->runtime_flags:
// #defines in drivers/block/nbd.c (no type carries them; unchanged since
// they were introduced, the first three as NBD_TIMEDOUT… before 5.11).
var nbdRuntimeFlags = map[int]string{
	0: "TIMEDOUT",
	1: "DISCONNECT_REQUESTED",
	2: "DISCONNECTED",
	3: "HAS_PID_FILE",
	4: "HAS_CONFIG_REF",
	5: "BOUND",
	6: "DISCONNECT_ON_CLOSE",
	7: "HAS_BACKEND_FILE",
}

// maxNBDConns bounds the connections read per device (nbd.c allows as
// many as the client opens; nbd-client's -C defaults to 1).
const maxNBDConns = 256

// IsNBD reports whether the disk is a network block device.
func (d *Disk) IsNBD() bool { return d.Driver("nbd_fops", "nbd") }

// ReadNBD decodes the network block device behind disk (whose Ops must be
// nbd_fops); the layouts come from the nbd module's BTF.
func ReadNBD(p *symbols.Program, disk *Disk) (*NBD, error) {
	if disk == nil || !disk.IsNBD() {
		return nil, fmt.Errorf("disk is not a network block device")
	}
	g, err := p.Object("struct gendisk", disk.Addr)
	if err != nil {
		return nil, fmt.Errorf("nbd %s: %w", disk.Name, err)
	}
	dev, err := g.MemberUint("private_data")
	if err != nil || dev == 0 {
		return nil, fmt.Errorf("nbd %s: gendisk %#x has no private_data (struct nbd_device)", disk.Name, disk.Addr)
	}
	o, err := p.Object("struct nbd_device", dev)
	if err != nil {
		return nil, fmt.Errorf("nbd %s: %w (are the nbd module's types in the dump?)", disk.Name, err)
	}
	n := &NBD{Device: dev}
	get := func(o symbols.Object, m string) uint64 {
		v, err := o.MemberUint(m)
		if err != nil {
			n.Errors = append(n.Errors, err.Error())
		}
		return v
	}
	n.Index = int(int32(get(o, "index")))
	if own, err := o.MemberUint("disk"); err == nil && own != disk.Addr {
		return nil, fmt.Errorf("nbd %s: nbd_device %#x names disk %#x, not %#x", disk.Name, dev, own, disk.Addr)
	}
	n.Timeout = get(o, "tag_set.timeout")
	switch {
	case o.Type().HasMember("pid"): // 5.16+: pid_t pid
		n.ClientPID = int(int32(get(o, "pid")))
	case o.Type().HasMember("task_recv"): // before: the client's task
		if tk := get(o, "task_recv"); tk != 0 {
			if t, err := p.Object("struct task_struct", tk); err == nil {
				if pid, err := t.MemberUint("pid"); err == nil {
					n.ClientPID = int(int32(pid))
				}
			}
		}
	}
	if o.Type().HasMember("backend") {
		if b := get(o, "backend"); b != 0 {
			if s, err := p.ReadString(b, 256); err == nil {
				n.Backend = s
			}
		}
	}
	n.Config = get(o, "config")
	if n.Config == 0 {
		return n, nil
	}
	c, err := p.Object("struct nbd_config", n.Config)
	if err != nil {
		n.Errors = append(n.Errors, fmt.Sprintf("nbd_config %#x: %v", n.Config, err))
		return n, nil
	}
	n.RuntimeFlags = get(c, "runtime_flags")
	for b := 0; b < 64; b++ {
		if n.RuntimeFlags&(1<<b) != 0 {
			name, ok := nbdRuntimeFlags[b]
			if !ok {
				name = fmt.Sprintf("bit %d", b)
			}
			n.Flags = append(n.Flags, name)
		}
	}
	n.DeadConnTimeout = get(c, "dead_conn_timeout")
	n.Live = int(int32(get(c, "live_connections.counter")))
	num := int(int32(get(c, "num_connections")))
	socks := get(c, "socks")
	if num < 0 || num > maxNBDConns {
		n.Errors = append(n.Errors, fmt.Sprintf("nbd_config %#x: num_connections %d, only the first %d read", n.Config, num, maxNBDConns))
		num = min(max(num, 0), maxNBDConns)
	}
	if socks == 0 {
		num = 0
	}
	for i := 0; i < num; i++ {
		ns, err := p.ReadU64(socks + 8*uint64(i))
		if err != nil {
			n.Errors = append(n.Errors, fmt.Sprintf("nbd_config %#x: socks[%d]: %v", n.Config, i, err))
			break
		}
		if ns == 0 {
			continue
		}
		so, err := p.Object("struct nbd_sock", ns)
		if err != nil {
			n.Errors = append(n.Errors, fmt.Sprintf("nbd_sock %#x: %v", ns, err))
			continue
		}
		conn := NBDConn{Addr: ns, Socket: get(so, "sock"), Pending: get(so, "pending")}
		conn.Dead = get(so, "dead") != 0
		n.Conns = append(n.Conns, conn)
	}
	return n, nil
}

// Disconnecting reports whether the device is being torn down (a
// disconnect was requested, or it happened).
func (n *NBD) Disconnecting() bool {
	return n.RuntimeFlags&(1<<1|1<<2) != 0
}
