package kcore

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sharedBufferReader is /proc/kcore's read as the kernel does it: through
// one bounce buffer per open file, so two reads at once garble each other.
type sharedBufferReader struct {
	inside  atomic.Int32
	overlap atomic.Bool
}

func (r *sharedBufferReader) ReadAt(p []byte, off int64) (int, error) {
	if r.inside.Add(1) > 1 {
		r.overlap.Store(true)
	}
	time.Sleep(100 * time.Microsecond)
	for i := range p {
		p[i] = byte(off + int64(i))
	}
	r.inside.Add(-1)
	return len(p), nil
}

// TestKcoreReadsSerialised: openKcore's reader never lets two reads of
// the file run at once, whatever the callers' parallelism.
func TestKcoreReadsSerialised(t *testing.T) {
	raw := &sharedBufferReader{}
	r := &serialReaderAt{r: raw}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 64)
			for i := range 20 {
				off := int64(g*4096 + i*64)
				if _, err := r.ReadAt(b, off); err != nil || b[0] != byte(off) {
					t.Errorf("read at %d: %v, %d", off, err, b[0])
				}
			}
		}()
	}
	wg.Wait()
	if raw.overlap.Load() {
		t.Error("two reads of /proc/kcore ran at once")
	}
}
