package printk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// LogRecord is one kernel log (printk) record.
type LogRecord struct {
	Seq      uint64 `json:"seq"`
	TimeNs   uint64 `json:"ts_nsec"` // local_clock() at printk time
	Level    int    `json:"level"`   // 0 (emerg) .. 7 (debug)
	Facility int    `json:"facility"`
	Flags    int    `json:"flags"`     // LOG_NEWLINE 2, LOG_CONT 8 (kernel/printk/printk_ringbuffer.h users)
	CallerID uint32 `json:"caller_id"` // 0x80000000|cpu or a thread id (CONFIG_PRINTK_CALLER)
	Text     string `json:"text"`
	// Subsystem and Device are the dev_printk caller's device
	// (printk_info.dev_info, include/linux/dev_printk.h): "pci" and
	// "+pci:0000:00:01.0", as /dev/kmsg shows them; empty for plain printk.
	Subsystem string `json:"subsystem,omitempty"`
	Device    string `json:"device,omitempty"`
}

// Caller renders the caller id like printk's prefix: "T123" or "C1".
func (r LogRecord) Caller() string {
	if r.CallerID&0x80000000 != 0 {
		return fmt.Sprintf("C%d", r.CallerID&^0x80000000)
	}
	return fmt.Sprintf("T%d", r.CallerID)
}

// Timestamp renders the time like dmesg: "    1.234567".
func (r LogRecord) Timestamp() string {
	return fmt.Sprintf("%5d.%06d", r.TimeNs/1e9, r.TimeNs%1e9/1e3)
}

// Line renders the record like dmesg: "[    1.234567] text"; a record
// whose text has several lines gives several, each with the prefix, as the
// console prints them (kernel/printk/printk.c record_print_text).
func (r LogRecord) Line() string { return strings.Join(r.Lines(), "\n") }

// Lines is Line split into the console's lines.
func (r LogRecord) Lines() []string {
	prefix := "[" + r.Timestamp() + "] "
	parts := strings.Split(strings.TrimSuffix(r.Text, "\n"), "\n")
	for i := range parts {
		parts[i] = prefix + parts[i]
	}
	return parts
}

// Limits on a log ring read in one piece (kernel/printk: CONFIG_LOG_BUF_SHIFT
// is at most 25, and log_buf_len= at boot is bounded by memory; 1 GiB of
// text is not a log).
const (
	maxPrbCountBits = 22
	maxPrbSizeBits  = 30
)

// prbLayout holds the printk ring buffer's member offsets
// (kernel/printk/printk_ringbuffer.h, the lockless ring since 5.10).
type prbLayout struct {
	countBits, descs, infos, headID, tailID kmem.Field
	sizeBits, data                          kmem.Field
	descSize, stateVar, lposBegin, lposNext kmem.Field
	infoSize, seq, tsNsec, textLen, fac     kmem.Field
	callerID, devSubsys, devDevice          kmem.Field
	// flags:5 and level:3 share the byte after facility.
	levelBits symbols.Member
	flagsBits symbols.Member
}

func newPrbLayout(p *symbols.Program) (*prbLayout, error) {
	rb, err := p.Type("struct printk_ringbuffer")
	if err != nil {
		return nil, fmt.Errorf("kernel log: %w (the lockless ring buffer is 5.10+)", err)
	}
	desc, err := p.Type("struct prb_desc")
	if err != nil {
		return nil, err
	}
	info, err := p.Type("struct printk_info")
	if err != nil {
		return nil, err
	}
	l := &prbLayout{
		countBits: kmem.FieldOf(rb, "desc_ring.count_bits"),
		descs:     kmem.FieldOf(rb, "desc_ring.descs"),
		infos:     kmem.FieldOf(rb, "desc_ring.infos"),
		headID:    kmem.FieldOf(rb, "desc_ring.head_id"),
		tailID:    kmem.FieldOf(rb, "desc_ring.tail_id"),
		sizeBits:  kmem.FieldOf(rb, "text_data_ring.size_bits"),
		data:      kmem.FieldOf(rb, "text_data_ring.data"),
		descSize:  kmem.Field{Size: desc.Resolve().Size, OK: true},
		stateVar:  kmem.FieldOf(desc, "state_var"),
		lposBegin: kmem.FieldOf(desc, "text_blk_lpos.begin"),
		lposNext:  kmem.FieldOf(desc, "text_blk_lpos.next"),
		infoSize:  kmem.Field{Size: info.Resolve().Size, OK: true},
		seq:       kmem.FieldOf(info, "seq"),
		tsNsec:    kmem.FieldOf(info, "ts_nsec"),
		textLen:   kmem.FieldOf(info, "text_len"),
		fac:       kmem.FieldOf(info, "facility"),
		callerID:  kmem.FieldOf(info, "caller_id"),
		devSubsys: kmem.FieldOf(info, "dev_info.subsystem"),
		devDevice: kmem.FieldOf(info, "dev_info.device"),
	}
	for name, f := range map[string]kmem.Field{"desc_ring.count_bits": l.countBits, "desc_ring.descs": l.descs,
		"desc_ring.infos": l.infos, "desc_ring.head_id": l.headID, "desc_ring.tail_id": l.tailID,
		"text_data_ring.size_bits": l.sizeBits, "text_data_ring.data": l.data, "prb_desc.state_var": l.stateVar,
		"prb_desc.text_blk_lpos": l.lposNext, "printk_info.seq": l.seq, "printk_info.text_len": l.textLen} {
		if !f.OK {
			return nil, fmt.Errorf("%w: printk ring buffer has no %s", symbols.ErrNoMember, name)
		}
	}
	l.levelBits, _ = info.FindMember("level")
	l.flagsBits, _ = info.FindMember("flags")
	return l, nil
}

// bitsAt extracts a bitfield member (or a whole small integer) from b.
func bitsAt(m symbols.Member, b []byte) int {
	if m.Type == nil {
		return 0
	}
	size := m.BitSize
	if size == 0 {
		size = 8 * m.Type.Resolve().Size
	}
	if size == 0 || size > 32 {
		return 0
	}
	start := m.BitOffset / 8
	if start+8 > uint64(len(b)) {
		var tmp [8]byte
		copy(tmp[:], b[min(start, uint64(len(b))):])
		return int(binary.LittleEndian.Uint64(tmp[:])>>(m.BitOffset%8)) & (1<<size - 1)
	}
	return int(binary.LittleEndian.Uint64(b[start:])>>(m.BitOffset%8)) & (1<<size - 1)
}

// Desc state, kernel/printk/printk_ringbuffer.h: the top two bits of
// state_var (DESC_SV_BITS - 2), the rest the descriptor id.
const (
	descFlagsShift = 62
	descIDMask     = 1<<descFlagsShift - 1
	DescCommitted  = 1
	DescFinalized  = 2
)

// Log returns the kernel log records still in the ring buffer, oldest
// first: the lockless printk_ringbuffer (kernel/printk/printk_ringbuffer.c,
// 5.10+) that the pointer prb points at. Every descriptor from tail_id to
// head_id is read; those in the committed or finalized state whose id
// matches are decoded, their text taken from the data ring (a block that
// wraps starts at the ring's beginning). Records that cannot be decoded are
// skipped and counted in the returned error. Memory use is bounded by what
// is found, not by what the ring's header claims.
func Log(p *symbols.Program) ([]LogRecord, error) {
	l, err := newPrbLayout(p)
	if err != nil {
		return nil, err
	}
	rb, err := prbAddr(p)
	if err != nil {
		return nil, err
	}
	rbT, _ := p.Type("struct printk_ringbuffer")
	hdr := make([]byte, rbT.Resolve().Size)
	if err := p.Mem.ReadVirt(hdr, rb); err != nil {
		return nil, fmt.Errorf("kernel log: struct printk_ringbuffer at %#x: %w", rb, err)
	}
	countBits, _ := l.countBits.UintAt(hdr)
	sizeBits, _ := l.sizeBits.UintAt(hdr)
	if countBits > maxPrbCountBits || sizeBits > maxPrbSizeBits || sizeBits < 3 {
		return nil, fmt.Errorf("kernel log: ring at %#x has count_bits %d, size_bits %d: not a printk ring", rb, countBits, sizeBits)
	}
	count := uint64(1) << countBits
	descsP, _ := l.descs.UintAt(hdr)
	infosP, _ := l.infos.UintAt(hdr)
	dataP, _ := l.data.UintAt(hdr)
	head, _ := l.headID.UintAt(hdr)
	tail, _ := l.tailID.UintAt(hdr)

	n := (head - tail) & descIDMask
	if n >= count {
		return nil, fmt.Errorf("kernel log: head_id %#x and tail_id %#x are %d apart, more than the %d descriptors", head, tail, n, count)
	}
	// Descriptors and infos are read a chunk at a time, texts one block at
	// a time: memory stays bounded by the records found, whatever the
	// ring's header says.
	descs := newChunkReader(p, descsP, l.descSize.Size, count, "descriptors")
	infos := newChunkReader(p, infosP, l.infoSize.Size, count, "printk_info array")
	var out []LogRecord
	bad := 0
	var firstBad error
	for i := uint64(0); i <= n; i++ {
		id := (tail + i) & descIDMask
		idx := id & (count - 1)
		d, err := descs.entry(idx)
		if err != nil {
			return out, fmt.Errorf("kernel log: %w", err)
		}
		sv, _ := l.stateVar.UintAt(d)
		state := sv >> descFlagsShift
		if sv&descIDMask != id || (state != DescCommitted && state != DescFinalized) {
			continue // reserved, reused or being written
		}
		info, err := infos.entry(idx)
		if err != nil {
			return out, fmt.Errorf("kernel log: %w", err)
		}
		begin, _ := l.lposBegin.UintAt(d)
		next, _ := l.lposNext.UintAt(d)
		textLen, _ := l.textLen.UintAt(info)
		text, err := prbText(p, dataP, sizeBits, begin, next, textLen)
		if err != nil {
			bad++
			if firstBad == nil {
				firstBad = fmt.Errorf("descriptor %d (id %#x): %w", idx, id, err)
			}
			continue
		}
		r := LogRecord{Text: text}
		r.Seq, _ = l.seq.UintAt(info)
		r.TimeNs, _ = l.tsNsec.UintAt(info)
		if v, ok := l.fac.UintAt(info); ok {
			r.Facility = int(v)
		}
		if v, ok := l.callerID.UintAt(info); ok {
			r.CallerID = uint32(v)
		}
		for _, f := range []struct {
			fld kmem.Field
			dst *string
		}{{l.devSubsys, &r.Subsystem}, {l.devDevice, &r.Device}} {
			if f.fld.OK && f.fld.Off+f.fld.Size <= uint64(len(info)) {
				*f.dst = kmem.CString(info[f.fld.Off : f.fld.Off+f.fld.Size])
			}
		}
		r.Level = bitsAt(l.levelBits, info)
		r.Flags = bitsAt(l.flagsBits, info)
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	if bad > 0 {
		return out, fmt.Errorf("kernel log: %d records could not be decoded; first: %w", bad, firstBad)
	}
	return out, nil
}

// prbAddr finds the ring: *prb (kernel/printk/printk.c: struct
// printk_ringbuffer *prb = &printk_rb_static, switched to a dynamic ring
// by log_buf_len=), from kallsyms or VMCOREINFO's SYMBOL(prb).
func prbAddr(p *symbols.Program) (uint64, error) {
	sym, err := p.Symbol("prb")
	if err != nil {
		if p.Dump != nil && p.Dump.VMCoreInfo() != nil {
			if a, ok := p.Dump.VMCoreInfo().Symbol("prb"); ok {
				sym, err = a, nil
			}
		}
	}
	if err != nil {
		return 0, fmt.Errorf("kernel log: %w", err)
	}
	rb, err := p.ReadU64(sym)
	if err != nil {
		return 0, fmt.Errorf("kernel log: prb: %w", err)
	}
	if rb == 0 {
		return 0, errors.New("kernel log: prb is NULL")
	}
	return rb, nil
}

// prbText reads a record's text from the data ring at data
// (printk_ringbuffer.c get_data): a data-less block (both lpos odd) has no
// text; a regular block lies at begin; a block whose begin is one wrap
// behind next was placed at the ring's start. Each block starts with its
// descriptor id (an unsigned long); at most text_len bytes (a u16) follow.
func prbText(p *symbols.Program, data, sizeBits, begin, next, textLen uint64) (string, error) {
	if begin&1 != 0 && next&1 != 0 {
		return "", nil // BLK_DATALESS
	}
	size := uint64(1) << sizeBits
	wraps := func(lpos uint64) uint64 { return lpos >> sizeBits }
	var off, n uint64
	switch {
	case wraps(begin) == wraps(next) && begin < next:
		off, n = begin&(size-1), next-begin
	case wraps(begin+size) == wraps(next):
		off, n = 0, next&(size-1)
	default:
		return "", fmt.Errorf("illegal block lpos begin %#x next %#x", begin, next)
	}
	if n < 8 || off+n > size {
		return "", fmt.Errorf("block at %#x of %d bytes does not fit the ring", off, n)
	}
	n -= 8 // the block's id
	if textLen > n {
		textLen = n // truncated record (kernel: the text is cut to the block)
	}
	if textLen == 0 {
		return "", nil
	}
	b := make([]byte, textLen)
	if err := p.Mem.ReadVirt(b, data+off+8); err != nil {
		return "", fmt.Errorf("text at %#x: %w", data+off+8, err)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), nil
}

// chunkReader reads an array of fixed-size entries a chunk at a time.
type chunkReader struct {
	p          *symbols.Program
	base, size uint64
	count      uint64
	what       string
	chunk      uint64 // index of the loaded chunk, or ^0
	buf        []byte
}

const logChunkEntries = 512

func newChunkReader(p *symbols.Program, base, size, count uint64, what string) *chunkReader {
	return &chunkReader{p: p, base: base, size: size, count: count, what: what, chunk: ^uint64(0)}
}

func (c *chunkReader) entry(idx uint64) ([]byte, error) {
	ch := idx / logChunkEntries
	if ch != c.chunk {
		first := ch * logChunkEntries
		n := min(uint64(logChunkEntries), c.count-first)
		c.buf = make([]byte, n*c.size)
		if err := c.p.Mem.ReadVirt(c.buf, c.base+first*c.size); err != nil {
			c.chunk = ^uint64(0)
			return nil, fmt.Errorf("%s at %#x (entries %d..%d): %w", c.what, c.base+first*c.size, first, first+n-1, err)
		}
		c.chunk = ch
	}
	o := (idx % logChunkEntries) * c.size
	return c.buf[o : o+c.size], nil
}
