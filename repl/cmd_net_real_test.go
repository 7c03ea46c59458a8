package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestNetRealDumps compares net with the guest's /proc/net/dev (the
// devices, in order) and net -s with each recorded process's fds: every
// "socket:[N]" link is a socket of the same fd and inode number, a unix
// socket has the path /proc/net/unix gives its inode, and an inet socket
// the local port and state /proc/net/tcp or udp give it.
func TestNetRealDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			netdev, ok := d.Truth.Files["/proc/net/dev"]
			if !ok {
				t.Skip("the record has no /proc/net/dev")
			}
			p := walktest.OpenReal(t, d)
			var out, errb bytes.Buffer
			s := NewSession(p, NewDefaultRegistry(), &out, &errb)
			run := func(line string, v any) {
				t.Helper()
				out.Reset()
				errb.Reset()
				if st := s.Exec(context.Background(), line+" --json"); st != ExitOK {
					t.Fatalf("%s: status %d: %s %s", line, st, out.String(), errb.String())
				}
				if err := json.Unmarshal(out.Bytes(), v); err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				// The document is exactly the Go type of repl/schema.md.
				dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
				dec.DisallowUnknownFields()
				var doc NetResult
				if err := dec.Decode(&doc); err != nil {
					t.Errorf("%s: not a NetResult: %v", line, err)
				}
			}
			var devs NetResult
			run("net", &devs)
			var got, want []string
			for _, dv := range devs.Devices {
				got = append(got, dv.Name)
			}
			for _, l := range netdev {
				if name, _, ok := strings.Cut(l, ":"); ok && !strings.Contains(name, "|") {
					want = append(want, strings.TrimSpace(name))
				}
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("net: devices %v, /proc/net/dev %v", got, want)
			}

			// inode → path (/proc/net/unix), inode → "port state" (tcp, udp).
			unixPath := map[uint64]string{}
			for _, l := range d.Truth.Files["/proc/net/unix"] {
				f := strings.Fields(l)
				if len(f) < 7 || f[0] == "Num" {
					continue
				}
				ino, err := strconv.ParseUint(f[6], 10, 64)
				if err == nil && len(f) > 7 {
					unixPath[ino] = f[7]
				}
			}
			inet := map[uint64]string{}
			for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp"} {
				for _, l := range d.Truth.Files[file] {
					f := strings.Fields(l)
					if len(f) < 10 || f[0] == "sl" {
						continue
					}
					_, port, _ := strings.Cut(f[1], ":")
					pt, err1 := strconv.ParseUint(port, 16, 16)
					st, err2 := strconv.ParseUint(f[3], 16, 8)
					ino, err3 := strconv.ParseUint(f[9], 10, 64)
					if err1 == nil && err2 == nil && err3 == nil {
						inet[ino] = fmt.Sprintf("%d %d", pt, st)
					}
				}
			}
			tasks, socks, paths := 0, 0, 0
			for _, rt := range d.Truth.Tasks {
				var wantFDs []string
				for _, fd := range rt.FDs {
					if strings.HasPrefix(fd.Target, "socket:[") {
						wantFDs = append(wantFDs, fmt.Sprintf("%d %s", fd.Num, strings.TrimSuffix(strings.TrimPrefix(fd.Target, "socket:["), "]")))
					}
				}
				if !rt.IsLeader() || len(rt.FDs) == 0 {
					continue
				}
				var res NetResult
				run(fmt.Sprintf("net -s %d", rt.PID), &res)
				if len(res.Tasks) != 1 {
					t.Fatalf("net -s %d: %d tasks", rt.PID, len(res.Tasks))
				}
				tasks++
				var gotFDs []string
				for _, so := range res.Tasks[0].Sockets {
					gotFDs = append(gotFDs, fmt.Sprintf("%d %d", so.FD, so.Inode))
					if len(so.Errors) > 0 {
						t.Errorf("pid %d fd %d: %v", rt.PID, so.FD, so.Errors)
					}
					if pth, ok := unixPath[so.Inode]; ok {
						paths++
						if so.Family != "UNIX" || so.Local != pth {
							t.Errorf("pid %d fd %d: %s %q, /proc/net/unix says %q", rt.PID, so.FD, so.Family, so.Local, pth)
						}
					}
					if ps, ok := inet[so.Inode]; ok && ps != fmt.Sprintf("%d %d", so.LocalPort, so.SkState) {
						t.Errorf("pid %d fd %d: port %d state %d, /proc/net says %s", rt.PID, so.FD, so.LocalPort, so.SkState, ps)
					}
				}
				socks += len(gotFDs)
				sort.Strings(gotFDs)
				sort.Strings(wantFDs)
				if strings.Join(gotFDs, ",") != strings.Join(wantFDs, ",") {
					t.Errorf("net -s %d (%s): sockets %v, /proc/%d/fd %v", rt.PID, rt.Comm, gotFDs, rt.PID, wantFDs)
				}
			}
			t.Logf("%d devices, %d processes, %d sockets (%d with a /proc/net/unix path) compared", len(got), tasks, socks, paths)
		})
	}
}
