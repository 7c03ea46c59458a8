package block

import (
	"fmt"
	"time"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
)

// Queue is a disk's struct request_queue (include/linux/blkdev.h) and,
// for a blk-mq queue, its hardware contexts and in-flight requests.
type Queue struct {
	Addr uint64 `json:"addr"`
	// MQ is a blk-mq queue; MQOps names q->mq_ops (virtio_mq_ops), the
	// driver's blk-mq operations.
	MQ    bool   `json:"mq"`
	MQOps string `json:"mq_ops,omitempty"`
	// Elevator is the I/O scheduler's name ("mq-deadline"), "" for none.
	Elevator string `json:"elevator,omitempty"`
	// Flags is q->queue_flags; FlagNames the bits this kernel's layout is
	// known for (see queueFlagNames).
	Flags     uint64   `json:"flags"`
	FlagNames []string `json:"flag_names,omitempty"`
	// FreezeDepth is q->mq_freeze_depth: > 0 while the queue is frozen
	// (blk_freeze_queue_start; new I/O waits in blk_queue_enter).
	FreezeDepth int  `json:"freeze_depth"`
	Frozen      bool `json:"frozen"`
	// Quiesced: dispatch is stopped (blk_mq_quiesce_queue):
	// q->quiesce_depth > 0 (5.17+) or QUEUE_FLAG_QUIESCED (5.10).
	Quiesced bool `json:"quiesced"`
	// Dying: QUEUE_FLAG_DYING (5.10) or the disk's GD_DEAD.
	Dying bool `json:"dying"`
	// HWQueues are the hardware contexts (struct blk_mq_hw_ctx).
	HWQueues []HWQueue `json:"hw_queues,omitempty"`
	// InFlight are the requests the driver has been given and not
	// completed (InFlightRequests).
	InFlight []Request `json:"in_flight,omitempty"`
	Errors   []string  `json:"errors,omitempty"`
}

// HWQueue is one struct blk_mq_hw_ctx.
type HWQueue struct {
	Addr  uint64 `json:"addr"`
	Num   int    `json:"num"`   // queue_num
	State uint64 `json:"state"` // BLK_MQ_S_* bits
	// Stopped: BLK_MQ_S_STOPPED (bit 0 of state, include/linux/blk-mq.h).
	Stopped bool `json:"stopped"`
	// Tags is the driver tag set, SchedTags the scheduler's (0 without
	// an elevator); NrTags the driver tags' depth and Busy the tags
	// allocated in its bitmap.
	Tags      uint64 `json:"tags"`
	SchedTags uint64 `json:"sched_tags,omitempty"`
	NrTags    int    `json:"nr_tags"`
	Busy      int    `json:"busy"`
	// Dispatch counts the requests on hctx->dispatch (taken off the
	// scheduler, waiting for the driver to accept them).
	Dispatch int `json:"dispatch"`
}

// Request is one blk-mq request (struct request, include/linux/blk-mq.h).
type Request struct {
	Addr uint64 `json:"addr"`
	Tag  int    `json:"tag"`
	// HWQueue is the queue_num of the hardware context it was issued on.
	HWQueue int    `json:"hw_queue"`
	Op      string `json:"op"`        // READ, WRITE, FLUSH, DISCARD, …
	Flags   uint64 `json:"cmd_flags"` // the whole cmd_flags (op and REQ_* bits)
	Sector  uint64 `json:"sector"`    // __sector
	Bytes   uint64 `json:"bytes"`     // __data_len
	// StartNS is start_time_ns (ktime_get_ns when the request was
	// allocated); Age is the dump's monotonic clock minus it, -1 when
	// either is unknown.
	StartNS uint64        `json:"start_time_ns"`
	Age     time.Duration `json:"age_ns"`
	// State is enum mq_rq_state: "idle", "in-flight", "complete".
	State string `json:"state"`
	// Bio is the first of the request's bios (rq->bio, chained by
	// bi_next; BioChain reads them), 0 for a request without data.
	Bio  uint64 `json:"bio,omitempty"`
	hctx uint64 // mq_hctx
}

// maxHWQueues and maxTags bound a queue's walk.
const (
	maxHWQueues = 4096
	maxTags     = 1 << 16
)

// ReadQueue decodes the request queue at addr; disk (0 if unknown) is its
// gendisk, for the GD_DEAD bit.
func ReadQueue(p *symbols.Program, addr, disk uint64) (*Queue, error) {
	q, err := p.Object("struct request_queue", addr)
	if err != nil {
		return nil, fmt.Errorf("request_queue %#x: %w", addr, err)
	}
	out := &Queue{Addr: addr}
	note := func(err error) {
		if err != nil {
			out.Errors = append(out.Errors, err.Error())
		}
	}
	ops, err := q.MemberUint("mq_ops")
	note(err)
	out.MQ = ops != 0
	if ops != 0 {
		out.MQOps = symbolName(p, ops)
	}
	if out.Flags, err = q.MemberUint("queue_flags"); err != nil {
		return nil, fmt.Errorf("request_queue %#x: %w", addr, err)
	}
	if fd, err := q.MemberUint("mq_freeze_depth"); err == nil {
		out.FreezeDepth = int(int32(fd))
		out.Frozen = out.FreezeDepth > 0
	}
	if e, err := q.MemberUint("elevator"); err == nil && e != 0 {
		if n, err := q.MemberUint("elevator->type->elevator_name"); err == nil && n != 0 {
			out.Elevator, _ = p.ReadString(n, 32)
		} else if eo, err := p.Object("struct elevator_queue", e); err == nil {
			out.Elevator, _ = eo.MemberString("type->elevator_name")
		}
	}
	if q.Type().HasMember("quiesce_depth") {
		qd, err := q.MemberUint("quiesce_depth")
		note(err)
		out.Quiesced = int32(qd) > 0
		out.FlagNames = flagNames(out.Flags, nil)
		out.Dying = diskDead(p, disk)
	} else {
		// 5.10 include/linux/blkdev.h: QUEUE_FLAG_DYING 1, QUEUE_FLAG_QUIESCED 24.
		out.FlagNames = flagNames(out.Flags, queueFlags510)
		out.Quiesced = out.Flags&(1<<24) != 0
		out.Dying = out.Flags&(1<<1) != 0
	}
	if !out.MQ {
		return out, nil
	}
	hctxs, err := hwContexts(p, q)
	note(err)
	mono, clock := sched.MonotonicNow(p)
	now := uint64(mono)
	for _, h := range hctxs {
		hw, reqs, err := readHWQueue(p, h, addr)
		note(err)
		out.HWQueues = append(out.HWQueues, hw)
		for i := range reqs {
			reqs[i].Age = -1
			if clock && reqs[i].StartNS != 0 && reqs[i].StartNS <= now {
				reqs[i].Age = time.Duration(now - reqs[i].StartNS)
			}
		}
		out.InFlight = append(out.InFlight, reqs...)
	}
	return out, nil
}

// InFlightRequests returns the requests of disk's queue that the driver
// holds: for each hardware context, the driver tags allocated in
// tags->bitmap_tags (lib/sbitmap.c: a bit set in word and not in cleared)
// whose tags->rqs[tag] belongs to this queue and is MQ_RQ_IN_FLIGHT — the
// requests blk_mq_in_flight counts for /proc/diskstats. Bio-based disks
// (device-mapper, md) have none: nil, nil.
func InFlightRequests(p *symbols.Program, disk *Disk) ([]Request, error) {
	if disk == nil || disk.Queue == 0 || !disk.MQ {
		return nil, nil
	}
	q, err := ReadQueue(p, disk.Queue, disk.Addr)
	if err != nil {
		return nil, err
	}
	if len(q.Errors) > 0 {
		return q.InFlight, fmt.Errorf("request_queue %#x: %s", q.Addr, q.Errors[0])
	}
	return q.InFlight, nil
}

// hwContexts returns the addresses of a blk-mq queue's hardware contexts:
// q->queue_hw_ctx[nr_hw_queues] (5.10, 6.13+) or the xarray
// q->hctx_table (5.18 to 6.12).
func hwContexts(p *symbols.Program, q symbols.Object) ([]uint64, error) {
	n, err := q.MemberUint("nr_hw_queues")
	if err != nil {
		return nil, err
	}
	if n > maxHWQueues {
		return nil, fmt.Errorf("request_queue %#x: %d hardware queues", q.Addr(), n)
	}
	if q.Type().HasMember("hctx_table") {
		off, err := p.OffsetOfType(q.Type(), "hctx_table")
		if err != nil {
			return nil, err
		}
		ents, err := kmem.XArrayEntries(p, q.Addr()+off, fmt.Sprintf("request_queue %#x hctx_table", q.Addr()))
		var out []uint64
		for _, e := range ents {
			out = append(out, e.Value)
		}
		return out, err
	}
	arr, err := q.MemberUint("queue_hw_ctx")
	if err != nil {
		return nil, err
	}
	var out []uint64
	for i := uint64(0); i < n; i++ {
		h, err := p.ReadU64(arr + 8*i)
		if err != nil {
			return out, fmt.Errorf("queue_hw_ctx[%d]: %w", i, err)
		}
		if h != 0 {
			out = append(out, h)
		}
	}
	return out, nil
}

// readHWQueue decodes a hardware context and the in-flight requests of
// queue q among its driver tags.
func readHWQueue(p *symbols.Program, addr, q uint64) (HWQueue, []Request, error) {
	hw := HWQueue{Addr: addr}
	h, err := p.Object("struct blk_mq_hw_ctx", addr)
	if err != nil {
		return hw, nil, err
	}
	num, _ := h.MemberUint("queue_num")
	hw.Num = int(num)
	hw.State, _ = h.MemberUint("state")
	hw.Stopped = hw.State&1 != 0
	hw.SchedTags, _ = h.MemberUint("sched_tags")
	if off, err := p.OffsetOf("struct blk_mq_hw_ctx", "dispatch"); err == nil {
		nodes, _ := kmem.ListHeadNodes(p, addr+off, "hctx dispatch", maxTags)
		hw.Dispatch = len(nodes)
	}
	if hw.Tags, err = h.MemberUint("tags"); err != nil || hw.Tags == 0 {
		return hw, nil, err
	}
	tags, err := p.Object("struct blk_mq_tags", hw.Tags)
	if err != nil {
		return hw, nil, err
	}
	nr, err := tags.MemberUint("nr_tags")
	if err != nil {
		return hw, nil, err
	}
	if nr > maxTags {
		return hw, nil, fmt.Errorf("blk_mq_tags %#x: %d tags", hw.Tags, nr)
	}
	hw.NrTags = int(nr)
	reserved, _ := tags.MemberUint("nr_reserved_tags")
	// bitmap_tags: a struct sbitmap_queue (5.16+) or a pointer to one (5.10).
	var sbq uint64
	if m, ok := tags.Type().FindMember("bitmap_tags"); ok {
		off, _ := p.OffsetOfType(tags.Type(), "bitmap_tags")
		if rt := m.Type.Resolve(); rt != nil && rt.Kind == symbols.KindPointer {
			sbq, err = p.ReadU64(hw.Tags + off)
			if err != nil {
				return hw, nil, err
			}
		} else {
			sbq = hw.Tags + off
		}
	}
	busy, err := sbitmapBusy(p, sbq)
	if err != nil {
		return hw, nil, fmt.Errorf("blk_mq_tags %#x bitmap_tags: %w", hw.Tags, err)
	}
	hw.Busy = len(busy)
	rqs, err := tags.MemberUint("rqs")
	if err != nil {
		return hw, nil, err
	}
	var out []Request
	for _, bit := range busy {
		tag := bit + int(reserved) // the normal tags follow the reserved ones
		if tag >= hw.NrTags {
			continue
		}
		rq, err := p.ReadU64(rqs + 8*uint64(tag))
		if err != nil {
			return hw, out, fmt.Errorf("blk_mq_tags %#x rqs[%d]: %w", hw.Tags, tag, err)
		}
		if rq == 0 {
			continue
		}
		r, rqQueue, err := readRequest(p, rq)
		if err != nil {
			return hw, out, err
		}
		if rqQueue != q || r.State != "in-flight" || (r.hctx != 0 && r.hctx != addr) {
			continue // another queue or context sharing the tags, or not started
		}
		r.HWQueue = hw.Num
		out = append(out, r)
	}
	return hw, out, nil
}

// sbqWaitQueues is SBQ_WAIT_QUEUES (include/linux/sbitmap.h): the wait
// queues an sbitmap_queue spreads its waiters over.
const sbqWaitQueues = 8

// TagWaitHeads returns the wait_queue_heads where tasks wait for a free
// tag of the blk_mq_tags at tags (block/blk-mq-tag.c blk_mq_get_tag:
// sbitmap_prepare_to_wait on bt->ws[]): those of its bitmap_tags and
// breserved_tags (struct sbitmap_queue, embedded since 5.16, pointers in
// 5.10), each sbq->ws[SBQ_WAIT_QUEUES] of struct sbq_wait_state { ...
// wait }.
func TagWaitHeads(p *symbols.Program, tags uint64) ([]uint64, error) {
	if tags == 0 {
		return nil, nil
	}
	tt, err := p.Type("struct blk_mq_tags")
	if err != nil {
		return nil, err
	}
	wsOff, err := p.OffsetOf("struct sbitmap_queue", "ws")
	if err != nil {
		return nil, err
	}
	waitOff, err := p.OffsetOf("struct sbq_wait_state", "wait")
	if err != nil {
		return nil, err
	}
	size, err := p.SizeOf("struct sbq_wait_state")
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, name := range []string{"bitmap_tags", "breserved_tags"} {
		m, ok := tt.FindMember(name)
		if !ok {
			continue
		}
		off, _ := p.OffsetOfType(tt, name)
		sbq := tags + off
		if rt := m.Type.Resolve(); rt != nil && rt.Kind == symbols.KindPointer {
			if sbq, err = p.ReadU64(tags + off); err != nil {
				return out, err
			}
		}
		if sbq == 0 {
			continue
		}
		ws, err := p.ReadU64(sbq + wsOff)
		if err != nil {
			return out, fmt.Errorf("sbitmap_queue %#x: ws: %w", sbq, err)
		}
		if ws == 0 {
			continue
		}
		for i := uint64(0); i < sbqWaitQueues; i++ {
			out = append(out, ws+i*size+waitOff)
		}
	}
	return out, nil
}

// readRequest decodes the request at addr and returns its queue.
func readRequest(p *symbols.Program, addr uint64) (Request, uint64, error) {
	r := Request{Addr: addr, Age: -1}
	o, err := p.Object("struct request", addr)
	if err != nil {
		return r, 0, fmt.Errorf("request %#x: %w", addr, err)
	}
	q, err := o.MemberUint("q")
	if err != nil {
		return r, 0, fmt.Errorf("request %#x: %w", addr, err)
	}
	r.hctx, _ = o.MemberUint("mq_hctx")
	tag, _ := o.MemberUint("tag")
	r.Tag = int(int32(tag))
	r.Flags, _ = o.MemberUint("cmd_flags")
	r.Op = reqOpName(p, r.Flags&0xff) // REQ_OP_MASK: REQ_OP_BITS 8 (blk_types.h)
	r.Sector, _ = o.MemberUint("__sector")
	r.Bytes, _ = o.MemberUint("__data_len")
	r.StartNS, _ = o.MemberUint("start_time_ns")
	r.Bio, _ = o.MemberUint("bio")
	if st, err := o.Member("state"); err == nil {
		v, _ := st.Uint()
		// enum mq_rq_state (block/blk-mq.h): MQ_RQ_IDLE, MQ_RQ_IN_FLIGHT, MQ_RQ_COMPLETE.
		r.State = []string{"idle", "in-flight", "complete"}[min(v, 2)]
		if v > 2 {
			r.State = fmt.Sprintf("state %d", v)
		}
	}
	return r, q, nil
}

// sbitmapBusy returns the allocated bits of the struct sbitmap_queue at
// sbq (lib/sbitmap.c: map[map_nr] words of 1<<shift bits, depth in all; a
// bit is allocated when set in word and not in cleared).
func sbitmapBusy(p *symbols.Program, sbq uint64) ([]int, error) {
	if sbq == 0 {
		return nil, nil
	}
	sb, err := p.Object("struct sbitmap", sbq) // sbitmap_queue.sb is its first member
	if err != nil {
		return nil, err
	}
	depth, err1 := sb.MemberUint("depth")
	shift, err2 := sb.MemberUint("shift")
	mapNr, err3 := sb.MemberUint("map_nr")
	words, err4 := sb.MemberUint("map")
	for _, e := range []error{err1, err2, err3, err4} {
		if e != nil {
			return nil, e
		}
	}
	if depth > maxTags || shift > 6 || mapNr > maxTags {
		return nil, fmt.Errorf("sbitmap %#x: depth %d, shift %d, %d words", sbq, depth, shift, mapNr)
	}
	wsize, err := p.SizeOf("struct sbitmap_word")
	if err != nil {
		return nil, err
	}
	wordOff, err := p.OffsetOf("struct sbitmap_word", "word")
	if err != nil {
		return nil, err
	}
	clearedOff, err := p.OffsetOf("struct sbitmap_word", "cleared")
	if err != nil {
		return nil, err
	}
	var out []int
	for i := uint64(0); i < mapNr; i++ {
		w, err := p.ReadU64(words + i*wsize + wordOff)
		if err != nil {
			return out, fmt.Errorf("sbitmap %#x word %d: %w", sbq, i, err)
		}
		c, err := p.ReadU64(words + i*wsize + clearedOff)
		if err != nil {
			return out, fmt.Errorf("sbitmap %#x word %d: %w", sbq, i, err)
		}
		w &^= c
		for b := uint64(0); b < 1<<shift && b < 64; b++ {
			if bit := i<<shift + b; bit < depth && w&(1<<b) != 0 {
				out = append(out, int(bit))
			}
		}
	}
	return out, nil
}

// queueFlags510 names the QUEUE_FLAG_* bits of 5.10
// (include/linux/blkdev.h); later kernels renumber them.
var queueFlags510 = map[int]string{0: "STOPPED", 1: "DYING", 3: "NOMERGES", 4: "SAME_COMP", 5: "FAIL_IO",
	6: "NONROT", 7: "IO_STAT", 8: "DISCARD", 9: "NOXMERGES", 10: "ADD_RANDOM", 11: "SECERASE",
	12: "SAME_FORCE", 13: "DEAD", 14: "INIT_DONE", 15: "STABLE_WRITES", 16: "POLL", 17: "WC", 18: "FUA",
	19: "DAX", 20: "STATS", 21: "POLL_STATS", 22: "REGISTERED", 23: "SCSI_PASSTHROUGH", 24: "QUIESCED",
	25: "PCI_P2PDMA", 26: "ZONE_RESETALL", 27: "RQ_ALLOC_TIME", 28: "HCTX_ACTIVE", 29: "NOWAIT"}

// flagNames names the set bits of flags by names (nil: none known).
func flagNames(flags uint64, names map[int]string) []string {
	if names == nil {
		return nil
	}
	var out []string
	for b := 0; b < 64; b++ {
		if flags&(1<<b) == 0 {
			continue
		}
		if n, ok := names[b]; ok {
			out = append(out, n)
		} else {
			out = append(out, fmt.Sprintf("BIT%d", b))
		}
	}
	return out
}

// diskDead reports the disk's GD_DEAD bit (gendisk.state, bit 2 in
// include/linux/blkdev.h since 5.15: del_gendisk / blk_mark_disk_dead).
func diskDead(p *symbols.Program, disk uint64) bool {
	if disk == 0 {
		return false
	}
	d, err := p.Object("struct gendisk", disk)
	if err != nil {
		return false
	}
	st, err := d.MemberUint("state")
	return err == nil && st&(1<<2) != 0
}
