package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	nfs "github.com/willscott/go-nfs"
	nfshelper "github.com/willscott/go-nfs/helpers"
	"golang.org/x/sys/unix"
)

// The stuck3 guest's NFS scenario: the kernel's NFSv3 client
// (fs/nfs, net/sunrpc) mounts a user-space server on 127.0.0.1 that is
// then stopped; a task's RPC waits for its answer holding a file's inode
// lock, another waits for that lock, a reader for the page its
// asynchronous READ fills.

const (
	nfsMount = "/mnt/nfs"
	nfsPort  = 20490
)

// nfsServe serves an in-memory file system holding "data" over NFSv3 and
// MOUNT on 127.0.0.1:port (go-nfs), until killed.
func nfsServe(port string) error {
	n, err := strconv.Atoi(port)
	if err != nil {
		return fmt.Errorf("nfsserve: bad port %q", port)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", n))
	if err != nil {
		return fmt.Errorf("nfsserve: %w", err)
	}
	fs := memfs.New()
	f, err := fs.Create("data")
	if err != nil {
		return err
	}
	f.Write(make([]byte, 4096))
	f.Close()
	if f, err = fs.Create("big"); err != nil {
		return err
	}
	f.Write(make([]byte, 64<<10))
	f.Close()
	h := nfshelper.NewCachingHandler(nfshelper.NewNullAuthHandler(fs), 1024)
	if err := os.WriteFile(readyPath("nfs"), nil, 0o644); err != nil {
		return err
	}
	return nfs.Serve(l, h)
}

// nfs mounts the server on /mnt/nfs (NFSv3 over TCP, hard, no locking:
// the kernel's own MOUNT call, with the ports given, needs no rpcbind;
// nocto and actimeo=3600 so that reads of an open file send only READ),
// starts three "hangfs fileop" processes that open their file while the
// server answers, stops the server (SIGSTOP), then lets them go on:
// nfs.truncate ("ftruncate data 1": fs/open.c do_truncate holds the
// inode lock across the SETATTR call, which waits in D in
// rpc_wait_bit_killable), nfs.truncate2 (ftruncate of the same file,
// waits in D for the inode lock) and nfs.folio (a read of "big": an
// asynchronous READ, fs/nfs/read.c, and a wait in D for the page's
// lock). nfs.mkdir ("mkdir /mnt/nfs/d") waits in D for a call of its
// own (the directory's ACCESS or the MKDIR: path walks of this server's
// directories are not answered from the access cache, whose entries
// each reply's changed directory ctime invalidates).
func (s *stager) nfs() error {
	if err := runQuiet("ifconfig", "lo", "127.0.0.1", "up"); err != nil {
		return err
	}
	srv, err := start("hangfs", "nfsserve", strconv.Itoa(nfsPort))
	if err != nil {
		return err
	}
	if err := waitFile(readyPath("nfs"), stageWait); err != nil {
		return err
	}
	s.addRole("nfs.server", srv)
	if err := os.MkdirAll(nfsMount, 0o755); err != nil {
		return err
	}
	opts := fmt.Sprintf("vers=3,proto=tcp,port=%d,mountport=%d,mountproto=tcp,mountvers=3,addr=127.0.0.1,mountaddr=127.0.0.1,nolock,noacl,sec=none,hard,timeo=600,retrans=2,nocto,actimeo=3600", nfsPort, nfsPort)
	if err := unix.Mount("127.0.0.1:/", nfsMount, "nfs", 0, opts); err != nil {
		return fmt.Errorf("nfs: mount %s: %w", nfsMount, err)
	}
	if _, err := os.ReadFile(nfsMount + "/data"); err != nil {
		return fmt.Errorf("nfs: read through the mount: %w", err)
	}
	ops := []struct{ role, op, file string }{
		{"nfs.truncate", "truncate=1", nfsMount + "/data"},
		{"nfs.truncate2", "truncate=2", nfsMount + "/data"},
		{"nfs.folio", "read", nfsMount + "/big"},
	}
	pids := map[string]int{}
	for _, o := range ops {
		pid, err := start("hangfs", "fileop", o.op, o.file)
		if err != nil {
			return err
		}
		if err := poll(fmt.Sprintf("%s (pid %d) opened %s", o.role, pid, o.file), func() bool { return lockProgress(pid) == 1 }); err != nil {
			return withWhere(err, pid)
		}
		s.addRole(o.role, pid)
		pids[o.role] = pid
	}
	if err := unix.Kill(srv, unix.SIGSTOP); err != nil {
		return err
	}
	if err := poll(fmt.Sprintf("nfs.server (pid %d) stopped", srv), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", srv))
		return err == nil && st.state == "T"
	}); err != nil {
		return err
	}
	rpcFuncs := []string{"rpc_wait_bit_killable", "__rpc_execute", "rpc_execute", "rpc_run_task", "rpc_call_sync"}
	waits := []struct {
		role  string
		funcs []string
		rpc   bool // in an RPC itself, or (false) not
	}{
		{"nfs.truncate", rpcFuncs, true},
		{"nfs.truncate2", []string{"do_truncate", "do_sys_ftruncate"}, false},
		{"nfs.folio", folioWaitFuncs, false},
	}
	for _, w := range waits {
		pid := pids[w.role]
		if err := os.WriteFile(mmapGoPath(pid), nil, 0o644); err != nil {
			return err
		}
		if err := poll(fmt.Sprintf("%s (pid %d) in D", w.role, pid), func() bool {
			st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
			return err == nil && st.state == "D" && stackHasAny(pid, pid, w.funcs...) && (w.rpc || !stackHasAny(pid, pid, rpcFuncs...))
		}); err != nil {
			return fmt.Errorf("%s: %w", w.role, withWhere(err, pid))
		}
	}
	mk, err := start("mkdir", nfsMount+"/d")
	if err != nil {
		return err
	}
	s.addRole("nfs.mkdir", mk)
	if err := poll(fmt.Sprintf("nfs.mkdir (pid %d) in D waiting for its RPC", mk), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", mk))
		return err == nil && st.state == "D" && stackHasAny(mk, mk, rpcFuncs...)
	}); err != nil {
		return fmt.Errorf("nfs.mkdir: %w", withWhere(err, mk))
	}
	s.meta = append(s.meta, "nfs.mount="+nfsMount, fmt.Sprintf("nfs.port=%d", nfsPort))
	return nil
}

// fileOp opens file, writes progress 1, waits to be told (mmapGoPath),
// then does op: "read" (a page) or "truncate=N" (ftruncate to N bytes).
// Opening first keeps what open itself may wait for (a permission call
// to a server, fuse_open's page-cache invalidation) out of the wait.
func fileOp(op, file string) error {
	flags := unix.O_RDONLY
	if op != "read" {
		flags = unix.O_RDWR
	}
	fd, err := unix.Open(file, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fileop: %w", err)
	}
	if err := writeProgress(1); err != nil {
		return err
	}
	for {
		if _, err := os.Stat(mmapGoPath(os.Getpid())); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if op == "read" {
		buf := make([]byte, 4096)
		_, err = unix.Read(fd, buf)
		return err
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(op, "truncate="), 10, 64)
	if err != nil {
		return fmt.Errorf("fileop: bad op %q", op)
	}
	return unix.Ftruncate(fd, n)
}
