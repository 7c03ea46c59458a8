package walkers

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// synthLog builds a 6.1-shaped printk ring: 4 descriptors, 64 bytes of text.
type synthLog struct {
	*symtest.Kernel
	rb, descs, infos, data uint64
}

func newSynthLog() *synthLog {
	b := symtest.NewKernel()
	ty := b.Types
	atomicLong := ty.Add(symtest.Layout("atomic64_t", symtest.M("counter", b.S64)))
	lpos := ty.Add(symtest.Layout("prb_data_blk_lpos", symtest.M("begin", b.U64), symtest.M("next", b.U64)))
	desc := ty.Add(symtest.Layout("prb_desc", symtest.M("state_var", atomicLong), symtest.M("text_blk_lpos", lpos)))
	info := &symbols.Type{Kind: symbols.KindStruct, Name: "printk_info"}
	symtest.LayoutInto(info, []symtest.Field{symtest.M("seq", b.U64), symtest.M("ts_nsec", b.U64), symtest.M("text_len", b.U16), symtest.M("facility", b.U8), symtest.M("flagslevel", b.U8),
		symtest.M("caller_id", b.U32), symtest.M("dev_info", symtest.Array(b.Char, 64))})
	// flags:5 and level:3 bitfields in the byte after facility.
	byteOff := info.Members[4].Offset
	info.Members[4] = symbols.Member{Name: "flags", Type: b.U8, Offset: byteOff, BitOffset: byteOff * 8, BitSize: 5}
	info.Members = append(info.Members, symbols.Member{Name: "level", Type: b.U8, Offset: byteOff, BitOffset: byteOff*8 + 5, BitSize: 3})
	ty.Add(info)
	descRing := ty.Add(symtest.Layout("prb_desc_ring", symtest.M("count_bits", b.U32), symtest.M("descs", symtest.Ptr(desc)), symtest.M("infos", symtest.Ptr(info)),
		symtest.M("head_id", atomicLong), symtest.M("tail_id", atomicLong), symtest.M("last_finalized_id", atomicLong)))
	dataRing := ty.Add(symtest.Layout("prb_data_ring", symtest.M("size_bits", b.U32), symtest.M("data", symtest.Ptr(b.Char)), symtest.M("head_lpos", atomicLong), symtest.M("tail_lpos", atomicLong)))
	ty.Add(symtest.Layout("printk_ringbuffer", symtest.M("desc_ring", descRing), symtest.M("text_data_ring", dataRing), symtest.M("fail", atomicLong)))

	l := &synthLog{Kernel: b}
	l.rb = b.NewObj("struct printk_ringbuffer")
	l.descs = b.Alloc(4 * b.Size("struct prb_desc"))
	l.infos = b.Alloc(4 * b.Size("struct printk_info"))
	l.data = b.Alloc(64)
	b.Mem.WriteU32(l.rb+b.Off("struct printk_ringbuffer", "desc_ring.count_bits"), 2)
	b.Mem.WriteU64(l.rb+b.Off("struct printk_ringbuffer", "desc_ring.descs"), l.descs)
	b.Mem.WriteU64(l.rb+b.Off("struct printk_ringbuffer", "desc_ring.infos"), l.infos)
	b.Mem.WriteU32(l.rb+b.Off("struct printk_ringbuffer", "text_data_ring.size_bits"), 6)
	b.Mem.WriteU64(l.rb+b.Off("struct printk_ringbuffer", "text_data_ring.data"), l.data)
	prb := b.Alloc(8)
	b.Mem.WriteU64(prb, l.rb)
	b.Syms.Add("prb", prb, 8, 'd')
	return l
}

func (l *synthLog) setRange(tail, head uint64) {
	l.Mem.WriteU64(l.rb+l.Off("struct printk_ringbuffer", "desc_ring.tail_id"), tail)
	l.Mem.WriteU64(l.rb+l.Off("struct printk_ringbuffer", "desc_ring.head_id"), head)
}

// record writes descriptor id (slot id&3) in state, its info, and its text
// block [begin, next) (text written at the block's data position).
func (l *synthLog) record(id, state, begin, next uint64, seq uint64, level int, text string) {
	idx := id & 3
	d := l.descs + idx*l.Size("struct prb_desc")
	l.Mem.WriteU64(d, state<<62|id)
	l.Mem.WriteU64(d+l.Off("struct prb_desc", "text_blk_lpos.begin"), begin)
	l.Mem.WriteU64(d+l.Off("struct prb_desc", "text_blk_lpos.next"), next)
	in := l.infos + idx*l.Size("struct printk_info")
	l.Mem.WriteU64(in+l.Off("struct printk_info", "seq"), seq)
	l.Mem.WriteU64(in+l.Off("struct printk_info", "ts_nsec"), 1_234_567_000+seq)
	l.Mem.Write(in+l.Off("struct printk_info", "text_len"), []byte{byte(len(text)), 0})
	l.Mem.WriteU8(in+l.Off("struct printk_info", "facility"), 0)
	fo := in + l.Off("struct printk_info", "facility") + 1
	l.Mem.WriteU8(fo, byte(level<<5|2))
	if begin&1 == 0 {
		off := begin & 63
		if begin>>6 != next>>6 {
			off = 0
		}
		l.Mem.WriteU64(l.data+off, id)
		l.Mem.Write(l.data+off+8, []byte(text))
	}
}

func TestLogSynthetic(t *testing.T) {
	l := newSynthLog()
	l.setRange(4, 7)
	l.record(4, descFinalized, 40, 56, 10, 6, "first")           // regular block
	l.record(5, descFinalized, 56, 64+24, 11, 4, "wrapped-text") // wraps to the start
	l.record(6, descCommitted, 1, 1, 12, 3, "")                  // data-less
	l.record(7, descFinalized, 0x7777, 0x8888, 14, 6, "bad")     // illegal lpos
	p := l.Program()
	recs, err := Log(p)
	if err == nil || !strings.Contains(err.Error(), "1 records could not be decoded") {
		t.Errorf("error %v, want one undecodable record", err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Line())
	}
	want := []string{"[    1.234567] first", "[    1.234567] wrapped-text", "[    1.234567] "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("records %q, want %q", got, want)
	}
	if len(recs) == 3 && (recs[0].Level != 6 || recs[1].Level != 4 || recs[0].Flags != 2 || recs[1].Seq != 11) {
		t.Errorf("decoded fields: %+v", recs)
	}
	// A descriptor still being written (reserved) is skipped silently.
	l.record(7, 0, 64+24, 64+40, 13, 6, "writing")
	if recs, err = Log(p); err != nil || len(recs) != 3 {
		t.Errorf("with a reserved descriptor: %d records, %v", len(recs), err)
	}
	// An id that does not match its slot (a reused descriptor) is skipped.
	l.Mem.WriteU64(l.descs+0*l.Size("struct prb_desc"), descFinalized<<62|99)
	if recs, _ = Log(p); len(recs) != 2 {
		t.Errorf("with a stale descriptor: %d records", len(recs))
	}
	// A lying head/tail distance is refused, not looped over.
	l.setRange(0, 1<<40)
	if _, err := Log(p); err == nil {
		t.Errorf("head-tail beyond the ring: no error")
	}
	// Multi-line text splits like the console.
	r := LogRecord{TimeNs: 3_174_874_000, Text: "a\nb"}
	if got := r.Lines(); len(got) != 2 || got[1] != "[    3.174874] b" {
		t.Errorf("Lines = %q", got)
	}
}
