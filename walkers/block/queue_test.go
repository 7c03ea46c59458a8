package block

import (
	"reflect"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// mqKernel is a kernel with blk-mq types shaped like 6.1's (bitmap_tags
// embedded) or 5.10's (a pointer to it), and queue_hw_ctx as an array.
func mqKernel(pointerTags bool) *symtest.Kernel {
	b := symtest.NewKernel()
	ty := b.Types
	ty.Add(symtest.Layout("sbitmap_word", symtest.M("word", b.U64), symtest.M("cleared", b.U64)))
	sb := ty.Add(symtest.Layout("sbitmap", symtest.M("depth", b.U32), symtest.M("shift", b.U32), symtest.M("map_nr", b.U32),
		symtest.M("map", symtest.Ptr(ty.Get("sbitmap_word")))))
	sbq := ty.Add(symtest.Layout("sbitmap_queue", symtest.M("sb", sb), symtest.M("wake_batch", b.U32)))
	rqT := ty.Declare("request")
	bt := symtest.M("bitmap_tags", sbq)
	if pointerTags {
		bt = symtest.M("bitmap_tags", symtest.Ptr(sbq))
	}
	tags := ty.Add(symtest.Layout("blk_mq_tags", symtest.M("nr_tags", b.U32), symtest.M("nr_reserved_tags", b.U32), bt,
		symtest.M("rqs", symtest.Ptr(symtest.Ptr(rqT))), symtest.M("static_rqs", symtest.Ptr(symtest.Ptr(rqT)))))
	hctx := ty.Add(symtest.Layout("blk_mq_hw_ctx", symtest.M("dispatch", b.ListHead), symtest.M("state", b.U64),
		symtest.M("tags", symtest.Ptr(tags)), symtest.M("sched_tags", symtest.Ptr(tags)), symtest.M("queue_num", b.U32)))
	q := ty.Add(symtest.Layout("request_queue", symtest.M("mq_ops", symtest.Ptr(nil)), symtest.M("queue_flags", b.U64),
		symtest.M("nr_hw_queues", b.U32), symtest.M("queue_hw_ctx", symtest.Ptr(symtest.Ptr(hctx))),
		symtest.M("mq_freeze_depth", b.S32), symtest.M("quiesce_depth", b.S32)))
	state := &symbols.Type{Kind: symbols.KindEnum, Name: "mq_rq_state", Size: 4, Enumerators: []symbols.Enumerator{
		{Name: "MQ_RQ_IDLE", Value: 0}, {Name: "MQ_RQ_IN_FLIGHT", Value: 1}, {Name: "MQ_RQ_COMPLETE", Value: 2}}}
	symtest.LayoutInto(rqT, []symtest.Field{symtest.M("q", symtest.Ptr(q)), symtest.M("mq_hctx", symtest.Ptr(hctx)),
		symtest.M("cmd_flags", b.U32), symtest.M("tag", b.S32), symtest.M("__data_len", b.U32), symtest.M("__sector", b.U64),
		symtest.M("start_time_ns", b.U64), symtest.M("state", state)})
	return b
}

func TestInFlightRequests(t *testing.T) {
	for _, pointerTags := range []bool{false, true} {
		b := mqKernel(pointerTags)
		off := func(typ, m string) uint64 { return b.Off("struct "+typ, m) }
		q, other := b.NewObj("struct request_queue"), b.NewObj("struct request_queue")
		b.Mem.WriteU64(q+off("request_queue", "mq_ops"), 0xffffffff81234560)
		b.Mem.WriteU64(q+off("request_queue", "mq_freeze_depth"), 1)
		// One hardware context whose tags (depth 70: two words of 64
		// bits, shift 6) a second queue shares; tag 0 is reserved.
		h := b.NewObj("struct blk_mq_hw_ctx")
		b.ListInit(h + off("blk_mq_hw_ctx", "dispatch"))
		b.Mem.WriteU32(h+off("blk_mq_hw_ctx", "queue_num"), 0)
		arr := b.Alloc(8)
		b.Mem.WriteU64(arr, h)
		b.Mem.WriteU32(q+off("request_queue", "nr_hw_queues"), 1)
		b.Mem.WriteU64(q+off("request_queue", "queue_hw_ctx"), arr)
		tags := b.NewObj("struct blk_mq_tags")
		b.Mem.WriteU64(h+off("blk_mq_hw_ctx", "tags"), tags)
		b.Mem.WriteU32(tags+off("blk_mq_tags", "nr_tags"), 71)
		b.Mem.WriteU32(tags+off("blk_mq_tags", "nr_reserved_tags"), 1)
		sbq := tags + off("blk_mq_tags", "bitmap_tags")
		if pointerTags {
			sbq = b.NewObj("struct sbitmap_queue")
			b.Mem.WriteU64(tags+off("blk_mq_tags", "bitmap_tags"), sbq)
		}
		words := b.Alloc(2 * b.Size("struct sbitmap_word"))
		b.Mem.WriteU32(sbq+off("sbitmap", "depth"), 70)
		b.Mem.WriteU32(sbq+off("sbitmap", "shift"), 6)
		b.Mem.WriteU32(sbq+off("sbitmap", "map_nr"), 2)
		b.Mem.WriteU64(sbq+off("sbitmap", "map"), words)
		rqs := b.Alloc(8 * 71)
		b.Mem.WriteU64(tags+off("blk_mq_tags", "rqs"), rqs)
		mk := func(bit int, queue uint64, op uint32, state uint32) uint64 {
			r := b.NewObj("struct request")
			b.Mem.WriteU64(r+off("request", "q"), queue)
			b.Mem.WriteU64(r+off("request", "mq_hctx"), h)
			b.Mem.WriteU32(r+off("request", "cmd_flags"), op|1<<11)
			b.Mem.WriteU32(r+off("request", "tag"), uint32(bit+1))
			b.Mem.WriteU32(r+off("request", "__data_len"), 4096)
			b.Mem.WriteU64(r+off("request", "__sector"), uint64(bit)*8)
			b.Mem.WriteU64(r+off("request", "start_time_ns"), 1000)
			b.Mem.WriteU32(r+off("request", "state"), state)
			b.Mem.WriteU64(rqs+8*uint64(bit+1), r)
			return r
		}
		read := mk(2, q, 0, 1)
		write := mk(65, q, 1, 1)
		mk(3, other, 1, 1) // another queue's
		mk(4, q, 0, 0)     // allocated, not started
		mk(5, q, 0, 1)     // freed: its bit is in cleared
		mk(6, q, 0, 1)     // no tag bit at all
		b.Mem.WriteU64(words+off("sbitmap_word", "word"), 1<<2|1<<3|1<<4|1<<5)
		b.Mem.WriteU64(words+off("sbitmap_word", "cleared"), 1<<5)
		b.Mem.WriteU64(words+b.Size("struct sbitmap_word")+off("sbitmap_word", "word"), 1<<1|1<<7) // bits 65, 71 (beyond depth)

		got, err := ReadQueue(b.Program(), q, 0)
		if err != nil || len(got.Errors) > 0 {
			t.Fatalf("ReadQueue: %v %v", err, got)
		}
		want := []Request{
			{Addr: read, Tag: 3, Op: "READ", Flags: 1 << 11, Sector: 16, Bytes: 4096, StartNS: 1000, Age: -1, State: "in-flight", hctx: h},
			{Addr: write, Tag: 66, Op: "WRITE", Flags: 1<<11 | 1, Sector: 65 * 8, Bytes: 4096, StartNS: 1000, Age: -1, State: "in-flight", hctx: h},
		}
		if !reflect.DeepEqual(got.InFlight, want) {
			t.Errorf("pointer tags %v: in flight\n%+v\nwant\n%+v", pointerTags, got.InFlight, want)
		}
		if !got.MQ || !got.Frozen || got.Quiesced || len(got.HWQueues) != 1 || got.HWQueues[0].Busy != 4 || got.HWQueues[0].NrTags != 71 {
			t.Errorf("queue %+v", got)
		}
	}
}

func TestMajors(t *testing.T) {
	b := symtest.NewKernel()
	ty := b.Types
	cds := ty.Declare("char_device_struct")
	symtest.LayoutInto(cds, []symtest.Field{symtest.M("next", symtest.Ptr(cds)), symtest.M("major", b.U32),
		symtest.M("baseminor", b.U32), symtest.M("minorct", b.S32), symtest.M("name", symtest.Array(b.Char, 64)),
		symtest.M("cdev", symtest.Ptr(nil))})
	bmn := ty.Declare("blk_major_name")
	symtest.LayoutInto(bmn, []symtest.Field{symtest.M("next", symtest.Ptr(bmn)), symtest.M("major", b.S32),
		symtest.M("name", symtest.Array(b.Char, 16))})
	chr, blk := b.Alloc(8*majorHashSize), b.Alloc(8*majorHashSize)
	b.Syms.Add("chrdevs", chr, 8*majorHashSize, 'b')
	b.Syms.Add("major_names", blk, 8*majorHashSize, 'b')
	add := func(table uint64, typ string, major int, name string) {
		n := b.NewObj(typ)
		b.Mem.WriteU32(n+b.Off(typ, "major"), uint32(major))
		b.Mem.WriteString(n+b.Off(typ, "name"), name)
		slot := table + 8*uint64(major%majorHashSize)
		head, _ := b.Program().ReadU64(slot)
		for head != 0 { // append: register_chrdev_region keeps a chain sorted
			next, _ := b.Program().ReadU64(head)
			if next == 0 {
				b.Mem.WriteU64(head, n)
				return
			}
			head = next
		}
		b.Mem.WriteU64(slot, n)
	}
	add(chr, "struct char_device_struct", 4, "/dev/vc/0")
	add(chr, "struct char_device_struct", 259, "high") // 259 % 255 = 4: the same chain
	add(chr, "struct char_device_struct", 4, "tty")
	add(chr, "struct char_device_struct", 1, "mem")
	add(blk, "struct blk_major_name", 7, "loop")
	add(blk, "struct blk_major_name", 254, "device-mapper")
	p := b.Program()
	var names []string
	ms, err := CharMajors(p)
	for _, m := range ms {
		names = append(names, m.Name)
	}
	if want := []string{"mem", "/dev/vc/0", "tty", "high"}; err != nil || !reflect.DeepEqual(names, want) {
		t.Errorf("CharMajors = %v, %v; want %v", names, err, want)
	}
	if ms, err := BlockMajors(p); err != nil || len(ms) != 2 || ms[1].Major != 254 || ms[1].Name != "device-mapper" {
		t.Errorf("BlockMajors = %+v, %v", ms, err)
	}
	// A chain that loops is an error, not a hang.
	n, _ := p.ReadU64(blk + 8*7)
	b.Mem.WriteU64(n, n)
	if _, err := BlockMajors(p); err == nil {
		t.Errorf("looping chain: no error")
	}
}
