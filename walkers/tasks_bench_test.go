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
