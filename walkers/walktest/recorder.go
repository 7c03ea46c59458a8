package walktest

import (
	"strconv"

	"github.com/kwalk/kwalk/testdata/truth"
)

// RecorderTask reports whether a task missing from the record (or
// differing from it) may be explained by the recording itself: it started
// after the record's last task (the commands that printed it), or the
// Record names it as the recorder.
func RecorderTask(rec *truth.Record, tid int) bool {
	max := 0
	for _, t := range rec.Tasks {
		if t.TID > max {
			max = t.TID
		}
	}
	if r, ok := rec.Meta["recorder"]; ok {
		if r == itoa(tid) {
			return true
		}
	}
	return tid > max
}

// RecorderPID returns the pid of the process that printed the record:
// meta recorder= in newer records; older records (no meta) were printed by
// the guest's init script, pid 1 (testdata/gen/init.sh).
func RecorderPID(rec *truth.Record) int {
	if r, ok := rec.Meta["recorder"]; ok {
		if n, err := strconv.Atoi(r); err == nil {
			return n
		}
	}
	return 1
}

func itoa(n int) string {
	return strconv.Itoa(n)
}
