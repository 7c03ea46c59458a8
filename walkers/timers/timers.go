package timers

import (
	"errors"
	"fmt"
	"sort"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
)

// Timer is one struct timer_list on a timer wheel.
type Timer struct {
	Addr     uint64 `json:"addr"`
	Expires  uint64 `json:"expires"` // jiffies
	Function uint64 `json:"function"`
	Symbol   string `json:"symbol"` // the callback's name, "" if unknown
	Flags    uint64 `json:"flags"`  // TIMER_* and the CPU and wheel index bits
	// Index is the wheel bucket the timer hangs on (vectors[Index]).
	Index int `json:"index"`
}

// Wheel flags (include/linux/timer.h).
const (
	TimerCPUMask    = 0x0003FFFF
	TimerMigrating  = 0x00040000
	TimerDeferrable = 0x00080000
	TimerPinned     = 0x00100000
	TimerIrqsafe    = 0x00200000
	TimerArrayShift = 22
)

// Base is one struct timer_base of a CPU.
type Base struct {
	CPU        int      `json:"cpu"`
	Index      int      `json:"index"`
	Name       string   `json:"name"` // BASE_STD, BASE_DEF (before 6.9); BASE_LOCAL, BASE_GLOBAL, BASE_DEF (6.9+)
	Addr       uint64   `json:"addr"`
	Clk        uint64   `json:"clk"`
	NextExpiry uint64   `json:"next_expiry"`
	Running    uint64   `json:"running_timer"`
	Timers     []Timer  `json:"timers"` // in expiry order
	Errors     []string `json:"errors,omitempty"`
}

const (
	maxTimersPerBucket = 1 << 16
	maxTimers          = 1 << 20
)

// baseNames names the timer bases by how many there are
// (kernel/time/timer.c: BASE_STD, BASE_DEF with NO_HZ_COMMON before 6.9;
// BASE_LOCAL, BASE_GLOBAL, BASE_DEF since).
func baseNames(n int) []string {
	switch n {
	case 1:
		return []string{"BASE_STD"}
	case 2:
		return []string{"BASE_STD", "BASE_DEF"}
	case 3:
		return []string{"BASE_LOCAL", "BASE_GLOBAL", "BASE_DEF"}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("BASE_%d", i)
	}
	return out
}

// cpusOr returns cpus, or the online CPUs (every id below nr_cpu_ids when
// the mask cannot be read) when nil.
func cpusOr(p *symbols.Program, cpus []int) ([]int, error) {
	if cpus != nil {
		return cpus, nil
	}
	cpus, err := p.OnlineCPUs()
	if err == nil && len(cpus) > 0 {
		return cpus, nil
	}
	n, nerr := p.NumCPUIDs()
	if nerr != nil {
		return nil, errors.Join(err, nerr)
	}
	for c := 0; c < n; c++ {
		cpus = append(cpus, c)
	}
	return cpus, nil
}

// Jiffies returns the jiffies counter (jiffies_64; kernel/time/timer.c).
func Jiffies(p *symbols.Program) (uint64, error) {
	for _, s := range []string{"jiffies_64", "jiffies"} {
		if a, err := p.Symbol(s); err == nil {
			return p.ReadU64(a)
		}
	}
	return 0, fmt.Errorf("no jiffies symbol")
}

// Wheels returns the timer bases of cpus (nil: the online CPUs), each
// with its pending timers in expiry order. A base that cannot be read
// whole carries Errors.
func Wheels(p *symbols.Program, cpus []int) ([]Base, error) {
	cpus, err := cpusOr(p, cpus)
	if err != nil {
		return nil, fmt.Errorf("timer bases: %w", err)
	}
	bt, err := p.Type("struct timer_base")
	if err != nil {
		return nil, fmt.Errorf("timer bases: %w", err)
	}
	size := bt.Resolve().Size
	// timer_bases is "struct timer_base timer_bases[NR_BASES]"; the
	// variable's type (BTF) says how many.
	nBases := 1
	if v, err := p.PerCPUVariable("timer_bases", cpus[0]); err == nil {
		if r := v.Type().Resolve(); r != nil && r.Kind == symbols.KindArray && r.Len > 0 {
			nBases = int(r.Len)
		}
	}
	if nBases == 1 {
		// No variable type (kallsyms only): count the bases that look like
		// this CPU's, whose cpu member is the CPU and clk near jiffies
		// (kernel/time/timer.c init_timer_cpu).
		nBases = probeBases(p, bt, size, cpus[0])
	}
	if nBases > 8 {
		return nil, fmt.Errorf("timer bases: %d bases", nBases)
	}
	names := baseNames(nBases)
	entryOff, err := p.OffsetOf("struct timer_list", "entry")
	if err != nil {
		return nil, err
	}
	vecOff, err := p.OffsetOfType(bt, "vectors")
	if err != nil {
		return nil, err
	}
	vm, ok := bt.FindMember("vectors")
	if !ok || vm.Type.Resolve() == nil || vm.Type.Resolve().Kind != symbols.KindArray {
		return nil, fmt.Errorf("timer bases: %w: struct timer_base has no vectors array", symbols.ErrNoMember)
	}
	nVec := int(vm.Type.Resolve().Len)
	hh, err := p.SizeOf("struct hlist_head")
	if err != nil {
		return nil, err
	}
	sym, err := p.Symbol("timer_bases")
	if err != nil {
		return nil, fmt.Errorf("timer bases: %w", err)
	}
	var out []Base
	total := 0
	for _, cpu := range cpus {
		first, err := p.PerCPUAddr(sym, cpu)
		if err != nil {
			return out, err
		}
		for i := 0; i < nBases; i++ {
			b := Base{CPU: cpu, Index: i, Name: names[i], Addr: first + uint64(i)*size, Timers: []Timer{}}
			o := p.ObjectAt(bt, b.Addr)
			b.Clk, _ = o.MemberUint("clk")
			b.NextExpiry, _ = o.MemberUint("next_expiry")
			b.Running, _ = o.MemberUint("running_timer")
			heads := make([]byte, uint64(nVec)*hh)
			if err := p.Mem.ReadVirt(heads, b.Addr+vecOff); err != nil {
				b.Errors = append(b.Errors, fmt.Sprintf("vectors: %v", err))
				out = append(out, b)
				continue
			}
			for v := 0; v < nVec; v++ {
				if first := le64(heads[uint64(v)*hh:]); first == 0 {
					continue
				}
				head := b.Addr + vecOff + uint64(v)*hh
				nodes, err := kmem.HlistNodes(p, head, fmt.Sprintf("cpu %d %s vectors[%d]", cpu, b.Name, v), maxTimersPerBucket)
				if err != nil {
					b.Errors = append(b.Errors, err.Error())
				}
				for _, n := range nodes {
					if total++; total > maxTimers {
						b.Errors = append(b.Errors, fmt.Sprintf("more than %d timers: the rest left out", maxTimers))
						break
					}
					b.Timers = append(b.Timers, readTimer(p, n-entryOff, v))
				}
			}
			sort.SliceStable(b.Timers, func(i, j int) bool { return b.Timers[i].Expires < b.Timers[j].Expires })
			out = append(out, b)
		}
	}
	return out, nil
}

func readTimer(p *symbols.Program, addr uint64, index int) Timer {
	t := Timer{Addr: addr, Index: index}
	o, err := p.Object("struct timer_list", addr)
	if err != nil {
		return t
	}
	t.Expires, _ = o.MemberUint("expires")
	t.Flags, _ = o.MemberUint("flags")
	// "function" (every supported kernel; older ones had a data member too).
	if t.Function, err = o.MemberUint("function"); err == nil && t.Function != 0 {
		t.Symbol = symbolName(p, t.Function)
	}
	return t
}

func symbolName(p *symbols.Program, addr uint64) string {
	s := p.SymbolizeAddr(addr)
	if s == "" || s[0] == '0' {
		return ""
	}
	return symbols.BaseName(s)
}

func le64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// HRTimer is one struct hrtimer queued on a clock base.
type HRTimer struct {
	Addr        uint64 `json:"addr"`
	SoftExpires int64  `json:"softexpires"` // _softexpires, ns of the base's clock
	Expires     int64  `json:"expires"`     // node.expires: the hard expiry
	Function    uint64 `json:"function"`
	Symbol      string `json:"symbol"`
}

// ClockBase is one struct hrtimer_clock_base of a CPU.
type ClockBase struct {
	Index   int    `json:"index"`
	ClockID int    `json:"clockid"`
	Name    string `json:"name"` // the clock: MONOTONIC, REALTIME, BOOTTIME, TAI, with _SOFT for the softirq bases
	Addr    uint64 `json:"addr"`
	// Offset is the base's offset from CLOCK_MONOTONIC (ns); its time is
	// monotonic time plus Offset.
	Offset int64     `json:"offset"`
	Timers []HRTimer `json:"timers"` // in expiry order
}

// CPUBase is one CPU's struct hrtimer_cpu_base.
type CPUBase struct {
	CPU         int         `json:"cpu"`
	Addr        uint64      `json:"addr"`
	ExpiresNext int64       `json:"expires_next"`
	HresActive  bool        `json:"hres_active"`
	Bases       []ClockBase `json:"clock_bases"`
	Errors      []string    `json:"errors,omitempty"`
}

// clockNames are the clockids of include/uapi/linux/time.h.
var clockNames = map[int]string{0: "REALTIME", 1: "MONOTONIC", 7: "BOOTTIME", 11: "TAI"}

// HRTimers returns the hrtimer bases of cpus (nil: the online CPUs).
func HRTimers(p *symbols.Program, cpus []int) ([]CPUBase, error) {
	cpus, err := cpusOr(p, cpus)
	if err != nil {
		return nil, fmt.Errorf("hrtimer bases: %w", err)
	}
	ht, err := p.Type("struct hrtimer")
	if err != nil {
		return nil, err
	}
	// hrtimer.node is a timerqueue_node (or 7.x timerqueue_linked_node)
	// whose first member holds the struct rb_node.
	nodeOff, err := p.OffsetOfType(ht, "node")
	if err != nil {
		return nil, err
	}
	var out []CPUBase
	for _, cpu := range cpus {
		cb := CPUBase{CPU: cpu}
		o, err := p.PerCPUVariable("hrtimer_bases", cpu)
		if err != nil {
			if o, err = perCPUTyped(p, "hrtimer_bases", "struct hrtimer_cpu_base", cpu); err != nil {
				return out, fmt.Errorf("hrtimer_bases: %w", err)
			}
		}
		cb.Addr = o.Addr()
		if v, err := o.MemberUint("expires_next"); err == nil {
			cb.ExpiresNext = int64(v)
		}
		if v, err := o.MemberUint("hres_active"); err == nil {
			cb.HresActive = v != 0
		}
		arr, err := o.Member("clock_base")
		if err != nil {
			cb.Errors = append(cb.Errors, err.Error())
			out = append(out, cb)
			continue
		}
		n := int(arr.Type().Resolve().Len)
		for i := 0; i < n && i < 16; i++ {
			b, err := arr.Index(int64(i))
			if err != nil {
				cb.Errors = append(cb.Errors, err.Error())
				break
			}
			base := ClockBase{Index: i, Addr: b.Addr(), Timers: []HRTimer{}}
			if v, err := b.MemberUint("clockid"); err == nil {
				base.ClockID = int(int32(v))
			}
			base.Name = clockNames[base.ClockID]
			if base.Name == "" {
				base.Name = fmt.Sprintf("CLOCK_%d", base.ClockID)
			}
			// kernel/time/hrtimer.c: HRTIMER_BASE_*_SOFT follow the hard
			// bases, index HRTIMER_MAX_CLOCK_BASES/2 and up.
			if n == 8 && i >= 4 {
				base.Name += "_SOFT"
			}
			if v, err := b.MemberUint("offset"); err == nil {
				base.Offset = int64(v)
			}
			act, err := b.Member("active")
			if err != nil {
				cb.Errors = append(cb.Errors, err.Error())
				continue
			}
			nodes, err := kmem.RBTreeNodes(p, act.Addr(), fmt.Sprintf("cpu %d clock_base[%d].active", cpu, i), maxTimersPerBucket)
			if err != nil {
				cb.Errors = append(cb.Errors, err.Error())
			}
			for _, nd := range nodes {
				t := HRTimer{Addr: nd - nodeOff}
				h := p.ObjectAt(ht, t.Addr)
				if v, err := h.MemberUint("_softexpires"); err == nil {
					t.SoftExpires = int64(v)
				}
				if v, err := h.MemberUint("node.expires"); err == nil {
					t.Expires = int64(v)
				}
				if t.Function, err = h.MemberUint("function"); err == nil && t.Function != 0 {
					t.Symbol = symbolName(p, t.Function)
				}
				base.Timers = append(base.Timers, t)
			}
			cb.Bases = append(cb.Bases, base)
		}
		out = append(out, cb)
	}
	return out, nil
}

func perCPUTyped(p *symbols.Program, name, typ string, cpu int) (symbols.Object, error) {
	a, err := p.Symbol(name)
	if err != nil {
		return symbols.Object{}, err
	}
	if a, err = p.PerCPUAddr(a, cpu); err != nil {
		return symbols.Object{}, err
	}
	return p.Object(typ, a)
}

// MonotonicNow is CLOCK_MONOTONIC at the last timekeeping update before
// the dump (sched.MonotonicNow): what timer expiries are relative to.
func MonotonicNow(p *symbols.Program) (int64, bool) { return sched.MonotonicNow(p) }

// probeBases counts the struct timer_base in a row at cpu's timer_bases
// that belong to cpu: base->cpu == cpu and base->clk within a day of
// jiffies (HZ 1000). It returns at least 1.
func probeBases(p *symbols.Program, bt *symbols.Type, size uint64, cpu int) int {
	sym, err := p.Symbol("timer_bases")
	if err != nil {
		return 1
	}
	first, err := p.PerCPUAddr(sym, cpu)
	if err != nil {
		return 1
	}
	j, err := Jiffies(p)
	if err != nil {
		return 1
	}
	const near = 1000 * 86400
	n := 0
	for i := 0; i < 3; i++ {
		o := p.ObjectAt(bt, first+uint64(i)*size)
		c, err1 := o.MemberUint("cpu")
		clk, err2 := o.MemberUint("clk")
		if err1 != nil || err2 != nil || int(c) != cpu || clk == 0 {
			break
		}
		if d := int64(j - clk); d > near || d < -near {
			break
		}
		n++
	}
	return max(n, 1)
}
