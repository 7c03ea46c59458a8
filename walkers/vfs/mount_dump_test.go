package vfs

import (
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

func TestMountsMatchGuestRecord(t *testing.T) {
	for _, d := range testdata.RealDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			ms, err := Mounts(p)
			if err != nil {
				t.Fatalf("Mounts: %v", err)
			}
			byID := make(map[int]Mount)
			for _, m := range ms {
				byID[m.ID] = m
				if len(m.Errors) > 0 {
					t.Errorf("mount %d: %v", m.ID, m.Errors)
				}
			}
			for _, w := range d.Truth.Mounts {
				m, ok := byID[w.ID]
				if !ok {
					t.Errorf("mount %d (%s) not found", w.ID, w.MountPoint)
					continue
				}
				if m.MountPoint != w.MountPoint || m.Root != w.Root || m.ParentID != w.ParentID ||
					m.FSType() != w.FSType || m.Source != w.Source ||
					m.Super.Major() != w.Major || m.Super.Minor() != w.Minor {
					t.Errorf("mount %d: got %s %s parent %d %s %s %d:%d; record %s %s parent %d %s %s %d:%d",
						w.ID, m.MountPoint, m.Root, m.ParentID, m.FSType(), m.Source, m.Super.Major(), m.Super.Minor(),
						w.MountPoint, w.Root, w.ParentID, w.FSType, w.Source, w.Major, w.Minor)
				}
			}
			maxID := 0
			for _, w := range d.Truth.Mounts {
				if w.ID > maxID {
					maxID = w.ID
				}
			}
			for _, m := range ms {
				found := false
				for _, w := range d.Truth.Mounts {
					found = found || w.ID == m.ID
				}
				isParent := false
				for _, w := range d.Truth.Mounts {
					isParent = isParent || (w.ParentID == m.ID && w.ID != m.ID)
				}
				switch {
				case found:
				case isParent && m.ParentID == m.ID:
					// The namespace root below the process root (7.x nullfs):
					// mountinfo skips mounts outside the reader's root.
					t.Logf("mount %d %s (%s): namespace root above the recorder's root", m.ID, m.MountPoint, m.FSType())
				case m.ID > maxID:
					// Mounted after the record read mountinfo (the record
					// itself mounts fusectl to read the connections).
					t.Logf("mount %d %s (%s) is newer than the record", m.ID, m.MountPoint, m.FSType())
				default:
					t.Errorf("mount %d %s %s %s parent %d is not in the record", m.ID, m.MountPoint, m.FSType(), m.Source, m.ParentID)
				}
			}
			t.Logf("%d mounts", len(ms))
		})
	}
}
