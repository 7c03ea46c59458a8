package mm_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/mm"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestFilteredDumpMarksMissing: on a makedumpfile -d 31 dump (user,
// cache and free pages left out) the kernel's own structures read as on
// the full dump, and a user page is translated to the same physical page
// but marked as not in the dump — never given contents or dropped.
func TestFilteredDumpMarksMissing(t *testing.T) {
	for _, d := range testdata.Require(t, testdata.Filter{Guest: "hangs", Format: testdata.FormatMakedumpfileZlib31}) {
		t.Run(d.ID(), func(t *testing.T) {
			full := walktest.OpenReal(t, testdata.RealDump{Name: d.ID() + " elf", Path: d.Path(testdata.FormatELF)})
			filt := walktest.OpenReal(t, testdata.RealDump{Name: d.ID() + " d31", Path: d.Path(testdata.FormatMakedumpfileZlib31)})
			needX86Kernel(t, full)

			mf, err1 := mm.ReadMemInfo(full)
			md, err2 := mm.ReadMemInfo(filt)
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if mf.Total != md.Total || mf.Free != md.Free || mf.Slab != md.Slab || mf.Committed != md.Committed {
				t.Errorf("memory summary differs: full %+v, filtered %+v", mf, md)
			}
			// A slab page the dump tool left out (sid's makedumpfile
			// excludes some) may hide part of a walk (Buffers walks the
			// block device inodes): said, naming the page, never guessed.
			for _, n := range md.Notes {
				if !strings.Contains(n, "excluded from the dump") {
					t.Errorf("filtered dump note: %s", n)
				}
			}

			present, missing, unreadable := 0, 0, 0
			for _, pid := range []int{1} {
				tf, err1 := sched.TaskByPID(full, pid)
				td, err2 := sched.TaskByPID(filt, pid)
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				m1, _, err1 := mm.TaskMM(full, tf)
				m2, _, err2 := mm.TaskMM(filt, td)
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				fullVMAs := map[uint64]mm.VMA{}
				if err := m1.VMAs(full, func(v mm.VMA) error { fullVMAs[v.Addr] = v; return nil }); err != nil {
					t.Fatal(err)
				}
				var vmas []mm.VMA
				if err := m2.VMAs(filt, func(v mm.VMA) error { vmas = append(vmas, v); return nil }); err != nil {
					// A node of the VMA tree itself may be left out (6.12):
					// the walk must then say so, naming the page.
					if !errors.Is(err, kcore.ErrExcluded) {
						t.Fatal(err)
					}
					t.Logf("pid %d: the VMA walk stops where the filtered dump lacks a page: %v", pid, err)
					unreadable++
				}
				for _, v := range vmas {
					if len(v.Errors) > 0 {
						// makedumpfile may leave out the slab page holding
						// the VMA (seen on 6.12) or its file's dentry (7.x):
						// marked, and what was read is what the full dump has
						unreadable++
						if f := fullVMAs[v.Addr]; (v.Start != 0 || v.End != 0) && (v.Start != f.Start || v.End != f.End) {
							t.Errorf("vma %#x: %#x-%#x, full dump %#x-%#x", v.Addr, v.Start, v.End, f.Start, f.End)
						}
						// a path cut where a dentry was left out is marked "…/rest"
						partial := strings.HasPrefix(v.Path, "…") && strings.HasSuffix(fullVMAs[v.Addr].Path, strings.TrimPrefix(v.Path, "…"))
						if v.Path != "" && v.Path != fullVMAs[v.Addr].Path && !partial {
							t.Errorf("vma %#x: path %q, full dump %q", v.Addr, v.Path, fullVMAs[v.Addr].Path)
						}
						continue
					}
					for va := v.Start; va < v.End && va-v.Start < 64<<12; va += 4096 {
						a := mm.TranslateUser(full, m1.PGD, va)
						b := mm.TranslateUser(filt, m2.PGD, va)
						if a.Present != b.Present || a.Phys != b.Phys {
							t.Errorf("%#x: full %+v, filtered %+v", va, a, b)
						}
						if !a.Present {
							continue
						}
						present++
						if !a.InDump {
							t.Errorf("%#x: present page %#x not in the full dump", va, a.Phys)
						}
						if !b.InDump {
							missing++
						}
					}
				}
			}
			if missing == 0 && unreadable == 0 {
				t.Errorf("pid 1: %d present user pages, none marked not in the filtered dump", present)
			}
			t.Logf("pid 1: %d present user pages, %d marked not in the filtered dump, %d VMAs unreadable", present, missing, unreadable)

			// the memory map is kernel data: kept, so every slab is found
			unread, err := mm.ScanPages(context.Background(), filt, func(mm.Page) bool { return true })
			if err != nil || unread != 0 {
				t.Errorf("memory map of the filtered dump: %d unreadable, %v", unread, err)
			}
		})
	}
}
