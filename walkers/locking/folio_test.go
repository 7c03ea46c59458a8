package locking

import (
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
	"github.com/kwalk/kwalk/walkers/walktest"
)

func TestFolioWaits(t *testing.T) {
	f := walktest.NewLockFixture(t, false)
	ty := f.Types
	sb := ty.Get("struct super_block")
	inode := ty.Struct("inode", 128, symtest.F("i_mode", ty.Get("unsigned short"), 0), symtest.F("i_sb", ty.Ptr(sb), 40),
		symtest.F("i_ino", ty.Get("unsigned long"), 64))
	ty.Struct("address_space", 64, symtest.F("host", ty.Ptr(inode), 0))
	ty.Struct("folio", 64, symtest.F("flags", ty.Get("unsigned long"), 0), symtest.F("mapping", ty.Ptr(nil), 24),
		symtest.F("index", ty.Get("unsigned long"), 32))
	ty.Add(&symbols.Type{Kind: symbols.KindEnum, Name: "pageflags", Size: 4,
		Enumerators: []symbols.Enumerator{{Name: "PG_locked", Value: 0}, {Name: "PG_writeback", Value: 3}}})

	table := f.Alloc(256 * 24)
	for i := uint64(0); i < 256; i++ {
		f.List(table + i*24 + 8)
	}
	fsName := f.Alloc(16)
	f.Mem.WriteString(fsName, "ext4")
	fst := f.Alloc(16)
	f.Mem.WriteU64(fst, fsName)
	s := f.Alloc(256)
	f.Mem.WriteU64(s+40, fst)
	f.Mem.WriteString(s+136, "vda1")
	in := f.Alloc(128)
	f.Mem.WriteU32(in, 0o100644)
	f.Mem.WriteU64(in+40, s)
	f.Mem.WriteU64(in+64, 4242)
	as := f.Alloc(64)
	f.Mem.WriteU64(as, in)
	folio := f.Alloc(64)
	f.Mem.WriteU64(folio+24, as)
	f.Mem.WriteU64(folio+32, 3) // page index 3
	anon := f.Alloc(64)
	f.Mem.WriteU64(anon+24, 0xffff888000dead01) // PAGE_MAPPING_ANON: no file

	// Two waiters in bucket 7, one in bucket 200.
	wpq := func(fo uint64, bit uint32, task uint64) uint64 {
		q := f.Alloc(56)
		f.Mem.WriteU64(q, fo)
		f.Mem.WriteU32(q+8, bit)
		f.Mem.WriteU64(q+16+8, task)
		f.Mem.WriteU64(q+16+16, 0xffffffff81002000)
		return q + 16 + 24
	}
	f.List(table+7*24+8, wpq(folio, 0, f.Task(50, "reader")), wpq(folio, 3, f.Task(51, "sync")))
	f.List(table+200*24+8, wpq(anon, 0, f.Task(52, "anon")))
	p := f.Prog(symbols.Symbol{Name: "folio_wait_table", Addr: table, Size: 256 * 24, Type: 'b'},
		symbols.Symbol{Name: "wake_page_function", Addr: 0xffffffff81002000, Size: 0x40, Type: 't'})
	ws, err := FolioWaits(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 3 {
		t.Fatalf("%d waits: %+v", len(ws), ws)
	}
	for i, want := range []struct {
		pid  int
		bit  string
		file bool
	}{{50, "PG_locked", true}, {51, "PG_writeback", true}, {52, "PG_locked", false}} {
		w := ws[i]
		if w.Task.PID != want.pid || w.Bit != want.bit || (w.File != nil) != want.file {
			t.Errorf("wait %d: %+v", i, w)
			continue
		}
		if w.File != nil && (w.File.Ino != 4242 || w.File.Offset != 3*4096 || w.File.Fs != "ext4" || w.File.Dev != "vda1") {
			t.Errorf("wait %d file %+v", i, *w.File)
		}
	}
}
