package repl

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestRdUserRealDumps reads, with rd -u, the start of the executable
// mapped first in init's address space (the record's /proc/1/maps: a
// mapping at file offset 0) and finds the ELF magic there.
func TestRdUserRealDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		if d.Generated == nil {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			init := d.Truth.Task(1)
			if init == nil || len(init.Maps) == 0 {
				t.Skip("the record has no /proc/1/maps")
			}
			var start string
			for _, m := range init.Maps {
				f := strings.Fields(m)
				if len(f) >= 6 && f[2] == "00000000" && strings.HasPrefix(f[5], "/") {
					start, _, _ = strings.Cut(f[0], "-")
					break
				}
			}
			if start == "" {
				t.Skip("no file mapping at offset 0 in /proc/1/maps")
			}
			p := walktest.OpenReal(t, d)
			var out, errb bytes.Buffer
			s := NewSession(p, NewDefaultRegistry(), &out, &errb)
			if st := s.Exec(context.Background(), "set 1"); st != ExitOK {
				t.Fatalf("set 1: %s", errb.String())
			}
			out.Reset()
			st := s.Exec(context.Background(), "rd -u -8 "+start+" 4")
			if st != ExitOK || !strings.Contains(out.String(), "7f 45 4c 46") {
				t.Errorf("rd -u -8 %s 4: status %d, %q %s; want the ELF magic", start, st, out.String(), errb.String())
			}
		})
	}
}
