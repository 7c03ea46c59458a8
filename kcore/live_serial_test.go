package kcore

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bounceFile is one open /proc/kcore as the kernel serves it: one bounce
// buffer per open file, so two reads of the same file at once garble
// each other.
type bounceFile struct {
	inside  atomic.Int32
	overlap *atomic.Bool
	closed  atomic.Bool
}

func (f *bounceFile) ReadAt(p []byte, off int64) (int, error) {
	if f.closed.Load() {
		return 0, errors.New("read of a closed file")
	}
	if f.inside.Add(1) > 1 {
		f.overlap.Store(true)
	}
	time.Sleep(100 * time.Microsecond)
	for i := range p {
		p[i] = byte(off + int64(i))
	}
	f.inside.Add(-1)
	return len(p), nil
}

func (f *bounceFile) Close() error { f.closed.Store(true); return nil }

// TestKcoreFilesNeverShareAFile: concurrent readers each get an open
// file of their own (up to the bound), never two reads on one file, and
// the files opened for them are closed with the dump.
func TestKcoreFilesNeverShareAFile(t *testing.T) {
	for _, bound := range []int{1, 3, 8} {
		var overlap atomic.Bool
		var opened []*bounceFile
		var mu sync.Mutex
		first := &bounceFile{overlap: &overlap}
		k := newKcoreFiles(first, func() (kcoreFile, error) {
			f := &bounceFile{overlap: &overlap}
			mu.Lock()
			opened = append(opened, f)
			mu.Unlock()
			return f, nil
		}, bound)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := make([]byte, 64)
				for i := range 20 {
					off := int64(g*4096 + i*64)
					if _, err := k.ReadAt(b, off); err != nil || b[0] != byte(off) {
						t.Errorf("bound %d: read at %d: %v, %d", bound, off, err, b[0])
					}
				}
			}()
		}
		wg.Wait()
		if overlap.Load() {
			t.Errorf("bound %d: two reads of one open file ran at once", bound)
		}
		if len(opened)+1 > bound {
			t.Errorf("bound %d: %d files open", bound, len(opened)+1)
		}
		k.closeExtra()
		for i, f := range opened {
			if !f.closed.Load() {
				t.Errorf("bound %d: extra file %d left open", bound, i)
			}
		}
		if first.closed.Load() {
			t.Errorf("bound %d: the dump's own file was closed", bound)
		}
	}
}

// TestKcoreFilesOpenFailure: when another file cannot be opened, the
// readers share the ones there are, still one read per file at a time.
func TestKcoreFilesOpenFailure(t *testing.T) {
	var overlap atomic.Bool
	k := newKcoreFiles(&bounceFile{overlap: &overlap}, func() (kcoreFile, error) {
		return nil, errors.New("EMFILE")
	}, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 8)
			for range 10 {
				if _, err := k.ReadAt(b, 0); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if overlap.Load() {
		t.Error("two reads of one open file ran at once")
	}
}
