package waitfor_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/testdata/truth"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// TestNBDServersMatchRecord checks what the NBD readers' waits say of
// their devices against the guest's record: the disk (meta nbd.dev), the
// client sleeping in NBD_DO_IT (/sys/block/nbdN/pid), and each
// connection's server end — the server's fd is the socket whose inode
// /proc/net/unix lists as connected, or the /proc/net/tcp socket whose
// ports are the connection's, swapped.
func TestNBDServersMatchRecord(t *testing.T) {
	for _, d := range append(testdata.Require(t, testdata.Filter{Format: testdata.FormatKdumpZlibFlat}), testdata.Arm64Dumps(t)...) {
		if !d.Has(testdata.ScenarioNBD) {
			continue
		}
		t.Run(d.ID(), func(t *testing.T) {
			p := openDump(t, d.Path(testdata.FormatKdumpZlibFlat))
			defer p.Dump.Close()
			rep := mustDeadlock(t, p)
			rec := d.Truth
			for _, n := range []string{"nbd", "nbdtcp"} {
				reader, server := rec.Roles[n+".reader"], rec.Roles[n+".server"]
				var w *waitkind.TaskWait
				for i := range rep.Waits {
					if rep.Waits[i].Task.PID == reader {
						w = &rep.Waits[i]
					}
				}
				if w == nil || w.Object.Block == nil || w.Object.Block.Server == nil {
					t.Errorf("%s (pid %d): no wait on a network block device: %+v", n+".reader", reader, w)
					continue
				}
				b := w.Object.Block
				if b.Disk != rec.Meta[n+".dev"] || b.Server.Protocol != "nbd" {
					t.Errorf("%s: disk %s (%s), want %s (nbd)", n, b.Disk, b.Server.Protocol, rec.Meta[n+".dev"])
				}
				if want, _ := strconv.Atoi(rec.Meta[n+".pid"]); b.Server.ClientPID != want {
					t.Errorf("%s: client pid %d, /sys/block/%s/pid says %d", n, b.Server.ClientPID, b.Disk, want)
				}
				if !b.Server.NoTimeout || b.Server.Live != 1 || len(b.Server.Conns) != 1 {
					t.Errorf("%s: server %+v, want one live connection and no timeout (hangfs sets none)", n, *b.Server)
					continue
				}
				st := rec.Task(server)
				if st == nil {
					t.Fatalf("%s: server pid %d not in the record", n, server)
				}
				inodes := socketInodes(st)
				conn := b.Server.Conns[0]
				switch rec.Meta[n+".transport"] {
				case "unix":
					if !strings.HasPrefix(conn, "unix socket") {
						t.Errorf("%s: connection %q, want a unix socket", n, conn)
					}
					if !anyIn(inodes, connectedUnix(rec)) {
						t.Errorf("%s: none of the server's sockets %v is a connected unix socket of /proc/net/unix", n, inodes)
					}
				case "tcp":
					local, remote, ok := tcpPorts(conn)
					if !ok {
						t.Errorf("%s: connection %q, want TCP A:P → B:Q", n, conn)
						continue
					}
					// The server's socket is the one whose local port is
					// the connection's remote one and the other way round.
					ino, ok := tcpSocket(rec, remote, local)
					if !ok || !inodes[ino] {
						t.Errorf("%s: /proc/net/tcp has no socket %d → %d among the server's fds %v (got inode %d)", n, remote, local, inodes, ino)
					}
				}
				t.Logf("%s: %s over %s, served by pid %d", n, b.Disk, conn, server)
			}
		})
	}
}

// socketInodes are the inodes of t's socket fds ("socket:[INODE]").
func socketInodes(t *truth.Task) map[uint64]bool {
	out := map[uint64]bool{}
	for _, fd := range t.FDs {
		var ino uint64
		if _, err := fmt.Sscanf(fd.Target, "socket:[%d]", &ino); err == nil {
			out[ino] = true
		}
	}
	return out
}

// connectedUnix are the inodes of /proc/net/unix's connected sockets
// (St 03, SS_CONNECTED).
func connectedUnix(rec *truth.Record) map[uint64]bool {
	out := map[uint64]bool{}
	for _, l := range rec.Files["/proc/net/unix"] {
		f := strings.Fields(l)
		if len(f) < 7 || f[5] != "03" {
			continue
		}
		if ino, err := strconv.ParseUint(f[6], 10, 64); err == nil {
			out[ino] = true
		}
	}
	return out
}

func anyIn(a, b map[uint64]bool) bool {
	for k := range a {
		if b[k] {
			return true
		}
	}
	return false
}

// tcpPorts parses "TCP 127.0.0.1:P → 127.0.0.1:Q".
func tcpPorts(s string) (local, remote int, ok bool) {
	f := strings.Fields(s)
	if len(f) != 4 || f[0] != "TCP" || f[2] != "→" {
		return 0, 0, false
	}
	port := func(hp string) int {
		i := strings.LastIndex(hp, ":")
		n, err := strconv.Atoi(hp[i+1:])
		if i < 0 || err != nil {
			return -1
		}
		return n
	}
	local, remote = port(f[1]), port(f[3])
	return local, remote, local > 0 && remote > 0
}

// tcpSocket finds the established /proc/net/tcp socket with these ports
// (local_address and rem_address are hex ADDR:PORT, st 01 ESTABLISHED)
// and returns its inode.
func tcpSocket(rec *truth.Record, local, remote int) (uint64, bool) {
	for _, l := range rec.Files["/proc/net/tcp"] {
		f := strings.Fields(l)
		if len(f) < 10 || f[3] != "01" {
			continue
		}
		lp, rp := hexPort(f[1]), hexPort(f[2])
		if lp == local && rp == remote {
			ino, err := strconv.ParseUint(f[9], 10, 64)
			return ino, err == nil
		}
	}
	return 0, false
}

func hexPort(addr string) int {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseUint(addr[i+1:], 16, 16)
	if err != nil {
		return -1
	}
	return int(n)
}
