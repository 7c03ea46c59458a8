package waitfor

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols/symtest"
	"github.com/kwalk/kwalk/walkers/fuse"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
)

func TestFuseBlockedWaitQueue(t *testing.T) {
	k := symtest.NewKernel()
	wqh := k.Types.Struct("wait_queue_head", 24)
	k.Types.Struct("fuse_conn", 512, symtest.F("blocked_waitq", wqh, 0x120))
	const conn = 0xffff888000400000
	server := sched.TaskRef{Addr: 0xffff888000500000, PID: 90, TGID: 90, Comm: "sshfs"}
	for _, tc := range []struct {
		name        string
		initialized bool
		head        uint64
		want        string // in Note; "" for no link
	}{
		{"before INIT", false, conn + 0x120, "has not answered INIT"},
		{"no free background slot", true, conn + 0x120, "max_background"},
		{"another wait queue", false, conn + 0x128, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &waitAnalysis{p: k.Program(), byAddr: map[uint64]*sched.Task{},
				conns:   []*fuse.FuseConn{{Addr: conn, ID: 41, Initialized: tc.initialized}},
				servers: map[uint64][]fuse.FuseServer{conn: {{Task: server, How: "holds /dev/fuse fd 3"}}}}
			ws := []TaskWait{{Kind: locking.WaitQueueEvent, Certain: true, Object: WaitObject{Type: "wait_queue_head", Addr: tc.head, What: "wait_queue_head"}}}
			a.linkFuseWaitQueues(ws)
			w := ws[0]
			if tc.want == "" {
				if len(w.Holders) != 0 {
					t.Fatalf("holders %+v on an unrelated wait queue", w.Holders)
				}
				return
			}
			if len(w.Holders) != 1 || w.Holders[0].Task.PID != 90 || w.Holders[0].Certain ||
				!strings.Contains(w.Note, tc.want) || !strings.Contains(w.Object.What, "FUSE connection 41") {
				t.Errorf("wait %+v", w)
			}
		})
	}
}
