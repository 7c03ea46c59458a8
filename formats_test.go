package kwalk_test

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitfor"
)

// Every format of every generated dump gives the same analysis, and it
// agrees with the guest's record: the D tasks it saw are in D, and the
// deadlock report has the same status and roots in each format.
// makedumpfile -d 31 files leave pages out by design; there only reads
// that fail as excluded are allowed to differ.
func TestEveryFormat(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		g := d.Generated
		if g == nil || strings.Contains(d.Name, "scale") && testing.Short() {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			want := ""
			for _, f := range g.Formats() {
				path := g.Path(f)
				filtered := strings.Contains(string(f), "d31")
				prog, err := kwalk.Open(path, kwalk.Options{})
				if err != nil {
					t.Errorf("%s: %v", f, err)
					continue
				}
				tasks, err := sched.Tasks(prog)
				if err != nil && !(filtered && errors.Is(err, kcore.ErrExcluded)) && len(tasks) == 0 {
					t.Errorf("%s: tasks: %v", f, err)
				}
				state := make(map[int]string, len(tasks))
				for _, task := range tasks {
					state[task.PID] = task.State
				}
				for i := range d.Truth.Tasks {
					rt := &d.Truth.Tasks[i]
					if rt.State == 'D' && !filtered && state[rt.TID] != "D" && !d.Truth.Varies(rt.TID) {
						t.Errorf("%s: task %d (%s) is D in the record, %q here", f, rt.TID, rt.Comm, state[rt.TID])
					}
				}
				if filtered {
					prog.Dump.Close()
					continue
				}
				rep, err := waitfor.Deadlock(prog)
				if err != nil {
					t.Fatalf("%s: deadlock: %v", f, err)
				}
				got := summary(rep)
				prog.Dump.Close()
				if want == "" {
					want = got
					t.Logf("%s: %s", f, got)
				} else if got != want {
					t.Errorf("%s: deadlock %s; first format said %s", f, got, want)
				}
			}
		})
	}
}

// summary is a report's status and sorted root kinds.
func summary(r *waitfor.DeadlockReport) string {
	var kinds []string
	for _, c := range r.Chains {
		kinds = append(kinds, fmt.Sprintf("%s/%d", c.Root.Kind, c.Blocked))
	}
	sort.Strings(kinds)
	return r.Status + " " + strings.Join(kinds, ",")
}
