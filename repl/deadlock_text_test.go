package repl

import (
	"strings"
	"testing"
	"time"

	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitfor"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

func TestWrapTo(t *testing.T) {
	for _, tc := range []struct {
		text  string
		width int
		want  string
	}{
		{"short line", 40, "> short line\n"},
		{"aaa bbb ccc ddd", 9, "> aaa bbb\n  ccc ddd\n"},
		{"/a/very/long/path/that/does/not/fit here", 10, "> /a/very/long/path/that/does/not/fit\n  here\n"},
		{"", 10, "> \n"},
	} {
		var b strings.Builder
		wrapTo(&b, "> ", "  ", tc.text, tc.width)
		if b.String() != tc.want {
			t.Errorf("wrapTo(%q, %d) = %q, want %q", tc.text, tc.width, b.String(), tc.want)
		}
	}
}

// The other waiters of an object a hop shows are one line, bounded.
func TestChainTextGroupsSameObject(t *testing.T) {
	wait := func(pid int) waitkind.TaskWait {
		return waitkind.TaskWait{
			Task:   waitkind.BlockedTask{TaskRef: sched.TaskRef{PID: pid, TGID: pid, Comm: "w"}, State: "D"},
			Kind:   "mutex",
			Object: waitkind.WaitObject{Type: "mutex", Addr: 0x1000, What: "a mutex"},
		}
	}
	c := waitfor.Chain{Root: waitkind.Root{Kind: waitfor.RootNoWaker, Summary: "nobody", Certain: true}, Blocked: 20}
	c.Path = []waitkind.TaskWait{wait(1)}
	for pid := 2; pid <= 20; pid++ {
		c.Others = append(c.Others, wait(pid))
	}
	var b strings.Builder
	writeChainText(&b, 1, c, 100, false)
	out := b.String()
	if n := strings.Count(out, "\n  - "); n != 1 {
		t.Errorf("%d hop lines, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, "+ 19 more waiting on the same mutex") || !strings.Contains(out, "and 11 more") {
		t.Errorf("no bounded group line:\n%s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 100 {
			t.Errorf("line longer than 100 columns: %q", l)
		}
	}
}

// One line per root cause, with the count, the longest wait and the fix
// (its comment dropped); a pipe gets whole lines.
func TestRootSummary(t *testing.T) {
	c := waitfor.Chain{Root: waitkind.Root{Kind: "filesystem-frozen", Summary: "filesystem /mnt/frz is frozen"}, Blocked: 3,
		Remedy: []string{"fsfreeze -u /mnt/frz  # thaw the filesystem (FITHAW)"}}
	c.Path = []waitkind.TaskWait{{Task: waitkind.BlockedTask{BlockedFor: 19 * time.Second}}}
	c.Others = []waitkind.TaskWait{{Task: waitkind.BlockedTask{BlockedFor: 42 * time.Second}}}
	var b strings.Builder
	writeRootSummary(&b, []waitfor.Chain{c}, 0)
	want := "\nroot causes:\n  #1 filesystem /mnt/frz is frozen (3 task(s), blocked up to 42s) — fix: fsfreeze -u /mnt/frz\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
