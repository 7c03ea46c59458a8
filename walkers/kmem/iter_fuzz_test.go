package kmem

import (
	"encoding/binary"
	"testing"

	"github.com/kwalk/kwalk/symbols/symtest"
)

// The iterators' fuzz targets (go test -fuzz FuzzMapleEntries ./walkers/kmem):
// each gets a kernel heap of fuzzed bytes and the offset of the container's
// root in it, and must return (an error or a bounded answer) without
// panicking or running away. Words whose top byte is 0xff are folded into
// the heap, so that random words are often pointers the walk can follow;
// the seeds are the heaps of the unit tests' well-formed containers, which
// the folding leaves as they are.

const (
	fuzzHeap  = 1 << 16 // bytes of fuzzed heap, at symtest.KernelHeap
	fuzzLimit = 1000
)

// fuzzKernel returns a kernel with the maple tree types whose heap is data.
func fuzzKernel(data []byte) *symtest.Kernel {
	b := mapleKernel()
	buf := make([]byte, fuzzHeap)
	copy(buf, data)
	for i := 0; i+8 <= len(buf); i += 8 {
		if w := binary.LittleEndian.Uint64(buf[i:]); w>>56 == 0xff {
			binary.LittleEndian.PutUint64(buf[i:], symtest.KernelHeap+w&(fuzzHeap-1))
		}
	}
	b.Mem.Write(symtest.KernelHeap, buf)
	return b
}

// fuzzRoot is the heap address at offset off, 8-byte aligned.
func fuzzRoot(off uint16) uint64 { return symtest.KernelHeap + uint64(off)&^7 }

// fuzzSeed returns b's heap (up to its last non-zero byte) and the offset
// of root in it.
func fuzzSeed(b *symtest.Kernel, root uint64) ([]byte, uint16) {
	buf := make([]byte, fuzzHeap)
	for off := 0; off < fuzzHeap; off += 4096 {
		_ = b.Mem.ReadVirt(buf[off:off+4096], symtest.KernelHeap+uint64(off))
	}
	n := len(buf)
	for n > 0 && buf[n-1] == 0 {
		n--
	}
	return buf[:n], uint16(root - symtest.KernelHeap)
}

func FuzzListHeadNodes(f *testing.F) {
	b := symtest.NewKernel()
	head := b.Alloc(16)
	b.ListInit(head)
	for i := 0; i < 5; i++ {
		b.ListAddTail(head, b.Alloc(16))
	}
	d, o := fuzzSparseSeed(b, head)
	f.Add(d, o)
	f.Fuzz(func(t *testing.T, data []byte, off uint16) {
		p := fuzzSparseKernel(data).Program()
		if got, _ := ListHeadNodes(p, fuzzRoot(off), "", fuzzLimit); len(got) > fuzzLimit {
			t.Fatalf("%d nodes beyond the limit", len(got))
		}
		if got, _ := CircularNodes(p, fuzzRoot(off), fuzzLimit); len(got) > fuzzLimit {
			t.Fatalf("CircularNodes: %d nodes beyond the limit", len(got))
		}
	})
}

func FuzzHlistNodes(f *testing.F) {
	b := symtest.NewKernel()
	head := b.Alloc(8)
	for i := 0; i < 4; i++ {
		b.HlistAddHead(head, b.Alloc(16))
	}
	d, o := fuzzSparseSeed(b, head)
	f.Add(d, o)
	f.Fuzz(func(t *testing.T, data []byte, off uint16) {
		if got, _ := HlistNodes(fuzzSparseKernel(data).Program(), fuzzRoot(off), "", fuzzLimit); len(got) > fuzzLimit {
			t.Fatalf("%d nodes beyond the limit", len(got))
		}
	})
}

func FuzzRBTreeNodes(f *testing.F) {
	b := symtest.NewKernel()
	root := b.NewObj("struct rb_root")
	var prev uint64
	for i := 0; i < 6; i++ { // a left spine and a right child
		n := b.NewObj("struct rb_node")
		if prev != 0 {
			b.Mem.WriteU64(n+b.Off("struct rb_node", "rb_left"), prev)
		}
		prev = n
	}
	b.Mem.WriteU64(prev+b.Off("struct rb_node", "rb_right"), b.NewObj("struct rb_node"))
	b.Mem.WriteU64(root, prev)
	d, o := fuzzSparseSeed(b, root)
	f.Add(d, o)
	f.Fuzz(func(t *testing.T, data []byte, off uint16) {
		if got, _ := RBTreeNodes(fuzzSparseKernel(data).Program(), fuzzRoot(off), "", fuzzLimit); len(got) > fuzzLimit {
			t.Fatalf("%d nodes beyond the limit", len(got))
		}
	})
}

func FuzzXArray(f *testing.F) {
	b := symtest.NewKernel()
	xa := b.NewObj("struct xarray")
	b.Mem.WriteU64(xa+b.Off("struct xarray", "xa_head"), b.BuildXArray(map[uint64]uint64{
		0: 0xffff888000aa0000, 5: 0xffff888000aa0040, 64: 0xffff888000aa0080, 4097: 0xffff888000aa00c0}))
	data, off := fuzzSparseSeed(b, xa)
	f.Add(data, off, uint64(5))
	f.Add(data, off, uint64(4097))
	f.Fuzz(func(t *testing.T, data []byte, off uint16, index uint64) {
		b := fuzzSparseKernel(data)
		p := b.Program()
		got, err := XArrayEntries(p, fuzzRoot(off), "")
		for i := 1; err == nil && i < len(got); i++ {
			if got[i].Index <= got[i-1].Index {
				t.Fatalf("entries out of index order: %v", got)
			}
		}
		_, _, _ = XArrayLoad(p, fuzzRoot(off), index, "")
		if idr, err := p.Object("struct idr", fuzzRoot(off)); err == nil {
			_, _ = IDREntries(idr)
			_, _, _ = IDRFind(idr, index)
		}
	})
}

func FuzzMapleEntries(f *testing.F) {
	for _, alloc := range []bool{false, true} {
		b := mapleKernel()
		mt := b.NewObj("struct maple_tree")
		var ranges []MapleEntry
		for i := uint64(0); i < 40; i++ {
			ranges = append(ranges, MapleEntry{First: i * 0x3000, Last: i*0x3000 + 0xfff, Entry: 0xffff888000aa0000 + i*64})
		}
		b.Mem.WriteU64(mt+b.Off("struct maple_tree", "ma_root"), buildMaple(b, ranges, 10, alloc))
		d, o := fuzzSeed(b, mt)
		f.Add(d, o)
	}
	f.Fuzz(func(t *testing.T, data []byte, off uint16) {
		got, err := MapleEntries(fuzzKernel(data).Program(), fuzzRoot(off), "", fuzzLimit)
		if len(got) > fuzzLimit {
			t.Fatalf("%d entries beyond the limit", len(got))
		}
		for i := 0; err == nil && i < len(got); i++ {
			if got[i].Last < got[i].First || (i > 0 && got[i].First <= got[i-1].Last) {
				t.Fatalf("ranges out of order: %x", got)
			}
		}
	})
}
