package kmem

import (
	"encoding/binary"

	"github.com/kwalk/kwalk/symbols/symtest"
)

// The list, hlist, rbtree and xarray targets take their heap as sparse
// word writes, not as the heap's bytes: a container of a few nodes is a
// few dozen records, so that the fuzzer's minimizer (quadratic in an
// argument's length) takes milliseconds, not the whole run, for each new
// input (a 64 KiB heap argument stalled FuzzXArray for 18 s of 20).

// fuzzSparseKernel returns a kernel with the maple tree types whose heap
// is zero but for w: 10-byte records {u16 word index, u64 value},
// little-endian, indexes modulo the heap's words. Values whose top byte is
// 0xff are folded into the heap, as fuzzKernel does.
func fuzzSparseKernel(w []byte) *symtest.Kernel {
	b := mapleKernel()
	buf := make([]byte, fuzzHeap)
	const words = fuzzHeap / 8
	for ; len(w) >= 10; w = w[10:] {
		i := int(binary.LittleEndian.Uint16(w)) % words
		v := binary.LittleEndian.Uint64(w[2:])
		if v>>56 == 0xff {
			v = symtest.KernelHeap + v&(fuzzHeap-1)
		}
		binary.LittleEndian.PutUint64(buf[8*i:], v)
	}
	b.Mem.Write(symtest.KernelHeap, buf)
	return b
}

// fuzzSparseSeed returns b's heap as the sparse writes of its non-zero
// words, and the offset of root in it.
func fuzzSparseSeed(b *symtest.Kernel, root uint64) ([]byte, uint16) {
	heap, off := fuzzSeed(b, root)
	var w []byte
	for i := 0; i+8 <= len(heap); i += 8 {
		if v := binary.LittleEndian.Uint64(heap[i:]); v != 0 {
			w = binary.LittleEndian.AppendUint16(w, uint16(i/8))
			w = binary.LittleEndian.AppendUint64(w, v)
		}
	}
	return w, off
}
