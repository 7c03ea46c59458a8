package repl

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kwalk/kwalk/walkers/waitfor"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// textWidth is the width reports wrap to on a terminal: its width (or
// $COLUMNS when set); 0 — no wrapping — when stdout is a pipe or a file,
// so that each line stays whole for grep.
func textWidth() int {
	if !isTerminal(os.Stdout) {
		return 0
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n >= 40 {
		return n
	}
	if cols, _ := terminalSize(os.Stdout); cols >= 40 {
		return cols
	}
	return 100
}

// writeRootSummary writes one line per chain before the chains: its root
// cause, how many tasks it blocks and for how long, and the first fix.
func writeRootSummary(w io.Writer, chains []waitfor.Chain, width int) {
	if len(chains) == 0 {
		return
	}
	fmt.Fprintln(w, "\nroot causes:")
	for i, c := range chains {
		var longest time.Duration
		for _, x := range append(append([]waitkind.TaskWait(nil), c.Path...), c.Others...) {
			longest = max(longest, x.Task.BlockedFor)
		}
		line := fmt.Sprintf("#%d %s (%d task(s)", i+1, c.Root.Summary, c.Blocked)
		if longest > 0 {
			line += fmt.Sprintf(", blocked up to %s", longest.Round(time.Second))
		}
		line += ")"
		if len(c.Remedy) > 0 {
			fix, _, _ := strings.Cut(c.Remedy[0], "  #")
			line += " — fix: " + strings.TrimSpace(fix)
		}
		wrapTo(w, "  ", "      ", line, width)
	}
}

// maxSameNames bounds the names listed for the waiters that wait on the
// same object as a hop already shown.
const maxSameNames = 8

// writeChainText lays out one chain: a header with the root cause, each
// hop's task and wait on a line, what it waits on, who holds it and the
// remarks indented under it, wrapped to width; the other waiters of an
// object already shown are counted and named on one line, not repeated.
func writeChainText(w io.Writer, n int, c waitfor.Chain, width int, verbose bool) {
	certain := "certain"
	switch {
	case c.Root.Incomplete:
		certain = "incomplete: memory it rests on is not in the dump"
	case !c.Root.Certain:
		certain = "includes hints"
	}
	fmt.Fprintf(w, "\n#%d  %s — %d task(s) blocked (%s)\n", n, c.Root.Kind, c.Blocked, certain)
	wrapTo(w, "    ", "    ", c.Root.Summary, width)

	type group struct {
		what  string
		names []string
	}
	key := func(x waitkind.TaskWait) string {
		if x.Object.Addr == 0 {
			return ""
		}
		return fmt.Sprintf("%s/%#x", x.Kind, x.Object.Addr)
	}
	groups := map[string]*group{}
	var order []string
	hop := func(prefix string, x waitkind.TaskWait) {
		h := waitfor.Hop(x)
		wrapTo(w, "  - "+prefix, "      ", h.Head, width)
		if h.On != "" {
			wrapTo(w, "      on: ", "          ", h.On, width)
		}
		if h.HeldBy != "" {
			wrapTo(w, "      held by: ", "          ", h.HeldBy, width)
		}
		if h.Note != "" {
			wrapTo(w, "      note: ", "          ", h.Note, width)
		}
		if h.Error != "" {
			wrapTo(w, "      error: ", "          ", h.Error, width)
		}
		if verbose && h.How != "" {
			wrapTo(w, "      found by: ", "          ", h.How, width)
		}
		if k := key(x); k != "" && groups[k] == nil {
			groups[k] = &group{what: x.Object.Type}
			order = append(order, k)
		}
	}
	for _, x := range c.Path {
		hop("", x)
	}
	if c.Root.Kind == waitfor.RootCycle && len(c.Path) > 0 {
		t := c.Path[0].Task
		fmt.Fprintf(w, "  … which is where the chain started: %s (pid %d)\n", t.Comm, t.PID)
	}
	for _, x := range c.Others {
		if g := groups[key(x)]; g != nil {
			name := fmt.Sprintf("%s (pid %d) [%s]", x.Task.Comm, x.Task.PID, x.Task.State)
			if d := x.Task.BlockedFor; d > 0 {
				name = fmt.Sprintf("%s (pid %d) [%s, for %s]", x.Task.Comm, x.Task.PID, x.Task.State, d.Round(time.Second))
			}
			g.names = append(g.names, name)
			continue
		}
		hop("also: ", x)
	}
	for _, k := range order {
		g := groups[k]
		if len(g.names) == 0 {
			continue
		}
		names := g.names
		more := ""
		if len(names) > maxSameNames {
			more = fmt.Sprintf(" and %d more", len(names)-maxSameNames)
			names = names[:maxSameNames]
		}
		wrapTo(w, "  ", "      ", fmt.Sprintf("+ %d more waiting on the same %s: %s%s", len(g.names), g.what, strings.Join(names, ", "), more), width)
	}
	for _, s := range c.Remedy {
		fmt.Fprintf(w, "  fix: %s\n", s) // a command to copy: never wrapped
	}
}

// wrapTo writes text after first, wrapped at spaces to width columns,
// continuation lines after rest; width 0 does not wrap. A word longer
// than a line (a path) is kept whole.
func wrapTo(w io.Writer, first, rest, text string, width int) {
	if width <= 0 {
		fmt.Fprintln(w, first+text)
		return
	}
	prefix := first
	line := prefix
	empty := true
	for _, word := range strings.Fields(text) {
		if !empty && len(line)+1+len(word) > width {
			fmt.Fprintln(w, line)
			prefix = rest
			line, empty = prefix, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	fmt.Fprintln(w, line)
}
