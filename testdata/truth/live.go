package truth

import (
	"fmt"
	"strconv"
	"strings"
)

// Live runs: after the record, newer generators' guests run kwalk against
// their own running kernel (/proc/kcore) and frame each run on the console,
// between KWALK-TRUTH-END and KWALK-SCENARIO-READY:
//
//	KWALK-LIVE-NOTE present /proc/kcore
//	KWALK-LIVE-BEGIN deadlock --json
//	<kwalk's stdout and stderr>
//	KWALK-LIVE-END deadlock --json rc=2 ms=5120
const (
	LiveBeginMarker = "KWALK-LIVE-BEGIN"
	LiveEndMarker   = "KWALK-LIVE-END"
	LiveNoteMarker  = "KWALK-LIVE-NOTE"
)

// maxLiveOutput bounds the output kept of one live run.
const maxLiveOutput = 16 << 20

// LiveRun is one kwalk run in the guest.
type LiveRun struct {
	Args   string // the kwalk arguments: "sys", "deadlock --json"
	Output string // stdout and stderr, interleaved as written
	RC     int    // exit status; -1 when it could not run or was killed
	Millis int64  // wall time, -1 when the end line does not say
}

// liveState collects live runs while parsing.
type liveState struct {
	cur *LiveRun
	out strings.Builder
}

// liveLine handles one console line after the record; it reports whether
// the line belonged to the live section.
func (rec *Record) liveLine(st *liveState, line string) (bool, error) {
	if i := strings.Index(line, LiveNoteMarker); i >= 0 && st.cur == nil {
		rec.LiveNotes = append(rec.LiveNotes, strings.TrimSpace(line[i+len(LiveNoteMarker):]))
		return true, nil
	}
	if i := strings.Index(line, LiveBeginMarker); i >= 0 {
		if st.cur != nil {
			return true, fmt.Errorf("%s %q inside the run of %q", LiveBeginMarker, line[i:], st.cur.Args)
		}
		st.cur = &LiveRun{Args: strings.TrimSpace(line[i+len(LiveBeginMarker):]), RC: -1, Millis: -1}
		st.out.Reset()
		return true, nil
	}
	if st.cur == nil {
		return false, nil
	}
	if i := strings.Index(line, LiveEndMarker); i >= 0 {
		run := st.cur
		st.cur = nil
		fields := strings.Fields(line[i+len(LiveEndMarker):])
		var args []string
		for _, f := range fields {
			switch {
			case strings.HasPrefix(f, "rc="):
				n, err := strconv.Atoi(f[3:])
				if err != nil {
					return true, fmt.Errorf("%s %s: bad %q", LiveEndMarker, run.Args, f)
				}
				run.RC = n
			case strings.HasPrefix(f, "ms="):
				n, err := strconv.ParseInt(f[3:], 10, 64)
				if err != nil {
					return true, fmt.Errorf("%s %s: bad %q", LiveEndMarker, run.Args, f)
				}
				run.Millis = n
			default:
				args = append(args, f)
			}
		}
		if got := strings.Join(args, " "); got != run.Args {
			return true, fmt.Errorf("%s %q closes the run of %q", LiveEndMarker, got, run.Args)
		}
		run.Output = st.out.String()
		if rec.Live == nil {
			rec.Live = map[string]LiveRun{}
		}
		rec.Live[run.Args] = *run
		return true, nil
	}
	if st.out.Len()+len(line)+1 > maxLiveOutput {
		return true, fmt.Errorf("live run %q: output over %d bytes", st.cur.Args, maxLiveOutput)
	}
	st.out.WriteString(line)
	st.out.WriteByte('\n')
	return true, nil
}
