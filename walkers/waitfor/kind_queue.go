package waitfor

import (
	"fmt"
	"time"

	"github.com/kwalk/kwalk/walkers/block"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// WaitQueueFreeze is TaskWait.Kind of a wait on a block device's request
// queue freeze: for the I/O in flight to end (the freezer), or for the
// freeze to end (new I/O).
const WaitQueueFreeze = "queue-freeze"

// queueFreezeFrames: block/blk-mq.c blk_mq_freeze_queue_wait (inlined
// into blk_mq_freeze_queue / blk_freeze_queue on some builds) waits on
// q->mq_freeze_wq until q_usage_counter is zero — every request in
// flight has ended. Callers: sysfs queue attributes (nr_requests,
// scheduler), loop's LOOP_SET_STATUS/CLR_FD, nvme resets, elevator and
// tag-set changes.
var queueFreezeNames = []string{"blk_mq_freeze_queue_wait", "blk_mq_freeze_queue_wait_timeout",
	"blk_mq_freeze_queue", "blk_freeze_queue", "blk_mq_freeze_queue_nomemsave"}

var queueFreezeFrames = waitkind.NewFrames(queueFreezeNames...)

// queueEnterFrames: block/blk-core.c blk_queue_enter / __bio_queue_enter:
// new I/O waits on q->mq_freeze_wq while the queue is frozen.
var queueEnterNames = []string{"blk_queue_enter", "__bio_queue_enter", "bio_queue_enter"}

var queueEnterFrames = waitkind.NewFrames(queueEnterNames...)

// QueueFreezeWait: a task on a request queue's mq_freeze_wq. A freezer
// waits for the requests in flight, held by the disk's driver (its
// worker, when the driver has one: driverWorkers); I/O entering the
// queue waits for the freeze to end, held by the freezers.
var QueueFreezeWait = &waitkind.Kind{
	Name:   WaitQueueFreeze,
	Verb:   "waits for",
	Frames: waitkind.NewFrames(append(append([]string{}, queueFreezeNames...), queueEnterNames...)...),
	Waiter: locking.WaitEntryShape(),
	Decode: decodeQueueFreezeWait,
}

func decodeQueueFreezeWait(c waitkind.Context, t *sched.Task, f waitkind.Found) (TaskWait, bool) {
	a, ok := c.(*waitAnalysis)
	if !ok {
		return TaskWait{}, false
	}
	q, err := a.p.ContainerOf(f.Object, "struct request_queue", "mq_freeze_wq")
	if err != nil {
		return TaskWait{}, false
	}
	disk := a.diskOfQueue(q.Addr())
	if disk == nil {
		return TaskWait{}, false
	}
	freezing := a.HasFrame(t, queueFreezeFrames)
	w := TaskWait{Task: a.Blocked(t), Kind: WaitQueueFreeze, Certain: true,
		How: "wait_queue_entry on the task's stack, linked into request_queue.mq_freeze_wq (block/blk-mq.c)"}
	w.Object = WaitObject{Type: "request_queue", Addr: q.Addr(), Container: disk.Addr}
	if freezing {
		reqs, err := block.InFlightRequests(a.p, disk)
		what := fmt.Sprintf("the I/O in flight on %s to end, to freeze its request queue", disk.Label())
		switch {
		case err != nil:
			w.Note = fmt.Sprintf("its requests in flight could not be read: %v", err)
		case len(reqs) > 0:
			var oldest time.Duration
			for _, r := range reqs {
				oldest = max(oldest, r.Age)
			}
			what = fmt.Sprintf("%d request(s) in flight on %s to end, to freeze its request queue", len(reqs), disk.Label())
			if oldest > 0 {
				w.Note = fmt.Sprintf("the oldest request in flight was issued %s ago", oldest.Round(time.Second))
			}
		}
		w.Object.What = what
		w.Holders = a.driverWorkers(disk)
		if len(w.Holders) == 0 {
			w.Object.Block = &waitkind.BlockRef{Device: disk.Name, Disk: disk.Name, DiskAddr: disk.Addr, MQ: disk.MQ, IO: "requests in flight"}
		}
		return w, true
	}
	w.Object.What = fmt.Sprintf("the freeze of %s's request queue to end, to start its I/O", disk.Label())
	for _, h := range a.stackReferencesBut(q.Addr(), t.Addr) {
		if ht := a.TaskAt(h); ht != nil && a.HasFrame(ht, queueFreezeFrames) {
			w.Holders = append(w.Holders, Holder{Task: a.Ref(h), Certain: true,
				How: "freezes the queue: it waits in blk_mq_freeze_queue with the queue's address on its stack"})
		}
	}
	if len(w.Holders) == 0 {
		w.Note = "no blocked task is freezing the queue: a freeze was started and not ended (blk_freeze_queue_start without blk_mq_unfreeze_queue), or its owner runs"
	}
	return w, true
}

type diskOfQueueKey uint64

// diskOfQueue returns the disk whose request queue is at q: q->disk
// (5.15+), else the disk among the block class's whose queue it is.
func (a *waitAnalysis) diskOfQueue(q uint64) *block.Disk {
	return a.Memo(diskOfQueueKey(q), func() any {
		if qo, err := a.p.Object("struct request_queue", q); err == nil {
			if d, err := qo.MemberUint("disk"); err == nil && d != 0 {
				if disk, err := block.ReadDisk(a.p, d); err == nil && disk.Queue == q {
					return disk
				}
			}
		}
		disks, _ := block.Disks(a.p)
		for _, d := range disks {
			if d.Queue == q {
				return d
			}
		}
		return (*block.Disk)(nil)
	}).(*block.Disk)
}
