package fuse

import (
	"time"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/sched"
)

// Candidate values of CONFIG_HZ (kernel/Kconfig.hz).
var hzCandidates = []uint64{100, 250, 300, 1000}

// jiffyClock is the kernel's jiffies at the time of the dump and the tick
// rate, for turning jiffies stamps (fuse_req.create_time) into ages.
type jiffyClock struct {
	now uint64
	hz  uint64 // 0 when it could not be worked out
}

// newJiffyClock reads jiffies_64 and works CONFIG_HZ out, which no type
// records: jiffies starts at INITIAL_JIFFIES = (unsigned long)(unsigned
// int)(-300*HZ) (include/linux/jiffies.h) and counts HZ a second, and the
// runqueue clock counts nanoseconds since boot; the HZ that fits both is
// taken when it fits within 5%.
func newJiffyClock(p *symbols.Program) jiffyClock {
	var c jiffyClock
	addr, err := p.Symbol("jiffies_64")
	if err != nil {
		if addr, err = p.Symbol("jiffies"); err != nil {
			return c
		}
	}
	if c.now, err = p.ReadU64(addr); err != nil {
		return jiffyClock{}
	}
	clock, err := sched.RunqueueClock(p, 0)
	if err != nil || clock == 0 {
		return c
	}
	uptime := float64(clock) / 1e9
	best, bestErr := uint64(0), 0.05
	for _, hz := range hzCandidates {
		initial := uint64(uint32(-300 * int64(hz)))
		ticks := float64(c.now - initial)
		want := uptime * float64(hz)
		if want <= 0 {
			continue
		}
		if e := abs(ticks-want) / want; e < bestErr {
			best, bestErr = hz, e
		}
	}
	c.hz = best
	return c
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// age returns how long ago the jiffies stamp was, when HZ is known.
func (c jiffyClock) age(stamp uint64) (time.Duration, bool) {
	if c.hz == 0 || stamp == 0 || stamp > c.now {
		return 0, false
	}
	return time.Duration((c.now - stamp) * uint64(time.Second) / c.hz), true
}
