package block_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
	"github.com/kwalk/kwalk/walkers/block"
	"github.com/kwalk/kwalk/walkers/walktest"
)

const symNBDFops = 0xffffffffc0b00000

// nbdTypes adds drivers/block/nbd.c's structures, shaped like 6.1's
// (withPid) or 5.10's (task_recv instead of pid, no backend).
func nbdTypes(ty *symtest.Types, withPid bool) {
	u32, i32, ulong, u64, char := ty.Get("u32"), ty.Get("int"), ty.Get("unsigned long"), ty.Get("u64"), ty.Get("char")
	tagSet := ty.Struct("blk_mq_tag_set", 32, symtest.F("timeout", u32, 8))
	atomic := ty.Struct("atomic_t", 4, symtest.F("counter", i32, 0))
	sock := ty.Struct("nbd_sock", 64, symtest.F("sock", ty.Ptr(nil), 0), symtest.F("pending", ty.Ptr(nil), 40),
		symtest.F("sent", i32, 48), symtest.F("dead", ty.Get("u8"), 52))
	cfg := ty.Struct("nbd_config", 120, symtest.F("flags", u32, 0), symtest.F("runtime_flags", ulong, 8),
		symtest.F("dead_conn_timeout", u64, 16), symtest.F("socks", ty.Ptr(ty.Ptr(sock)), 24),
		symtest.F("num_connections", i32, 32), symtest.F("live_connections", atomic, 36))
	members := []symbols.Member{symtest.F("tag_set", tagSet, 0), symtest.F("index", i32, 32),
		symtest.F("config", ty.Ptr(cfg), 40), symtest.F("disk", ty.Ptr(ty.Get("struct gendisk")), 48)}
	if withPid {
		members = append(members, symtest.F("pid", i32, 56), symtest.F("backend", ty.Ptr(char), 64))
	} else {
		task := ty.Struct("nbd_test_task", 64, symtest.F("pid", i32, 16))
		ty.Alias("struct task_struct", task)
		members = append(members, symtest.F("task_recv", ty.Ptr(task), 56))
	}
	ty.Struct("nbd_device", 80, members...)
}

func TestReadNBD(t *testing.T) {
	for _, tc := range []struct {
		name    string
		withPid bool
		// build fills the device and returns the gendisk to read.
		build   func(s *walktest.SynthBlock, dev, cfg uint64)
		want    block.NBD // Device, Config and Conns' addresses are not compared
		conns   []bool    // dead flags
		errPart string    // in ReadNBD's error
		errs    int       // len(NBD.Errors)
	}{
		{
			name: "one live TCP connection, no timeout (6.1)", withPid: true,
			build: func(s *walktest.SynthBlock, dev, cfg uint64) {
				s.Mem.WriteU32(dev+56, 189)
				s.Mem.WriteU64(dev+64, nbdStr(s, "export1"))
				nbdConns(s, cfg, false)
				s.Mem.WriteU32(cfg+36, 1)
			},
			want:  block.NBD{Index: 1, ClientPID: 189, Backend: "export1", Live: 1},
			conns: []bool{false},
		},
		{
			name: "dead connection while disconnecting, with a timeout (5.10 task_recv)",
			build: func(s *walktest.SynthBlock, dev, cfg uint64) {
				task := s.Alloc(64)
				s.Mem.WriteU32(task+16, 77)
				s.Mem.WriteU64(dev+56, task)
				s.Mem.WriteU32(dev+8, 30*250)
				s.Mem.WriteU64(cfg+8, 1<<1|1<<5)
				nbdConns(s, cfg, true, false)
				s.Mem.WriteU32(cfg+36, 1)
			},
			want: block.NBD{Index: 1, ClientPID: 77, Live: 1, Timeout: 30 * 250, RuntimeFlags: 1<<1 | 1<<5,
				Flags: []string{"DISCONNECT_REQUESTED", "BOUND"}},
			conns: []bool{true, false},
		},
		{
			name: "not configured", withPid: true,
			build: func(s *walktest.SynthBlock, dev, cfg uint64) { s.Mem.WriteU64(dev+40, 0) },
			want:  block.NBD{Index: 1},
		},
		{
			name: "garbage connection count is bounded", withPid: true,
			build: func(s *walktest.SynthBlock, dev, cfg uint64) {
				socks := s.Alloc(8)
				s.Mem.WriteU64(cfg+24, socks)
				s.Mem.WriteU32(cfg+32, 1<<30)
			},
			want: block.NBD{Index: 1},
			errs: 1, // the bound; the NULL slots read are skipped
		},
		{
			name: "nbd_device of another disk", withPid: true,
			build:   func(s *walktest.SynthBlock, dev, cfg uint64) { s.Mem.WriteU64(dev+48, 0xffff888000dead00) },
			errPart: "names disk",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, s := newScene()
			nbdTypes(k.Types, tc.withPid)
			disk, _ := s.Disk("nbd1", 43, 32, symNBDFops, true)
			dev, cfg := s.Alloc(80), s.Alloc(120)
			s.Mem.WriteU64(disk+64, dev) // gendisk.private_data
			s.Mem.WriteU32(dev+32, 1)
			s.Mem.WriteU64(dev+40, cfg)
			s.Mem.WriteU64(dev+48, disk)
			tc.build(s, dev, cfg)
			k.Syms.AddSymbol(symbols.Symbol{Name: "nbd_fops", Addr: symNBDFops, Size: 0x80, Type: 'd'})
			p := program(k, s)
			d, err := block.ReadDisk(p, disk)
			if err != nil {
				t.Fatal(err)
			}
			if !d.IsNBD() {
				t.Fatalf("disk ops %q: not an NBD disk", d.Ops)
			}
			n, err := block.ReadNBD(p, d)
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("err %v, want one with %q", err, tc.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(n.Errors) != tc.errs {
				t.Errorf("errors %q, want %d", n.Errors, tc.errs)
			}
			var dead []bool
			for _, c := range n.Conns {
				dead = append(dead, c.Dead)
				if c.Socket == 0 {
					t.Errorf("connection %#x without its socket", c.Addr)
				}
			}
			if !reflect.DeepEqual(dead, tc.conns) {
				t.Errorf("connections' dead flags %v, want %v", dead, tc.conns)
			}
			got := *n
			got.Device, got.Config, got.Conns, got.Errors = 0, 0, nil, nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("nbd %+v, want %+v", got, tc.want)
			}
			if got.Disconnecting() != (tc.want.RuntimeFlags&2 != 0) {
				t.Errorf("Disconnecting %v with flags %v", got.Disconnecting(), got.Flags)
			}
		})
	}
}

func nbdStr(s *walktest.SynthBlock, v string) uint64 {
	a := s.Alloc(uint64(len(v)) + 1)
	s.Mem.WriteString(a, v)
	return a
}

// nbdConns gives the config one nbd_sock per dead flag, each with a
// socket.
func nbdConns(s *walktest.SynthBlock, cfg uint64, dead ...bool) {
	socks := s.Alloc(8 * uint64(len(dead)))
	for i, d := range dead {
		ns := s.Alloc(64)
		s.Mem.WriteU64(ns, s.Alloc(64))
		if d {
			s.Mem.WriteU8(ns+52, 1)
		}
		s.Mem.WriteU64(socks+8*uint64(i), ns)
	}
	s.Mem.WriteU64(cfg+24, socks)
	s.Mem.WriteU32(cfg+32, uint32(len(dead)))
}

func TestTagWaitHeads(t *testing.T) {
	for _, embedded := range []bool{true, false} {
		k, s := newScene()
		ty := k.Types
		wqh := ty.Struct("wait_queue_head", 24)
		ws := ty.Struct("sbq_wait_state", 32, symtest.F("wait_cnt", ty.Get("int"), 0), symtest.F("wait", wqh, 8))
		sbq := ty.Struct("sbitmap_queue", 64, symtest.F("ws", ty.Ptr(ws), 40))
		tagsAddr := s.Alloc(256)
		var sbqs [2]uint64
		if embedded { // 5.16+: struct sbitmap_queue bitmap_tags, breserved_tags
			ty.Struct("blk_mq_tags", 256, symtest.F("nr_tags", ty.Get("u32"), 0), symtest.F("bitmap_tags", sbq, 64), symtest.F("breserved_tags", sbq, 128))
			sbqs = [2]uint64{tagsAddr + 64, tagsAddr + 128}
		} else { // 5.10: pointers
			ty.Struct("blk_mq_tags", 256, symtest.F("nr_tags", ty.Get("u32"), 0), symtest.F("bitmap_tags", ty.Ptr(sbq), 16), symtest.F("breserved_tags", ty.Ptr(sbq), 24))
			sbqs = [2]uint64{s.Alloc(64), s.Alloc(64)}
			s.Mem.WriteU64(tagsAddr+16, sbqs[0])
			s.Mem.WriteU64(tagsAddr+24, sbqs[1])
		}
		var want []uint64
		for _, q := range sbqs {
			arr := s.Alloc(8 * 32)
			s.Mem.WriteU64(q+40, arr)
			for i := uint64(0); i < 8; i++ {
				want = append(want, arr+32*i+8)
			}
		}
		p := program(k, s)
		got, err := block.TagWaitHeads(p, tagsAddr)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("embedded %v: heads %#x, %v; want %#x", embedded, got, err, want)
		}
		if got, err := block.TagWaitHeads(p, 0); got != nil || err != nil {
			t.Errorf("no tags: %v %v", got, err)
		}
	}
}
