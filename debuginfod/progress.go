package debuginfod

import (
	"fmt"
	"io"
	"time"
)

// progress writes "\rdebuginfod: NAME 12.3/587.8 MB 9.1 MB/s" to w at most
// every 200 ms while a download runs, and a final line when it ends.
type progress struct {
	w          io.Writer
	name, from string
	size, n    int64
	start      time.Time
	last       time.Time
}

func newProgress(w io.Writer, name, from string, size int64) *progress {
	now := time.Now()
	p := &progress{w: w, name: name, from: from, size: size, start: now}
	if w != nil {
		fmt.Fprintf(w, "debuginfod: fetching %s from %s\n", name, from)
	}
	return p
}

// Write counts bytes going by (io.TeeReader).
func (p *progress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if p.w != nil {
		if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond {
			p.last = now
			fmt.Fprintf(p.w, "\r\033[Kdebuginfod: %s %s", p.name, p.status(now))
		}
	}
	return len(b), nil
}

// status is "12.3/587.8 MB 9.1 MB/s" (or without the total when unknown).
func (p *progress) status(now time.Time) string {
	mb := func(n int64) float64 { return float64(n) / 1e6 }
	s := fmt.Sprintf("%.1f MB", mb(p.n))
	if p.size > 0 {
		s = fmt.Sprintf("%.1f/%.1f MB (%d%%)", mb(p.n), mb(p.size), p.n*100/p.size)
	}
	if el := now.Sub(p.start).Seconds(); el > 0 {
		s += fmt.Sprintf(" %.1f MB/s", mb(p.n)/el)
	}
	return s
}

func (p *progress) done(ok bool) {
	if p.w == nil {
		return
	}
	verdict := "done"
	if !ok {
		verdict = "interrupted"
	}
	fmt.Fprintf(p.w, "\r\033[Kdebuginfod: %s %s in %.1f s, %s\n", p.name, p.status(time.Now()), time.Since(p.start).Seconds(), verdict)
}
