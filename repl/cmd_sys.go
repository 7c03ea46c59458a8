package repl

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/crash"
)

func registerSys(r *Registry) {
	r.Add(&Command{
		Name:    "sys",
		Summary: "system summary: release, machine, CPUs, memory, crash time, uptime, sources",
		Usage:   "sys [-i | -t | config]",
		Help: `Shows what crash's sys shows: the dump file and format, kernel release and
version, machine, CPUs, memory size, crash time, uptime and load average
(from the timekeeper and avenrun), task count, and where symbols and types
came from. Fields that cannot be derived are left out.

JSON: {"dumpfile","format","live","release","version","machine",
"nodename","cpus","memory_bytes","page_size","crash_time" (RFC 3339),
"crash_time_source","uptime_seconds","load_average":[3],"tasks",
"blocked_tasks" (in D state),"panic" (the log line saying why it died),
"kaslr_offset","symbols","types","warnings":[...]}.

sys -i shows the firmware's DMI identification (dmi_ident[] of
drivers/firmware/dmi_scan.c): BIOS, system, board and chassis strings.
JSON: {"dmi":[{"name","value"}]}.

sys -t shows the kernel's taint: tainted_mask and the letter of each set
flag (taint_flags[] of kernel/panic.c). JSON: {"mask","letters",
"flags":[{"bit","letter","name"}]}.

sys config prints the kernel's build configuration from its embedded
copy (CONFIG_IKCONFIG: kernel_config_data, gzip between IKCFG_ST and
IKCFG_ED); a kernel built without it says so. JSON: {"config":[lines]}.`,
		Flags: []Flag{
			{Name: "i", Help: "show the DMI (SMBIOS) identification strings"},
			{Name: "t", Help: "show the kernel's taint flags"},
		},
		Examples: []string{"sys", "sys -t", "sys -i", "sys config", "sys --json"},
		Run:      runSys,
	})
}

// SysInfo is the result of sys (see its help for the JSON).
type SysInfo struct {
	DumpFile        string     `json:"dumpfile,omitempty"`
	Format          string     `json:"format,omitempty"`
	Live            bool       `json:"live"`
	Release         string     `json:"release,omitempty"`
	Version         string     `json:"version,omitempty"`
	Machine         string     `json:"machine,omitempty"`
	Nodename        string     `json:"nodename,omitempty"`
	CPUs            int        `json:"cpus,omitempty"`
	MemoryBytes     uint64     `json:"memory_bytes,omitempty"`
	PageSize        int        `json:"page_size,omitempty"`
	CrashTime       *time.Time `json:"crash_time,omitempty"`
	CrashTimeSource string     `json:"crash_time_source,omitempty"`
	UptimeSeconds   *float64   `json:"uptime_seconds,omitempty"`
	LoadAverage     []float64  `json:"load_average,omitempty"`
	Tasks           int        `json:"tasks,omitempty"`
	// TasksIncomplete: the task list could not be walked whole; Tasks
	// counts the tasks found.
	TasksIncomplete bool   `json:"tasks_incomplete,omitempty"`
	Blocked         int    `json:"blocked_tasks"`
	Panic           string `json:"panic,omitempty"`
	// PanicInfo says why the kernel died (absent for a dump taken from
	// outside a running kernel): kind, cause, CPU, task, hung tasks.
	PanicInfo   *crash.PanicInfo `json:"panic_info,omitempty"`
	KASLROffset *Hex             `json:"kaslr_offset,omitempty"`
	Symbols     string           `json:"symbols,omitempty"`
	Types       string           `json:"types,omitempty"`
	Warnings    []string         `json:"warnings,omitempty"`
}

func runSys(c *Call) (Result, error) {
	if r, done, err := runSysSub(c); done {
		return r, err
	}
	p := c.Prog
	var si SysInfo
	if d := p.Dump; d != nil {
		si.DumpFile, si.Format, si.Live = d.Path(), d.Format(), d.Live()
		si.Release, si.Machine = d.Release(), d.Machine()
		u := d.Utsname()
		si.Version, si.Nodename = u.Version, u.Nodename
		si.CPUs, si.MemoryBytes, si.PageSize = d.NumCPUs(), d.MemorySize(), d.PageSize()
		if t := d.CrashTime(); !t.IsZero() {
			si.CrashTime, si.CrashTimeSource = &t, "dump header"
		}
		if off, ok := d.KernelOffset(); ok {
			h := Hex(off)
			si.KASLROffset = &h
		}
	}
	// init_uts_ns.name is struct new_utsname (include/linux/utsname.h).
	if uts, err := p.Variable("init_uts_ns"); err == nil {
		for _, f := range []struct {
			member string
			dst    *string
		}{{"name.release", &si.Release}, {"name.version", &si.Version}, {"name.machine", &si.Machine}, {"name.nodename", &si.Nodename}} {
			if s, err := uts.MemberString(f.member); err == nil && s != "" {
				*f.dst = s
			}
		}
	}
	if tk, ok := readTimekeeper(p); ok {
		up := tk.uptime.Seconds()
		si.UptimeSeconds = &up
		if si.CrashTime == nil && !tk.wall.IsZero() {
			w := tk.wall
			si.CrashTime, si.CrashTimeSource = &w, "timekeeper (last tick)"
		}
	}
	si.LoadAverage = loadAverage(p)
	if pi, err := crash.Panic(p); err == nil && pi != nil {
		si.Panic, si.PanicInfo = pi.Message, pi
	}
	if p.Syms != nil {
		si.Symbols = p.Syms.Describe()
	}
	if p.Types != nil {
		si.Types = p.Types.Describe()
	}
	if tasks, err := c.Session.Reg.Tasks(c.Ctx, p); err == nil || len(tasks) > 0 {
		if err != nil {
			// A broken list: the count is a lower bound, and says so.
			si.TasksIncomplete = true
			si.Warnings = append(si.Warnings, "tasks: the task list could not be walked whole: "+err.Error())
		}
		si.Tasks = len(tasks)
		for _, t := range tasks {
			if t.State == "UN" {
				si.Blocked++
			}
		}
	}
	si.Warnings = append(append([]string(nil), p.Warnings...), si.Warnings...)
	return si, nil
}

type tkInfo struct {
	uptime time.Duration
	// mono is CLOCK_MONOTONIC at the last tick (tkr_mono.base): the
	// clock printk's timestamps follow (local_clock stops in suspend too).
	mono time.Duration
	wall time.Time
}

// bootWall is the wall-clock time of boot as the log's timestamps count
// from it: the wall time at the last tick less the monotonic time then.
func (tk tkInfo) bootWall() time.Time { return tk.wall.Add(-tk.mono) }

// readTimekeeper reads the core timekeeper (kernel/time/timekeeping.c):
// up to 6.12 "static struct { seqcount_raw_spinlock_t seq; struct
// timekeeper timekeeper; } tk_core"; later kernels name the wrapper struct
// tk_data and keep an array timekeeper_data[] whose element 0 is the core
// timekeeper (TIMEKEEPER_CORE). The layout comes from struct tk_data when
// the types have it. Uptime is CLOCK_BOOTTIME at the last tick,
// tkr_mono.base + offs_boot (include/linux/timekeeper_internal.h); the
// wall time is xtime_sec. Values that are not plausible are rejected.
func readTimekeeper(p *symbols.Program) (tkInfo, bool) {
	addr, err := p.Symbol("tk_core")
	if err != nil {
		if addr, err = p.Symbol("timekeeper_data"); err != nil {
			return tkInfo{}, false
		}
	}
	tt, err := p.Type("struct timekeeper")
	if err != nil || !tt.HasMember("tkr_mono") || !tt.HasMember("offs_boot") || !tt.HasMember("xtime_sec") {
		return tkInfo{}, false
	}
	off := uint64(8)
	if o, err := p.OffsetOf("struct tk_data", "timekeeper"); err == nil {
		off = o
	} else if sz, err := p.SizeOf("seqcount_raw_spinlock_t"); err == nil {
		off = (sz + 7) &^ 7
	}
	tk := p.ObjectAt(tt, addr+off)
	base, err1 := tk.MemberUint("tkr_mono.base")
	boot, err2 := tk.MemberUint("offs_boot")
	sec, err3 := tk.MemberUint("xtime_sec")
	if err1 != nil || err2 != nil || err3 != nil {
		return tkInfo{}, false
	}
	// Sanity: a wall clock after 2000 and before 2200, a non-negative uptime.
	if int64(sec) < 946684800 || int64(sec) > 7258118400 || int64(base) < 0 || int64(boot) < 0 {
		return tkInfo{}, false
	}
	// The wall clock's nanoseconds are tkr_mono.xtime_nsec >> shift
	// (kernel/time/timekeeping.c tk_xtime).
	var nsec int64
	if xn, err := tk.MemberUint("tkr_mono.xtime_nsec"); err == nil {
		if sh, err := tk.MemberUint("tkr_mono.shift"); err == nil && sh < 64 && xn>>sh < 1e9 {
			nsec = int64(xn >> sh)
		}
	}
	return tkInfo{uptime: time.Duration(base + boot), mono: time.Duration(base), wall: time.Unix(int64(sec), nsec).UTC()}, true
}

// loadAverage reads avenrun[3], fixed point with FSHIFT 11
// (include/linux/sched/loadavg.h).
func loadAverage(p *symbols.Program) []float64 {
	addr, err := p.Symbol("avenrun")
	if err != nil {
		return nil
	}
	var out []float64
	for i := uint64(0); i < 3; i++ {
		v, err := p.ReadU64(addr + 8*i)
		if err != nil || v > 1<<40 {
			return nil
		}
		out = append(out, float64(v)/2048)
	}
	return out
}

// WriteText implements Result, crash's layout.
func (s SysInfo) WriteText(w io.Writer) error {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%12s: %s\n", k, v)
		}
	}
	df := s.DumpFile
	if s.Live {
		df += " [LIVE]"
	}
	line("KERNEL", s.Release)
	line("DUMPFILE", df)
	line("FORMAT", s.Format)
	if s.CPUs > 0 {
		line("CPUS", fmt.Sprint(s.CPUs))
	}
	if s.CrashTime != nil {
		line("DATE", s.CrashTime.Format("Mon Jan _2 15:04:05 UTC 2006")+"  ("+s.CrashTimeSource+")")
	}
	if s.UptimeSeconds != nil {
		line("UPTIME", formatUptime(*s.UptimeSeconds))
	}
	if len(s.LoadAverage) == 3 {
		line("LOAD AVERAGE", fmt.Sprintf("%.2f, %.2f, %.2f", s.LoadAverage[0], s.LoadAverage[1], s.LoadAverage[2]))
	}
	if s.TasksIncomplete {
		line("TASKS", fmt.Sprintf("%d found; the task list could not be walked whole, there may be more", s.Tasks))
	} else if s.Tasks > 0 {
		line("TASKS", fmt.Sprint(s.Tasks))
	}
	if s.Panic != "" {
		line("PANIC", strconv.Quote(s.Panic))
	}
	if pi := s.PanicInfo; pi != nil {
		if pi.Cause != "" {
			line("CAUSE", strconv.Quote(pi.Cause))
		}
		if pi.Task != nil {
			line("PANIC TASK", fmt.Sprintf("%d (%s), task %#x", pi.Task.PID, pi.Task.Comm, pi.Task.Addr))
		}
		if pi.CPU >= 0 {
			line("PANIC CPU", fmt.Sprintf("%d (%s)", pi.CPU, pi.CPUFrom))
		}
		for i, h := range pi.HungTasks {
			k := ""
			if i == 0 {
				k = "HUNG TASKS"
			}
			fmt.Fprintf(&b, "%12s  %s (pid %d), blocked for more than %d s\n", k, h.Comm, h.PID, h.Seconds)
		}
	}
	if s.Blocked > 0 {
		line("BLOCKED", fmt.Sprintf("%d in uninterruptible sleep (D); \"deadlock\" says why", s.Blocked))
	}
	line("NODENAME", s.Nodename)
	line("RELEASE", s.Release)
	line("VERSION", s.Version)
	line("MACHINE", s.Machine)
	if s.MemoryBytes > 0 {
		line("MEMORY", humanBytes(s.MemoryBytes))
	}
	if s.KASLROffset != nil {
		line("KASLR", s.KASLROffset.String())
	}
	line("SYMBOLS", s.Symbols)
	line("TYPES", s.Types)
	_, err := io.WriteString(w, b.String())
	return err
}

func formatUptime(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	days := int(d / (24 * time.Hour))
	d -= time.Duration(days) * 24 * time.Hour
	return fmt.Sprintf("%d days, %02d:%02d:%02d", days, int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60)
}

func humanBytes(n uint64) string {
	units := []string{"B", "KB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d %s", int64(f), units[i])
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
