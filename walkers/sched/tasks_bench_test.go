package sched_test

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/printk"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// BenchmarkTasksRealDump lists every task of the largest real dump.
func BenchmarkTasksRealDump(b *testing.B) {
	ds := testdata.RealDumps(b)
	best := ds[0]
	for _, d := range ds {
		if len(d.Truth.Tasks) > len(best.Truth.Tasks) {
			best = d
		}
	}
	p := walktest.OpenReal(b, best)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts, err := sched.Tasks(p)
		if err != nil && len(ts) == 0 {
			b.Fatal(err)
		}
	}
}

// BenchmarkTaskByPID looks every recorded thread up by pid.
func BenchmarkTaskByPID(b *testing.B) {
	ds := testdata.RealDumps(b)
	d := ds[0]
	for _, x := range ds {
		if strings.Contains(x.Name, "scale") {
			d = x
		}
	}
	p := walktest.OpenReal(b, d)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := d.Truth.Tasks[i%len(d.Truth.Tasks)]
		if _, err := sched.TaskByPID(p, w.TID); err != nil && w.PID != walktest.RecorderPID(d.Truth) {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogRealDump decodes the whole kernel log of the shared dump.
func BenchmarkLogRealDump(b *testing.B) {
	p := walktest.OpenReal(b, testdata.RealDumps(b)[0])
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := printk.Log(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFilesRealDump reads every task's fd table and paths.
func BenchmarkFilesRealDump(b *testing.B) {
	p := walktest.OpenReal(b, testdata.RealDumps(b)[0])
	ts, err := sched.Tasks(p)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, t := range ts {
			if t.IsLeader() {
				_, _ = vfs.Files(p, t)
			}
		}
	}
}
