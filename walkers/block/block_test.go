package block_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
	"github.com/kwalk/kwalk/walkers/block"
	"github.com/kwalk/kwalk/walkers/walktest"
)

func newScene() (*symtest.Kernel, *walktest.SynthBlock) {
	k := symtest.NewKernel()
	return k, walktest.NewSynthBlock(k.Mem, k.Types, k.Alloc)
}

func program(k *symtest.Kernel, s *walktest.SynthBlock) *symbols.Program {
	for _, sym := range s.Symbols() {
		k.Syms.AddSymbol(sym)
	}
	return k.Program()
}

func TestDeviceOfInode(t *testing.T) {
	const dmFlagsSuspended = 1<<0 | 1<<1 // BLOCK_IO_FOR_SUSPEND, SUSPENDED
	for _, tc := range []struct {
		name string
		// build returns the inode to ask about.
		build      func(s *walktest.SynthBlock) uint64
		wantNil    bool
		device     string
		dev        string
		mq         bool
		dmName     string
		suspended  bool
		blockingIO bool
		flags      []string
		table      []block.Target
		deferred   []string // Describe of each deferred bio
	}{
		{
			name: "suspended dm-linear with deferred bios",
			build: func(s *walktest.SynthBlock) uint64 {
				_, loop := s.Disk("loop0", 7, 0, 0, true)
				disk, bdev := s.Disk("dm-0", 254, 0, walktest.SymDMBlkDops, false)
				md := s.DM(disk, "kwalk-stuck", dmFlagsSuspended, loop, 32768)
				s.Defer(md, s.Bio(bdev, 1, 556, 4096, walktest.SymExt4EndBio, 0, 0xffffea0000001000),
					s.Bio(bdev, 1|1<<11, 548, 4096, walktest.SymIomapDioBioEndIO, 0xffff888000123400))
				return s.File(bdev, 12)
			},
			device: "dm-0", dev: "254:0", dmName: "kwalk-stuck", suspended: true, blockingIO: true,
			flags: []string{"BLOCK_IO_FOR_SUSPEND", "SUSPENDED"},
			table: []block.Target{{Type: "linear", Len: 32768, Dev: "loop0 (7:0)"}},
			deferred: []string{"WRITE of 4096 bytes at sector 556, end_io ext4_end_bio",
				"WRITE of 4096 bytes at sector 548, end_io iomap_dio_bio_end_io"},
		},
		{
			name: "active dm device, no table, unknown flag bit",
			build: func(s *walktest.SynthBlock) uint64 {
				disk, bdev := s.Disk("dm-3", 254, 3, walktest.SymDMBlkDops, false)
				s.DM(disk, "vg-lv", 1<<12, 0, 0)
				return s.File(bdev, 2)
			},
			device: "dm-3", dev: "254:3", dmName: "vg-lv", flags: []string{"BIT12"},
		},
		{
			name: "blk-mq disk",
			build: func(s *walktest.SynthBlock) uint64 {
				_, bdev := s.Disk("vda", 253, 0, walktest.SymVirtblkFops, true)
				return s.File(bdev, 5)
			},
			device: "vda", dev: "253:0", mq: true,
		},
		{
			name: "a disk's private_data that is no mapped_device",
			build: func(s *walktest.SynthBlock) uint64 {
				disk, bdev := s.Disk("dm-1", 254, 1, 0, false)
				md := s.DM(disk, "other", 0, 0, 0)
				s.Mem.WriteU64(md+40, 0) // mapped_device.disk does not point back
				return s.File(bdev, 3)
			},
			device: "dm-1", dev: "254:1",
		},
		{
			name: "the block device's own page cache",
			build: func(s *walktest.SynthBlock) uint64 {
				disk, _ := s.Disk("vdb", 253, 16, walktest.SymVirtblkFops, true)
				_, inode := s.BdevInode(disk, 253<<20|16, s.BlockdevSuper())
				return inode
			},
			device: "vdb", dev: "253:16", mq: true,
		},
		{
			name:    "a file on no block device",
			build:   func(s *walktest.SynthBlock) uint64 { return s.File(0, 9) },
			wantNil: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, s := newScene()
			s.BlockdevSuper()
			inode := tc.build(s)
			p := program(k, s)
			d, err := block.DeviceOfInode(p, inode)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantNil {
				if d != nil {
					t.Fatalf("device %+v, want none", d)
				}
				return
			}
			if d == nil {
				t.Fatal("no device")
			}
			if d.Name() != tc.device || d.Bdev.Dev != tc.dev || d.Disk.MQ != tc.mq {
				t.Errorf("device %s (%s, mq %v), want %s (%s, mq %v)", d.Name(), d.Bdev.Dev, d.Disk.MQ, tc.device, tc.dev, tc.mq)
			}
			if len(d.Disk.Errors) > 0 {
				t.Errorf("disk errors: %v", d.Disk.Errors)
			}
			md := d.Disk.DM
			if tc.dmName == "" {
				if md != nil {
					t.Errorf("dm %+v on a disk that is not one", md)
				}
				return
			}
			if md == nil {
				t.Fatal("no mapped_device")
			}
			if md.Name != tc.dmName || md.Suspended != tc.suspended || md.BlockingIO != tc.blockingIO ||
				!reflect.DeepEqual(md.FlagNames, tc.flags) || md.Type != "bio-based" || md.Dev != "254:0" {
				t.Errorf("dm %+v", md)
			}
			if !reflect.DeepEqual(md.Targets, tc.table) {
				t.Errorf("table %+v, want %+v", md.Targets, tc.table)
			}
			var got []string
			for _, b := range md.Deferred {
				got = append(got, b.Describe())
			}
			if !reflect.DeepEqual(got, tc.deferred) {
				t.Errorf("deferred %q, want %q", got, tc.deferred)
			}
			if d.Disk.Label() != tc.device+" (dm "+tc.dmName+")" {
				t.Errorf("label %q", d.Disk.Label())
			}
		})
	}
}

func TestBioChain(t *testing.T) {
	k, s := newScene()
	_, bdev := s.Disk("vda", 253, 0, 0, true)
	b1 := s.Bio(bdev, 0, 8, 512, walktest.SymSubmitBioWaitEnd, 0, 0xffffea0000002000, 0xffffea0000003000)
	b2 := s.Bio(bdev, 2, 0, 0, 0, 0)
	b3 := s.Bio(bdev, 1, 16, 4096, 0, 0)
	s.Mem.WriteU64(b1, b2)
	s.Mem.WriteU64(b2, b3)
	p := program(k, s)
	for _, tc := range []struct {
		name  string
		limit int
		cycle bool
		ops   []string
		more  bool
	}{
		{"whole chain", 10, false, []string{"READ", "FLUSH", "WRITE"}, false},
		{"bounded", 2, false, []string{"READ", "FLUSH"}, true},
		{"cycle", 10, true, []string{"READ", "FLUSH", "WRITE"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := uint64(0)
			if tc.cycle {
				next = b1
			}
			s.Mem.WriteU64(b3, next)
			bios, more, err := block.BioChain(p, b1, tc.limit)
			if tc.cycle != errors.Is(err, symbols.ErrCycle) || (!tc.cycle && err != nil) {
				t.Fatalf("err %v, want cycle %v", err, tc.cycle)
			}
			var ops []string
			for _, b := range bios {
				ops = append(ops, b.Op)
			}
			if !reflect.DeepEqual(ops, tc.ops) || more != tc.more {
				t.Errorf("ops %v more %v, want %v %v", ops, more, tc.ops, tc.more)
			}
		})
	}
	b, err := block.ReadBio(p, b1)
	if err != nil {
		t.Fatal(err)
	}
	if !b.HasPage(0xffffea0000003000) || b.HasPage(0xffffea0000004000) || b.EndIO != "submit_bio_wait_endio" || b.Bdev != bdev {
		t.Errorf("bio %+v", b)
	}
}

func TestDMFlagNames(t *testing.T) {
	for _, tc := range []struct {
		flags uint64
		want  []string
	}{
		{0, nil},
		{3, []string{"BLOCK_IO_FOR_SUSPEND", "SUSPENDED"}},
		{35, []string{"BLOCK_IO_FOR_SUSPEND", "SUSPENDED", "NOFLUSH_SUSPENDING"}},
		{1 << 7, []string{"SUSPENDED_INTERNALLY"}},
		{1<<10 | 1<<40, []string{"QUEUE_STOPPED", "BIT40"}},
	} {
		if got := block.DMFlagNames(tc.flags); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("DMFlagNames(%#x) = %v, want %v", tc.flags, got, tc.want)
		}
	}
}
