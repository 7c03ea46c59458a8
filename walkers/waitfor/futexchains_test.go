package waitfor

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/walkers/locking"
)

func TestFutexStuck(t *testing.T) {
	for _, tc := range []struct {
		name string
		next map[uint64]uint64
		have map[uint64]bool
		want map[uint64]bool
	}{
		{"contention with a running owner", map[uint64]uint64{1: 2}, nil, map[uint64]bool{1: false}},
		{"ABBA", map[uint64]uint64{1: 2, 2: 1}, nil, map[uint64]bool{1: true, 2: true}},
		{"behind an ABBA", map[uint64]uint64{1: 2, 2: 1, 3: 1, 4: 3}, nil, map[uint64]bool{1: true, 2: true, 3: true, 4: true}},
		{"owner blocked in the kernel", map[uint64]uint64{1: 2, 3: 1}, map[uint64]bool{2: true}, map[uint64]bool{1: true, 3: true}},
		{"three-way cycle and a waiter off it on a free owner", map[uint64]uint64{1: 2, 2: 3, 3: 1, 5: 6}, nil, map[uint64]bool{1: true, 2: true, 3: true, 5: false}},
		{"chain to an owner that waits for nothing", map[uint64]uint64{1: 2, 2: 3}, nil, map[uint64]bool{1: false, 2: false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := futexStuck(tc.next, tc.have); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFutexCycleRemedies(t *testing.T) {
	a, b := tw(1, locking.WaitFutex, 2), tw(2, locking.WaitFutex, 1)
	a.Task.TGID, b.Task.TGID = 7, 7
	rem := futexCycleRemedies([]TaskWait{a, b})
	if len(rem) != 2 || !strings.HasPrefix(rem[0], "gdb -p 7 ") || !strings.HasPrefix(rem[1], "kill 7 ") {
		t.Errorf("one process's futex cycle: %q", rem)
	}
	b.Task.TGID = 8
	if rem := futexCycleRemedies([]TaskWait{a, b}); rem != nil {
		t.Errorf("a cycle across processes: %q", rem)
	}
	if rem := futexCycleRemedies([]TaskWait{a, tw(2, locking.WaitMutex, 1)}); rem != nil {
		t.Errorf("a cycle through a kernel mutex: %q", rem)
	}
}
