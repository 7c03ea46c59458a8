package symbols

import (
	"errors"
	"strings"
	"testing"
)

const testText = 0xffffffff9a000000

// memWithKallsyms puts a generated kallsyms image into fresh memory at
// base, with kernel "text" pages before it so a scan has something to skip.
func memWithKallsyms(t testing.TB, base uint64, syms []genSym, o genOpts) (*sparseMem, map[string]uint64) {
	t.Helper()
	img, addrs, err := genKallsyms(base, syms, o)
	if err != nil {
		t.Fatal(err)
	}
	m := newSparseMem()
	// Some "code" between _stext and the tables, including bytes that look
	// like a token table's digits but are not one.
	junk := make([]byte, base-(testText+0x1000))
	for i := range junk {
		junk[i] = byte(i*7 + i>>8)
	}
	copy(junk[0x3000:], digitTokens)
	m.write(testText+0x1000, junk)
	m.write(base, img)
	// Rodata continues a little after the tables.
	m.write(base+uint64(len(img)), make([]byte, 8192))
	return m, addrs
}

func infoFor(addrs map[string]uint64, stext uint64) *mapInfo {
	syms := map[string]uint64{"_stext": stext}
	for k, v := range addrs {
		if k != "kallsyms_markers" {
			syms[k] = v
		}
	}
	return &mapInfo{syms: syms, nums: map[string]int64{}}
}

func TestKallsymsVMCoreInfoEncodings(t *testing.T) {
	// 500 pseudo-random characters: too irregular to compress under 128 tokens.
	var lb strings.Builder
	for i, x := 0, uint32(1); i < 500; i++ {
		x = x*1103515245 + 12345
		lb.WriteByte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"[x>>16%63])
	}
	long := lb.String()
	tests := []struct {
		name string
		o    genOpts
		long bool
	}{
		{"absolute-percpu (x86_64 5.10/6.1/6.12)", genOpts{enc: encAbsolutePercpu}, false},
		{"base-relative", genOpts{enc: encBaseRelative}, false},
		{"absolute addresses", genOpts{enc: encAbsolute}, false},
		{"place-relative (7.0+)", genOpts{enc: encPlaceRelative, newOrder: true}, false},
		{"7.x 4-byte labels", genOpts{enc: encPlaceRelative, newOrder: true, align4: true, seqs: true}, false},
		{"big symbol 2-byte length", genOpts{enc: encAbsolutePercpu, big: true}, true},
		{"new order, base-relative", genOpts{enc: encBaseRelative, newOrder: true}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			syms := testKernelSyms(testText, 600)
			if tc.o.enc == encBaseRelative || tc.o.enc == encPlaceRelative || tc.o.enc == encAbsolute {
				syms = syms[3:] // no absolute per-CPU symbols without absolute-percpu
			}
			if tc.long {
				syms = append(syms, genSym{long, 't', testText + 0x2f00, false})
			}
			base := uint64(testText + 0x210000)
			mem, addrs := memWithKallsyms(t, base, syms, tc.o)
			tab, ki, err := loadKallsymsVMCoreInfo(mem, infoFor(addrs, testText+0x1000))
			if err != nil {
				t.Fatal(err)
			}
			if ki.NumSyms != len(syms) || tab.Len() != len(syms) {
				t.Fatalf("decoded %d symbols (table %d), want %d", ki.NumSyms, tab.Len(), len(syms))
			}
			if ki.Encoding != tc.o.enc.String() {
				t.Errorf("encoding %q, want %q", ki.Encoding, tc.o.enc)
			}
			if !ki.MarkersChecked {
				t.Errorf("markers not checked")
			}
			if ki.BigLengths != tc.long {
				t.Errorf("BigLengths=%v, want %v", ki.BigLengths, tc.long)
			}
			for _, s := range syms {
				got, err := tab.Lookup(s.name)
				if err != nil {
					t.Fatalf("Lookup(%s): %v", s.name, err)
				}
				if got.Addr != s.addr || got.Type != s.typ {
					t.Errorf("Lookup(%s) = %#x %c, want %#x %c", s.name, got.Addr, got.Type, s.addr, s.typ)
				}
			}
			// Sizes are distances to the next symbol, as the kernel prints.
			s, off, ok := tab.LookupAddr(testText + 0x2000 + 0x160)
			if !ok || s.Name != "do_wait" || off != 0x160 || s.Size != 0x2f0 {
				t.Errorf("LookupAddr(do_wait+0x160) = %s+%#x/%#x ok=%v", s.Name, off, s.Size, ok)
			}
			if _, _, ok := tab.LookupAddr(testText + 0x800000 + 100<<20); ok {
				t.Errorf("LookupAddr 100 MiB past _end claimed a symbol")
			}
			if s, _, ok := tab.LookupAddr(0x10); ok && tc.o.enc == encAbsolutePercpu {
				t.Errorf("LookupAddr(0x10) = %s: per-CPU offsets must not symbolize", s.Name)
			}
		})
	}
}

func TestKallsymsStextMismatch(t *testing.T) {
	syms := testKernelSyms(testText, 10)
	base := uint64(testText + 0x210000)
	mem, addrs := memWithKallsyms(t, base, syms, genOpts{enc: encAbsolutePercpu})
	_, _, err := loadKallsymsVMCoreInfo(mem, infoFor(addrs, testText+0x5000))
	if err == nil || !strings.Contains(err.Error(), "_stext") {
		t.Fatalf("want an _stext mismatch error, got %v", err)
	}
}

func TestKallsymsNoVMCoreInfo(t *testing.T) {
	_, _, err := loadKallsymsVMCoreInfo(newSparseMem(), &mapInfo{syms: map[string]uint64{"_stext": testText}})
	if !errors.Is(err, errNoVMCoreInfoKallsyms) {
		t.Fatalf("got %v", err)
	}
}

func TestKallsymsScan(t *testing.T) {
	tests := []struct {
		name string
		o    genOpts
		skip int
	}{
		{"5.10 absolute-percpu", genOpts{enc: encAbsolutePercpu}, 0},
		{"5.10 base-relative", genOpts{enc: encBaseRelative}, 3},
		{"absolute addresses", genOpts{enc: encAbsolute}, 3},
		{"6.1 stable with seqs_of_names", genOpts{enc: encAbsolutePercpu, seqs: true}, 0},
		{"later order: address table after the token index", genOpts{enc: encAbsolutePercpu, seqs: true, newOrder: true}, 0},
		{"7.0+ place-relative", genOpts{enc: encPlaceRelative, seqs: true, newOrder: true}, 3},
		{"7.x 4-byte labels", genOpts{enc: encPlaceRelative, seqs: true, newOrder: true, align4: true}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			syms := testKernelSyms(testText, 1000)[tc.skip:]
			base := uint64(testText + 0x210000 + 8*13)
			mem, addrs := memWithKallsyms(t, base, syms, tc.o)
			info := &mapInfo{syms: map[string]uint64{"_stext": testText + 0x1000}}
			tab, ki, err := loadKallsymsScan(mem, info)
			if err != nil {
				t.Fatal(err)
			}
			if !ki.Scanned || ki.NamesAddr != addrs["kallsyms_names"] || tab.Len() != len(syms) {
				t.Fatalf("scan found names at %#x (want %#x), %d symbols (want %d)", ki.NamesAddr, addrs["kallsyms_names"], tab.Len(), len(syms))
			}
			if s, err := tab.Lookup("init_task"); err != nil || s.Addr != testText+0x400000 {
				t.Errorf("init_task: %+v %v", s, err)
			}
		})
	}
}

func TestKallsymsScanFindsNothing(t *testing.T) {
	m := newSparseMem()
	m.write(testText+0x1000, make([]byte, 1<<20))
	info := &mapInfo{syms: map[string]uint64{"_stext": testText + 0x1000}}
	_, _, err := loadKallsymsScan(m, info)
	if !errors.Is(err, errNoTokenTable) {
		t.Fatalf("got %v", err)
	}
}

// TestKallsymsCorrupt checks that damaged tables give errors, not panics.
func TestKallsymsCorrupt(t *testing.T) {
	syms := testKernelSyms(testText, 300)
	base := uint64(testText + 0x210000)
	img, addrs, err := genKallsyms(base, syms, genOpts{enc: encAbsolutePercpu})
	if err != nil {
		t.Fatal(err)
	}
	names := addrs["kallsyms_names"] - base
	for _, at := range []uint64{names, names + 1, names + 100, addrs["kallsyms_token_index"] - base + 20, addrs["kallsyms_token_table"] - base + 3} {
		bad := append([]byte(nil), img...)
		bad[at] ^= 0xff
		m := newSparseMem()
		m.write(base, bad)
		if _, _, err := loadKallsymsVMCoreInfo(m, infoFor(addrs, testText+0x1000)); err == nil {
			// A flipped token index byte may still decode; the _stext and
			// marker checks must then catch it, or the names differ.
			t.Logf("corruption at +%#x still decoded", at)
		}
	}
	// num_syms lying.
	m := newSparseMem()
	m.write(base, img)
	m.write(addrs["kallsyms_num_syms"], []byte{0xff, 0xff, 0xff, 0x7f})
	if _, _, err := loadKallsymsVMCoreInfo(m, infoFor(addrs, testText+0x1000)); err == nil {
		t.Fatal("a num_syms of 2^31 decoded")
	}
}

// FuzzKallsymsDecode feeds arbitrary tables to the decoder: it must return
// an error or a consistent table, never panic or run away.
func FuzzKallsymsDecode(f *testing.F) {
	base := uint64(testText + 0x210000)
	img, addrs, err := genKallsyms(base, testKernelSyms(testText, 40), genOpts{enc: encAbsolutePercpu})
	if err != nil {
		f.Fatal(err)
	}
	part := func(from, to string) []byte { return img[addrs[from]-base : addrs[to]-base] }
	n := uint16(len(testKernelSyms(testText, 40)))
	f.Add(part("kallsyms_names", "kallsyms_markers"), part("kallsyms_token_table", "kallsyms_token_index"),
		img[addrs["kallsyms_token_index"]-base:], part("kallsyms_offsets", "kallsyms_relative_base"), n, uint64(testText))
	f.Add([]byte{1, 0x41}, []byte("T\x00"), make([]byte, 512), []byte{0, 0, 0, 0}, uint16(1), uint64(0))
	f.Fuzz(func(t *testing.T, names, table, index, offsets []byte, n uint16, relBase uint64) {
		raw := &kallsymsRaw{numSyms: int(n), names: names, tokenTable: table, tokenIndex: index,
			offsets: offsets, relBase: relBase, hasRelBase: true, offsetsAddr: testText}
		for _, have := range []bool{true, false} {
			res, err := decodeKallsyms(raw, testText+0x1000, have)
			if err != nil {
				continue
			}
			if len(res.syms) != int(n) {
				t.Fatalf("%d symbols for num_syms %d", len(res.syms), n)
			}
			tab := NewSymTable("fuzz", res.syms, vmlinuxRanges(res.syms))
			for _, s := range res.syms {
				if _, err := tab.Lookup(s.Name); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

// FuzzKallsymsNames fuzzes the names stream against a valid token table.
func FuzzKallsymsNames(f *testing.F) {
	base := uint64(testText + 0x210000)
	img, addrs, err := genKallsyms(base, testKernelSyms(testText, 40), genOpts{enc: encAbsolutePercpu, big: true})
	if err != nil {
		f.Fatal(err)
	}
	toks, err := decodeTokens(img[addrs["kallsyms_token_table"]-base:addrs["kallsyms_token_index"]-base], img[addrs["kallsyms_token_index"]-base:])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(img[addrs["kallsyms_names"]-base:addrs["kallsyms_markers"]-base], uint16(55), true)
	f.Add([]byte{0x81, 0x01, 'a'}, uint16(1), true)
	f.Fuzz(func(t *testing.T, names []byte, n uint16, big bool) {
		dec, err := decodeNames(names, int(n), toks, big)
		if err != nil {
			return
		}
		if len(dec.ends) != int(n) || dec.end > len(names) {
			t.Fatalf("%d names, end %d of %d", len(dec.ends), dec.end, len(names))
		}
		for i := range int(n) {
			if dec.name(i) == "" {
				t.Fatalf("name %d empty", i)
			}
		}
		_ = findMarkersAfterNames(names, dec)
	})
}
