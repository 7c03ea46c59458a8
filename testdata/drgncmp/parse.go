package main

import (
	"bufio"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// task is one line of a task listing: pid and one-letter state (R S D T Z
// X I ...; kwalk's crash-style two-letter states are mapped to these).
type task struct {
	PID   int
	State string
}

// crashState maps crash's ps states (kwalk's ST column) to the kernel's
// one-letter ones, which drgn's task_state_to_char prints.
var crashState = map[string]string{
	"RU": "R", "R": "R",
	"IN": "S", "S": "S",
	"UN": "D", "D": "D",
	"ST": "T", "T": "T",
	"TR": "t", "t": "t",
	"ZO": "Z", "Z": "Z",
	"DE": "X", "X": "X",
	"ID": "I", "I": "I",
	"WA": "W", "PA": "P", "NE": "N",
}

// parseKwalkPS reads kwalk ps's table: a header line naming the columns
// (PID ... ST ... COMM), then one line per task, the CPUs' current tasks
// marked with a leading ">".
func parseKwalkPS(out string) ([]task, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	pidCol, stCol := -1, -1
	var tasks []task
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if pidCol < 0 {
			for i, c := range f {
				switch c {
				case "PID":
					pidCol = i
				case "ST":
					stCol = i
				}
			}
			if pidCol < 0 || stCol < 0 {
				return nil, fmt.Errorf("kwalk ps: no PID and ST columns in %q", sc.Text())
			}
			continue
		}
		if f[0] == ">" {
			f = f[1:]
		}
		if len(f) <= stCol {
			return nil, fmt.Errorf("kwalk ps: short line %q", sc.Text())
		}
		pid, err := strconv.Atoi(f[pidCol])
		if err != nil {
			return nil, fmt.Errorf("kwalk ps: line %q: %v", sc.Text(), err)
		}
		st, ok := crashState[f[stCol]]
		if !ok {
			st = f[stCol]
		}
		tasks = append(tasks, task{pid, st})
	}
	if pidCol < 0 {
		return nil, fmt.Errorf("kwalk ps: no header")
	}
	return tasks, nil
}

// parseDrgnPS reads the lines "PID STATE COMM" that psScript prints.
func parseDrgnPS(out string) ([]task, error) {
	var tasks []task
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("drgn ps: short line %q", line)
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("drgn ps: line %q: %v", line, err)
		}
		tasks = append(tasks, task{pid, f[1]})
	}
	return tasks, nil
}

// taskCounts summarizes a listing without the pid-0 idle tasks (drgn's
// for_each_task walks init_task's list, which has none of them): the
// number of tasks, how many are in D state, and the pids.
func taskCounts(ts []task) (n, d int, pids []int) {
	for _, t := range ts {
		if t.PID == 0 {
			continue
		}
		n++
		if t.State == "D" {
			d++
		}
		pids = append(pids, t.PID)
	}
	sort.Ints(pids)
	return n, d, pids
}

// diffPIDs lists, at most max of each, the pids only in a and only in b
// (both sorted; a thread group's threads share no pid, so pids are
// unique).
func diffPIDs(a, b []int, max int) (onlyA, onlyB []int) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			if len(onlyA) < max {
				onlyA = append(onlyA, a[i])
			}
			i++
		case i == len(a) || b[j] < a[i]:
			if len(onlyB) < max {
				onlyB = append(onlyB, b[j])
			}
			j++
		default:
			i++
			j++
		}
	}
	return onlyA, onlyB
}

// countTraces counts the per-task headers ("PID: N ...") in kwalk's
// foreach bt output or the drgn scripts', leaving out pid 0, and the
// traces the drgn scripts could not unwind ("error: ..." lines).
func countTraces(out string) (traces, errors int) {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "PID:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 && f[0] != "0" {
				traces++
			}
			continue
		}
		if strings.HasPrefix(line, "error:") {
			errors++
		}
	}
	return traces, errors
}

// median of ds (the mean of the middle two for an even count), 0 for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratio formats a/b with two significant decimals, "-" when b is 0.
func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	r := float64(a) / float64(b)
	switch {
	case r >= 10:
		return fmt.Sprintf("%.0f", r)
	case r >= 1:
		return fmt.Sprintf("%.1f", r)
	default:
		return fmt.Sprintf("%.2f", r)
	}
}

// seconds formats d in seconds, with two decimals below 10 s.
func seconds(d time.Duration) string {
	s := d.Seconds()
	if s >= 10 {
		return fmt.Sprintf("%.1f s", s)
	}
	return fmt.Sprintf("%.2f s", s)
}

// parseModules reads the NAME column of kwalk mod's table.
func parseModules(out string) []string {
	var names []string
	nameCol := -1
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if nameCol < 0 {
			for i, c := range f {
				if c == "NAME" {
					nameCol = i
				}
			}
			if nameCol < 0 {
				return nil
			}
			continue
		}
		if len(f) > nameCol {
			names = append(names, f[nameCol])
		}
	}
	return names
}
