package waitfor

import (
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// blockScene is a stack fixture with the block types, a folio wait table
// and the folio types of mm/filemap.c.
type blockScene struct {
	*stackFixture
	blk   *walktest.SynthBlock
	table uint64 // folio_wait_table: 256 wait_queue_heads
}

const wakePageFunction = 0xffffffff81002000

func newBlockScene(t *testing.T) *blockScene {
	f := newStackFixture(t, false)
	ty := f.Types
	blk := walktest.NewSynthBlock(f.Mem, ty, f.Alloc)
	ty.Struct("address_space", 64, symtest.F("host", ty.Ptr(ty.Get("struct inode")), 0))
	ty.Struct("folio", 64, symtest.F("flags", ty.Get("unsigned long"), 0), symtest.F("mapping", ty.Ptr(nil), 24),
		symtest.F("index", ty.Get("unsigned long"), 32))
	ty.Add(&symbols.Type{Kind: symbols.KindEnum, Name: "pageflags", Size: 4,
		Enumerators: []symbols.Enumerator{{Name: "PG_locked", Value: 0}, {Name: "PG_uptodate", Value: 2}, {Name: "PG_writeback", Value: 3}}})
	s := &blockScene{stackFixture: f, blk: blk, table: f.Alloc(256 * 24)}
	for i := uint64(0); i < 256; i++ {
		f.List(s.table + i*24 + 8)
	}
	return s
}

func (s *blockScene) prog() *symbols.Program {
	return s.Prog(append(s.blk.Symbols(),
		symbols.Symbol{Name: "folio_wait_table", Addr: s.table, Size: 256 * 24, Type: 'b'},
		symbols.Symbol{Name: "wake_page_function", Addr: wakePageFunction, Size: 0x40, Type: 't'})...)
}

// folio makes a page-cache folio of inode at page index.
func (s *blockScene) folio(inode, index uint64) uint64 {
	as := s.Alloc(64)
	s.Mem.WriteU64(as, inode)
	fo := s.Alloc(64)
	s.Mem.WriteU64(fo+24, as)
	s.Mem.WriteU64(fo+32, index)
	return fo
}

// folioWaiter puts a wait_page_queue for bit of folio on task's stack at
// off, queued in wait table bucket.
func (s *blockScene) folioWaiter(task, stack, off, folio uint64, bit uint32, bucket uint64) {
	q := stack + off
	s.Mem.WriteU64(q, folio)
	s.Mem.WriteU32(q+8, bit)
	s.Mem.WriteU64(q+16+8, task)
	s.Mem.WriteU64(q+16+16, wakePageFunction)
	s.List(s.table+bucket*24+8, q+16+24)
}

// throttleTypes adds mm/page-writeback.c's dirty_throttle_control, the
// bdi_writeback and backing_dev_info it leads to, and the members that tie
// a bdi to its disk (gendisk.bdi, backing_dev_info.owner =
// &part0->bd_device), re-registering block_device and gendisk with them.
func (s *blockScene) throttleTypes() {
	ty := s.Types
	u8, u32, i32, ulong, char := ty.Get("u8"), ty.Get("u32"), ty.Get("int"), ty.Get("unsigned long"), ty.Get("char")
	dev := ty.Struct("device", 16, symtest.F("devt", u32, 0))
	bdev := ty.Struct("block_device", 64, symtest.F("bd_dev", u32, 0), symtest.F("bd_disk", ty.Ptr(ty.Get("struct gendisk")), 8),
		symtest.F("bd_partno", u8, 16), symtest.F("bd_device", dev, 24))
	bdi := ty.Struct("backing_dev_info", 32, symtest.F("owner", ty.Ptr(dev), 8))
	ty.Struct("gendisk", 128, symtest.F("major", i32, 0), symtest.F("first_minor", i32, 4), symtest.F("disk_name", ty.Array(char, 32), 8),
		symtest.F("part0", ty.Ptr(bdev), 40), symtest.F("fops", ty.Ptr(nil), 48), symtest.F("queue", ty.Ptr(ty.Get("struct request_queue")), 56),
		symtest.F("private_data", ty.Ptr(nil), 64), symtest.F("bdi", ty.Ptr(bdi), 80))
	fprop := ty.Struct("fprop_local_percpu", 16)
	wb := ty.Struct("bdi_writeback", 64, symtest.F("bdi", ty.Ptr(bdi), 0), symtest.F("completions", fprop, 16))
	ty.Struct("dirty_throttle_control", 96, symtest.F("dom", ty.Ptr(nil), 0), symtest.F("gdtc", ty.Ptr(nil), 8),
		symtest.F("wb", ty.Ptr(wb), 16), symtest.F("wb_completions", ty.Ptr(fprop), 24), symtest.F("avail", ulong, 32),
		symtest.F("dirty", ulong, 40), symtest.F("thresh", ulong, 48))
}

// throttled gives disk a bdi and its writeback, and puts on the task's
// stack the global dirty_throttle_control of balance_dirty_pages.
func (s *blockScene) throttled(disk, bdev, stack uint64, dirty, thresh uint64) {
	bdi, wb := s.Alloc(32), s.Alloc(64)
	s.Mem.WriteU64(disk+80, bdi)
	s.Mem.WriteU64(bdi+8, bdev+24) // owner: &part0->bd_device
	s.Mem.WriteU64(wb, bdi)
	dtc := stack + 0x3d00
	s.Mem.WriteU64(dtc+16, wb)
	s.Mem.WriteU64(dtc+24, wb+16)
	s.Mem.WriteU64(dtc+40, dirty)
	s.Mem.WriteU64(dtc+48, thresh)
}

func TestBlockIOWait(t *testing.T) {
	const suspended = 1<<0 | 1<<1 // DMF_BLOCK_IO_FOR_SUSPEND | DMF_SUSPENDED
	type want struct {
		pid       int
		kind      string // "" for no block wait
		objType   string
		what      string // a part of Object.What
		state     string
		bio       bool // the wait's bio found (and, on a dm device, deferred)
		root      string
		summary   string // a part of the root's summary
		remedy    string // a part of a remedy
		certainty bool
	}
	for _, tc := range []struct {
		name  string
		build func(s *blockScene) []uint64 // the tasks
		want  []want
	}{
		{
			name: "write-back and O_DIRECT on a suspended dm device",
			build: func(s *blockScene) []uint64 {
				_, loop := s.blk.Disk("loop0", 7, 0, 0, true)
				disk, bdev := s.blk.Disk("dm-0", 254, 0, walktest.SymDMBlkDops, false)
				md := s.blk.DM(disk, "kwalk-stuck", suspended, loop, 32768)
				inode := s.blk.File(bdev, 12)
				fo := s.folio(inode, 0)
				w1, st1 := s.stackTask(20, "dd")
				s.folioWaiter(w1, st1, 0x3e00, fo, 3, 9)
				w2, st2 := s.stackTask(21, "dd")
				dio := s.blk.DirectIO(w2, inode, 4096)
				s.Mem.WriteU64(st2+0x3f00, dio) // __iomap_dio_rw keeps its dio
				s.blk.Defer(md, s.blk.Bio(bdev, 1, 556, 4096, walktest.SymExt4EndBio, 0, fo),
					s.blk.Bio(bdev, 1, 548, 4096, walktest.SymIomapDioBioEndIO, dio))
				return []uint64{w1, w2}
			},
			want: []want{
				{20, WaitBlockIO, "folio", "write-back of folio", "suspended", true, RootBlockSuspended,
					"block device dm-0 (kwalk-stuck) is suspended: dmsetup resume kwalk-stuck (2 bio(s) deferred", "dmsetup resume kwalk-stuck", true},
				{21, WaitBlockIO, "iomap_dio", "O_DIRECT write of inode", "suspended", true, RootBlockSuspended,
					"dmsetup resume kwalk-stuck", "dmsetup resume kwalk-stuck", true},
			},
		},
		{
			name: "a synchronous bio on a blk-mq disk",
			build: func(s *blockScene) []uint64 {
				_, bdev := s.blk.Disk("vda", 253, 0, walktest.SymVirtblkFops, true)
				w, st := s.stackTask(30, "jbd2/vda1-8")
				// blkdev_issue_flush: the bio and its completion on the stack.
				bio := s.blk.Bio(bdev, 2, 0, 0, walktest.SymSubmitBioWaitEnd, st+0x3c00)
				buf := make([]byte, 96)
				if err := s.Mem.ReadVirt(buf, bio); err != nil {
					t.Fatal(err)
				}
				s.Mem.Write(st+0x3d00, buf)
				s.Mem.WriteU64(st+0x3e80, st+0x3d00) // submit_bio_wait(bio)
				return []uint64{w}
			},
			want: []want{{30, WaitBlockIO, "bio", "synchronous FLUSH of 0 bytes", "", true, RootBlockIOStuck,
				"I/O in flight on vda, not completing", "look at the device under vda", false}},
		},
		{
			name: "a writer throttled behind a suspended dm device",
			build: func(s *blockScene) []uint64 {
				s.throttleTypes()
				disk, bdev := s.blk.Disk("dm-0", 254, 0, walktest.SymDMBlkDops, false)
				s.blk.DM(disk, "kwalk-stuck", suspended, 0, 0)
				w, st := s.stackTask(50, "dd")
				s.throttled(disk, bdev, st, 266, 256)
				return []uint64{w}
			},
			want: []want{{50, WaitBlockIO, "bdi_writeback", "throttled: 266 pages dirty or under write-back against a limit of 256", "suspended", false,
				RootBlockSuspended, "block device dm-0 (kwalk-stuck) is suspended", "dmsetup resume kwalk-stuck", true}},
		},
		{
			name: "throttling on a working disk is pacing, not a wait",
			build: func(s *blockScene) []uint64 {
				s.throttleTypes()
				disk, bdev := s.blk.Disk("vda", 253, 0, walktest.SymVirtblkFops, false)
				w, st := s.stackTask(51, "cp")
				s.throttled(disk, bdev, st, 300, 256)
				return []uint64{w}
			},
			want: []want{{pid: 51}},
		},
		{
			name: "a lock wait on an uptodate folio is no block wait",
			build: func(s *blockScene) []uint64 {
				_, bdev := s.blk.Disk("vda", 253, 0, walktest.SymVirtblkFops, true)
				fo := s.folio(s.blk.File(bdev, 7), 2)
				s.Mem.WriteU64(fo, 1<<0|1<<2) // PG_locked, PG_uptodate: someone's lock, no read
				w, st := s.stackTask(40, "cat")
				s.folioWaiter(w, st, 0x3e00, fo, 0, 11)
				return []uint64{w}
			},
			want: []want{{pid: 40}},
		},
		{
			name: "a lock wait on a folio being read is a wait for the disk",
			build: func(s *blockScene) []uint64 {
				_, bdev := s.blk.Disk("vda", 253, 0, walktest.SymVirtblkFops, true)
				fo := s.folio(s.blk.File(bdev, 7), 2)
				s.Mem.WriteU64(fo, 1<<0) // PG_locked, not uptodate: its read is in flight
				w, st := s.stackTask(42, "cat")
				s.folioWaiter(w, st, 0x3e00, fo, 0, 11)
				return []uint64{w}
			},
			want: []want{{42, WaitBlockIO, "folio", "read of folio", "", false, RootBlockIOStuck,
				"I/O in flight on vda, not completing", "look at the device under vda", false}},
		},
		{
			name: "write-back of a file on no block device",
			build: func(s *blockScene) []uint64 {
				fo := s.folio(s.blk.File(0, 7), 2)
				w, st := s.stackTask(41, "sync")
				s.folioWaiter(w, st, 0x3e00, fo, 3, 12)
				return []uint64{w}
			},
			want: []want{{pid: 41}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newBlockScene(t)
			tasks := tc.build(s)
			a := s.analysis(s.prog(), tasks...)
			var ws []TaskWait
			for i, wt := range tc.want {
				w, ok := detectBlockIO(a, a.byAddr[tasks[i]])
				if wt.kind == "" {
					if ok {
						t.Errorf("pid %d: block wait %+v, want none", wt.pid, w)
					}
					continue
				}
				if !ok {
					t.Fatalf("pid %d: no block wait", wt.pid)
				}
				b := w.Object.Block
				if w.Kind != wt.kind || w.Object.Type != wt.objType || !strings.Contains(w.Object.What, wt.what) ||
					w.Object.State != wt.state || b == nil || (b.Bio != nil) != wt.bio || !w.Certain || len(w.Holders) != 0 {
					t.Errorf("pid %d: wait %+v (block %+v)", wt.pid, w, b)
					continue
				}
				if b.DM != nil && wt.bio && !b.Bio.Deferred {
					t.Errorf("pid %d: bio %+v not on the deferred list", wt.pid, b.Bio)
				}
				ws = append(ws, w)
			}
			for _, c := range buildChains(ws) {
				for _, w := range append(c.Path, c.Others...) {
					var wt want
					for _, x := range tc.want {
						if x.pid == w.Task.PID {
							wt = x
						}
					}
					if c.Root.Kind != wt.root || !strings.Contains(c.Root.Summary, wt.summary) || c.Root.Certain != wt.certainty {
						t.Errorf("pid %d: root %+v, want %s %q (certain %v)", wt.pid, c.Root, wt.root, wt.summary, wt.certainty)
					}
					if !strings.Contains(strings.Join(c.Remedy, "\n"), wt.remedy) {
						t.Errorf("pid %d: remedies %q lack %q", wt.pid, c.Remedy, wt.remedy)
					}
				}
			}
			if got, want := len(buildChains(ws)), min(len(ws), 1); got != want {
				t.Errorf("%d chains, want %d: the waits on one device are one chain", got, want)
			}
		})
	}
}
