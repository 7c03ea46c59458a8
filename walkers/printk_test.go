package walkers

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
)

// synthLog builds a 6.1-shaped printk ring: 4 descriptors, 64 bytes of text.
type synthLog struct {
	*synthBase
	rb, descs, infos, data uint64
}

func newSynthLog() *synthLog {
	b := newSynthBase()
	ty := b.types
	atomicLong := ty.add(tStruct("atomic64_t", fd("counter", b.s64)))
	lpos := ty.add(tStruct("prb_data_blk_lpos", fd("begin", b.u64), fd("next", b.u64)))
	desc := ty.add(tStruct("prb_desc", fd("state_var", atomicLong), fd("text_blk_lpos", lpos)))
	info := &symbols.Type{Kind: symbols.KindStruct, Name: "printk_info"}
	layoutInto(info, []fdef{fd("seq", b.u64), fd("ts_nsec", b.u64), fd("text_len", b.u16), fd("facility", b.u8), fd("flagslevel", b.u8),
		fd("caller_id", b.u32), fd("dev_info", tArr(b.char, 64))})
	// flags:5 and level:3 bitfields in the byte after facility.
	byteOff := info.Members[4].Offset
	info.Members[4] = symbols.Member{Name: "flags", Type: b.u8, Offset: byteOff, BitOffset: byteOff * 8, BitSize: 5}
	info.Members = append(info.Members, symbols.Member{Name: "level", Type: b.u8, Offset: byteOff, BitOffset: byteOff*8 + 5, BitSize: 3})
	ty.add(info)
	descRing := ty.add(tStruct("prb_desc_ring", fd("count_bits", b.u32), fd("descs", tPtr(desc)), fd("infos", tPtr(info)),
		fd("head_id", atomicLong), fd("tail_id", atomicLong), fd("last_finalized_id", atomicLong)))
	dataRing := ty.add(tStruct("prb_data_ring", fd("size_bits", b.u32), fd("data", tPtr(b.char)), fd("head_lpos", atomicLong), fd("tail_lpos", atomicLong)))
	ty.add(tStruct("printk_ringbuffer", fd("desc_ring", descRing), fd("text_data_ring", dataRing), fd("fail", atomicLong)))

	l := &synthLog{synthBase: b}
	l.rb = b.newObj("struct printk_ringbuffer")
	l.descs = b.alloc(4 * b.size("struct prb_desc"))
	l.infos = b.alloc(4 * b.size("struct printk_info"))
	l.data = b.alloc(64)
	b.mem.w32(l.rb+b.off("struct printk_ringbuffer", "desc_ring.count_bits"), 2)
	b.mem.w64(l.rb+b.off("struct printk_ringbuffer", "desc_ring.descs"), l.descs)
	b.mem.w64(l.rb+b.off("struct printk_ringbuffer", "desc_ring.infos"), l.infos)
	b.mem.w32(l.rb+b.off("struct printk_ringbuffer", "text_data_ring.size_bits"), 6)
	b.mem.w64(l.rb+b.off("struct printk_ringbuffer", "text_data_ring.data"), l.data)
	prb := b.alloc(8)
	b.mem.w64(prb, l.rb)
	b.syms.add("prb", prb, 8, 'd')
	return l
}

func (l *synthLog) setRange(tail, head uint64) {
	l.mem.w64(l.rb+l.off("struct printk_ringbuffer", "desc_ring.tail_id"), tail)
	l.mem.w64(l.rb+l.off("struct printk_ringbuffer", "desc_ring.head_id"), head)
}

// record writes descriptor id (slot id&3) in state, its info, and its text
// block [begin, next) (text written at the block's data position).
func (l *synthLog) record(id, state, begin, next uint64, seq uint64, level int, text string) {
	idx := id & 3
	d := l.descs + idx*l.size("struct prb_desc")
	l.mem.w64(d, state<<62|id)
	l.mem.w64(d+l.off("struct prb_desc", "text_blk_lpos.begin"), begin)
	l.mem.w64(d+l.off("struct prb_desc", "text_blk_lpos.next"), next)
	in := l.infos + idx*l.size("struct printk_info")
	l.mem.w64(in+l.off("struct printk_info", "seq"), seq)
	l.mem.w64(in+l.off("struct printk_info", "ts_nsec"), 1_234_567_000+seq)
	l.mem.write(in+l.off("struct printk_info", "text_len"), []byte{byte(len(text)), 0})
	l.mem.w8(in+l.off("struct printk_info", "facility"), 0)
	fo := in + l.off("struct printk_info", "facility") + 1
	l.mem.w8(fo, byte(level<<5|2))
	if begin&1 == 0 {
		off := begin & 63
		if begin>>6 != next>>6 {
			off = 0
		}
		l.mem.w64(l.data+off, id)
		l.mem.write(l.data+off+8, []byte(text))
	}
}

func TestLogSynthetic(t *testing.T) {
	l := newSynthLog()
	l.setRange(4, 7)
	l.record(4, descFinalized, 40, 56, 10, 6, "first")           // regular block
	l.record(5, descFinalized, 56, 64+24, 11, 4, "wrapped-text") // wraps to the start
	l.record(6, descCommitted, 1, 1, 12, 3, "")                  // data-less
	l.record(7, descFinalized, 0x7777, 0x8888, 14, 6, "bad")     // illegal lpos
	p := l.program()
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
	l.mem.w64(l.descs+0*l.size("struct prb_desc"), descFinalized<<62|99)
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
