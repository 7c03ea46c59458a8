package kmem_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestMapleRealVMAs walks each recorded process's mm->mm_mt (6.1+) and
// compares the VMAs it holds with the guest's /proc/PID/maps: every range
// is one struct vm_area_struct [vm_start, vm_end-1], and the ranges are the
// maps lines (the [vsyscall] gate area is no VMA). Processes that ran on
// between the record and the dump (a Go runtime growing its heap) may
// differ; the test requires most processes to match exactly.
func TestMapleRealVMAs(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			if _, err := p.Type("struct maple_tree"); err != nil {
				t.Skipf("no maple trees before 6.1: %v", err)
			}
			var same, differ int
			for _, rt := range d.Truth.Tasks {
				if len(rt.Maps) == 0 || rt.TID != rt.PID {
					continue
				}
				want := recordVMAs(t, rt.Maps)
				task, err := sched.TaskByPID(p, rt.PID)
				if err != nil {
					t.Logf("pid %d: %v", rt.PID, err)
					differ++
					continue
				}
				got, err := taskVMAs(p, task)
				if err != nil {
					t.Errorf("pid %d (%s): %v", rt.PID, rt.Comm, err)
					continue
				}
				if strings.Join(got, " ") == strings.Join(want, " ") {
					same++
					continue
				}
				differ++
				t.Logf("pid %d (%s): maple tree %d VMAs, record %d:\n got %v\nwant %v", rt.PID, rt.Comm, len(got), len(want), got, want)
			}
			if same+differ == 0 {
				t.Skip("the record has no /proc/PID/maps")
			}
			if same == 0 || differ > same {
				t.Errorf("%d processes' VMAs match the record, %d differ", same, differ)
			}
			t.Logf("%d processes' VMAs match the record exactly, %d differ", same, differ)
		})
	}
}

func recordVMAs(t *testing.T, maps []string) []string {
	var out []string
	for _, l := range maps {
		r, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		lo, hi, ok := strings.Cut(r, "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("maps line %q", l)
		}
		if a >= 0xffffffffff600000 { // [vsyscall]: arch/x86/entry/vsyscall, no VMA
			continue
		}
		out = append(out, fmt.Sprintf("%x-%x", a, b))
	}
	return out
}

func taskVMAs(p *symbols.Program, task sched.Task) ([]string, error) {
	mm, err := task.Obj.MemberUint("mm")
	if err != nil {
		return nil, err
	}
	off, err := p.OffsetOf("struct mm_struct", "mm_mt")
	if err != nil {
		return nil, err
	}
	startOff, err := p.OffsetOf("struct vm_area_struct", "vm_start")
	if err != nil {
		return nil, err
	}
	endOff, err := p.OffsetOf("struct vm_area_struct", "vm_end")
	if err != nil {
		return nil, err
	}
	ents, err := kmem.MapleEntries(p, mm+off, "", 0)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		s, err1 := p.ReadU64(e.Entry + startOff)
		end, err2 := p.ReadU64(e.Entry + endOff)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("vma %#x: %v %v", e.Entry, err1, err2)
		}
		if s != e.First || end-1 != e.Last {
			return nil, fmt.Errorf("vma %#x %x-%x stored for %x-%x", e.Entry, s, end, e.First, e.Last+1)
		}
		out = append(out, fmt.Sprintf("%x-%x", s, end))
	}
	return out, nil
}
