package waitfor

import (
	"reflect"
	"testing"
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
