package waitfor

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/kwalk/kwalk/walkers/block"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// WaitBlockIO is TaskWait.Kind of a wait for block I/O to complete.
const WaitBlockIO = "block-io"

// Root kinds of chains that end at block I/O.
const (
	// RootBlockSuspended: the device is a suspended device-mapper device,
	// whose bios are held until it is resumed.
	RootBlockSuspended = "block-device-suspended"
	// RootBlockIOStuck: the I/O was issued and has not completed.
	RootBlockIOStuck = "block-io-not-completing"
)

// blockIOFrames are the functions a task waiting for its block I/O sleeps
// under: write-back of page-cache folios (mm/filemap.c
// __filemap_fdatawait_range → mm/page-writeback.c folio_wait_writeback;
// 5.10 wait_on_page_writeback), O_DIRECT through iomap (fs/iomap/
// direct-io.c __iomap_dio_rw), a synchronous bio (block/bio.c
// submit_bio_wait; bio_await in 7.1) and the block device's own direct
// I/O (block/fops.c __blkdev_direct_IO_simple; fs/block_dev.c in 5.10),
// and a locked buffer_head (fs/buffer.c __wait_on_buffer: journal and
// metadata blocks; 7.x inlines it into its callers, leaving the bit wait
// of kernel/sched/wait_bit.c on the stack, checked to be a buffer's).
var blockIOFrames = waitkind.NewFrames("folio_wait_writeback", "wait_on_page_writeback", "__filemap_fdatawait_range",
	"__iomap_dio_rw", "iomap_dio_rw", "submit_bio_wait", "bio_await", "__blkdev_direct_IO_simple", "__blkdev_direct_IO",
	"__wait_on_buffer", "out_of_line_wait_on_bit", "__wait_on_bit")

// BlockIOWait is the wait kind of a task in D waiting for I/O on a block
// device: the write-back of a folio (PG_writeback, the waiter a
// wait_page_queue on its stack: its folio's inode names the device), an
// O_DIRECT request (its struct iomap_dio, whose submit.waiter is the task)
// or a bio whose bi_private ties it to the task (submit_bio_wait's
// completion on its stack; __blkdev_direct_IO_simple's task). The device
// is decoded (package block): a suspended device-mapper device holds the
// bios on its deferred list and is the root; otherwise the I/O is in the
// device's hands and has not completed. No task holds the I/O.
var BlockIOWait = &waitkind.Kind{
	Name:     WaitBlockIO,
	Verb:     "waits for",
	Frames:   blockIOFrames,
	Detect:   detectBlockIO,
	Classify: classifyBlockIO,
	Remedies: blockIORemedies,
}

func detectBlockIO(c waitkind.Context, t *sched.Task) (TaskWait, bool) {
	a, ok := c.(*waitAnalysis)
	if !ok || t.State != "D" {
		return TaskWait{}, false
	}
	// Without frames (a stack that did not unwind) the structures below
	// are specific enough: a PG_writeback waiter of a file on a block
	// device, a dio whose waiter is the task, a bio that names it.
	unwound := false
	if tr := a.Trace(t); tr != nil && len(tr.Frames) > 0 {
		unwound = true
		if !a.HasFrame(t, blockIOFrames) && !a.HasFrame(t, folioLockFrames) && !a.HasFrame(t, throttleFrames) && !a.HasFrame(t, tagFrames) {
			return TaskWait{}, false
		}
	}
	// A bio still waiting to enter a frozen queue has not been issued:
	// that wait is the queue freeze's (kind_queue.go).
	if a.HasFrame(t, queueEnterFrames) {
		return TaskWait{}, false
	}
	if !unwound || a.HasFrame(t, tagFrames) {
		if w, ok := a.tagWait(t); ok {
			return w, true
		}
	}
	if !unwound || a.HasFrame(t, throttleFrames) {
		if w, ok := a.throttleWait(t); ok {
			return w, true
		}
	}
	if !unwound || a.HasFrame(t, folioLockFrames) {
		if w, ok := a.readWait(t); ok {
			return w, true
		}
	}
	if w, ok := a.writebackWait(t); ok {
		return w, true
	}
	if w, ok := a.directIOWait(t); ok {
		return w, true
	}
	if w, ok := a.bufferWait(t); ok {
		return w, true
	}
	return a.syncBioWait(t)
}

// bufferWait: t waits for a buffer_head's lock bit (fs/buffer.c
// __wait_on_buffer → wait_on_bit_io(&bh->b_state, BH_Lock)), which the
// buffer's I/O completion (end_buffer_*_sync, end_bio_bh_io_sync)
// clears. The waiter is a struct wait_bit_queue_entry on its stack
// (kernel/sched/wait_bit.c __wait_on_bit, wake function
// wake_bit_function) whose key names the word and the bit.
func (a *waitAnalysis) bufferWait(t *sched.Task) (TaskWait, bool) {
	entryOff, err1 := a.p.OffsetOf("struct wait_bit_queue_entry", "wq_entry")
	flagsOff, err2 := a.p.OffsetOf("struct wait_bit_queue_entry", "key.flags")
	bitOff, err3 := a.p.OffsetOf("struct wait_bit_queue_entry", "key.bit_nr")
	stateOff, err4 := a.p.OffsetOf("struct buffer_head", "b_state")
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return TaskWait{}, false
	}
	bits, err := a.p.Type("enum bh_state_bits") // include/linux/buffer_head.h
	if err != nil {
		return TaskWait{}, false
	}
	bhLock, ok := bits.EnumValue("BH_Lock")
	if !ok {
		return TaskWait{}, false
	}
	for _, sw := range a.findStackWaiters(t) {
		if sw.broken != "" || sw.shape.w.Type != "struct wait_queue_entry" || a.wakeFunc(sw) != "wake_bit_function" {
			continue
		}
		wbq := sw.addr - entryOff
		word, err1 := a.p.ReadU64(wbq + flagsOff)
		bit, err2 := a.p.ReadU32(wbq + bitOff)
		if err1 != nil || err2 != nil || uint64(bit) != uint64(bhLock) || word < stateOff {
			continue
		}
		bh, err := a.p.Object("struct buffer_head", word-stateOff)
		if err != nil {
			continue
		}
		bdev, err1 := bh.MemberUint("b_bdev")
		size, err2 := bh.MemberUint("b_size")
		blocknr, err3 := bh.MemberUint("b_blocknr")
		if err1 != nil || err2 != nil || err3 != nil || bdev == 0 || size == 0 || size&(size-1) != 0 || size > 1<<16 {
			continue
		}
		dev := a.blockDevice(bdev)
		if dev == nil {
			continue
		}
		var bio *block.Bio
		if dm := dev.Disk.DM; dm != nil {
			for i := range dm.Deferred {
				if dm.Deferred[i].Private == bh.Addr() {
					bio = &dm.Deferred[i]
					break
				}
			}
		}
		w := TaskWait{Task: a.Blocked(t), Kind: WaitBlockIO, Certain: true,
			How: "wait_bit_queue_entry on the task's stack for BH_Lock of a buffer_head (fs/buffer.c __wait_on_buffer)"}
		w.Object = WaitObject{Type: "buffer_head", Addr: bh.Addr(),
			What: fmt.Sprintf("I/O of block %d (%d bytes, buffer_head %#x)", blocknr, size, bh.Addr())}
		a.blockObject(&w, t, dev, "buffer I/O", bio)
		return w, true
	}
	return TaskWait{}, false
}

// tagFrames are where a task waits for a free request tag (block/
// blk-mq-tag.c): every request of its hardware queue is taken.
var tagFrames = waitkind.NewFrames("blk_mq_get_tag")

// tagQueue is a hardware queue's tag set, where a tag wait leads.
type tagQueue struct {
	disk  *block.Disk
	part0 uint64
	hw    block.HWQueue
	sched bool // the I/O scheduler's tags (sched_tags), not the driver's
	tags  uint64
}

type tagHeadsKey struct{}

// maxTagWaitWalk bounds the wait-queue entries walked from a waiter to
// its head.
const maxTagWaitWalk = 4096

// tagHeads maps the tag wait-queue heads of every blk-mq disk's hardware
// queues to the queue, once per analysis.
func (a *waitAnalysis) tagHeads() map[uint64]tagQueue {
	return a.Memo(tagHeadsKey{}, func() any {
		out := map[uint64]tagQueue{}
		disks, err := block.Disks(a.p)
		if err != nil {
			a.Warn(fmt.Sprintf("disks: %v", err))
		}
		for _, d := range disks {
			if !d.MQ || d.Queue == 0 {
				continue
			}
			g, err := a.p.Object("struct gendisk", d.Addr)
			if err != nil {
				continue
			}
			part0, err := g.MemberUint("part0")
			if err != nil {
				continue
			}
			q, err := block.ReadQueue(a.p, d.Queue, d.Addr)
			if err != nil {
				a.Warn(fmt.Sprintf("disk %s: %v", d.Name, err))
				continue
			}
			for _, hw := range q.HWQueues {
				for _, tq := range []tagQueue{{tags: hw.Tags}, {tags: hw.SchedTags, sched: true}} {
					heads, err := block.TagWaitHeads(a.p, tq.tags)
					if err != nil {
						a.Warn(fmt.Sprintf("disk %s hardware queue %d: %v", d.Name, hw.Num, err))
					}
					tq.disk, tq.part0, tq.hw = d, part0, hw
					for _, h := range heads {
						out[h] = tq
					}
				}
			}
		}
		return out
	}).(map[uint64]tagQueue)
}

// tagWait: t sleeps in blk_mq_get_tag on a wait queue of a hardware
// queue's tags (a DEFINE_SBQ_WAIT entry on its stack, queued by
// sbitmap_prepare_to_wait): every request is taken, and it waits for one
// to complete. The requests in flight are the device's: the wait joins
// the device's chain.
func (a *waitAnalysis) tagWait(t *sched.Task) (TaskWait, bool) {
	heads := a.tagHeads()
	if len(heads) == 0 {
		return TaskWait{}, false
	}
	headOff, err := a.p.OffsetOf("struct wait_queue_head", "head")
	if err != nil {
		return TaskWait{}, false
	}
	for _, sw := range a.findStackWaiters(t) {
		if sw.broken != "" || sw.shape.w.Type != "struct wait_queue_entry" {
			continue
		}
		var tq tagQueue
		found := false
		n := sw.node
		for i := 0; i < maxTagWaitWalk && !found; i++ {
			next, err := a.p.ReadU64(n)
			if err != nil || next == 0 || next == sw.node {
				break
			}
			n = next
			if n >= headOff {
				tq, found = heads[n-headOff]
			}
		}
		if !found {
			continue
		}
		dev := a.blockDevice(tq.part0)
		if dev == nil {
			continue
		}
		kind := "driver"
		if tq.sched {
			kind = "I/O scheduler's"
		}
		w := TaskWait{Task: a.Blocked(t), Kind: WaitBlockIO, Certain: true,
			How: fmt.Sprintf("wait_queue_entry on the task's stack, queued on a wait queue of the %s tags of %s's hardware queue %d (block/blk-mq-tag.c blk_mq_get_tag)", kind, tq.disk.Name, tq.hw.Num)}
		what := fmt.Sprintf("a free request tag of %s (hardware queue %d", tq.disk.Name, tq.hw.Num)
		if !tq.sched && tq.hw.NrTags > 0 {
			what += fmt.Sprintf(": %d of %d driver tags in use", tq.hw.Busy, tq.hw.NrTags)
		}
		if n, oldest := a.oldestRequest(tq.disk); n > 0 {
			what += fmt.Sprintf("; %d request(s) in flight", n)
			if oldest > 0 {
				what += ", the oldest for " + oldest.Round(time.Second).String()
			}
		}
		w.Object = WaitObject{Type: "blk_mq_tags", Addr: tq.tags, What: what + ")"}
		a.blockObject(&w, t, dev, "a free request tag (blk_mq_get_tag)", nil)
		return w, true
	}
	return TaskWait{}, false
}

// oldestRequest returns how many requests the blk-mq disk d's driver
// holds and the age of the oldest (0 when unknown).
func (a *waitAnalysis) oldestRequest(d *block.Disk) (int, time.Duration) {
	rs := a.inFlight(d)
	var oldest time.Duration
	for _, r := range rs {
		oldest = max(oldest, r.Age)
	}
	return len(rs), oldest
}

// throttleFrames are where a writer is throttled for dirtying pages
// faster than they are written (mm/page-writeback.c).
var throttleFrames = waitkind.NewFrames("balance_dirty_pages", "balance_dirty_pages_ratelimited_flags", "balance_dirty_pages_ratelimited")

// throttleWait: t pauses in balance_dirty_pages, in a loop of short
// sleeps (io_schedule_timeout, TASK_KILLABLE), until write-back brings the
// dirty and under-write-back pages of its bdi_writeback (and globally)
// under the dirty limit. The global dirty_throttle_control it keeps on its
// stack (GDTC_INIT: .wb, .wb_completions = &wb->completions) names the
// bdi_writeback, whose backing_dev_info is a disk's. On a device whose
// I/O has stopped the writer never goes on; on a healthy one throttling
// is how writers are paced, not a hang: the wait is reported only when
// the device is suspended, served by a server, or has a request in flight
// for blockStuckAfter or more.
func (a *waitAnalysis) throttleWait(t *sched.Task) (TaskWait, bool) {
	wbOff, err1 := a.p.OffsetOf("struct dirty_throttle_control", "wb")
	complOff, err2 := a.p.OffsetOf("struct dirty_throttle_control", "wb_completions")
	wbComplOff, err3 := a.p.OffsetOf("struct bdi_writeback", "completions")
	bdiOff, err4 := a.p.OffsetOf("struct bdi_writeback", "bdi")
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return TaskWait{}, false
	}
	stack, base := a.Stack(t)
	var dtc, wb uint64
	for off := 0; off+8 <= len(stack); off += 8 {
		start := off - int(wbOff)
		if start < 0 || start+int(complOff)+8 > len(stack) {
			continue
		}
		v := binary.LittleEndian.Uint64(stack[off:])
		if !kmem.IsKernelPointer(v) || binary.LittleEndian.Uint64(stack[start+int(complOff):]) != v+wbComplOff {
			continue
		}
		dtc, wb = base+uint64(start), v
		break
	}
	if wb == 0 {
		return TaskWait{}, false
	}
	bdi, err := a.p.ReadU64(wb + bdiOff)
	if err != nil || bdi == 0 {
		return TaskWait{}, false
	}
	dev := a.deviceOfBDI(bdi)
	if dev == nil {
		return TaskWait{}, false
	}
	w := TaskWait{Task: a.Blocked(t), Kind: WaitBlockIO, Certain: true,
		How: "dirty_throttle_control on the task's stack (mm/page-writeback.c balance_dirty_pages) naming its bdi_writeback, whose backing_dev_info is the disk's"}
	what := "write-back of the dirty pages it is throttled on"
	if o, err := a.p.Object("struct dirty_throttle_control", dtc); err == nil {
		dirty, e1 := o.MemberUint("dirty")
		thresh, e2 := o.MemberUint("thresh")
		if e1 == nil && e2 == nil && thresh > 0 {
			what = fmt.Sprintf("write-back of dirty pages (throttled: %d pages dirty or under write-back against a limit of %d)", dirty, thresh)
		}
	}
	w.Object = WaitObject{Type: "bdi_writeback", Addr: wb, What: what}
	a.blockObject(&w, t, dev, "dirty page throttling (balance_dirty_pages)", nil)
	if w.Object.State != "suspended" && (w.Object.Block == nil || w.Object.Block.Server == nil) && !a.oldRequest(dev.Disk) {
		return TaskWait{}, false
	}
	return w, true
}

type bdiDisksKey struct{}

// deviceOfBDI returns the whole-disk block device whose backing_dev_info
// is bdi (gendisk.bdi, 5.15+; request_queue.backing_dev_info before):
// through bdi->owner, the disk's struct device (block/genhd.c
// device_add_disk: bdi_register_owner(disk->bdi, disk_to_dev(disk)),
// which is &disk->part0->bd_device since 5.11), checked to lead back;
// else by looking through the disks.
func (a *waitAnalysis) deviceOfBDI(bdi uint64) *block.Device {
	ownerOff, err1 := a.p.OffsetOf("struct backing_dev_info", "owner")
	devOff, err2 := a.p.OffsetOf("struct block_device", "bd_device")
	if err1 == nil && err2 == nil {
		owner, err := a.p.ReadU64(bdi + ownerOff)
		if err == nil && owner > devOff {
			if b, err := block.ReadBdev(a.p, owner-devOff); err == nil && b.PartNo == 0 && b.Disk != 0 {
				if g, err := a.p.Object("struct gendisk", b.Disk); err == nil {
					if gb, err := g.MemberUint("bdi"); err == nil && gb == bdi {
						return a.blockDevice(b.Addr)
					}
				}
			}
		}
	}
	byBDI := a.Memo(bdiDisksKey{}, func() any {
		m := map[uint64]uint64{}
		disks, err := block.Disks(a.p)
		if err != nil {
			a.Warn(fmt.Sprintf("disks: %v", err))
		}
		for _, d := range disks {
			g, err := a.p.Object("struct gendisk", d.Addr)
			if err != nil {
				continue
			}
			b, err := g.MemberUint("bdi")
			if err != nil && d.Queue != 0 {
				if q, err2 := a.p.Object("struct request_queue", d.Queue); err2 == nil {
					b, err = q.MemberUint("backing_dev_info")
				}
			}
			part0, err2 := g.MemberUint("part0")
			if err == nil && err2 == nil && b != 0 && part0 != 0 {
				m[b] = part0
			}
		}
		return m
	}).(map[uint64]uint64)
	if part0, ok := byBDI[bdi]; ok {
		return a.blockDevice(part0)
	}
	return nil
}

// oldRequest reports whether a request of the blk-mq disk d has been in
// flight for blockStuckAfter or more.
func (a *waitAnalysis) oldRequest(d *block.Disk) bool {
	if !d.MQ {
		return false
	}
	for _, r := range a.inFlight(d) {
		if r.Age >= blockStuckAfter {
			return true
		}
	}
	return false
}

// folioLockFrames are where a task sleeps on a folio's lock bit (mm/
// filemap.c folio_wait_bit_common; wait_on_page_bit_common in 5.10).
var folioLockFrames = waitkind.NewFrames("folio_wait_bit_common", "wait_on_page_bit_common")

// readWait: a wait_page_queue on t's stack for PG_locked of a folio of a
// file on a block device that is not uptodate. A page-cache folio is
// locked, not uptodate, while its read is in flight (mm/filemap.c
// filemap_read_folio, mm/readahead.c: the folio is added locked and
// unlocked by the read's completion, mpage_end_io / end_buffer_async_read
// / iomap's read end_io): the task waits for the device. The request that
// carries the folio is looked for among the disk's in-flight requests
// (blk-mq) or a suspended dm device's deferred bios. A locked folio that
// is uptodate is someone's lock, not I/O: left to the folio kind.
func (a *waitAnalysis) readWait(t *sched.Task) (TaskWait, bool) {
	for _, sw := range a.findStackWaiters(t) {
		if sw.broken != "" || sw.shape.w.Type != "struct wait_queue_entry" || a.wakeFunc(sw) != "wake_page_function" {
			continue
		}
		w, ok := locking.FolioWaitKind.Decode(a, t, waitkind.Found{Waiter: sw.addr, How: stackHow})
		fr := w.Object.Folio
		if !ok || fr == nil || fr.Bit != "PG_locked" || fr.Inode == 0 {
			continue
		}
		uptodate, err := a.folioFlag(fr.Folio, "PG_uptodate")
		if err != nil || uptodate {
			continue
		}
		dev := a.blockDeviceOfInode(fr.Inode)
		if dev == nil {
			continue
		}
		var bio *block.Bio
		found := ""
		if dm := dev.Disk.DM; dm != nil {
			for i := range dm.Deferred {
				if dm.Deferred[i].HasPage(fr.Folio) {
					bio, found = &dm.Deferred[i], "its bio is deferred on the dm device"
					break
				}
			}
		} else if rq, b := a.requestWithPage(dev.Disk, fr.Folio); rq != nil {
			bio = b
			found = fmt.Sprintf("in-flight request %#x (tag %d, %s of %d bytes at sector %d) carries it", rq.Addr, rq.Tag, rq.Op, rq.Bytes, rq.Sector)
		}
		what := strings.TrimPrefix(w.Object.What, "PG_locked of ")
		w.Kind = WaitBlockIO
		w.How = "wait_page_queue (PG_locked) on the task's stack, linked into the folio wait table; the folio is not uptodate: locked for its read from the block device"
		if found != "" {
			w.How += "; " + found
		}
		w.Note = ""
		w.Object.What = "read of " + what
		a.blockObject(&w, t, dev, "read of a page-cache folio", bio)
		if found == "" {
			// The read's request was not seen: the lock may be held for
			// another reason; the device is then a likely, not a proven,
			// holder.
			for i := range w.Holders {
				w.Holders[i].Certain = false
			}
			w.Note += "; no in-flight request was found carrying the folio"
		}
		return w, true
	}
	return TaskWait{}, false
}

// folioFlag reads one page flag (enum pageflags, include/linux/
// page-flags.h) of the folio or page at addr: folio.flags (memdesc_flags_t
// in 7.x, one word), page.flags in 5.10.
func (a *waitAnalysis) folioFlag(addr uint64, name string) (bool, error) {
	e, err := a.p.Type("enum pageflags")
	if err != nil {
		return false, err
	}
	bit, ok := e.EnumValue(name)
	if !ok || bit < 0 || bit > 63 {
		return false, fmt.Errorf("enum pageflags has no %s", name)
	}
	off, err := a.p.OffsetOf("struct folio", "flags")
	if err != nil { // 5.10: pages only
		if off, err = a.p.OffsetOf("struct page", "flags"); err != nil {
			return false, err
		}
	}
	v, err := a.p.ReadU64(addr + off)
	if err != nil {
		return false, err
	}
	return v&(1<<uint(bit)) != 0, nil
}

type inFlightKey uint64

// inFlight returns the requests the blk-mq disk d's driver holds, read
// once per disk.
func (a *waitAnalysis) inFlight(d *block.Disk) []block.Request {
	return a.Memo(inFlightKey(d.Addr), func() any {
		rs, err := block.InFlightRequests(a.p, d)
		if err != nil {
			a.Warn(fmt.Sprintf("disk %s: in-flight requests: %v", d.Name, err))
		}
		return rs
	}).([]block.Request)
}

// maxRequestBios bounds the bios read per request.
const maxRequestBios = 64

// requestWithPage returns the in-flight request of disk d (blk-mq) one of
// whose bios holds the page, and that bio.
func (a *waitAnalysis) requestWithPage(d *block.Disk, page uint64) (*block.Request, *block.Bio) {
	if !d.MQ {
		return nil, nil
	}
	reqs := a.inFlight(d)
	for i := range reqs {
		if reqs[i].Bio == 0 {
			continue
		}
		bios, _, _ := block.BioChain(a.p, reqs[i].Bio, maxRequestBios)
		for j := range bios {
			if bios[j].HasPage(page) {
				return &reqs[i], &bios[j]
			}
		}
	}
	return nil, nil
}

// writebackWait: a wait_page_queue on t's stack for PG_writeback of a
// folio of a file on a block device.
func (a *waitAnalysis) writebackWait(t *sched.Task) (TaskWait, bool) {
	for _, sw := range a.findStackWaiters(t) {
		if sw.broken != "" || sw.shape.w.Type != "struct wait_queue_entry" || a.wakeFunc(sw) != "wake_page_function" {
			continue
		}
		w, ok := locking.FolioWaitKind.Decode(a, t, waitkind.Found{Waiter: sw.addr, How: stackHow})
		fr := w.Object.Folio
		if !ok || fr == nil || fr.Bit != "PG_writeback" || fr.Inode == 0 {
			continue
		}
		dev := a.blockDeviceOfInode(fr.Inode)
		if dev == nil {
			continue
		}
		var bio *block.Bio
		if dm := dev.Disk.DM; dm != nil {
			for i := range dm.Deferred {
				if dm.Deferred[i].HasPage(fr.Folio) {
					bio = &dm.Deferred[i]
					break
				}
			}
		}
		what := strings.TrimPrefix(w.Object.What, "PG_writeback of ")
		w.Kind = WaitBlockIO
		w.How = "wait_page_queue (PG_writeback) on the task's stack, linked into the folio wait table; the folio's file is on the block device"
		w.Note = ""
		w.Object.What = fmt.Sprintf("write-back of %s", what)
		a.blockObject(&w, t, dev, "write-back of a page-cache folio", bio)
		return w, true
	}
	return TaskWait{}, false
}

// directIOWait: t waits in __iomap_dio_rw for its O_DIRECT bios (fs/
// iomap/direct-io.c: the struct iomap_dio it allocated has
// submit.waiter = current until the last bio ends). The dio is found
// from the pointers on t's stack.
func (a *waitAnalysis) directIOWait(t *sched.Task) (TaskWait, bool) {
	waiterOff, err := a.p.OffsetOf("struct iomap_dio", "submit.waiter")
	if err != nil {
		return TaskWait{}, false
	}
	dio := a.stackPointerTo(t, func(v uint64) bool {
		w, err := a.p.ReadU64(v + waiterOff)
		return err == nil && w == t.Addr
	}, false)
	if dio == 0 {
		return TaskWait{}, false
	}
	o, err := a.p.Object("struct iomap_dio", dio)
	if err != nil {
		return TaskWait{}, false
	}
	file, err := o.MemberUint("iocb->ki_filp")
	if err != nil || file == 0 {
		return TaskWait{}, false
	}
	f, err := a.p.Object("struct file", file)
	if err != nil {
		return TaskWait{}, false
	}
	inode, err := f.MemberUint("f_inode")
	if err != nil || inode == 0 {
		return TaskWait{}, false
	}
	dev := a.blockDeviceOfInode(inode)
	if dev == nil {
		return TaskWait{}, false
	}
	var bio *block.Bio
	if dm := dev.Disk.DM; dm != nil {
		for i := range dm.Deferred {
			if b := &dm.Deferred[i]; b.Private == dio && b.EndIO == "iomap_dio_bio_end_io" {
				bio = b
				break
			}
		}
	}
	io := "O_DIRECT I/O"
	if bio != nil {
		io = "O_DIRECT " + strings.ToLower(bio.Op)
	}
	size, _ := o.MemberUint("size")
	w := TaskWait{Task: a.Blocked(t), Kind: WaitBlockIO, Certain: true,
		How: "struct iomap_dio on the task's stack with submit.waiter = the task (fs/iomap/direct-io.c)"}
	w.Object = WaitObject{Type: "iomap_dio", Addr: dio,
		What: fmt.Sprintf("%s of %s (%d bytes)", io, filePathOr(a, file, inode), size)}
	a.blockObject(&w, t, dev, io, bio)
	return w, true
}

// syncBioWaitEndIO are the bi_end_io functions of bios a task waits for
// itself, with what their bi_private is: submit_bio_wait_endio (block/
// bio.c, ≤ 7.0) and bio_wait_end_io (7.1 bio_await) complete a completion
// on the waiter's stack; blkdev_bio_end_io_simple (block/fops.c) wakes
// the task bi_private names.
var syncBioWaitEndIO = map[string]string{
	"submit_bio_wait_endio":    "stack",
	"bio_wait_end_io":          "stack",
	"blkdev_bio_end_io_simple": "task",
}

// syncBioWait: a bio on or referenced from t's stack whose bi_end_io and
// bi_private say t waits for it.
func (a *waitAnalysis) syncBioWait(t *sched.Task) (TaskWait, bool) {
	endOff, err1 := a.p.OffsetOf("struct bio", "bi_end_io")
	privOff, err2 := a.p.OffsetOf("struct bio", "bi_private")
	if err1 != nil || err2 != nil {
		return TaskWait{}, false
	}
	stack, base := a.Stack(t)
	onStack := func(v uint64) bool { return v >= base && v < base+uint64(len(stack)) }
	var kind string
	bioAddr := a.stackPointerTo(t, func(v uint64) bool {
		fn, err1 := a.p.ReadU64(v + endOff)
		priv, err2 := a.p.ReadU64(v + privOff)
		if err1 != nil || err2 != nil || fn == 0 {
			return false
		}
		k, ok := syncBioWaitEndIO[a.symbolAt(fn)]
		if !ok || (k == "stack" && !onStack(priv)) || (k == "task" && priv != t.Addr) {
			return false
		}
		kind = k
		return true
	}, true)
	if bioAddr == 0 {
		return TaskWait{}, false
	}
	bio, err := block.ReadBio(a.p, bioAddr)
	if err != nil {
		return TaskWait{}, false
	}
	dev := a.blockDeviceOfBio(bio)
	if dev == nil {
		return TaskWait{}, false
	}
	how := "a bio whose bi_private is a completion on the task's stack (" + bio.EndIO + ")"
	if kind == "task" {
		how = "a bio whose bi_private is the task (" + bio.EndIO + ")"
	}
	w := TaskWait{Task: a.Blocked(t), Kind: WaitBlockIO, Certain: true, How: how}
	w.Object = WaitObject{Type: "bio", Addr: bio.Addr, What: "synchronous " + bio.Describe()}
	if dm := dev.Disk.DM; dm != nil {
		for i := range dm.Deferred {
			if dm.Deferred[i].Addr == bio.Addr {
				bio = dm.Deferred[i]
			}
		}
	}
	a.blockObject(&w, t, dev, "a synchronous bio ("+bio.EndIO+")", &bio)
	return w, true
}

// stackPointerTo returns the first word of t's stack that is a kernel
// pointer for which match holds; pointers into the stack itself are
// looked at only with onStack (a structure the task keeps on its stack).
func (a *waitAnalysis) stackPointerTo(t *sched.Task, match func(v uint64) bool, onStack bool) uint64 {
	stack, base := a.Stack(t)
	top := base + uint64(len(stack))
	seen := map[uint64]bool{}
	for off := 0; off+8 <= len(stack); off += 8 {
		v := binary.LittleEndian.Uint64(stack[off:])
		if !kmem.IsKernelPointer(v) || seen[v] || v%8 != 0 {
			continue
		}
		if v >= base && v < top && !onStack {
			continue
		}
		seen[v] = true
		if match(v) {
			return v
		}
	}
	return 0
}

func filePathOr(a *waitAnalysis, file, inode uint64) string {
	if path, err := vfs.FilePath(a.p, file); err == nil && path != "" {
		return path
	}
	return fmt.Sprintf("inode %#x", inode)
}

// symbolAt names the symbol at addr exactly, "" when there is none.
func (a *waitAnalysis) symbolAt(addr uint64) string {
	if a.p.Syms == nil {
		return ""
	}
	if s, off, ok := a.p.Syms.LookupAddr(addr); ok && off == 0 {
		return s.Name
	}
	return ""
}

// blockDeviceOfInode decodes (once per device) the block device a
// file's data is on; nil when it is on none or cannot be read.
func (a *waitAnalysis) blockDeviceOfInode(inode uint64) *block.Device {
	bdev, err := block.BdevOfInode(a.p, inode)
	if err != nil || bdev == 0 {
		return nil
	}
	return a.blockDevice(bdev)
}

func (a *waitAnalysis) blockDeviceOfBio(b block.Bio) *block.Device {
	if b.Bdev != 0 {
		return a.blockDevice(b.Bdev)
	}
	if b.Disk != 0 { // 5.10: bi_disk, no block_device
		d := a.Memo(blockDiskKey(b.Disk), func() any {
			d, err := block.ReadDisk(a.p, b.Disk)
			if err != nil {
				return (*block.Disk)(nil)
			}
			return d
		}).(*block.Disk)
		if d != nil {
			return &block.Device{Bdev: &block.Bdev{Disk: d.Addr, Dev: fmt.Sprintf("%d:%d", d.Major, d.FirstMinor)}, Disk: d}
		}
	}
	return nil
}

type blockDevKey uint64
type blockDiskKey uint64

func (a *waitAnalysis) blockDevice(bdev uint64) *block.Device {
	return a.Memo(blockDevKey(bdev), func() any {
		d, err := block.DeviceOf(a.p, bdev)
		if err != nil {
			a.Warn(fmt.Sprintf("block device %#x: %v", bdev, err))
			return (*block.Device)(nil)
		}
		for _, e := range d.Disk.Errors {
			a.Warn(fmt.Sprintf("disk %s: %s", d.Disk.Name, e))
		}
		if d.Disk.DM != nil {
			for _, e := range d.Disk.DM.Errors {
				a.Warn(fmt.Sprintf("dm device %s: %s", d.Disk.Label(), e))
			}
		}
		return d
	}).(*block.Device)
}

// blockObject fills w's object with the device: Block, Container (waits
// on one disk are one chain), State "suspended" for a suspended
// device-mapper device, Where its dm name; and a note on the I/O.
func (a *waitAnalysis) blockObject(w *TaskWait, t *sched.Task, dev *block.Device, io string, bio *block.Bio) {
	d := dev.Disk
	ref := &waitkind.BlockRef{Device: dev.Name(), Disk: d.Name, DiskAddr: d.Addr, Dev: dev.Bdev.Dev, MQ: d.MQ, InFlight: d.InFlight, IO: io}
	if bio != nil {
		ref.Bio = &waitkind.BioRef{Addr: bio.Addr, Op: bio.Op, Sector: bio.Sector, Size: bio.Size, EndIO: bio.EndIO}
	}
	var notes []string
	if dm := d.DM; dm != nil {
		r := &waitkind.DMRef{Name: dm.Name, UUID: dm.UUID, Flags: dm.FlagNames, Suspended: dm.Suspended, BlockingIO: dm.BlockingIO,
			Deferred: len(dm.Deferred), DeferredMore: dm.DeferredMore, PendingIO: dm.PendingIO}
		for _, tg := range dm.Targets {
			line := fmt.Sprintf("%s %d+%d", tg.Type, tg.Start, tg.Len)
			if tg.Dev != "" {
				line += fmt.Sprintf(" %s %d", tg.Dev, tg.Offset)
			}
			r.Table = append(r.Table, line)
		}
		ref.DM = r
		if ref.Bio != nil {
			for _, b := range dm.Deferred {
				ref.Bio.Deferred = ref.Bio.Deferred || b.Addr == bio.Addr
			}
		}
		if dm.Suspended || dm.BlockingIO {
			w.Object.State = "suspended"
			w.Object.Where = dm.Name
			n := fmt.Sprintf("%s is suspended (DMF %s)", d.Label(), strings.Join(dm.FlagNames, ", "))
			switch {
			case ref.Bio != nil && ref.Bio.Deferred:
				n += fmt.Sprintf(": its bio (%s) waits on the deferred list", bio.Describe())
			case len(dm.Deferred) > 0:
				n += fmt.Sprintf(": %d bio(s) wait on its deferred list", len(dm.Deferred))
			}
			notes = append(notes, n+" until the device is resumed")
		}
	}
	if w.Object.State == "" {
		if hs := a.driverWorkers(d); len(hs) > 0 {
			w.Holders = append(w.Holders, hs...)
		}
		n := fmt.Sprintf("the I/O is on %s and has not completed", d.Label())
		if d.InFlight != nil {
			n += fmt.Sprintf(" (%d read(s), %d write(s) in flight on the disk)", d.InFlight[0], d.InFlight[1])
		}
		notes = append(notes, n)
		if d.IsNBD() {
			if s := a.nbdServerOf(d); s != nil {
				ref.Server = s.ref
				w.Holders = append(w.Holders, s.holders...)
				notes = append(notes, s.note)
			}
		}
	}
	w.Object.What += " on " + d.Label()
	w.Object.Container = d.Addr
	w.Object.Block = ref
	w.Note = strings.Join(notes, "; ")
}

// classifyBlockIO: a chain ending at block I/O is rooted in the device.
func classifyBlockIO(w *TaskWait, r *Root) bool {
	b := w.Object.Block
	if b != nil && b.Server != nil && w.Object.State == "" {
		return classifyBlockServer(w, r)
	}
	if b == nil || len(r.Holders) > 0 {
		return false
	}
	if w.Object.State == "suspended" && b.DM != nil {
		r.Kind = RootBlockSuspended
		name := b.DM.Name
		if name == "" {
			name = b.Disk
		}
		r.Summary = fmt.Sprintf("block device %s (%s) is suspended: dmsetup resume %s", b.Disk, name, name)
		if b.DM.Deferred > 0 {
			r.Summary += fmt.Sprintf(" (%d bio(s) deferred until then)", b.DM.Deferred)
		}
		return true
	}
	r.Kind = RootBlockIOStuck
	r.Summary = fmt.Sprintf("I/O in flight on %s%s, not completing", b.Device, forNote(w.Task.BlockedFor))
	if b.Device != b.Disk {
		r.Summary = fmt.Sprintf("I/O in flight on %s (disk %s)%s, not completing", b.Device, b.Disk, forNote(w.Task.BlockedFor))
	}
	r.Certain = r.Certain && w.Task.BlockedFor >= blockStuckAfter
	return true
}

// blockStuckAfter is how long a task must have waited for its I/O for
// the device to be called stuck with certainty (the kernel's hung-task
// warning comes at 120 s; a slow device is not a stuck one).
const blockStuckAfter = 30 * time.Second

func blockIORemedies(r *Root) []string {
	if r.Object == nil || r.Object.Block == nil {
		return nil
	}
	b := r.Object.Block
	switch r.Kind {
	case RootBlockServer:
		return blockServerRemedies(r)
	case RootBlockSuspended:
		name := b.DM.Name
		if name == "" {
			name = "/dev/" + b.Disk
		}
		return []string{fmt.Sprintf("dmsetup resume %s  # issue the deferred I/O (dmsetup info %s shows the state)", name, name)}
	case RootBlockIOStuck:
		out := []string{fmt.Sprintf("look at the device under %s: its driver's and the storage's state, I/O errors and timeouts in the kernel log (log)", b.Device)}
		if b.DM != nil {
			out = append(out, fmt.Sprintf("dmsetup table %s; dmsetup status %s  # the devices under it", b.DM.Name, b.DM.Name))
		}
		return out
	}
	return nil
}

// driverWorkers returns the tasks that do a disk's I/O for its driver,
// when the driver does it in a task of its own: the loop device's worker
// (drivers/block/loop.c: a kworker running loop_workfn or
// loop_rootcg_workfn for the device, 5.13+; the device's "loopN"
// kthread, loop_device.worker_task, before), which reads and writes the
// backing file — and waits for whatever that file waits for.
func (a *waitAnalysis) driverWorkers(d *block.Disk) []Holder {
	if !d.Driver("lo_fops", "loop") {
		return nil
	}
	return a.Memo(loopWorkersKey(d.Addr), func() any {
		var out []Holder
		disk, err := a.p.Object("struct gendisk", d.Addr)
		if err != nil {
			return out
		}
		lo, err := disk.MemberUint("private_data")
		if err != nil || lo == 0 {
			return out
		}
		if lt, err := a.p.Type("struct loop_device"); err == nil && lt.HasMember("worker_task") {
			lod, err := a.p.Object("struct loop_device", lo)
			if err != nil {
				return out
			}
			if tk, err := lod.MemberUint("worker_task"); err == nil && tk != 0 {
				out = append(out, Holder{Task: a.Ref(tk), Certain: true,
					How: "the loop device's kthread (loop_device.worker_task): it does the device's I/O on the backing file"})
			}
			return out
		}
		pools := a.workPools()
		rootOff, err1 := a.p.OffsetOf("struct loop_device", "rootcg_work")
		workOff, err2 := a.p.OffsetOf("struct loop_worker", "work")
		loOff, err3 := a.p.OffsetOf("struct loop_worker", "lo")
		for _, pl := range pools {
			for _, wk := range pl.Busy {
				var of uint64
				switch a.symbolAt(wk.CurrentFunc) {
				case "loop_rootcg_workfn":
					if err1 == nil {
						of = wk.CurrentWork - rootOff
					}
				case "loop_workfn":
					if err2 == nil && err3 == nil {
						of, _ = a.p.ReadU64(wk.CurrentWork - workOff + loOff)
					}
				}
				if of == lo {
					out = append(out, Holder{Task: a.Ref(wk.Task), Certain: true,
						How: fmt.Sprintf("kworker running the loop device's work (%s): it does the device's I/O on the backing file", a.symbolAt(wk.CurrentFunc))})
				}
			}
		}
		return out
	}).([]Holder)
}

type loopWorkersKey uint64
