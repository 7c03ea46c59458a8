package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestDeadlockCommand runs the lock, FUSE and deadlock commands on the
// shared dump through a Session: text, JSON (addresses as hex strings) and
// the exit status (2: the dump holds a cycle).
func TestDeadlockCommand(t *testing.T) {
	prog := openRealDump(t)
	var out, errb bytes.Buffer
	s := NewSession(prog, NewDefaultRegistry(), &out, &errb)
	run := func(line string) (string, int) {
		out.Reset()
		errb.Reset()
		st := s.Exec(context.Background(), line)
		if errb.Len() > 0 {
			t.Logf("%s: stderr %s", line, errb.String())
		}
		return out.String(), st
	}
	text, st := run("deadlock")
	if st != ExitFinding2 || !strings.Contains(text, "DEADLOCK") || !strings.Contains(text, "fuse-server-is-waiter") {
		t.Errorf("deadlock: status %d\n%s", st, text)
	}
	js, st := run("deadlock --json")
	if st != ExitFinding2 {
		t.Errorf("deadlock --json: status %d", st)
	}
	var doc struct {
		Schema   int    `json:"schema"`
		Status   string `json:"status"`
		ExitCode int    `json:"exit_code"`
		Chains   []struct {
			Root struct {
				Kind string `json:"kind"`
			} `json:"root"`
			Path []struct {
				Object struct {
					Addr string `json:"addr"`
				} `json:"object"`
			} `json:"path"`
		} `json:"chains"`
	}
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		t.Fatalf("deadlock --json: %v\n%s", err, js)
	}
	if doc.Schema != 1 || doc.Status != "deadlock" || doc.ExitCode != 2 || len(doc.Chains) == 0 {
		t.Errorf("deadlock --json: %+v", doc)
	}
	for _, c := range doc.Chains {
		for _, h := range c.Path {
			if h.Object.Addr != "" && !strings.HasPrefix(h.Object.Addr, "0x") {
				t.Errorf("address %q is not a hex string", h.Object.Addr)
			}
		}
	}
	text, st = run("fuse")
	if st != ExitOK || !strings.Contains(text, "/sys/fs/fuse/connections/") || !strings.Contains(text, "server: PID") {
		t.Errorf("fuse: status %d\n%s", st, text)
	}
	if _, st = run("fuse --json"); st != ExitOK {
		t.Errorf("fuse --json: status %d", st)
	}
	if _, st = run("mutex"); st != ExitUsage {
		t.Errorf("mutex without an address: status %d, want %d", st, ExitUsage)
	}
	if text, st = run("blocked"); st != ExitOK || !strings.Contains(text, "rw_semaphore.owner (writer) [certain]") || !strings.Contains(text, "zap_pid_ns_processes") {
		t.Errorf("blocked: status %d\n%s", st, text)
	}
	if text, st = run("folios"); st != ExitOK {
		t.Errorf("folios: status %d\n%s", st, text)
	}
}
