package waitkind_test

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestDescribeWaitQueueInSlab names a wait queue inside a slab object by
// its struct and member: init's signal->wait_chldexit, where init sleeps
// in wait4 (kernel/exit.c do_wait), in the signal_cache object of its
// signal_struct.
func TestDescribeWaitQueueInSlab(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			init, err := sched.TaskByPID(p, 1)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := init.Obj.MemberUint("signal")
			if err != nil {
				t.Fatal(err)
			}
			off, err := p.OffsetOf("struct signal_struct", "wait_chldexit")
			if err != nil {
				t.Fatal(err)
			}
			got := waitkind.DescribeLock(p, sig+off, "wait_queue_head")
			if !strings.Contains(got, "signal_struct.wait_chldexit (object ") {
				t.Errorf("DescribeLock(&init.signal->wait_chldexit) = %q", got)
			}
		})
	}
}
