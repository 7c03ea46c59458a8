package waitfor

import (
	"math/rand"
	"testing"
	"time"

	"github.com/kwalk/kwalk/symbols/symtest"
	"github.com/kwalk/kwalk/walkers/printk"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/vfs"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestWalkersSurviveGarbage corrupts random words of a synthetic kernel
// (tasks, VFS, log) and runs every walker of this area on it: each must
// return (values or errors) without panicking, quickly.
func TestWalkersSurviveGarbage(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 200; round++ {
		s := walktest.NewVFSScene()
		init := s.AddProcess(1, s.InitTask, "init", sched.TaskInterruptible, 0)
		thr := s.AddThread(init, 2, "init", sched.TaskUninterruptible)
		f := s.NewFile(s.FuseMnt, s.Data)
		s.SetFiles(init, 64, map[int]uint64{0: f, 3: s.NewFile(s.PipeMnt, s.PipeD)}, []int{0, 3})
		_ = thr
		p := s.Finish()
		// Corrupt some words of the heap (never the page map itself).
		pages := s.Mem.Pages()
		for i := 0; i < 1+rng.Intn(40); i++ {
			pg := pages[rng.Intn(len(pages))]
			addr := pg + uint64(rng.Intn(symtest.PageSize/8))*8
			var v uint64
			switch rng.Intn(4) {
			case 0:
				v = 0
			case 1:
				v = rng.Uint64()
			case 2: // a plausible pointer into the heap
				v = pages[rng.Intn(len(pages))] + uint64(rng.Intn(symtest.PageSize/8))*8
			default:
				v = uint64(rng.Intn(1 << 20))
			}
			s.Mem.WriteU64(addr, v)
		}
		start := time.Now()
		ts, _ := sched.Tasks(p)
		for _, tk := range ts {
			_, _ = vfs.Files(p, tk)
			_, _, _ = vfs.TaskRootCwd(p, tk)
		}
		_, _ = sched.TaskByPID(p, 1)
		_, _ = sched.TaskByPID(p, 2)
		_, _ = vfs.NamespaceMounts(p, s.Ns)
		_, _ = vfs.DentryPath(p, s.Vfsmnt(s.FuseMnt), s.Data)
		_, _ = vfs.InodePath(p, s.DataInode)
		_, _ = vfs.FilePath(p, f)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("round %d took %v", round, d)
		}
	}
}

func TestLogSurvivesGarbage(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for round := 0; round < 300; round++ {
		l := walktest.NewSynthLog()
		l.SetRange(4, 7)
		l.Record(4, printk.DescFinalized, 40, 56, 10, 6, "first")
		l.Record(5, printk.DescFinalized, 56, 64+24, 11, 4, "wrapped-text")
		l.Record(6, printk.DescCommitted, 1, 1, 12, 3, "")
		l.Record(7, printk.DescFinalized, 64+24, 64+40, 13, 6, "last")
		for i := 0; i < 1+rng.Intn(10); i++ {
			for _, base := range []uint64{l.Rb, l.Descs, l.Infos} {
				if rng.Intn(3) == 0 {
					l.Mem.WriteU64(base+uint64(rng.Intn(12))*8, rng.Uint64()>>uint(rng.Intn(64)))
				}
			}
		}
		_, _ = printk.Log(l.Program())
	}
}
