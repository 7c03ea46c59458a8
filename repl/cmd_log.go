package repl

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kwalk/kwalk/walkers/printk"
)

func registerLog(r *Registry) {
	r.Add(&Command{
		Name:    "log",
		Aliases: []string{"dmesg"},
		Summary: "the kernel log (printk ring buffer)",
		Usage:   "log [-t|-T] [-m] [-c] [-d] [-a] [-n COUNT] [-g PATTERN]",
		Help: `Prints the kernel log records still in the printk ring buffer, oldest
first, like dmesg: "[    1.234567] text" (seconds since boot from the
record's local_clock timestamp). A record of several lines prints each
with the prefix. Needs the lockless ring buffer (Linux 5.10 and later).

-T prints each timestamp as a wall-clock time in UTC, "[Fri Dec  4
18:22:07 2026]": the boot time (the timekeeper's wall clock at its last
tick less the monotonic clock then) plus the record's timestamp. Like
crash's, it drifts from the truth by however long the machine was
suspended and by the difference between local_clock and the monotonic
clock. -m shows the level, -c the caller (with CONFIG_PRINTK_CALLER),
-d a dev_printk record's device as "SUBSYSTEM=" and "DEVICE=" lines, as
/dev/kmsg does.

-a prints instead the audit records the kernel had not yet handed to
auditd: kauditd's queues (audit_queue, audit_retry_queue,
audit_hold_queue in kernel/audit.c), each as "type=N text".

JSON: {"records": [{"seq", "ts_nsec", "level", "facility", "flags",
"caller_id", "text", "subsystem", "device"}], "boot_time" (RFC 3339, with
-T), "audit" (with -a: [{"queue", "type", "text"}]), "warnings": [...],
"warning" (the first warning, kept for older readers)}. Warnings go to
stderr in text mode.`,
		Flags: []Flag{
			{Name: "t", Help: "omit timestamps"},
			{Name: "T", Help: "show timestamps as wall-clock times (UTC)"},
			{Name: "m", Aliases: []string{"l"}, Help: "show the level (<0>..<7>) before each record (-l before crash's name)"},
			{Name: "c", Help: "show the caller (T<tid> or C<cpu>)"},
			{Name: "d", Help: "show the device of dev_printk records (SUBSYSTEM=, DEVICE=)"},
			{Name: "a", Help: "show the audit records waiting in kauditd's queues instead"},
			{Name: "n", Arg: "COUNT", Help: "only the last COUNT records"},
			{Name: "g", Arg: "PATTERN", Help: "only records containing PATTERN"},
		},
		Examples: []string{"log", "log -T", "log -n 20", "log -g hung_task", "log -m -c", "log -d -g nvme", "log -a", "log --json -n 5"},
		Run:      runLog,
	})
}

// LogResult is the result of "log".
type LogResult struct {
	Records  []printk.LogRecord `json:"records"`
	Warnings []string           `json:"warnings,omitempty"`
	Warning  string             `json:"warning,omitempty"` // Warnings[0], for older readers
	// BootTime is the wall-clock time the timestamps count from (-T).
	BootTime *time.Time `json:"boot_time,omitempty"`
	// Audit are kauditd's queued records (-a).
	Audit []printk.AuditRecord `json:"audit,omitempty"`

	noTime, level, caller, dev, audit bool
}

func runLog(c *Call) (Result, error) {
	if err := c.NeedArgs(0, 0); err != nil {
		return nil, err
	}
	n, err := c.Int("n")
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, UsageErrorf("log -n: %d is negative", n)
	}
	if c.Bool("t") && c.Bool("T") {
		return nil, UsageErrorf("log: -t and -T exclude each other")
	}
	if c.Bool("a") {
		recs, err := printk.Audit(c.Prog)
		if len(recs) == 0 && err != nil {
			return nil, err
		}
		res := &LogResult{Records: []printk.LogRecord{}, Audit: recs, audit: true}
		if err != nil {
			res.Warnings = []string{err.Error()}
			res.Warning = res.Warnings[0]
		}
		if pat := c.String("g"); pat != "" {
			res.Audit = res.Audit[:0]
			for _, r := range recs {
				if strings.Contains(r.Text, pat) {
					res.Audit = append(res.Audit, r)
				}
			}
		}
		if n > 0 && int(n) < len(res.Audit) {
			res.Audit = res.Audit[len(res.Audit)-int(n):]
		}
		return res, nil
	}
	recs, lerr := printk.Log(c.Prog)
	if len(recs) == 0 && lerr != nil {
		return nil, lerr
	}
	res := &LogResult{Records: []printk.LogRecord{}, noTime: c.Bool("t"), level: c.Bool("m"), caller: c.Bool("c"), dev: c.Bool("d")}
	if lerr != nil {
		res.Warning = lerr.Error()
		res.Warnings = []string{res.Warning}
	}
	if c.Bool("T") {
		tk, ok := readTimekeeper(c.Prog)
		if !ok {
			return nil, fmt.Errorf("log -T: the timekeeper (tk_core) cannot be read, so the boot time is unknown")
		}
		bt := tk.bootWall()
		res.BootTime = &bt
	}
	pat := c.String("g")
	for _, r := range recs {
		if pat == "" || strings.Contains(r.Text, pat) {
			res.Records = append(res.Records, r)
		}
	}
	if n > 0 && int(n) < len(res.Records) {
		res.Records = res.Records[len(res.Records)-int(n):]
	}
	return res, nil
}

// WriteText implements Result.
func (r *LogResult) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.audit {
		if len(r.Audit) == 0 {
			b.WriteString("(no audit records queued)\n")
		}
		for _, a := range r.Audit {
			fmt.Fprintf(&b, "type=%d %s\n", a.Type, strings.TrimRight(a.Text, "\n\x00"))
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	for _, rec := range r.Records {
		var pre strings.Builder
		if r.level {
			fmt.Fprintf(&pre, "<%d>", rec.Level)
		}
		switch {
		case r.BootTime != nil:
			t := r.BootTime.Add(time.Duration(rec.TimeNs)).UTC()
			fmt.Fprintf(&pre, "[%s] ", t.Format("Mon Jan _2 15:04:05 2006"))
		case !r.noTime:
			fmt.Fprintf(&pre, "[%s] ", rec.Timestamp())
		}
		if r.caller {
			fmt.Fprintf(&pre, "[%6s] ", rec.Caller())
		}
		for _, line := range strings.Split(strings.TrimSuffix(rec.Text, "\n"), "\n") {
			b.WriteString(pre.String())
			b.WriteString(line)
			b.WriteByte('\n')
		}
		if r.dev && rec.Subsystem != "" {
			fmt.Fprintf(&b, " SUBSYSTEM=%s\n", rec.Subsystem)
		}
		if r.dev && rec.Device != "" {
			fmt.Fprintf(&b, " DEVICE=%s\n", rec.Device)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ResultWarnings implements Warner.
func (r *LogResult) ResultWarnings() []string { return r.Warnings }
