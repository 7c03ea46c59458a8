package waitfor

import (
	"strings"
	"testing"
	"time"

	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

func TestClassifyBlockServer(t *testing.T) {
	server := Holder{Task: sched.TaskRef{Addr: 0xffff888000200000, PID: 212, TGID: 212, Comm: "nbd-server"}, Certain: true, State: "S"}
	stopped := server
	stopped.State = "T"
	for _, tc := range []struct {
		name    string
		server  waitkind.ServerRef
		holders []Holder
		blocked time.Duration
		root    string
		summary string
		certain bool
		remedy  string
	}{
		{"a live server that does not answer", waitkind.ServerRef{Protocol: "nbd", Live: 1, NoTimeout: true, Conns: []string{"TCP 127.0.0.1:43442 → 127.0.0.1:10809"}},
			[]Holder{server}, time.Minute, RootBlockServer,
			"nbd-server (pid 212), the NBD server of nbd1, has not answered its request, for 1m0s", true, "nbd-client -t SECONDS"},
		{"not yet long enough to be sure", waitkind.ServerRef{Protocol: "nbd", Live: 1, Conns: []string{"unix socket"}},
			[]Holder{server}, 5 * time.Second, RootBlockServer, "has not answered its request", false, "nbd-client -d /dev/nbd1"},
		{"a stopped server is a stopped holder", waitkind.ServerRef{Protocol: "nbd", Live: 1, Conns: []string{"unix socket"}},
			[]Holder{stopped}, time.Minute, RootHolderStopped, "is stopped (SIGSTOP or job control)", true, "kill -CONT 212"},
		{"a server on another machine", waitkind.ServerRef{Protocol: "nbd", Live: 1, Remote: true, Conns: []string{"TCP 10.0.0.2:40000 → 10.0.0.9:10809"}},
			nil, time.Minute, RootBlockServer, "on another machine (TCP 10.0.0.2:40000 → 10.0.0.9:10809)", true, "nbd-client -d /dev/nbd1"},
		{"a lost connection", waitkind.ServerRef{Protocol: "nbd", Live: 0, Disconnecting: true, Conns: []string{"unix socket (dead)"}},
			nil, time.Minute, RootBlockServer, "nbd1 has lost its connection to its NBD server", true, "nbd-client -d /dev/nbd1"},
		{"nobody has the other end", waitkind.ServerRef{Protocol: "nbd", Live: 1, Unowned: true, Conns: []string{"unix socket"}},
			nil, time.Minute, RootBlockServer, "no process has the other end of its connection", true, "nbd-client -d /dev/nbd1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sv := tc.server
			w := TaskWait{Task: BlockedTask{TaskRef: sched.TaskRef{Addr: 0xffff888000300000, PID: 220, TGID: 220, Comm: "dd"}, State: "D", BlockedFor: tc.blocked},
				Kind: WaitBlockIO, Certain: true, Holders: tc.holders}
			w.Object = WaitObject{Type: "bio", What: "synchronous READ of 4096 bytes at sector 6144 on nbd1",
				Block: &waitkind.BlockRef{Device: "nbd1", Disk: "nbd1", Dev: "43:32", MQ: true, Server: &sv}}
			c := buildChains([]TaskWait{w})
			if len(c) != 1 {
				t.Fatalf("%d chains", len(c))
			}
			r := c[0].Root
			if r.Kind != tc.root || !strings.Contains(r.Summary, tc.summary) || r.Certain != tc.certain {
				t.Errorf("root %s %q (certain %v), want %s %q (certain %v)", r.Kind, r.Summary, r.Certain, tc.root, tc.summary, tc.certain)
			}
			if !strings.Contains(strings.Join(c[0].Remedy, "\n"), tc.remedy) {
				t.Errorf("remedies %q lack %q", c[0].Remedy, tc.remedy)
			}
		})
	}
}
