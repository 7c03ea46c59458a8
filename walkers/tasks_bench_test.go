package walkers

import (
	"strings"
	"testing"
)

// BenchmarkTasksRealDump lists every task of the largest real dump.
func BenchmarkTasksRealDump(b *testing.B) {
	var best *realDump
	for _, d := range realDumpsForBench(b) {
		if best == nil || len(d.truth.Tasks) > len(best.truth.Tasks) {
			best = d
		}
	}
	p := best.openB(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ts, err := Tasks(p)
		if err != nil && len(ts) == 0 {
			b.Fatal(err)
		}
	}
}

// BenchmarkTaskByPID looks every recorded thread up by pid.
func BenchmarkTaskByPID(b *testing.B) {
	ds := realDumpsForBench(b)
	d := ds[0]
	for _, x := range ds {
		if strings.Contains(x.name, "scale") {
			d = x
		}
	}
	p := d.openB(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := d.truth.Tasks[i%len(d.truth.Tasks)]
		if _, err := TaskByPID(p, w.TID); err != nil && w.PID != recorderPID(d.truth) {
			b.Fatal(err)
		}
	}
}

// BenchmarkLogRealDump decodes the whole kernel log of the shared dump.
func BenchmarkLogRealDump(b *testing.B) {
	p := realDumpsForBench(b)[0].openB(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Log(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFilesRealDump reads every task's fd table and paths.
func BenchmarkFilesRealDump(b *testing.B) {
	p := realDumpsForBench(b)[0].openB(b)
	ts, err := Tasks(p)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, t := range ts {
			if t.IsLeader() {
				_, _ = Files(p, t)
			}
		}
	}
}
