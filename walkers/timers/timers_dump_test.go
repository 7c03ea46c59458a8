package timers

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// recHRTimer is one active timer of the record's /proc/timer_list.
type recHRTimer struct {
	cpu, clock int
	fn         string
	soft, hard int64
}

// parseTimerList reads the active timers of /proc/timer_list
// (kernel/time/timer_list.c print_active_timers) and "now at".
func parseTimerList(lines []string) (timers []recHRTimer, now int64, err error) {
	cpu, clock := -1, -1
	var cur *recHRTimer
	for _, l := range lines {
		s := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(s, "now at "):
			now, err = strconv.ParseInt(strings.Fields(s)[2], 10, 64)
		case strings.HasPrefix(s, "cpu: "):
			cpu, err = strconv.Atoi(strings.TrimPrefix(s, "cpu: "))
			clock = -1
		case strings.HasPrefix(s, "clock ") && strings.HasSuffix(s, ":"):
			clock, err = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(s, "clock "), ":"))
		case strings.HasPrefix(s, "#") && strings.Contains(s, ": <"):
			// "#0: <00000000711b7ffb>, hrtimer_wakeup, S:01"
			f := strings.Split(s, ", ")
			if len(f) < 2 {
				return nil, 0, fmt.Errorf("timer line %q", s)
			}
			timers = append(timers, recHRTimer{cpu: cpu, clock: clock, fn: f[1]})
			cur = &timers[len(timers)-1]
		case strings.HasPrefix(s, "# expires at ") && cur != nil:
			// "# expires at 5450690250-5450740250 nsecs [in ...]"
			r := strings.Fields(strings.TrimPrefix(s, "# expires at "))[0]
			a, b, ok := strings.Cut(r, "-")
			if !ok {
				return nil, 0, fmt.Errorf("expiry line %q", s)
			}
			if cur.soft, err = strconv.ParseInt(a, 10, 64); err == nil {
				cur.hard, err = strconv.ParseInt(b, 10, 64)
			}
			cur = nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%q: %w", s, err)
		}
	}
	return timers, now, nil
}

// TestHRTimersMatchTimerList compares timer -r's walk with the guest's
// /proc/timer_list on every generated dump. Timers move between the record
// and the dump: those due before the dump may have fired (and been
// re-armed), the tick is reprogrammed as CPUs idle. So the checks are:
// every CPU and clock base of the record is there; each base's timers are
// in expiry order; and each recorded timer not yet due at the dump is
// still queued, on the same CPU and clock, with the same callback and soft
// and hard expiry — allowing the per-CPU tick and the deadline servers'
// timers and the soft-lockup watchdog's (re-armed by the kernel itself)
// and at most a quarter of the others, or one, to have been cancelled.
func TestHRTimersMatchTimerList(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			rec, recNow, err := parseTimerList(d.Truth.Files["/proc/timer_list"])
			if err != nil {
				t.Fatal(err)
			}
			if recNow == 0 {
				t.Skip("the record has no /proc/timer_list")
			}
			p := walktest.OpenReal(t, d)
			needDataSymbols(t, p)
			now, ok := MonotonicNow(p)
			if !ok {
				t.Fatal("no monotonic time from the timekeeper")
			}
			if now < recNow {
				t.Errorf("monotonic now %d before the record's %d", now, recNow)
			}
			cs, err := HRTimers(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			type key struct {
				cpu, clock int
				fn         string
				soft, hard int64
			}
			have := map[key]int{}
			bases := map[[2]int]bool{}
			for _, c := range cs {
				for _, e := range c.Errors {
					t.Errorf("cpu %d: %s", c.CPU, e)
				}
				for _, b := range c.Bases {
					bases[[2]int{c.CPU, b.Index}] = true
					var prev int64
					for i, h := range b.Timers {
						if i > 0 && h.Expires < prev {
							t.Errorf("cpu %d clock %d: timer %#x expires %d before the previous %d", c.CPU, b.Index, h.Addr, h.Expires, prev)
						}
						prev = h.Expires
						if h.Symbol == "" {
							t.Errorf("cpu %d clock %d: timer %#x callback %#x has no symbol", c.CPU, b.Index, h.Addr, h.Function)
						}
						have[key{c.CPU, b.Index, h.Symbol, h.SoftExpires, h.Expires}]++
					}
				}
			}
			eligible, found, rearmed := 0, 0, 0
			for _, r := range rec {
				if !bases[[2]int{r.cpu, r.clock}] {
					t.Errorf("cpu %d clock %d of the record not walked", r.cpu, r.clock)
				}
				if r.soft <= now || r.clock != 0 {
					continue // due before the dump, or not a monotonic timer
				}
				k := key{r.cpu, r.clock, r.fn, r.soft, r.hard}
				if have[k] > 0 {
					have[k]--
					found++
					eligible++
					continue
				}
				// The per-CPU tick is reprogrammed on idle entry and exit
				// (kernel/time/tick-sched.c); the deadline servers' timer
				// (6.12+ rq->fair_server.dl_timer) restarts as the server is
				// replenished (kernel/sched/deadline.c).
				// The soft-lockup watchdog's timer re-arms itself every
				// period (kernel/watchdog.c watchdog_timer_fn), and the
				// dump's clock is the timekeeper's last update, which lags
				// on idle CPUs: a period may have passed unseen.
				if strings.HasPrefix(r.fn, "tick_") || r.fn == "dl_task_timer" || r.fn == "watchdog_timer_fn" {
					rearmed++
					continue
				}
				eligible++
				t.Logf("not found: %+v", r)
			}
			// A sleeper's timer (hrtimer_wakeup) goes when the sleeper is
			// woken early; one such of a handful is no error.
			if missing := eligible - found; missing > max(1, eligible/4) {
				t.Errorf("%d of %d recorded timers still pending at the dump found", found, eligible)
			}
			t.Logf("%d recorded timers, %d pending at the dump found of %d (%d tick or server timers re-armed)", len(rec), found, eligible, rearmed)
		})
	}
}

// TestWheelsRealDumps walks the timer wheels of every generated dump: each
// timer's flags name the CPU of its base (unless migrating) and the
// bucket it hangs on, deferrable timers are on BASE_DEF, and the bases'
// clocks are near jiffies.
func TestWheelsRealDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			needDataSymbols(t, p)
			j, err := Jiffies(p)
			if err != nil {
				t.Fatal(err)
			}
			bs, err := Wheels(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			perCPU := map[int]int{}
			for _, b := range bs {
				perCPU[b.CPU]++
				for _, e := range b.Errors {
					t.Errorf("cpu %d %s: %s", b.CPU, b.Name, e)
				}
				if d := int64(j - b.Clk); d < -64 || d > 1<<20 { // clk may run a jiffy ahead (kernel/time/timer.c __run_timers)
					t.Errorf("cpu %d %s: clk %d, jiffies %d", b.CPU, b.Name, b.Clk, j)
				}
				for _, tm := range b.Timers {
					n++
					if tm.Flags&TimerMigrating == 0 && int(tm.Flags&TimerCPUMask) != b.CPU {
						t.Errorf("cpu %d %s: timer %#x flags %#x name cpu %d", b.CPU, b.Name, tm.Addr, tm.Flags, tm.Flags&TimerCPUMask)
					}
					if int(tm.Flags>>TimerArrayShift) != tm.Index {
						t.Errorf("cpu %d %s: timer %#x flags %#x say bucket %d, found on %d", b.CPU, b.Name, tm.Addr, tm.Flags, tm.Flags>>TimerArrayShift, tm.Index)
					}
					if def := tm.Flags&TimerDeferrable != 0; def != (b.Name == "BASE_DEF") {
						t.Errorf("cpu %d %s: timer %#x (%s) deferrable %v", b.CPU, b.Name, tm.Addr, tm.Symbol, def)
					}
					if tm.Symbol == "" {
						t.Errorf("cpu %d %s: timer %#x callback %#x has no symbol", b.CPU, b.Name, tm.Addr, tm.Function)
					}
				}
			}
			for cpu, c := range perCPU {
				if c < 2 {
					t.Errorf("cpu %d: %d timer bases (NO_HZ_COMMON kernels have BASE_DEF)", cpu, c)
				}
			}
			if n == 0 {
				t.Error("no timer on any wheel")
			}
			t.Logf("%d timers on %d bases", n, len(bs))
		})
	}
}

// needDataSymbols skips a real-dump test whose kallsyms has no data
// symbols (a kernel without CONFIG_KALLSYMS_ALL, such as Debian's arm64
// ones, opened without its System.map): the per-CPU and global variables
// these walkers start from cannot be found.
func needDataSymbols(t *testing.T, p *symbols.Program) {
	t.Helper()
	if _, err := p.Symbol("init_task"); err != nil {
		t.Skipf("SKIP: no data symbols in the dump's kallsyms (CONFIG_KALLSYMS_ALL off; give --system-map): %v", err)
	}
}
