package walktest

import (
	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// synthLog builds a 6.1-shaped printk ring: 4 descriptors, 64 bytes of text.
type SynthLog struct {
	*symtest.Kernel
	Rb, Descs, Infos, data uint64
}

func NewSynthLog() *SynthLog {
	b := symtest.NewKernel()
	ty := b.Types
	atomicLong := ty.Add(symtest.Layout("atomic64_t", symtest.M("counter", b.S64)))
	lpos := ty.Add(symtest.Layout("prb_data_blk_lpos", symtest.M("begin", b.U64), symtest.M("next", b.U64)))
	desc := ty.Add(symtest.Layout("prb_desc", symtest.M("state_var", atomicLong), symtest.M("text_blk_lpos", lpos)))
	info := &symbols.Type{Kind: symbols.KindStruct, Name: "printk_info"}
	symtest.LayoutInto(info, []symtest.Field{symtest.M("seq", b.U64), symtest.M("ts_nsec", b.U64), symtest.M("text_len", b.U16), symtest.M("facility", b.U8), symtest.M("flagslevel", b.U8),
		symtest.M("caller_id", b.U32), symtest.M("dev_info", symtest.Layout("dev_printk_info", symtest.M("subsystem", symtest.Array(b.Char, 16)), symtest.M("device", symtest.Array(b.Char, 48))))})
	// flags:5 and level:3 bitfields in the byte after facility.
	byteOff := info.Members[4].Offset
	info.Members[4] = symbols.Member{Name: "flags", Type: b.U8, Offset: byteOff, BitOffset: byteOff * 8, BitSize: 5}
	info.Members = append(info.Members, symbols.Member{Name: "level", Type: b.U8, Offset: byteOff, BitOffset: byteOff*8 + 5, BitSize: 3})
	ty.Add(info)
	descRing := ty.Add(symtest.Layout("prb_desc_ring", symtest.M("count_bits", b.U32), symtest.M("descs", symtest.Ptr(desc)), symtest.M("infos", symtest.Ptr(info)),
		symtest.M("head_id", atomicLong), symtest.M("tail_id", atomicLong), symtest.M("last_finalized_id", atomicLong)))
	dataRing := ty.Add(symtest.Layout("prb_data_ring", symtest.M("size_bits", b.U32), symtest.M("data", symtest.Ptr(b.Char)), symtest.M("head_lpos", atomicLong), symtest.M("tail_lpos", atomicLong)))
	ty.Add(symtest.Layout("printk_ringbuffer", symtest.M("desc_ring", descRing), symtest.M("text_data_ring", dataRing), symtest.M("fail", atomicLong)))

	l := &SynthLog{Kernel: b}
	l.Rb = b.NewObj("struct printk_ringbuffer")
	l.Descs = b.Alloc(4 * b.Size("struct prb_desc"))
	l.Infos = b.Alloc(4 * b.Size("struct printk_info"))
	l.data = b.Alloc(64)
	b.Mem.WriteU32(l.Rb+b.Off("struct printk_ringbuffer", "desc_ring.count_bits"), 2)
	b.Mem.WriteU64(l.Rb+b.Off("struct printk_ringbuffer", "desc_ring.descs"), l.Descs)
	b.Mem.WriteU64(l.Rb+b.Off("struct printk_ringbuffer", "desc_ring.infos"), l.Infos)
	b.Mem.WriteU32(l.Rb+b.Off("struct printk_ringbuffer", "text_data_ring.size_bits"), 6)
	b.Mem.WriteU64(l.Rb+b.Off("struct printk_ringbuffer", "text_data_ring.data"), l.data)
	prb := b.Alloc(8)
	b.Mem.WriteU64(prb, l.Rb)
	b.Syms.Add("prb", prb, 8, 'd')
	return l
}

func (l *SynthLog) SetRange(tail, head uint64) {
	l.Mem.WriteU64(l.Rb+l.Off("struct printk_ringbuffer", "desc_ring.tail_id"), tail)
	l.Mem.WriteU64(l.Rb+l.Off("struct printk_ringbuffer", "desc_ring.head_id"), head)
}

// Record writes descriptor id (slot id&3) in state, its info, and its text
// block [begin, next) (text written at the block's data position).
func (l *SynthLog) Record(id, state, begin, next uint64, seq uint64, level int, text string) {
	idx := id & 3
	d := l.Descs + idx*l.Size("struct prb_desc")
	l.Mem.WriteU64(d, state<<62|id)
	l.Mem.WriteU64(d+l.Off("struct prb_desc", "text_blk_lpos.begin"), begin)
	l.Mem.WriteU64(d+l.Off("struct prb_desc", "text_blk_lpos.next"), next)
	in := l.Infos + idx*l.Size("struct printk_info")
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

// SetDevice writes the dev_printk subsystem and device of descriptor id's
// info.
func (l *SynthLog) SetDevice(id uint64, subsystem, device string) {
	in := l.Infos + (id&3)*l.Size("struct printk_info")
	l.Mem.Write(in+l.Off("struct printk_info", "dev_info.subsystem"), append([]byte(subsystem), 0))
	l.Mem.Write(in+l.Off("struct printk_info", "dev_info.device"), append([]byte(device), 0))
}
