package repl

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/walkers/timers"
)

func registerTimer(r *Registry) {
	r.Add(&Command{
		Name:    "timer",
		Summary: "per-CPU timer wheels, or (-r) hrtimers, with expiry and callback",
		Usage:   "timer [-r] [-C CPU[,CPU...]]",
		Help: `Without -r, lists the timer wheels like crash's timer: jiffies, then for
each online CPU and each timer base (timer_bases[]: BASE_STD and BASE_DEF
before 6.9, BASE_LOCAL, BASE_GLOBAL and BASE_DEF since) the base's clk and
next_expiry, and its pending struct timer_list in expiry order: expires
(jiffies), TTE (time to expire: expires - jiffies, in jiffies; negative
when due), the timer_list, and the callback by symbol.

-r lists the high-resolution timers like crash's timer -r: for each CPU's
hrtimer_cpu_base, each clock base (MONOTONIC, REALTIME, BOOTTIME, TAI and
their _SOFT bases) with its queued hrtimers in expiry order: soft and hard
expiry (ns of that clock), TTE (expiry minus the clock's now, in ns), the
hrtimer and its callback. "Now" is CLOCK_MONOTONIC at the last
timekeeping update before the dump (tk_core.timekeeper.tkr_mono.base,
within a tick of the dump) plus the clock base's offset; /proc/timer_list
prints ktime_get() as "now at". -C limits to CPUs.

JSON: {"jiffies", "bases": [{"cpu", "index", "name", "base", "clk",
"next_expiry", "running_timer", "timers": [{"timer_list", "expires",
"tte", "function", "symbol", "flags", "bucket"}], "errors"}]}; with -r
{"now" (monotonic ns), "has_now", "cpus": [{"cpu", "hrtimer_cpu_base",
"expires_next", "hres_active", "clock_bases": [{"index", "clockid",
"name", "hrtimer_clock_base", "offset", "now", "timers": [{"hrtimer",
"softexpires", "expires", "tte", "function", "symbol"}]}],
"errors"}]}; times are nanosecond (-r) or jiffy numbers.`,
		Flags: []Flag{
			{Name: "r", Help: "hrtimers instead of the timer wheels"},
			{Name: "C", Arg: "CPUS", Help: "only these CPUs (comma-separated)"},
		},
		Examples: []string{"timer", "timer -r", "timer -C 0", "timer -r --json"},
		Run:      runTimer,
	})
}

// TimerResult is the result of "timer" (the timer wheels).
type TimerResult struct {
	Jiffies uint64         `json:"jiffies"`
	Bases   []TimerBaseRow `json:"bases"`

	bases []timers.Base
}

// TimerBaseRow is one timer base of "timer".
type TimerBaseRow struct {
	CPU          int        `json:"cpu"`
	Index        int        `json:"index"`
	Name         string     `json:"name"`
	Base         Hex        `json:"base"`
	Clk          uint64     `json:"clk"`
	NextExpiry   uint64     `json:"next_expiry"`
	RunningTimer Hex        `json:"running_timer,omitempty"`
	Timers       []TimerRow `json:"timers"`
	Errors       []string   `json:"errors,omitempty"`
}

// TimerRow is one struct timer_list of "timer".
type TimerRow struct {
	TimerList Hex    `json:"timer_list"`
	Expires   uint64 `json:"expires"`
	TTE       int64  `json:"tte"` // expires - jiffies
	Function  Hex    `json:"function"`
	Symbol    string `json:"symbol"`
	Flags     Hex    `json:"flags"`
	Bucket    int    `json:"bucket"`
}

// HRTimerResult is the result of "timer -r".
type HRTimerResult struct {
	Now    int64          `json:"now"`
	HasNow bool           `json:"has_now"`
	CPUs   []HRCPUBaseRow `json:"cpus"`

	cpus []timers.CPUBase
}

// HRCPUBaseRow is one CPU's hrtimer_cpu_base of "timer -r".
type HRCPUBaseRow struct {
	CPU         int              `json:"cpu"`
	CPUBase     Hex              `json:"hrtimer_cpu_base"`
	ExpiresNext int64            `json:"expires_next"`
	HresActive  bool             `json:"hres_active"`
	ClockBases  []HRClockBaseRow `json:"clock_bases"`
	Errors      []string         `json:"errors,omitempty"`
}

// HRClockBaseRow is one hrtimer_clock_base of "timer -r".
type HRClockBaseRow struct {
	Index     int          `json:"index"`
	ClockID   int          `json:"clockid"`
	Name      string       `json:"name"`
	ClockBase Hex          `json:"hrtimer_clock_base"`
	Offset    int64        `json:"offset"`
	Now       int64        `json:"now,omitempty"` // the clock's time: monotonic now plus offset
	Timers    []HRTimerRow `json:"timers"`
}

// HRTimerRow is one struct hrtimer of "timer -r".
type HRTimerRow struct {
	HRTimer     Hex    `json:"hrtimer"`
	SoftExpires int64  `json:"softexpires"`
	Expires     int64  `json:"expires"`
	TTE         *int64 `json:"tte,omitempty"` // expires - now, when now is known
	Function    Hex    `json:"function"`
	Symbol      string `json:"symbol"`
}

func timerBaseRows(bs []timers.Base, jiffies uint64) []TimerBaseRow {
	out := []TimerBaseRow{}
	for _, b := range bs {
		r := TimerBaseRow{CPU: b.CPU, Index: b.Index, Name: b.Name, Base: Hex(b.Addr), Clk: b.Clk, NextExpiry: b.NextExpiry,
			RunningTimer: Hex(b.Running), Timers: []TimerRow{}, Errors: b.Errors}
		for _, t := range b.Timers {
			r.Timers = append(r.Timers, TimerRow{TimerList: Hex(t.Addr), Expires: t.Expires, TTE: int64(t.Expires - jiffies),
				Function: Hex(t.Function), Symbol: t.Symbol, Flags: Hex(t.Flags), Bucket: t.Index})
		}
		out = append(out, r)
	}
	return out
}

func hrCPURows(cs []timers.CPUBase, now int64, hasNow bool) []HRCPUBaseRow {
	out := []HRCPUBaseRow{}
	for _, c := range cs {
		r := HRCPUBaseRow{CPU: c.CPU, CPUBase: Hex(c.Addr), ExpiresNext: c.ExpiresNext, HresActive: c.HresActive,
			ClockBases: []HRClockBaseRow{}, Errors: c.Errors}
		for _, b := range c.Bases {
			br := HRClockBaseRow{Index: b.Index, ClockID: b.ClockID, Name: b.Name, ClockBase: Hex(b.Addr), Offset: b.Offset, Timers: []HRTimerRow{}}
			if hasNow {
				br.Now = now + b.Offset
			}
			for _, t := range b.Timers {
				tr := HRTimerRow{HRTimer: Hex(t.Addr), SoftExpires: t.SoftExpires, Expires: t.Expires, Function: Hex(t.Function), Symbol: t.Symbol}
				if hasNow {
					tte := t.Expires - br.Now
					tr.TTE = &tte
				}
				br.Timers = append(br.Timers, tr)
			}
			r.ClockBases = append(r.ClockBases, br)
		}
		out = append(out, r)
	}
	return out
}

// ResultWarnings implements Warner.
func (r *TimerResult) ResultWarnings() []string {
	var out []string
	for _, b := range r.bases {
		for _, e := range b.Errors {
			out = append(out, fmt.Sprintf("cpu %d %s: %s", b.CPU, b.Name, e))
		}
	}
	return out
}

// ResultWarnings implements Warner.
func (r *HRTimerResult) ResultWarnings() []string {
	var out []string
	if !r.HasNow {
		out = append(out, "the timekeeper (tk_core) cannot be read: TTE not shown")
	}
	for _, c := range r.cpus {
		for _, e := range c.Errors {
			out = append(out, fmt.Sprintf("cpu %d: %s", c.CPU, e))
		}
	}
	return out
}

func runTimer(c *Call) (Result, error) {
	if err := c.NeedArgs(0, 0); err != nil {
		return nil, err
	}
	var cpus []int
	if s := c.String("C"); s != "" {
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				return nil, UsageErrorf("timer -C: %q is not a CPU", f)
			}
			cpus = append(cpus, n)
		}
	}
	if c.Bool("r") {
		cs, err := timers.HRTimers(c.Prog, cpus)
		if cs == nil && err != nil {
			return nil, err
		}
		r := &HRTimerResult{cpus: cs}
		r.Now, r.HasNow = timers.MonotonicNow(c.Prog)
		r.CPUs = hrCPURows(cs, r.Now, r.HasNow)
		return r, err
	}
	j, err := timers.Jiffies(c.Prog)
	if err != nil {
		return nil, err
	}
	bs, err := timers.Wheels(c.Prog, cpus)
	if bs == nil && err != nil {
		return nil, err
	}
	return &TimerResult{Jiffies: j, Bases: timerBaseRows(bs, j), bases: bs}, err
}

// WriteText implements Result.
func (r *TimerResult) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "JIFFIES\n%d\n", r.Jiffies)
	for _, base := range r.bases {
		fmt.Fprintf(&b, "TIMER_BASES[%d][%s]: %x  CLK: %d  NEXT_EXPIRY: %d\n", base.CPU, base.Name, base.Addr, base.Clk, base.NextExpiry)
		if len(base.Timers) == 0 {
			b.WriteString("  (none)\n")
		} else {
			b.WriteString("       EXPIRES          TTE          TIMER_LIST            FUNCTION\n")
		}
		for _, t := range base.Timers {
			fmt.Fprintf(&b, "  %12d  %11d  %016x  %016x  <%s>\n", t.Expires, int64(t.Expires-r.Jiffies), t.Addr, t.Function, symOrHex(t.Symbol, t.Function))
		}
		for _, e := range base.Errors {
			fmt.Fprintf(&b, "  (could not read %s)\n", e)
		}
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
		b.Reset()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func symOrHex(s string, a uint64) string {
	if s == "" {
		return fmt.Sprintf("%x", a)
	}
	return s
}

// WriteText implements Result.
func (r *HRTimerResult) WriteText(w io.Writer) error {
	var b strings.Builder
	for i, c := range r.cpus {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "CPU: %d  HRTIMER_CPU_BASE: %x  EXPIRES_NEXT: %d\n", c.CPU, c.Addr, c.ExpiresNext)
		for _, cb := range c.Bases {
			fmt.Fprintf(&b, "  CLOCK: %d  HRTIMER_CLOCK_BASE: %x  [%s]\n", cb.Index, cb.Addr, cb.Name)
			now := r.Now + cb.Offset
			if r.HasNow {
				fmt.Fprintf(&b, "     CURRENT\n    %d\n", now)
			}
			if len(cb.Timers) == 0 {
				b.WriteString("     (empty)\n")
				continue
			}
			b.WriteString("       SOFTEXPIRES            EXPIRES                 TTE           HRTIMER           FUNCTION\n")
			for _, t := range cb.Timers {
				tte := "-"
				if r.HasNow {
					tte = strconv.FormatInt(t.Expires-now, 10)
				}
				fmt.Fprintf(&b, "  %18d %18d %19s  %016x  %016x  <%s>\n", t.SoftExpires, t.Expires, tte, t.Addr, t.Function, symOrHex(t.Symbol, t.Function))
			}
		}
		for _, e := range c.Errors {
			fmt.Fprintf(&b, "  (could not read %s)\n", e)
		}
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
		b.Reset()
	}
	_, err := io.WriteString(w, b.String())
	return err
}
