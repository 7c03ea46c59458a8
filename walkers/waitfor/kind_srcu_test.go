package waitfor

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// TestSRCUGracePeriodWait: a task in synchronize_srcu waits for the SRCU
// domain its stack names (the srcu_struct pointer spilled on it); SRCU
// readers are not recorded, so the root is a stall with no holder and is
// never certain. Without a domain symbol on the stack the wait is still
// an SRCU grace period; a completion whose rcu_head is not
// wakeme_after_rcu's stays a plain completion.
func TestSRCUGracePeriodWait(t *testing.T) {
	for _, tc := range []struct {
		name     string
		spill    bool   // the srcu_struct's address is on the stack
		queued   bool   // the rcu_head is on the domain's CPU 1 callback list
		fn       uint64 // the rcu_head's func
		kind     string
		what     string
		rootKind string
	}{
		{"callback on the domain", false, true, symWakemeAfterRCU, WaitSRCUGracePeriod, "an SRCU grace period of my_srcu", RootSRCUStall},
		{"domain named by the stack", true, false, symWakemeAfterRCU, WaitSRCUGracePeriod, "an SRCU grace period of my_srcu", RootSRCUStall},
		{"domain not found", false, false, symWakemeAfterRCU, WaitSRCUGracePeriod, "its srcu_struct is not a symbol on the stack", RootSRCUStall},
		{"not an rcu_synchronize", true, true, 0, "completion", "completion", RootNoWaker},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRCUScene(t)
			ty := s.Types
			ptr := ty.Ptr(nil)
			cbl := ty.Struct("rcu_segcblist", 40, symtest.F("head", ptr, 0), symtest.F("tails", ty.Array(ptr, 4), 8))
			ty.Struct("srcu_data", 64, symtest.F("srcu_cblist", cbl, 0))
			ty.Struct("srcu_struct", 16, symtest.F("srcu_idx", ty.Get("unsigned int"), 0), symtest.F("sda", ptr, 8))
			ssp := s.Alloc(256)
			s.syms = append(s.syms, symbols.Symbol{Name: "my_srcu", Addr: ssp, Size: 256, Type: 'd'},
				symbols.Symbol{Name: "other_srcu", Addr: s.Alloc(256), Size: 256, Type: 'd'})
			// sda: a per-CPU offset; CPU 1's srcu_data holds the callback.
			sdp1 := s.Alloc(64)
			off1, _ := s.Prog(s.syms...).PerCPUOffset(1)
			s.Mem.WriteU64(ssp+8, sdp1-off1)
			task, st := s.task(70, "syncer", "D", "__schedule", "schedule_timeout", "wait_for_completion", "__synchronize_srcu", "synchronize_srcu", "my_fn")
			rs := st + 0x3c00
			s.Mem.WriteU64(rs+8, tc.fn)
			s.List(rs + 16 + 16)
			s.swaitWaiter(task, st, 0x3e00, rs+16)
			if tc.queued {
				other := s.Alloc(16) // a callback queued before it
				s.Mem.WriteU64(sdp1, other)
				s.Mem.WriteU64(other, rs)
			}
			if tc.spill {
				s.Mem.WriteU64(st+0x3d80, ssp)
			}
			_, ws, cs := s.run()
			w := waitOfPID(ws, 70)
			if w == nil {
				t.Fatalf("no wait: %+v", ws)
			}
			if w.Kind != tc.kind || !strings.Contains(w.Object.What, tc.what) {
				t.Fatalf("wait %s on %q, want %s on …%s…", w.Kind, w.Object.What, tc.kind, tc.what)
			}
			c := chainOfPID(cs, 70)
			if c == nil || c.Root.Kind != tc.rootKind {
				t.Fatalf("chain %+v, want root %s", c, tc.rootKind)
			}
			if tc.kind == WaitSRCUGracePeriod && w.Certain != (tc.queued || !tc.spill) {
				t.Errorf("wait certain %v: the domain is certain from its callback list only", w.Certain)
			}
			if tc.rootKind == RootSRCUStall {
				if c.Root.Certain || len(w.Holders) != 0 || !strings.Contains(c.Root.Summary, "srcu_read_lock") {
					t.Errorf("root %+v, holders %+v: want an uncertain stall naming srcu_read_lock, no holder", c.Root, w.Holders)
				}
				if !strings.Contains(strings.Join(c.Remedy, "\n"), "foreach bt") {
					t.Errorf("remedies %q", c.Remedy)
				}
			}
			t.Logf("%s", strings.Join(c.Story, "\n"))
		})
	}
}
