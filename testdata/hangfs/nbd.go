package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The nbd scenario: two network block devices (drivers/block/nbd.c) whose
// servers do not answer. hangfs is both the client (what nbd-client does:
// hand a connected socket to the kernel with NBD_SET_SOCK, then sleep in
// NBD_DO_IT for the connection's life) and the server (the NBD
// transmission phase: 28-byte requests, 16-byte simple replies).
//
//	hangfs nbd DEV unix|tcp    configure DEV over a socketpair to a child
//	                           server, or over TCP to a server on 127.0.0.1
//	hangfs nbdserve FD|ADDR    serve requests (zeros) until it is told
//	                           to stop answering (file nbdStall+".PID")

// NBD ioctls (include/uapi/linux/nbd.h: _IO(0xab, n)).
const (
	nbdSetSock       = 0xab00
	nbdSetBlksize    = 0xab01
	nbdDoIt          = 0xab03
	nbdSetSizeBlocks = 0xab07
)

// NBD transmission constants (the NBD protocol, doc/proto.md).
const (
	nbdRequestMagic = 0x25609513
	nbdReplyMagic   = 0x67446698
	nbdCmdRead      = 0
	nbdCmdWrite     = 1
	nbdCmdDisc      = 2
)

const (
	nbdBlockSize = 4096
	nbdBlocks    = 1024 // 4 MiB
)

// nbdStall is the prefix of the file that tells server PID to stop
// answering: it reads the next requests and never replies.
const nbdStall = "/tmp/nbd-stall"

func init() {
	// The client sleeps in NBD_DO_IT from its main thread: its pid is the
	// thread (the role's pid, /sys/block/nbdN/pid).
	if len(os.Args) > 1 && os.Args[1] == "nbd" {
		runtime.LockOSThread()
	}
}

// nbdClient connects dev to a server it starts and sleeps in NBD_DO_IT.
func nbdClient(dev, transport string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var sock *os.File
	var server *exec.Cmd
	switch transport {
	case "unix":
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("nbd: socketpair: %w", err)
		}
		sock = os.NewFile(uintptr(fds[0]), "nbd-client")
		peer := os.NewFile(uintptr(fds[1]), "nbd-server")
		server = exec.Command(exe, "nbdserve", "3")
		server.ExtraFiles = []*os.File{peer}
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("nbd: listen: %w", err)
		}
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			return err
		}
		server = exec.Command(exe, "nbdserve", "3")
		server.ExtraFiles = []*os.File{f}
		defer ln.Close()
		defer f.Close()
		server.Stdout, server.Stderr = os.Stderr, os.Stderr
		if err := server.Start(); err != nil {
			return fmt.Errorf("nbd: start server: %w", err)
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return fmt.Errorf("nbd: connect %s: %w", ln.Addr(), err)
		}
		if sock, err = c.(*net.TCPConn).File(); err != nil {
			return err
		}
		c.Close()
	default:
		return fmt.Errorf("nbd: transport %q, want unix or tcp", transport)
	}
	if server.Process == nil {
		server.Stdout, server.Stderr = os.Stderr, os.Stderr
		if err := server.Start(); err != nil {
			return fmt.Errorf("nbd: start server: %w", err)
		}
		server.ExtraFiles[0].Close()
	}
	go server.Wait()
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("nbd: open %s: %w", dev, err)
	}
	for _, c := range []struct {
		name     string
		req, arg uintptr
	}{
		{"NBD_SET_BLKSIZE", nbdSetBlksize, nbdBlockSize},
		{"NBD_SET_SIZE_BLOCKS", nbdSetSizeBlocks, nbdBlocks},
		{"NBD_SET_SOCK", nbdSetSock, sock.Fd()},
	} {
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), c.req, c.arg); e != 0 {
			return fmt.Errorf("nbd: %s %s: %w", c.name, dev, e)
		}
	}
	// NBD_DO_IT returns when the connection ends (nbd.c
	// nbd_start_device_ioctl waits for the receive work to finish). It
	// waits interruptibly and shuts the sockets down on any signal, and
	// the Go runtime signals its threads (preemption, SIGCHLD): this
	// thread, locked since init, takes no signal from here on, as
	// nbd-client's single thread takes none.
	var all unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &all, nil); err != nil {
		return fmt.Errorf("nbd: block signals: %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), nbdDoIt, 0); e != 0 {
		return fmt.Errorf("nbd: NBD_DO_IT %s: %w", dev, e)
	}
	return nil
}

// nbdServe answers requests on fd 3 (a connected socket, or a listening
// one whose first connection it takes) until the stall file for its pid
// appears; then it reads requests and never replies.
func nbdServe() error {
	f := os.NewFile(3, "nbd")
	var conn io.ReadWriter = f
	if typ, err := unix.GetsockoptInt(3, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil && typ == 1 {
		ln, err := net.FileListener(f)
		if err != nil {
			return fmt.Errorf("nbdserve: %w", err)
		}
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("nbdserve: accept: %w", err)
		}
		ln.Close()
		conn = c
	}
	stall := nbdStall + "." + strconv.Itoa(os.Getpid())
	var req [28]byte
	buf := make([]byte, 0, 128<<10)
	for {
		if _, err := io.ReadFull(conn, req[:]); err != nil {
			return fmt.Errorf("nbdserve: read request: %w", err)
		}
		if binary.BigEndian.Uint32(req[0:]) != nbdRequestMagic {
			return fmt.Errorf("nbdserve: bad request magic %#x", req[0:4])
		}
		typ := binary.BigEndian.Uint16(req[6:])
		length := binary.BigEndian.Uint32(req[24:])
		if typ == nbdCmdWrite {
			if _, err := io.CopyN(io.Discard, conn, int64(length)); err != nil {
				return fmt.Errorf("nbdserve: write payload: %w", err)
			}
		}
		if typ == nbdCmdDisc {
			return nil
		}
		if _, err := os.Stat(stall); err == nil {
			continue // never answered
		}
		var rep [16]byte
		binary.BigEndian.PutUint32(rep[0:], nbdReplyMagic)
		copy(rep[8:], req[8:16]) // the handle (cookie)
		out := append(buf[:0], rep[:]...)
		if typ == nbdCmdRead {
			out = append(out, make([]byte, length)...)
		}
		if _, err := conn.Write(out); err != nil {
			return fmt.Errorf("nbdserve: reply: %w", err)
		}
	}
}

// nbdReadFuncs are where a buffered reader of a block device waits for its
// page (mm/filemap.c: the folio is locked for the read until it
// completes); nbdDirectFuncs where an O_DIRECT reader waits for its bio
// (block/fops.c).
var (
	nbdReadFuncs   = []string{"folio_wait_bit_common", "folio_put_wait_locked", "__folio_lock_killable", "filemap_update_page", "wait_on_page_bit_common", "__lock_page_killable"}
	nbdDirectFuncs = []string{"__blkdev_direct_IO_simple", "__blkdev_direct_IO", "blkdev_direct_IO", "__blkdev_direct_IO_async"}
)

// nbd stages the two devices: nbd0 over a socketpair, whose server is then
// stopped (SIGSTOP) with a buffered reader waiting; nbd1 over TCP, whose
// server stops answering with an O_DIRECT reader waiting.
func (s *stager) nbd() error {
	if err := runQuiet("ifconfig", "lo", "127.0.0.1", "up"); err != nil {
		return err
	}
	for _, d := range []struct {
		name, dev, transport string
		stop                 bool
		reader               []string
		funcs                []string
	}{
		{"nbd", "nbd0", "unix", true,
			[]string{"dd", "if=/dev/nbd0", "of=/dev/null", "bs=4096", "count=1", "skip=768"}, nbdReadFuncs},
		{"nbdtcp", "nbd1", "tcp", false,
			[]string{"dd", "if=/dev/nbd1", "of=/dev/null", "bs=4096", "count=1", "skip=768", "iflag=direct"}, nbdDirectFuncs},
	} {
		node := "/dev/" + d.dev
		if err := poll(node+" present", func() bool { _, err := os.Stat(node); return err == nil }); err != nil {
			return err
		}
		client, err := start("hangfs", "nbd", node, d.transport)
		if err != nil {
			return err
		}
		s.addRole(d.name+".client", client)
		sysPid := "/sys/block/" + d.dev + "/pid"
		err = poll(fmt.Sprintf("%s.client (pid %d) in NBD_DO_IT", d.name, client), func() bool {
			return strings.TrimSpace(readFile(sysPid)) == strconv.Itoa(client)
		})
		if err != nil {
			return withWhere(err, client)
		}
		server := childNamed(client, "hangfs")
		if server == 0 {
			return withWhere(fmt.Errorf("%s.client: no server child", d.name), client)
		}
		s.addRole(d.name+".server", server)
		// The first open scans the partitions (GD_NEED_PART_SCAN): the
		// server answers that, and this read of the first block.
		if err := runQuiet("dd", "if="+node, "of=/dev/null", "bs=4096", "count=1"); err != nil {
			return err
		}
		if !d.stop {
			// Few requests (block/blk-mq-sysfs.c nr_requests, at its
			// minimum BLKDEV_MIN_RQ): set while nothing is in flight,
			// since the change freezes the queue. With the server
			// silent, the readers below take every tag and the last
			// waits for one (block/blk-mq-tag.c blk_mq_get_tag).
			if err := os.WriteFile("/sys/block/"+d.dev+"/queue/nr_requests", []byte(strconv.Itoa(nbdRequests)), 0o644); err != nil {
				return fmt.Errorf("%s nr_requests: %w", d.dev, err)
			}
		}
		if d.stop {
			if err := unix.Kill(server, unix.SIGSTOP); err != nil {
				return err
			}
			if err := waitState(server, "T"); err != nil {
				return err
			}
		} else if err := os.WriteFile(nbdStall+"."+strconv.Itoa(server), nil, 0o644); err != nil {
			return err
		}
		reader, err := start(d.reader[0], d.reader[1:]...)
		if err != nil {
			return err
		}
		s.addRole(d.name+".reader", reader)
		err = poll(fmt.Sprintf("%s.reader (pid %d) in D waiting for its read", d.name, reader), func() bool {
			st, err := readStat(fmt.Sprintf("/proc/%d/stat", reader))
			return err == nil && st.state == "D" && stackHasAny(reader, reader, d.funcs...)
		})
		if err != nil {
			return withWhere(err, reader)
		}
		if !d.stop {
			if err := s.nbdFillTags(d.name, d.dev); err != nil {
				return err
			}
		}
		time.Sleep(100 * time.Millisecond)
		s.meta = append(s.meta, d.name+".dev="+d.dev,
			d.name+".transport="+d.transport,
			d.name+".pid="+strings.TrimSpace(readFile(sysPid)),
			d.name+".inflight="+strings.Join(strings.Fields(readFile("/sys/block/"+d.dev+"/inflight")), " "))
	}
	return nil
}

// nbdRequests is the request limit set on the TCP device (the smallest
// the kernel takes).
const nbdRequests = 4

// nbdTagFuncs are where a task waits for a free request tag (block/
// blk-mq-tag.c).
var nbdTagFuncs = []string{"blk_mq_get_tag"}

// nbdFillTags starts O_DIRECT readers of dev (name.fillN) until its
// nbdRequests requests are all in flight, then one more (name.tagwait),
// which waits for a tag.
func (s *stager) nbdFillTags(name, dev string) error {
	for i := 1; i <= nbdRequests; i++ {
		role := fmt.Sprintf("%s.fill%d", name, i)
		funcs := nbdDirectFuncs
		if i == nbdRequests {
			role, funcs = name+".tagwait", nbdTagFuncs
		}
		// The first reader holds one request; these hold the rest.
		pid, err := start("dd", "if=/dev/"+dev, "of=/dev/null", "bs=4096", "count=1",
			"skip="+strconv.Itoa(512+64*i), "iflag=direct")
		if err != nil {
			return err
		}
		s.addRole(role, pid)
		err = poll(fmt.Sprintf("%s (pid %d) in D in one of %v", role, pid, funcs), func() bool {
			st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
			return err == nil && st.state == "D" && stackHasAny(pid, pid, funcs...)
		})
		if err != nil {
			return withWhere(err, pid)
		}
	}
	return nil
}
