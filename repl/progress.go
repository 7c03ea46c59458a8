package repl

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress draws a one-line status on a terminal's stderr for commands that
// run longer than a second.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	enabled bool
	start   time.Time
	last    time.Time
	drawn   bool
	cols    int
}

const (
	progressDelay    = time.Second
	progressInterval = 100 * time.Millisecond
)

func newProgress(w io.Writer, interactive bool) *progress {
	p := &progress{w: w, start: time.Now()}
	if interactive && isTerminal(w) {
		p.enabled = true
		p.cols, _ = terminalSize(w)
	}
	return p
}

func (p *progress) update(msg string) {
	if p == nil || !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Sub(p.start) < progressDelay || now.Sub(p.last) < progressInterval {
		return
	}
	p.last = now
	line := fmt.Sprintf("[%.0fs] %s", now.Sub(p.start).Seconds(), msg)
	if p.cols > 1 && len(line) > p.cols-1 {
		line = line[:p.cols-1]
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
	p.drawn = true
}

func (p *progress) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	p.enabled = false
}
