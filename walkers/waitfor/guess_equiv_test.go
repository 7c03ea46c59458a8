package waitfor

import (
	"fmt"
	"math/rand"
	"reflect"
	"testing"
)

// guessReadersQuadratic is guessReaders as it was before its index: each
// reader-owned wait looks at every other wait. The reference of
// TestGuessReadersIndexed.
func guessReadersQuadratic(ws []TaskWait) {
	for i := range ws {
		w := &ws[i]
		if !w.ReaderOwned {
			continue
		}
		have := map[uint64]bool{}
		for _, h := range w.Holders {
			have[h.Task.Addr] = true
		}
		for j := range ws {
			u := &ws[j]
			if j == i || have[u.Task.Addr] || u.Object.Addr == w.Object.Addr || u.Object.Addr == 0 {
				continue
			}
			d := int64(u.Object.Addr) - int64(w.Object.Addr)
			if d < -maxSameObject || d > maxSameObject {
				continue
			}
			holdsA := false
			for _, h := range u.Holders {
				holdsA = holdsA || h.Task.Addr == w.Task.Addr
			}
			if !holdsA {
				continue
			}
			have[u.Task.Addr] = true
			w.Holders = append(w.Holders, Holder{Task: u.Task.TaskRef, Certain: false,
				How: fmt.Sprintf("guess (ABBA): it waits on %s held by this task, %d bytes from this lock (same object), so it may hold this lock for reading, taken in the opposite order", u.Object.What, d)})
		}
	}
}

// TestGuessReadersIndexed: on random wait sets (locks near each other,
// reader-owned ones, tasks holding several), the indexed guessReaders
// adds the same holders in the same order as the quadratic one.
func TestGuessReadersIndexed(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for n := 0; n < 3000; n++ {
		size := 1 + r.Intn(12)
		var ws []TaskWait
		for i := 0; i < size; i++ {
			var hs []int
			for k := r.Intn(4); k > 0; k-- {
				hs = append(hs, 1+r.Intn(size+1))
			}
			w := tw(i+1, "rwsem-write", hs...)
			w.Object.Addr = uint64(0x10000 + 0x400*r.Intn(1+n%8))
			if r.Intn(8) == 0 {
				w.Object.Addr = 0
			}
			w.ReaderOwned = r.Intn(4) != 0
			ws = append(ws, w)
		}
		want := make([]TaskWait, len(ws))
		for i := range ws {
			want[i] = ws[i]
			want[i].Holders = append([]Holder(nil), ws[i].Holders...)
		}
		guessReadersQuadratic(want)
		guessReaders(ws)
		if !reflect.DeepEqual(ws, want) {
			t.Fatalf("case %d differs:\n%+v\nwant\n%+v", n, ws, want)
		}
	}
}
