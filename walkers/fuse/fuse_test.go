package fuse

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/walktest"
)

func TestFuseConnection(t *testing.T) {
	for _, tc := range []struct {
		name        string
		aborted     bool
		corruptProc bool
		wantReqs    string // "queue:op:unique" joined
		wantErr     bool
	}{
		{name: "pending and processing", wantReqs: "pending:FLUSH:4,processing:WRITE:6"},
		{name: "aborted", aborted: true, wantReqs: "pending:FLUSH:4,processing:WRITE:6"},
		{name: "garbage processing list", corruptProc: true, wantReqs: "pending:FLUSH:4", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := walktest.NewLockFixture(t, false)
			fc := f.Alloc(480)
			f.Mem.WriteU32(fc+344, 24) // dev
			f.Mem.WriteU32(fc+296, 1)  // connected
			f.Mem.WriteU32(fc+260, 1)  // initialized
			f.Mem.WriteU32(fc+320, 2)  // num_waiting
			f.List(fc + 240)           // bg_queue empty
			f.List(fc + 456)           // mounts empty
			listHead := f.Alloc(16)    // fuse_conn_list
			f.List(listHead, fc+328)   // fc->entry
			if tc.aborted {
				f.Mem.Write(fc+300, []byte{1})
			}
			req := func(op uint32, unique uint64, flags uint64, waiter uint64) uint64 {
				r := f.Alloc(160)
				f.Mem.WriteU32(r+56+4, op)
				f.Mem.WriteU64(r+56+8, unique)
				f.Mem.WriteU64(r+56+16, 2)
				f.Mem.WriteU64(r+48, flags)
				if waiter != 0 {
					e := f.Alloc(40)
					f.Mem.WriteU64(e+8, waiter)
					f.Mem.WriteU64(e+16, 0xffffffff81001000)
					f.List(r+112+8, e+24)
				} else {
					f.List(r + 112 + 8)
				}
				return r
			}
			dd := f.Task(110, "dd")
			flush := req(25, 4, 1<<7|1<<1, f.Task(131, "hangfs"))
			write := req(16, 6, 1<<8, dd)
			f.List(fc+72+40, flush) // iq.pending
			fud := f.Alloc(56)
			f.Mem.WriteU64(fud, fc)
			f.List(fc+440, fud+40)
			proc := f.Alloc(256 * 16)
			for i := uint64(0); i < 256; i++ {
				f.List(proc + i*16)
			}
			f.List(proc+3*16, write)
			if tc.corruptProc {
				f.Mem.WriteU64(proc+3*16, 0xdead000000000000)
			}
			f.Mem.WriteU64(fud+8+8, proc)
			f.List(fud + 8 + 16)
			p := f.Prog(symbols.Symbol{Name: "fuse_conn_list", Addr: listHead, Size: 16, Type: 'd'},
				symbols.Symbol{Name: "autoremove_wake_function", Addr: 0xffffffff81001000, Size: 0x40, Type: 't'})
			addrs, errs := FuseConnAddrs(p)
			if len(addrs) != 1 || addrs[0] != fc {
				t.Fatalf("connections %x (%v)", addrs, errs)
			}
			c, err := FuseConnection(p, fc)
			if err != nil {
				t.Fatal(err)
			}
			if c.ID != 24 || !c.Connected || c.Aborted != tc.aborted || c.NumWaiting != 2 || !strings.HasSuffix(c.Remedy, "connections/24/abort") {
				t.Errorf("conn %+v", c)
			}
			var got []string
			for _, r := range c.Requests {
				got = append(got, r.Queue+":"+r.Op+":"+strconv.FormatUint(r.Unique, 10))
			}
			if strings.Join(got, ",") != tc.wantReqs {
				t.Errorf("requests %v, want %s", got, tc.wantReqs)
			}
			if (len(c.Errors) > 0) != tc.wantErr {
				t.Errorf("errors %v", c.Errors)
			}
			for _, r := range c.Requests {
				if r.Op == "FLUSH" && (len(r.Waiters) != 1 || r.Waiters[0].PID != 131 || strings.Join(r.Flags, "|") != "FR_FORCE|FR_PENDING" || !r.Forced()) {
					t.Errorf("flush %+v", r)
				}
				if r.Op == "WRITE" && (len(r.Waiters) != 1 || r.Waiters[0].PID != 110) {
					t.Errorf("write %+v", r)
				}
			}
		})
	}
}
