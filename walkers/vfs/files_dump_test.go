package vfs

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/walktest"
)

func TestFilesMatchGuestRecord(t *testing.T) {
	for _, d := range testdata.RealDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			checked, fds := 0, 0
			for _, want := range d.Truth.Tasks {
				if !want.IsLeader() || len(want.FDs) == 0 {
					continue
				}
				if want.TID == walktest.RecorderPID(d.Truth) {
					// The recorder goes on (closing files, exiting) after
					// printing the record.
					continue
				}
				task, err := sched.TaskByPID(p, want.TID)
				if err != nil {
					t.Errorf("pid %d: %v", want.TID, err)
					continue
				}
				got, err := Files(p, task)
				if err != nil {
					t.Errorf("pid %d: Files: %v", want.TID, err)
					continue
				}
				byFD := make(map[int]OpenFile)
				for _, f := range got {
					byFD[f.FD] = f
					if len(f.Errors) > 0 {
						t.Errorf("pid %d fd %d: errors %v", want.TID, f.FD, f.Errors)
					}
				}
				checked++
				for _, w := range want.FDs {
					fds++
					f, ok := byFD[w.Num]
					if !ok {
						t.Errorf("pid %d (%s): fd %d -> %s not found", want.TID, want.Comm, w.Num, w.Target)
						continue
					}
					if f.Path != w.Target {
						t.Errorf("pid %d (%s): fd %d: path %q, record %q", want.TID, want.Comm, w.Num, f.Path, w.Target)
					}
					if strings.HasPrefix(w.Target, "/") && !strings.HasSuffix(w.Target, " (deleted)") {
						// The inode's path through its alias and a mount of
						// its super block is the same here (one link each).
						if ip, err := InodePath(p, f.Inode); err != nil || ip != w.Target {
							t.Errorf("pid %d fd %d: InodePath = %q, %v; record %q", want.TID, w.Num, ip, err, w.Target)
						}
					}
					if w.Target == "/dev/fuse" && !f.Fuse {
						t.Errorf("pid %d: fd %d is /dev/fuse but not recognised as a FUSE device", want.TID, w.Num)
					}
					if strings.HasPrefix(w.Target, "pipe:") && f.Type != "FIFO" {
						t.Errorf("pid %d: fd %d pipe has type %q", want.TID, w.Num, f.Type)
					}
				}
				if len(got) != len(want.FDs) {
					t.Errorf("pid %d (%s): %d fds, record %d", want.TID, want.Comm, len(got), len(want.FDs))
				}
			}
			if checked == 0 {
				t.Fatalf("no task with fds in the record")
			}
			t.Logf("%d processes, %d fds compared", checked, fds)
		})
	}
}
