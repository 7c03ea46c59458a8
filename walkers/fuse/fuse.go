package fuse

import (
	"fmt"
	"sort"
	"time"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
)

// fusePQHashSize is FUSE_PQ_HASH_SIZE (fs/fuse/fuse_i.h, 256 in 5.10
// through 7.1): the number of processing-queue hash lists per fuse_dev.
const fusePQHashSize = 256

// maxFuseRequests bounds the requests read from one connection.
const maxFuseRequests = 100000

// FuseConn is one FUSE connection (struct fuse_conn).
type FuseConn struct {
	Addr uint64 `json:"addr"`
	// ID is the connection's number under /sys/fs/fuse/connections/
	// (fc->dev printed with %u, fs/fuse/control.c).
	ID     uint32          `json:"id"`
	Mounts []FuseMountInfo `json:"mounts"`
	// State, from fc: connected (0 after abort or umount), aborted,
	// blocked (new requests wait for a slot), initialized (INIT answered).
	Connected        bool   `json:"connected"`
	Aborted          bool   `json:"aborted"`
	Blocked          bool   `json:"blocked"`
	Initialized      bool   `json:"initialized"`
	NumWaiting       int64  `json:"num_waiting"`
	NumBackground    uint64 `json:"num_background"`
	ActiveBackground uint64 `json:"active_background"`
	MaxBackground    uint64 `json:"max_background"`
	// Devices are the struct fuse_dev of the connection (one per opened
	// or cloned /dev/fuse).
	Devices []uint64 `json:"devices"`
	// Requests in all queues; each says which queue it is on.
	Requests []FuseReq `json:"requests"`
	// Servers are the tasks holding a /dev/fuse file of this connection
	// (filled by FuseConnections when a task walk is possible).
	Servers []FuseServer `json:"servers"`
	// Remedy is the shell command that aborts the connection.
	Remedy string `json:"remedy"`
	// Errors are problems met reading parts of the connection; the rest of
	// the connection is still reported.
	Errors []string `json:"errors,omitempty"`
	// TypesFree: the fuse module has no types (5.10 without module BTF).
	// Only Addr, ID, Mounts, Servers and Remedy are known, and Devices
	// holds the servers' devices only: the state fields and Requests are
	// not read. ConnHow says how Addr was
	// found from the superblock.
	TypesFree bool   `json:"types_free,omitempty"`
	ConnHow   string `json:"conn_how,omitempty"`
}

// FuseMountInfo is one superblock of a connection.
type FuseMountInfo struct {
	SuperBlock uint64 `json:"super_block"`
	Fs         string `json:"fs"`
	// Source is the mount's source (mnt_devname), else the superblock's s_id.
	Source string `json:"source"`
	// MountPoints are the places the superblock is mounted, when found.
	MountPoints []string `json:"mount_points,omitempty"`
}

// FuseReq is one FUSE request.
type FuseReq struct {
	Addr uint64 `json:"addr"`
	Conn uint64 `json:"conn"`
	// Queue: "pending" (fc->iq.pending, not yet read by the server),
	// "processing" (read by the server, awaiting its answer),
	// "io" (being copied), "background" (fc->bg_queue).
	Queue  string   `json:"queue"`
	Opcode uint32   `json:"opcode"`
	Op     string   `json:"op"`
	Unique uint64   `json:"unique"`
	NodeID uint64   `json:"nodeid"`
	Path   string   `json:"path,omitempty"`
	Flags  []string `json:"flags"`
	// PID is in.h.pid: the requester in the connection's pid namespace.
	PID uint32 `json:"pid"`
	// CreateTime is fuse_req.create_time in jiffies (6.14+), 0 if absent;
	// Age is the time since then, when the tick rate could be worked out.
	CreateTime uint64        `json:"create_time,omitempty"`
	Age        time.Duration `json:"age_ns,omitempty"`
	// Waiters are the tasks sleeping on req->waitq (request_wait_answer).
	Waiters []sched.TaskRef `json:"waiters,omitempty"`
	Error   string          `json:"error,omitempty"`

	flags uint64
}

// Forced reports FR_FORCE: the final wait is uninterruptible even for
// fatal signals (flush, release).
func (r FuseReq) Forced() bool { return r.flags&frForce != 0 }

// FuseServer is a task holding a /dev/fuse file of a connection.
type FuseServer struct {
	Task sched.TaskRef `json:"task"`
	// State is the task's state letter; Exiting says PF_EXITING is set.
	State   string `json:"state"`
	Exiting bool   `json:"exiting,omitempty"`
	// FD is the descriptor number (-1 when found otherwise).
	FD int `json:"fd"`
	// Dev is the struct fuse_dev the file's private_data points at.
	Dev uint64 `json:"dev"`
	// How says how the file was found: "files" (task->files) or "closing
	// files_struct on stack" (an exiting task whose files are being put).
	How string `json:"how"`
}

// FuseRemedy is the command that aborts connection id (fs/fuse/control.c:
// writing to the abort file calls fuse_abort_conn()).
func FuseRemedy(id uint32) string {
	return fmt.Sprintf("echo 1 > /sys/fs/fuse/connections/%d/abort", id)
}

// FuseConnAddrs finds every fuse_conn: fuse_conn_list (fs/fuse/inode.c)
// when the symbol is known, plus the s_fs_info of fuse/fuseblk superblocks
// on super_blocks (fs/super.c; s_fs_info is a struct fuse_mount * since
// 5.10, whose fc is the connection).
func FuseConnAddrs(p *symbols.Program) ([]uint64, []string) {
	var errs []string
	seen := map[uint64]bool{}
	var out []uint64
	add := func(a uint64) {
		if a != 0 && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if head, err := p.Symbol("fuse_conn_list"); err == nil {
		off, err := p.OffsetOf("struct fuse_conn", "entry")
		if err != nil {
			errs = append(errs, err.Error())
		} else {
			nodes, err := kmem.ListHeadNodes(p, head, "", 10000)
			if err != nil {
				errs = append(errs, "fuse_conn_list: "+err.Error())
			}
			for _, n := range nodes {
				add(n - off)
			}
		}
	}
	sbs, err := FuseSuperBlocks(p)
	if err != nil {
		errs = append(errs, err.Error())
	}
	for _, sb := range sbs {
		fc, err := fuseConnOfSB(p, sb)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		add(fc)
	}
	return out, errs
}

// FuseSuperBlocks lists super_blocks whose type is fuse or fuseblk.
func FuseSuperBlocks(p *symbols.Program) ([]uint64, error) {
	head, err := p.Symbol("super_blocks")
	if err != nil {
		return nil, fmt.Errorf("super_blocks: %w", err)
	}
	off, err := p.OffsetOf("struct super_block", "s_list")
	if err != nil {
		return nil, err
	}
	nodes, err := kmem.ListHeadNodes(p, head, "", 100000)
	var out []uint64
	for _, n := range nodes {
		sb, err := p.Object("struct super_block", n-off)
		if err != nil {
			continue
		}
		name, err := sb.MemberString("s_type->name")
		if err != nil {
			continue
		}
		if name == "fuse" || name == "fuseblk" {
			out = append(out, n-off)
		}
	}
	if err != nil {
		err = fmt.Errorf("super_blocks: %w", err)
	}
	return out, err
}

// fuseConnOfSB returns sb->s_fs_info->fc (struct fuse_mount, fs/fuse/fuse_i.h).
func fuseConnOfSB(p *symbols.Program, sb uint64) (uint64, error) {
	s, err := p.Object("struct super_block", sb)
	if err != nil {
		return 0, err
	}
	fm, err := s.MemberUint("s_fs_info")
	if err != nil || fm == 0 {
		return 0, fmt.Errorf("super_block %#x: no s_fs_info: %v", sb, err)
	}
	if _, err := p.Type("struct fuse_mount"); err != nil {
		// Before 5.10 s_fs_info was the fuse_conn itself.
		return fm, nil
	}
	m, err := p.Object("struct fuse_mount", fm)
	if err != nil {
		return 0, err
	}
	return m.MemberUint("fc")
}

// FuseConnection decodes one struct fuse_conn: state, mounts, devices and
// requests (no servers: see FuseConnections).
func FuseConnection(p *symbols.Program, addr uint64) (*FuseConn, error) {
	fc, err := p.Object("struct fuse_conn", addr)
	if err != nil {
		return nil, err
	}
	c := &FuseConn{Addr: addr}
	dev, err := fc.MemberUint("dev")
	if err != nil {
		return nil, fmt.Errorf("fuse_conn %#x: %w", addr, err)
	}
	c.ID = uint32(dev)
	c.Remedy = FuseRemedy(c.ID)
	note := func(err error) {
		if err != nil {
			c.Errors = append(c.Errors, err.Error())
		}
	}
	// The queues and the connection state live in fc itself up to 7.1
	// and in the struct fuse_chan fc->chan points at from 7.2 (fs/fuse/
	// fuse_i.h; the types decide).
	st, err := fuseChanOf(fc)
	if err != nil {
		return nil, fmt.Errorf("fuse_conn %#x: %w", addr, err)
	}
	v, err := st.MemberUint("connected")
	c.Connected = v != 0
	note(err)
	if fc.Type().HasMember("aborted") {
		v, err = fc.MemberUint("aborted")
		c.Aborted = v != 0
		note(err)
	}
	v, err = st.MemberUint("blocked")
	c.Blocked = v != 0
	note(err)
	v, err = st.MemberUint("initialized")
	c.Initialized = v != 0
	note(err)
	v, err = kmem.ScalarMember(st, "num_waiting")
	c.NumWaiting = int64(int32(v))
	note(err)
	c.NumBackground, _ = st.MemberUint("num_background")
	c.ActiveBackground, _ = st.MemberUint("active_background")
	c.MaxBackground, _ = st.MemberUint("max_background")

	c.Mounts, err = fuseMounts(p, fc)
	note(err)
	note(c.readRequests(p, st))
	c.resolveNodePaths(p)
	if len(c.Requests) > 0 && c.Requests[0].CreateTime != 0 {
		clk := newJiffyClock(p)
		for i := range c.Requests {
			c.Requests[i].Age, _ = clk.age(c.Requests[i].CreateTime)
		}
	}
	return c, nil
}

// maxFuseInodes bounds the inodes read from one FUSE superblock.
const maxFuseInodes = 1 << 16

// resolveNodePaths fills the path of each request's nodeid from the
// connection's superblocks: sb->s_inodes (inode.i_sb_list, fs/inode.c) of
// struct fuse_inode { struct inode inode; u64 nodeid; ... }
// (fs/fuse/fuse_i.h).
func (c *FuseConn) resolveNodePaths(p *symbols.Program) {
	want := map[uint64]bool{}
	for _, r := range c.Requests {
		if r.NodeID != 0 {
			want[r.NodeID] = true
		}
	}
	if len(want) == 0 {
		return
	}
	inodeOff, err1 := p.OffsetOf("struct fuse_inode", "inode")
	nodeOff, err2 := p.OffsetOf("struct fuse_inode", "nodeid")
	listOff, err3 := p.OffsetOf("struct inode", "i_sb_list")
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	found := map[uint64]string{}
	for _, m := range c.Mounts {
		sb, err := p.Object("struct super_block", m.SuperBlock)
		if err != nil {
			continue
		}
		head, err := sb.Member("s_inodes")
		if err != nil {
			continue
		}
		nodes, _ := kmem.ListHeadNodes(p, head.Addr(), "", maxFuseInodes)
		for _, n := range nodes {
			inode := n - listOff
			id, err := p.ReadU64(inode - inodeOff + nodeOff)
			if err != nil || !want[id] {
				continue
			}
			if _, done := found[id]; !done {
				found[id] = vfs.InodePathBest(p, inode)
			}
		}
	}
	for i := range c.Requests {
		c.Requests[i].Path = found[c.Requests[i].NodeID]
	}
}

// fuseMounts lists the superblocks on fc->mounts (struct fuse_mount
// fc_entry) with their mount points.
func fuseMounts(p *symbols.Program, fc symbols.Object) ([]FuseMountInfo, error) {
	if !fc.Type().HasMember("mounts") {
		return nil, nil
	}
	head, err := fc.Member("mounts")
	if err != nil {
		return nil, err
	}
	off, err := p.OffsetOf("struct fuse_mount", "fc_entry")
	if err != nil {
		return nil, err
	}
	nodes, lerr := kmem.ListHeadNodes(p, head.Addr(), "", 1000)
	var out []FuseMountInfo
	for _, n := range nodes {
		fm, err := p.Object("struct fuse_mount", n-off)
		if err != nil {
			continue
		}
		sbp, err := fm.Member("sb")
		if err != nil {
			continue
		}
		out = append(out, fuseMountInfo(p, sbp))
	}
	if lerr != nil {
		lerr = fmt.Errorf("fuse_conn %#x mounts: %w", fc.Addr(), lerr)
	}
	return out, lerr
}

// readRequests collects the requests of every queue of the connection
// (fs/fuse/dev.c: fc->iq.pending, fc->bg_queue, and per fuse_dev on
// fc->devices its pq.io and pq.processing[FUSE_PQ_HASH_SIZE]); fc is the
// fuse_conn, or its fuse_chan from 7.2.
func (c *FuseConn) readRequests(p *symbols.Program, fc symbols.Object) error {
	reqOff, err := p.OffsetOf("struct fuse_req", "list")
	if err != nil {
		return err
	}
	var errs []error
	seen := map[uint64]bool{}
	queue := func(name string, head uint64) {
		nodes, err := kmem.ListHeadNodes(p, head, "", maxFuseRequests)
		if err != nil {
			errs = append(errs, fmt.Errorf("fuse_conn %#x %s: %w", c.Addr, name, err))
		}
		for _, n := range nodes {
			if seen[n] || len(seen) >= maxFuseRequests {
				continue
			}
			seen[n] = true
			c.Requests = append(c.Requests, readFuseReq(p, n-reqOff, c.Addr, name))
		}
	}
	if h, err := fc.Member("iq.pending"); err == nil {
		queue("pending", h.Addr())
	} else {
		errs = append(errs, err)
	}
	if h, err := fc.Member("bg_queue"); err == nil {
		queue("background", h.Addr())
	}
	devHead, err := fc.Member("devices")
	if err != nil {
		errs = append(errs, err)
	} else if devOff, err := p.OffsetOf("struct fuse_dev", "entry"); err != nil {
		errs = append(errs, err)
	} else {
		nodes, err := kmem.ListHeadNodes(p, devHead.Addr(), "", 10000)
		if err != nil {
			errs = append(errs, fmt.Errorf("fuse_conn %#x devices: %w", c.Addr, err))
		}
		lhSize, _ := p.SizeOf("struct list_head")
		if lhSize == 0 {
			lhSize = 16
		}
		for _, n := range nodes {
			fud := n - devOff
			c.Devices = append(c.Devices, fud)
			d, err := p.Object("struct fuse_dev", fud)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if io, err := d.Member("pq.io"); err == nil {
				queue("io", io.Addr())
			}
			proc, err := d.MemberUint("pq.processing")
			if err != nil || proc == 0 {
				continue
			}
			for i := uint64(0); i < fusePQHashSize; i++ {
				queue("processing", proc+i*lhSize)
			}
		}
	}
	sort.SliceStable(c.Requests, func(i, j int) bool { return c.Requests[i].Unique < c.Requests[j].Unique })
	if len(errs) > 0 {
		return fmt.Errorf("%d queue problems, first: %w", len(errs), errs[0])
	}
	return nil
}

// readFuseReq decodes one struct fuse_req.
func readFuseReq(p *symbols.Program, addr, conn uint64, queue string) FuseReq {
	r := FuseReq{Addr: addr, Conn: conn, Queue: queue}
	o, err := p.Object("struct fuse_req", addr)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	var errs []error
	get := func(path string) uint64 {
		v, err := o.MemberUint(path)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	r.Opcode = uint32(get("in.h.opcode"))
	r.Op = FuseOpcodeName(r.Opcode)
	r.Unique = get("in.h.unique")
	r.NodeID = get("in.h.nodeid")
	r.PID = uint32(get("in.h.pid"))
	r.flags = get("flags")
	r.Flags = FuseReqFlagNames(r.flags)
	if o.Type().HasMember("create_time") {
		r.CreateTime = get("create_time")
	}
	if wq, err := o.Member("waitq"); err == nil {
		if q, err := locking.WaitQueue(p, wq.Addr()); err == nil {
			for _, w := range q.Waiters {
				if w.Task.Addr != 0 {
					r.Waiters = append(r.Waiters, w.Task)
				}
			}
			if q.Error != "" {
				errs = append(errs, fmt.Errorf("waitq: %s", q.Error))
			}
		}
	}
	if len(errs) > 0 {
		r.Error = fmt.Sprintf("fuse_req %#x: %v", addr, errs[0])
	}
	return r
}

// fuseChanOf returns the object holding a connection's queues and state:
// the fuse_conn itself, or its struct fuse_chan (fc->chan, 7.2+).
func fuseChanOf(fc symbols.Object) (symbols.Object, error) {
	if !fc.Type().HasMember("chan") {
		return fc, nil
	}
	ch, err := fc.Member("chan")
	if err != nil {
		return symbols.Object{}, err
	}
	return ch.Deref()
}

// fuseDevConn returns the fuse_conn of a struct fuse_dev: fud->fc up to
// 7.1, fud->chan->conn from 7.2 (0 before the device is mounted).
func fuseDevConn(fud symbols.Object) (uint64, error) {
	if fud.Type().HasMember("fc") {
		return fud.MemberUint("fc")
	}
	ch, err := fud.MemberUint("chan")
	if err != nil || ch == 0 {
		return 0, err
	}
	return fud.MemberUint("chan->conn")
}

// BlockedWaitQueue returns the address of the wait queue new requests of
// connection fc sleep on until INIT is answered or a background slot is
// free (fs/fuse/dev.c fuse_get_req): fc->blocked_waitq, or, from 7.2,
// fc->chan->blocked_waitq.
func BlockedWaitQueue(p *symbols.Program, fc uint64) (uint64, error) {
	o, err := p.Object("struct fuse_conn", fc)
	if err != nil {
		return 0, err
	}
	ch, err := fuseChanOf(o)
	if err != nil {
		return 0, fmt.Errorf("fuse_conn %#x: chan: %w", fc, err)
	}
	q, err := ch.Member("blocked_waitq")
	if err != nil {
		return 0, fmt.Errorf("fuse_conn %#x: %w", fc, err)
	}
	addr, ok := q.Address()
	if !ok {
		return 0, fmt.Errorf("fuse_conn %#x: blocked_waitq has no address", fc)
	}
	return addr, nil
}
