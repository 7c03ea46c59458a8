package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata/truth"
)

// runJSON runs line with --json on the shared dump and decodes the result.
func runJSON(t *testing.T, s *Session, out *bytes.Buffer, line string, v any) {
	t.Helper()
	out.Reset()
	if st := s.Exec(context.Background(), line+" --json"); st != ExitOK {
		t.Fatalf("%s: exit status %d: %s", line, st, out.String())
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		t.Fatalf("%s: %v in %q", line, err, out.String())
	}
}

// TestTaskCommandsRealDump runs ps, files, mount and log on the shared dump
// and compares them with the guest's record.
func TestTaskCommandsRealDump(t *testing.T) {
	prog := openRealDump(t)
	rec, err := truth.ParseFile(filepath.Join(filepath.Dir(realDumpPath), "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The process that printed the record goes on after it: meta
	// recorder= in newer records, the guest's init (pid 1) in older ones.
	recorder := 1
	if r, ok := rec.Meta["recorder"]; ok {
		recorder, _ = strconv.Atoi(r)
	}
	var out, errb bytes.Buffer
	s := NewSession(prog, NewDefaultRegistry(), &out, &errb)

	var ps struct {
		Tasks []PsRow `json:"tasks"`
	}
	runJSON(t, s, &out, "ps", &ps)
	byTID := map[int]PsRow{}
	for _, r := range ps.Tasks {
		if !r.Idle {
			byTID[r.TID] = r
		}
	}
	for _, w := range rec.Tasks {
		if w.PID == recorder {
			continue
		}
		r, ok := byTID[w.TID]
		if !ok || r.State != string(w.State) || r.TGID != w.PID {
			t.Errorf("ps: tid %d: %+v; record %c pid %d", w.TID, r, w.State, w.PID)
		}
	}
	runJSON(t, s, &out, "ps --state D", &ps)
	for _, r := range ps.Tasks {
		if w := rec.Task(r.TID); r.State != "D" || w == nil || w.State != 'D' {
			t.Errorf("ps --state D lists tid %d state %s", r.TID, r.State)
		}
	}
	var files FilesResult
	for _, w := range rec.Tasks {
		if !w.IsLeader() || len(w.FDs) == 0 || w.PID == recorder {
			continue
		}
		runJSON(t, s, &out, "files "+strconv.Itoa(w.TID), &files)
		got := map[int]string{}
		for _, f := range files.Tasks[0].Files {
			got[f.FD] = f.Path
		}
		for _, fd := range w.FDs {
			if got[fd.Num] != fd.Target {
				t.Errorf("files %d: fd %d = %q, record %q", w.TID, fd.Num, got[fd.Num], fd.Target)
			}
		}
	}
	// fuser agrees with the record's fd links.
	for _, dir := range []string{"/mnt/w", "/dev/fuse"} {
		var fu FuserResult
		runJSON(t, s, &out, "fuser "+dir, &fu)
		want := map[int]bool{}
		for _, w := range rec.Tasks {
			for _, fd := range w.FDs {
				if w.PID != recorder && (fd.Target == dir || strings.HasPrefix(fd.Target, dir+"/")) {
					want[w.TID] = true
				}
			}
		}
		got := map[int]bool{}
		for _, u := range fu.Users {
			got[u.PID] = true
		}
		if len(want) == 0 || len(got) != len(want) {
			t.Errorf("fuser %s: pids %v, record %v", dir, got, want)
		}
		for pid := range want {
			if !got[pid] {
				t.Errorf("fuser %s: pid %d missing", dir, pid)
			}
		}
	}
	var mounts MountResult
	runJSON(t, s, &out, "mount", &mounts)
	for _, w := range rec.Mounts {
		found := false
		for _, m := range mounts.Mounts {
			found = found || (m.ID == w.ID && m.MountPoint == w.MountPoint && m.FSType == w.FSType && m.Source == w.Source)
		}
		if !found {
			t.Errorf("mount: %d %s %s %s missing", w.ID, w.MountPoint, w.FSType, w.Source)
		}
	}
	var log struct {
		Records []struct {
			Text string `json:"text"`
		} `json:"records"`
	}
	runJSON(t, s, &out, "log", &log)
	if len(log.Records) == 0 || !strings.HasPrefix(log.Records[0].Text, "Linux version ") {
		t.Errorf("log: %d records, first %+v", len(log.Records), log.Records[:min(1, len(log.Records))])
	}
	// Text forms render without error and say something.
	for _, line := range []string{"ps", "ps -m", "ps -G -u --tgid", "ps --comm 'kworker*'", "files 1", "mount", "log -n 3 -l -c"} {
		out.Reset()
		if st := s.Exec(context.Background(), line); st != ExitOK || out.Len() == 0 {
			t.Errorf("%s: status %d, %d bytes; stderr %s", line, st, out.Len(), errb.String())
		}
	}
	out.Reset()
	if st := s.Exec(context.Background(), "ps --state Q"); st != ExitUsage {
		t.Errorf("ps --state Q: status %d, want %d", st, ExitUsage)
	}
}
