package walkers

import (
	"math/rand"
	"testing"
	"time"

	"github.com/kwalk/kwalk/symbols/symtest"
)

// TestWalkersSurviveGarbage corrupts random words of a synthetic kernel
// (tasks, VFS, log) and runs every walker of this area on it: each must
// return (values or errors) without panicking, quickly.
func TestWalkersSurviveGarbage(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 200; round++ {
		s := newVFSScene()
		init := s.addProcess(1, s.initTask, "init", TaskInterruptible, 0)
		thr := s.addThread(init, 2, "init", TaskUninterruptible)
		f := s.newFile(s.fuseMnt, s.data)
		s.setFiles(init, 64, map[int]uint64{0: f, 3: s.newFile(s.pipeMnt, s.pipeD)}, []int{0, 3})
		_ = thr
		p := s.finish()
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
		ts, _ := Tasks(p)
		for _, tk := range ts {
			_, _ = Files(p, tk)
			_, _, _ = TaskRootCwd(p, tk)
		}
		_, _ = TaskByPID(p, 1)
		_, _ = TaskByPID(p, 2)
		_, _ = NamespaceMounts(p, s.ns)
		_, _ = DentryPath(p, s.vfsmnt(s.fuseMnt), s.data)
		_, _ = InodePath(p, s.dataInode)
		_, _ = FilePath(p, f)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("round %d took %v", round, d)
		}
	}
}

func TestLogSurvivesGarbage(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for round := 0; round < 300; round++ {
		l := newSynthLog()
		l.setRange(4, 7)
		l.record(4, descFinalized, 40, 56, 10, 6, "first")
		l.record(5, descFinalized, 56, 64+24, 11, 4, "wrapped-text")
		l.record(6, descCommitted, 1, 1, 12, 3, "")
		l.record(7, descFinalized, 64+24, 64+40, 13, 6, "last")
		for i := 0; i < 1+rng.Intn(10); i++ {
			for _, base := range []uint64{l.rb, l.descs, l.infos} {
				if rng.Intn(3) == 0 {
					l.Mem.WriteU64(base+uint64(rng.Intn(12))*8, rng.Uint64()>>uint(rng.Intn(64)))
				}
			}
		}
		_, _ = Log(l.Program())
	}
}
