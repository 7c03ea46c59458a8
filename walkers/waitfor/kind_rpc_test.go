package waitfor

import (
	"strings"
	"testing"
	"time"

	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

func TestClassifyRPC(t *testing.T) {
	server := Holder{Task: sched.TaskRef{Addr: 0xffff888000500000, PID: 90, TGID: 90, Comm: "nfsd-user"}, Certain: true}
	for _, tc := range []struct {
		name    string
		ref     waitkind.RPCRef
		holders []Holder
		want    []string // in the summary
		remedy  string   // in the remedies
	}{
		{"local server alive", waitkind.RPCRef{Program: "nfs", Version: 3, Proc: "MKDIR", Server: "127.0.0.1", Addr: "127.0.0.1:2049", Connected: true, MountPoints: []string{"/mnt/nfs"}},
			[]Holder{server}, []string{"nfsd-user", "127.0.0.1:2049", "nfs MKDIR", "retried for ever"}, "umount -f /mnt/nfs"},
		{"remote server", waitkind.RPCRef{Program: "nfs", Version: 4, Proc: "COMPOUND", Server: "filer", Addr: "10.0.0.5:2049", Connected: true, Remote: true},
			nil, []string{"NFS server filer", "another machine"}, "rpcinfo -t filer"},
		{"unreachable soft", waitkind.RPCRef{Program: "nfs", Proc: "GETATTR", Server: "filer", Addr: "10.0.0.5:2049", Soft: true},
			nil, []string{"unreachable"}, "rpcinfo"},
		{"undecoded", waitkind.RPCRef{Undecoded: true}, nil, []string{"sunrpc types not available"}, ""},
		{"transport unreadable", waitkind.RPCRef{Program: "nfs", Proc: "READ"}, nil, []string{"could not be read"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := tc.ref
			w := TaskWait{Kind: WaitRPC, Certain: true, Holders: tc.holders,
				Task:   BlockedTask{TaskRef: sched.TaskRef{Addr: 0xffff888000700000, PID: 91, TGID: 91, Comm: "mkdir"}, State: "D", BlockedFor: time.Minute},
				Object: WaitObject{Type: "rpc_task", RPC: &ref, What: rpcWhat(&ref)}}
			r := classifyRoot(&w)
			if r.Kind != RootRPCServer {
				t.Fatalf("root %s: %s", r.Kind, r.Summary)
			}
			for _, s := range tc.want {
				if !strings.Contains(r.Summary, s) {
					t.Errorf("summary %q lacks %q", r.Summary, s)
				}
			}
			if (tc.ref.Undecoded || tc.ref.Addr == "") && r.Certain {
				t.Errorf("a root resting on an unread transport is certain: %q", r.Summary)
			}
			if tc.ref.Soft && strings.Contains(r.Summary, "for ever") {
				t.Errorf("soft call said to wait for ever: %q", r.Summary)
			}
			rem := strings.Join(rpcRemedies(&r), "\n")
			if !strings.Contains(rem, tc.remedy) {
				t.Errorf("remedies %q lack %q", rem, tc.remedy)
			}
		})
	}
	// A stopped server is the generic stopped-holder root.
	stopped := server
	stopped.State = "T"
	ref := waitkind.RPCRef{Program: "nfs", Proc: "LOOKUP", Server: "127.0.0.1", Addr: "127.0.0.1:2049", Connected: true}
	w := TaskWait{Kind: WaitRPC, Certain: true, Holders: []Holder{stopped},
		Task:   BlockedTask{TaskRef: sched.TaskRef{Addr: 0xffff888000700000, PID: 91}, State: "D"},
		Object: WaitObject{Type: "rpc_task", RPC: &ref, What: rpcWhat(&ref)}}
	if r := classifyRoot(&w); r.Kind != RootHolderStopped {
		t.Errorf("stopped server: root %s", r.Kind)
	}
	if what := rpcWhat(&ref); !strings.Contains(what, "NFS server 127.0.0.1") || !strings.Contains(what, "nfs LOOKUP") {
		t.Errorf("what %q", what)
	}
}
