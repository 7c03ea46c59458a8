package repl

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/waitfor"
)

func registerFuse(r *Registry) {
	r.Add(&Command{
		Name:    "fuse",
		Summary: "FUSE connections: state, queued requests, waiters and server tasks",
		Usage:   "fuse [ID]",
		Help: `Lists every FUSE connection (fuse_conn_list, or the superblocks of
type fuse/fuseblk) with its /sys/fs/fuse/connections number, mount points,
state (connected, aborted, blocked, initialized, num_waiting), its
requests — pending (not yet read by the server), processing (read, not
answered), io, background — each with opcode, unique id, nodeid, flags
and the tasks waiting for it, and the server tasks: every task holding a
/dev/fuse file of the connection. The remedy line aborts the connection.
With ID, only that connection.

JSON: {"connections": [{"addr","id","mounts":[{"super_block","fs","source",
"mount_points"}],"connected","aborted","blocked","initialized","num_waiting",
"num_background","active_background","max_background","devices",
"requests":[{"addr","conn","queue","opcode","op","unique","nodeid","path","flags",
"pid","create_time","age_ns","waiters":[task]}],"servers":[{"task","state",
"exiting","fd","dev","how"}],"remedy","errors"}], "warnings": [...]}.
Addresses are "0x..." strings; a task is {"addr","pid","tgid","comm"}.`,
		Examples: []string{"fuse", "fuse 24", "fuse --json"},
		Run: func(c *Call) (Result, error) {
			if err := c.NeedArgs(0, 1); err != nil {
				return nil, err
			}
			conns, warns, err := waitfor.FuseConnections(c.Prog)
			if err != nil {
				return nil, err
			}
			if len(c.Args) == 1 {
				var id uint32
				if _, err := fmt.Sscanf(c.Args[0], "%d", &id); err != nil {
					return nil, UsageErrorf("fuse: %q is not a connection number", c.Args[0])
				}
				var sel []*fuse.FuseConn
				for _, fc := range conns {
					if fc.ID == id {
						sel = append(sel, fc)
					}
				}
				if len(sel) == 0 {
					return nil, fmt.Errorf("no FUSE connection %d", id)
				}
				conns = sel
			}
			return FuseResult{Connections: conns, Warnings: warns}, nil
		},
	})
}

// FuseResult is the result of "fuse".
type FuseResult struct {
	Connections []*fuse.FuseConn `json:"connections"`
	Warnings    []string         `json:"warnings,omitempty"`
}

// MarshalJSON implements json.Marshaler (addresses as hex strings).
func (f FuseResult) MarshalJSON() ([]byte, error) {
	type plain FuseResult
	if f.Connections == nil {
		f.Connections = []*fuse.FuseConn{}
	}
	return marshalValue(plain(f))
}

// WriteText implements Result.
func (f FuseResult) WriteText(w io.Writer) error {
	if len(f.Connections) == 0 {
		fmt.Fprintln(w, "no FUSE connections")
	}
	for _, c := range f.Connections {
		var mps []string
		for _, m := range c.Mounts {
			mps = append(mps, m.MountPoints...)
		}
		fmt.Fprintf(w, "FUSE connection %d  fuse_conn %#x  %s\n", c.ID, c.Addr, strings.Join(mps, " "))
		for _, m := range c.Mounts {
			fmt.Fprintf(w, "  mount: %s on %s (super_block %#x, %s)\n", m.Source, strings.Join(m.MountPoints, " "), m.SuperBlock, m.Fs)
		}
		if c.TypesFree {
			fmt.Fprintln(w, "  state, requests: unknown (no FUSE types)")
		} else {
			fmt.Fprintf(w, "  state: connected=%v aborted=%v blocked=%v initialized=%v num_waiting=%d background=%d/%d\n",
				c.Connected, c.Aborted, c.Blocked, c.Initialized, c.NumWaiting, c.NumBackground, c.MaxBackground)
		}
		if len(c.Requests) == 0 && !c.TypesFree {
			fmt.Fprintln(w, "  requests: none")
		}
		for _, r := range c.Requests {
			fmt.Fprintf(w, "  request #%d %-8s %-10s nodeid %d", r.Unique, r.Op, r.Queue, r.NodeID)
			if r.Path != "" {
				fmt.Fprintf(w, " %s", r.Path)
			}
			if r.Age > 0 {
				fmt.Fprintf(w, " age %s", r.Age.Round(time.Millisecond))
			}
			fmt.Fprintf(w, " pid %d req %#x [%s]", r.PID, r.Addr, strings.Join(r.Flags, " "))
			for _, t := range r.Waiters {
				fmt.Fprintf(w, "  waiter: %s", taskText(t))
			}
			if r.Error != "" {
				fmt.Fprintf(w, "  (%s)", r.Error)
			}
			fmt.Fprintln(w)
		}
		if len(c.Servers) == 0 {
			fmt.Fprintln(w, "  servers: no task holds a /dev/fuse file of this connection")
		}
		for _, s := range c.Servers {
			ex := ""
			if s.Exiting {
				ex = " exiting"
			}
			fmt.Fprintf(w, "  server: %s state %s%s fd %d (fuse_dev %#x)\n", taskText(s.Task), s.State, ex, s.FD, s.Dev)
		}
		fmt.Fprintf(w, "  remedy: %s\n\n", c.Remedy)
	}
	return nil
}

// ResultWarnings implements Warner: the walk's problems and each
// connection's go to stderr.
func (f FuseResult) ResultWarnings() []string {
	out := append([]string(nil), f.Warnings...)
	for _, c := range f.Connections {
		for _, e := range c.Errors {
			out = append(out, fmt.Sprintf("connection %d: %s", c.ID, e))
		}
	}
	return out
}
