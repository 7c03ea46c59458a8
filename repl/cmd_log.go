package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/walkers/printk"
)

func registerLog(r *Registry) {
	r.Add(&Command{
		Name:    "log",
		Aliases: []string{"dmesg"},
		Summary: "the kernel log (printk ring buffer)",
		Usage:   "log [-t] [-l] [-c] [-n COUNT] [-g PATTERN]",
		Help: `Prints the kernel log records still in the printk ring buffer, oldest
first, like dmesg: "[    1.234567] text" (seconds since boot from the
record's local_clock timestamp). A record of several lines prints each
with the prefix. Needs the lockless ring buffer (Linux 5.10 and later).

JSON: {"records": [{"seq", "ts_nsec", "level", "facility", "flags",
"caller_id", "text"}], "warnings": [...], "warning" (the first warning,
kept for older readers)}. Warnings go to stderr in text mode.`,
		Flags: []Flag{
			{Name: "t", Help: "omit timestamps"},
			{Name: "l", Help: "show the level (<0>..<7>) before each record"},
			{Name: "c", Help: "show the caller (T<tid> or C<cpu>)"},
			{Name: "n", Arg: "COUNT", Help: "only the last COUNT records"},
			{Name: "g", Arg: "PATTERN", Help: "only records containing PATTERN"},
		},
		Examples: []string{"log", "log -n 20", "log -g hung_task", "log -l -c", "log --json -n 5"},
		Run:      runLog,
	})
}

// LogResult is the result of "log".
type LogResult struct {
	Records  []printk.LogRecord `json:"records"`
	Warnings []string           `json:"warnings,omitempty"`
	Warning  string             `json:"warning,omitempty"` // Warnings[0], for older readers

	noTime, level, caller bool
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
	recs, lerr := printk.Log(c.Prog)
	if len(recs) == 0 && lerr != nil {
		return nil, lerr
	}
	res := &LogResult{Records: []printk.LogRecord{}, noTime: c.Bool("t"), level: c.Bool("l"), caller: c.Bool("c")}
	if lerr != nil {
		res.Warning = lerr.Error()
		res.Warnings = []string{res.Warning}
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
	for _, rec := range r.Records {
		var pre strings.Builder
		if r.level {
			fmt.Fprintf(&pre, "<%d>", rec.Level)
		}
		if !r.noTime {
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
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ResultWarnings implements Warner.
func (r *LogResult) ResultWarnings() []string { return r.Warnings }
