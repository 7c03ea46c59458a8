package waitfor

import (
	"fmt"

	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
	"github.com/kwalk/kwalk/walkers/workqueue"
)

// WaitWritebackWork is TaskWait.Kind of a task waiting for write-back
// work it queued on a device's bdi (sync, syncfs, umount).
const WaitWritebackWork = "writeback-work"

// WritebackWorkWait: fs/fs-writeback.c sync_inodes_sb (and
// writeback_inodes_sb) queue write-back work on each bdi_writeback of the
// superblock's bdi and sleep in wb_wait_for_completion on bdi->wb_waitq
// until its count drops to zero. The work is run by a flusher kworker in
// wb_workfn (its current_work is the wb's dwork.work): that worker holds
// the wait.
var WritebackWorkWait = &waitkind.Kind{
	Name:   WaitWritebackWork,
	Verb:   "waits for",
	Frames: waitkind.NewFrames("wb_wait_for_completion"),
	Waiter: locking.WaitEntryShape(),
	Decode: decodeWritebackWorkWait,
}

func decodeWritebackWorkWait(c waitkind.Context, t *sched.Task, f waitkind.Found) (TaskWait, bool) {
	p := c.Prog()
	bdi, err := p.ContainerOf(f.Object, "struct backing_dev_info", "wb_waitq")
	if err != nil {
		return TaskWait{}, false
	}
	name, _ := bdi.MemberString("dev_name")
	if name == "" {
		name = fmt.Sprintf("%#x", bdi.Addr())
	}
	w := TaskWait{Task: c.Blocked(t), Kind: WaitWritebackWork, Certain: true,
		How: "wait_queue_entry on the task's stack, linked into backing_dev_info.wb_waitq (fs/fs-writeback.c wb_wait_for_completion)"}
	w.Object = WaitObject{Type: "backing_dev_info", Addr: bdi.Addr(), What: "the write-back work it queued on bdi " + name}
	pools := c.(*waitAnalysis).workPools()
	workOff, err := p.OffsetOf("struct bdi_writeback", "dwork.work")
	if err != nil {
		w.Certain = false
		w.Note = "struct bdi_writeback has no dwork.work: its flusher cannot be found"
		return w, true
	}
	for _, pl := range pools {
		for _, wk := range pl.Busy {
			if c.(*waitAnalysis).symbolAt(wk.CurrentFunc) != "wb_workfn" || wk.CurrentWork < workOff {
				continue
			}
			wb, err := p.Object("struct bdi_writeback", wk.CurrentWork-workOff)
			if err != nil {
				continue
			}
			if b, err := wb.MemberUint("bdi"); err == nil && b == bdi.Addr() {
				w.Holders = append(w.Holders, Holder{Task: c.Ref(wk.Task), Certain: true,
					How: fmt.Sprintf("flusher kworker running the bdi's write-back work (wb_workfn, worker pool %d)", pl.ID)})
			}
		}
	}
	if len(w.Holders) == 0 {
		w.Note = "no kworker runs this bdi's write-back work: it is queued, not started"
	}
	return w, true
}

type workPoolsKey struct{}

// workPools reads the workqueue worker pools once per analysis; a pool
// that could not be read is a warning (its workers are not holders).
func (a *waitAnalysis) workPools() []workqueue.Pool {
	return a.Memo(workPoolsKey{}, func() any {
		pl, err := workqueue.Pools(a.p)
		if err != nil {
			a.Warn(fmt.Sprintf("workqueue pools: %v", err))
		}
		return pl
	}).([]workqueue.Pool)
}
