package repl

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	p := &progress{w: &b, enabled: true, start: time.Now(), cols: 20}
	p.update("early")
	if b.Len() != 0 {
		t.Fatalf("progress shown before a second: %q", b.String())
	}
	p.start = time.Now().Add(-2 * time.Second)
	p.update("reading page 1 of a great many")
	if !strings.Contains(b.String(), "\r\x1b[K[2s] reading pag") || strings.Contains(b.String(), "many") {
		t.Errorf("progress line %q (want truncated to the width)", b.String())
	}
	n := b.Len()
	p.update("again") // within the interval: not drawn
	if b.Len() != n {
		t.Errorf("progress not rate-limited: %q", b.String())
	}
	p.finish()
	if !strings.HasSuffix(b.String(), "\r\x1b[K") {
		t.Errorf("progress line not cleared: %q", b.String())
	}
	// Not a terminal: nothing, ever.
	var q bytes.Buffer
	np := newProgress(&q, true)
	np.start = time.Now().Add(-time.Hour)
	np.update("x")
	np.finish()
	if q.Len() != 0 {
		t.Errorf("progress written to a non-terminal: %q", q.String())
	}
}
