package kcore

import (
	"errors"
	"sync/atomic"
)

// missedReads counts virtual reads that failed because the image lacks a
// page the kernel had: excluded by the dump tool (makedumpfile -d) or
// past a truncation, the data page or a page-table page on the way to it. A caller that
// takes MissedReads before and after some work knows whether its answer
// rests on memory the dump does not have.
type missedReads struct{ n atomic.Uint64 }

func (m *missedReads) note(err error) {
	if errors.Is(err, ErrExcluded) || errors.Is(err, ErrTruncated) {
		m.n.Add(1)
	}
}

// MissedReads is the number of virtual reads so far that failed because
// the image lacks the page (excluded by the dump tool, or past the end of
// a truncated file). It only grows; compare two values to learn whether some
// work met such a page.
func (d *Dump) MissedReads() uint64 { return d.missed.n.Load() }
