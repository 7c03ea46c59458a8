package unwind

import (
	"encoding/binary"
	"testing"

	"github.com/kwalk/kwalk/symbols/symtest"
)

// FuzzUnwind unwinds a task whose ORC entries and stack words come from
// the fuzzer: every input must end in a trace or an error, bounded.
func FuzzUnwind(f *testing.F) {
	f.Add([]byte{5, 0x10, 0, 0, 0, 0x02}, []byte{1, 2, 3, 4, 5, 6, 7, 8}, uint16(0x100))
	f.Add(make([]byte, 60), make([]byte, 256), uint16(0x3f00))
	f.Fuzz(func(t *testing.T, orcBytes, stackBytes []byte, spOff uint16) {
		p, _ := userTask(t, orcV3)
		mem := p.Mem.(*symtest.Memory)
		// Overwrite the first entries of the ORC table and the stack.
		n := min(len(orcBytes)/6, 6)
		for i := 0; i < n; i++ {
			mem.Write(tORC+6+uint64(i)*6, orcBytes[i*6:i*6+6])
		}
		for i := 0; i+8 <= len(stackBytes) && i < defaultThreadSize; i += 8 {
			v := binary.LittleEndian.Uint64(stackBytes[i:])
			if v%3 == 0 {
				v = tText + v%0x5000
			} else if v%3 == 1 {
				v = tStack + v%defaultThreadSize
			}
			mem.WriteU64(tStack+defaultThreadSize-uint64(len(stackBytes))+uint64(i)&^7, v)
		}
		mem.WriteU64(tTask+128+8, tStack+uint64(spOff)%defaultThreadSize)
		u, err := NewUnwinder(p)
		if err != nil {
			return
		}
		tr, err := u.Stack(taskObj(t, p))
		if err == nil && len(tr.Frames) > MaxFrames {
			t.Fatalf("%d frames", len(tr.Frames))
		}
	})
}
