package mm

import (
	"context"
	"math/bits"
	"reflect"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// synthMM is a synthetic kernel with a memory map: one node of four zone
// types (two populated), a vmemmap, page-flag names and a SLUB cache.
type synthMM struct {
	k         *symtest.Kernel
	vmemmap   uint64
	direct    uint64
	nodeWidth uint
	pageSz    uint64
}

const (
	synthVmemmap = 0xffffea0000000000
	synthDirect  = 0xffff888000000000
	// the zones: DMA pfn [1, 4096), DMA32 [4096, 8192)
	synthDMA32Start = 4096
	synthPFNs       = 8192
)

// zoneBits places zone and node numbers at the top of page->flags like
// include/linux/page-flags-layout.h with ZONES_WIDTH 2.
func (s *synthMM) zoneBits(zone, node uint64) uint64 {
	shift := 64 - s.nodeWidth - 2
	return zone<<shift | node<<(shift+2)
}

func newSynthMM(t *testing.T, nodeWidth uint, flagNames bool) *synthMM {
	t.Helper()
	k := symtest.NewKernel()
	s := &synthMM{k: k, vmemmap: synthVmemmap, direct: synthDirect, nodeWidth: nodeWidth}
	ty := k.Types
	enum := func(name string, vals ...string) {
		e := &symbols.Type{Kind: symbols.KindEnum, Name: name, Size: 4}
		for i, v := range vals {
			n, val, _ := strings.Cut(v, "=")
			if val == "" {
				e.Enumerators = append(e.Enumerators, symbols.Enumerator{Name: n, Value: int64(i)})
				continue
			}
			var x int64
			for _, c := range val {
				x = x*10 + int64(c-'0')
			}
			e.Enumerators = append(e.Enumerators, symbols.Enumerator{Name: n, Value: x})
		}
		ty.Add(e)
	}
	// include/linux/page-flags.h (a few), with an alias after the count
	enum("pageflags", "PG_locked", "PG_referenced", "PG_uptodate", "PG_dirty", "PG_lru", "PG_active",
		"PG_workingset", "PG_waiters", "PG_error", "PG_slab", "PG_owner_priv_1", "PG_arch_1", "PG_reserved",
		"PG_private", "PG_private_2", "PG_writeback", "PG_head", "__NR_PAGEFLAGS=17", "PG_swapcache=10")
	enum("zone_type", "ZONE_DMA", "ZONE_DMA32", "ZONE_NORMAL", "ZONE_MOVABLE", "__MAX_NR_ZONES")
	enum("node_stat_item", "NR_LRU_BASE", "NR_SLAB_RECLAIMABLE_B", "NR_VM_NODE_STAT_ITEMS")
	enum("zone_stat_item", "NR_FREE_PAGES", "NR_ZONE_LRU_BASE", "NR_ZONE_INACTIVE_ANON=1", "NR_MLOCK=2", "NR_VM_ZONE_STAT_ITEMS=3")
	u64 := k.U64
	atomicLong := ty.Add(symtest.Layout("atomic_long_t", symtest.M("counter", k.S64)))
	// struct page (64 bytes) with the 5.x SLUB members and compound_head
	ty.Struct("page", 64,
		symtest.F("flags", u64, 0),
		symtest.F("lru", k.ListHead, 8),
		symtest.F("compound_head", u64, 8),
		symtest.F("slab_list", k.ListHead, 8),
		symtest.F("compound_order", k.U8, 17), // of page[1] (5.x)
		symtest.F("mapping", u64, 24),
		symtest.F("slab_cache", u64, 24),
		symtest.F("index", u64, 32),
		symtest.F("freelist", u64, 32),
		symtest.F("private", u64, 40),
		symtest.Bits("inuse", k.U32, 40*8, 16),
		symtest.Bits("objects", k.U32, 40*8+16, 15),
		symtest.Bits("frozen", k.U32, 40*8+31, 1),
		symtest.F("_mapcount", k.S32, 48),
		symtest.F("_refcount", k.S32, 52),
	)
	fa := ty.Add(symtest.Layout("free_area", symtest.M("free_list", symtest.Array(k.ListHead, 6)), symtest.M("nr_free", u64)))
	zone := ty.Add(symtest.Layout("zone",
		symtest.M("_watermark", symtest.Array(u64, 4)), symtest.M("watermark_boost", u64),
		symtest.M("zone_start_pfn", u64), symtest.M("managed_pages", atomicLong),
		symtest.M("spanned_pages", u64), symtest.M("present_pages", u64), symtest.M("name", symtest.Ptr(k.Char)),
		symtest.M("free_area", symtest.Array(fa, 11)), symtest.M("vm_stat", symtest.Array(atomicLong, 3))))
	ty.Add(symtest.Layout("pglist_data", symtest.M("node_zones", symtest.Array(zone, 4)),
		symtest.M("node_start_pfn", u64), symtest.M("node_present_pages", u64), symtest.M("node_spanned_pages", u64),
		symtest.M("vm_stat", symtest.Array(atomicLong, 2))))
	ty.Add(symtest.Layout("kmem_cache_order_objects", symtest.M("x", k.U32)))
	ty.Add(symtest.Layout("kmem_cache", symtest.M("flags", u64), symtest.M("size", k.U32), symtest.M("object_size", k.U32),
		symtest.M("offset", k.U32), symtest.M("oo", ty.Get("struct kmem_cache_order_objects")), symtest.M("red_left_pad", k.U32),
		symtest.M("name", symtest.Ptr(k.Char)), symtest.M("list", k.ListHead), symtest.M("random", u64),
		symtest.M("node", symtest.Array(u64, 4))))
	s.pageSz = 64

	// memory map: every page's flags carry its zone and node 0
	for pfn := uint64(1); pfn < synthPFNs; pfn++ {
		zone := uint64(0)
		if pfn >= synthDMA32Start {
			zone = 1
		}
		k.Mem.WriteU64(s.vmemmap+pfn*64, s.zoneBits(zone, 0)|1<<12) // PG_reserved
	}
	pg := k.NewObj("struct pglist_data")
	zsz := k.Size("struct zone")
	for i, z := range []struct {
		name           string
		start, span    uint64
		managed, free  uint64
		min, low, high uint64
	}{{"DMA", 1, 4095, 3977, 3945, 36, 45, 54}, {"DMA32", synthDMA32Start, 4096, 4000, 2000, 40, 50, 60}} {
		za := pg + uint64(i)*zsz
		name := k.Alloc(16)
		k.Mem.WriteString(name, z.name)
		k.Mem.WriteU64(za+k.Off("struct zone", "name"), name)
		k.Mem.WriteU64(za+k.Off("struct zone", "zone_start_pfn"), z.start)
		k.Mem.WriteU64(za+k.Off("struct zone", "spanned_pages"), z.span)
		k.Mem.WriteU64(za+k.Off("struct zone", "present_pages"), z.span)
		k.Mem.WriteU64(za+k.Off("struct zone", "managed_pages"), z.managed)
		k.Mem.WriteU64(za+k.Off("struct zone", "vm_stat"), z.free)
		for j, w := range []uint64{z.min, z.low, z.high} {
			k.Mem.WriteU64(za+uint64(8*j), w)
		}
	}
	nd := k.Alloc(8)
	k.Mem.WriteU64(nd, pg)
	k.Syms.Add("node_data", nd, 8, 'D')
	online := k.Alloc(128) // nodemask_t, MAX_NUMNODES 1024
	k.Mem.WriteU64(online, 1)
	k.Syms.Add("node_online_map", online, 8, 'D')
	vb := k.Alloc(8)
	k.Mem.WriteU64(vb, s.vmemmap)
	k.Syms.Add("vmemmap_base", vb, 8, 'D')
	pob := k.Alloc(8)
	k.Mem.WriteU64(pob, s.direct)
	k.Syms.Add("page_offset_base", pob, 8, 'D')
	if flagNames {
		// mm/debug.c pageflag_names: {1UL << PG_x, "x"}, ..., {0, NULL}
		names := []string{"locked", "referenced", "uptodate", "dirty", "lru", "active", "workingset", "waiters",
			"error", "slab", "owner_priv_1", "arch_1", "reserved", "private", "private_2", "writeback", "head"}
		tbl := k.Alloc(uint64(16 * (len(names) + 1)))
		for i, n := range names {
			str := k.Alloc(uint64(len(n) + 1))
			k.Mem.WriteString(str, n)
			k.Mem.WriteU64(tbl+uint64(16*i), 1<<i)
			k.Mem.WriteU64(tbl+uint64(16*i)+8, str)
		}
		k.Syms.Add("pageflag_names", tbl, uint64(16*(len(names)+1)), 'D')
	}
	return s
}

func (s *synthMM) prog() *symbols.Program { return s.k.Program() }

// TestDecodePage decodes struct pages: flag names below the zone field,
// the zone and node from the top bits, compound tails, slab pages.
func TestDecodePage(t *testing.T) {
	for _, nodeWidth := range []uint{6, 10} {
		for _, names := range []bool{true, false} {
			s := newSynthMM(t, nodeWidth, names)
			p := s.prog()
			head := s.vmemmap + 5000*64
			tests := []struct {
				name    string
				pfn     uint64
				flags   uint64
				compHd  uint64
				want    []string
				zone    int
				slab    bool
				headOut uint64
			}{
				{"reserved DMA", 10, s.zoneBits(0, 0) | 1<<12, 0, []string{"reserved"}, 0, false, 0},
				{"lru dirty DMA32", 5001, s.zoneBits(1, 0) | 1<<4 | 1<<3, 0, []string{"dirty", "lru"}, 1, false, 0},
				{"slab head", 5000, s.zoneBits(1, 0) | 1<<9 | 1<<16, 0, []string{"slab", "head"}, 1, true, 0},
				{"tail", 5002, s.zoneBits(1, 0), head | 1, nil, 1, false, head},
				// 7.x compound_info: a mask + 1 (an order-3 head at pfn 5000)
				{"tail by mask", 5006, s.zoneBits(1, 0), ^uint64(8*64-1) | 1, nil, 1, false, head},
				{"cpupid bits not flags", 5003, s.zoneBits(1, 0) | 0xfff<<30, 0, nil, 1, false, 0},
			}
			for _, tc := range tests {
				a := s.vmemmap + tc.pfn*64
				s.k.Mem.WriteU64(a, tc.flags)
				s.k.Mem.WriteU64(a+8, tc.compHd)
				pg, err := ReadPage(p, tc.pfn)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if !reflect.DeepEqual(pg.FlagNames, tc.want) || pg.Zone != tc.zone || pg.Node != 0 ||
					pg.Slab != tc.slab || pg.Head != tc.headOut || pg.Phys != tc.pfn<<12 {
					t.Errorf("nodes %d names %v, %s: got %+v", nodeWidth, names, tc.name, pg)
				}
			}
			// the head at pfn 5000 begins an order-3 compound page
			s.k.Mem.WriteU8(s.vmemmap+5001*64+17, 3)
			if pg, err := ReadPage(p, 5000); err != nil || pg.Order != 3 {
				t.Errorf("head order: %+v %v", pg, err)
			}
			if pg, err := ReadPage(p, 5001); err != nil || pg.Order != 0 {
				t.Errorf("not a head: order %d %v", pg.Order, err)
			}
			_, src, _ := PageFlagNames(p)
			if want := map[bool]string{true: "pageflag_names", false: "enum pageflags"}[names]; src != want {
				t.Errorf("flag names from %q, want %q", src, want)
			}
			if fl := flagsLayoutOf(p); !fl.ok || fl.nodeWidth != nodeWidth {
				t.Errorf("nodes %d: layout %+v", nodeWidth, fl)
			}
		}
	}
}

// TestFlagsLayoutUnreadable: without readable pages of the zones the zone
// and node are unknown (-1), not guessed.
func TestFlagsLayoutUnreadable(t *testing.T) {
	s := newSynthMM(t, 10, true)
	for pfn := uint64(0); pfn < synthPFNs; pfn += 64 {
		s.k.Mem.Unmap(s.vmemmap + pfn*64)
	}
	s.k.Mem.WriteU64(s.vmemmap+7000*64, s.zoneBits(1, 0))
	pg, err := ReadPage(s.prog(), 7000)
	if err != nil {
		t.Fatal(err)
	}
	if pg.Zone != -1 || pg.Node != -1 {
		t.Errorf("zone %d node %d from an unknown layout", pg.Zone, pg.Node)
	}
	if _, err := ReadPage(s.prog(), 10); err == nil {
		t.Error("a struct page not in memory read without error")
	}
}

// TestZones reads the zones, their watermarks and free pages.
func TestZones(t *testing.T) {
	s := newSynthMM(t, 10, true)
	nodes, err := Nodes(s.prog(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || len(nodes[0].Zones) != 4 {
		t.Fatalf("nodes %+v", nodes)
	}
	z := nodes[0].Zones[1]
	if z.Name != "DMA32" || z.StartPFN != synthDMA32Start || z.Managed != 4000 || z.Free != 2000 ||
		z.Min != 40 || z.Low != 50 || z.High != 60 || len(z.FreeArea) != 11 {
		t.Errorf("DMA32: %+v", z)
	}
	if got := []string{z.Stats[0].Enum, z.Stats[1].Enum, z.Stats[2].Enum}; !reflect.DeepEqual(got, []string{"NR_FREE_PAGES", "NR_ZONE_INACTIVE_ANON", "NR_MLOCK"}) {
		t.Errorf("counter names %v (the _BASE alias must give way)", got)
	}
}

// TestFreelist follows SLUB freelists, plain and hardened
// (CONFIG_SLAB_FREELIST_HARDENED), and rejects bad ones.
func TestFreelist(t *testing.T) {
	const (
		size    = 64
		objects = 8
		offset  = 16
		random  = 0x5a5a1234deadbeef
	)
	base := uint64(synthDirect + 0x100000)
	obj := func(i uint64) uint64 { return base + i*size }
	tests := []struct {
		name     string
		hardened bool
		chain    []uint64 // object indexes; a value >= objects is outside
		last     uint64   // what the last object's free pointer holds
		wantFree []uint64
		wantErr  string
	}{
		{"plain", false, []uint64{1, 4, 7}, 0, []uint64{1, 4, 7}, ""},
		{"hardened", true, []uint64{0, 2}, 0, []uint64{0, 2}, ""},
		{"empty", false, nil, 0, nil, ""},
		{"cycle", false, []uint64{3, 5}, base + 3*size, nil, "met twice"},
		{"outside", true, []uint64{6}, base + 100*size, nil, "not one of its objects"},
		{"misaligned into another slab", false, []uint64{2}, base - size, nil, "not one of its objects"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSynthMM(t, 10, true)
			p := s.prog()
			s.k.Mem.Write(base, make([]byte, size*objects))
			c := &Cache{Size: size, Offset: offset, hardened: tc.hardened, random: random}
			enc := func(at, v uint64) uint64 {
				if tc.hardened {
					return v ^ random ^ bits.ReverseBytes64(at)
				}
				return v
			}
			var first uint64
			for i, idx := range tc.chain {
				if i == 0 {
					first = obj(idx)
				}
				next := tc.last
				if i+1 < len(tc.chain) {
					next = obj(tc.chain[i+1])
				}
				at := obj(idx) + offset
				s.k.Mem.WriteU64(at, enc(at, next))
			}
			sl := Slab{Page: s.vmemmap, Base: base, Objects: objects, Free: make([]bool, objects)}
			err := c.markFree(p, &sl, first)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for i, f := range sl.Free {
				if f {
					got = append(got, uint64(i))
				}
			}
			want := append([]uint64(nil), tc.wantFree...)
			sortU64(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("free %v, want %v", got, want)
			}
		})
	}
}

func sortU64(v []uint64) {
	for i := range v {
		for j := i + 1; j < len(v); j++ {
			if v[j] < v[i] {
				v[i], v[j] = v[j], v[i]
			}
		}
	}
}

// TestIdentifySlabObject: an address inside a slab object names the
// cache, the object, the offset and whether it is free.
func TestIdentifySlabObject(t *testing.T) {
	s := newSynthMM(t, 10, true)
	k := s.k
	p := s.prog()
	const pfn = 6000
	slabPage := s.vmemmap + pfn*64
	base := s.direct + pfn<<12
	k.Mem.Write(base, make([]byte, 4096))
	cache := k.NewObj("struct kmem_cache")
	name := k.Alloc(16)
	k.Mem.WriteString(name, "test-128")
	k.Mem.WriteU64(cache+k.Off("struct kmem_cache", "name"), name)
	k.Mem.WriteU32(cache+k.Off("struct kmem_cache", "size"), 128)
	k.Mem.WriteU32(cache+k.Off("struct kmem_cache", "object_size"), 120)
	k.Mem.WriteU32(cache+k.Off("struct kmem_cache", "offset"), 64)
	k.Mem.WriteU64(slabPage, s.zoneBits(1, 0)|1<<9) // PG_slab
	k.Mem.WriteU64(slabPage+24, cache)              // slab_cache
	k.Mem.WriteU64(slabPage+32, base+5*128)         // freelist: object 5, then 9
	k.Mem.WriteU32(slabPage+40, 30|32<<16)          // inuse 30, objects 32
	// the free pointer of object 5, obfuscated (CONFIG_SLAB_FREELIST_HARDENED)
	const random = 0x1122334455667788
	k.Mem.WriteU64(cache+k.Off("struct kmem_cache", "random"), random)
	at := base + 5*128 + 64
	k.Mem.WriteU64(at, (base+9*128)^random^bits.ReverseBytes64(at))
	at = base + 9*128 + 64 // the end of the list is an obfuscated NULL
	k.Mem.WriteU64(at, random^bits.ReverseBytes64(at))
	tests := []struct {
		addr   uint64
		object uint64
		offset uint64
		state  string
	}{
		{base + 3*128 + 8, base + 3*128, 8, "allocated"},
		{base + 5*128, base + 5*128, 0, "free"},
		{base + 9*128 + 127, base + 9*128, 127, "free"},
	}
	for _, tc := range tests {
		id, err := Identify(context.Background(), p, tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if id.Kind != KindSlab || id.Cache != "test-128" || id.Object != tc.object || id.Offset != tc.offset || id.State != tc.state {
			t.Errorf("%#x: %+v (notes %v)", tc.addr, id, id.Notes)
		}
	}
	// an address past the slab's last object is not an object
	id, err := Identify(context.Background(), p, base+32*128+8)
	if err != nil {
		t.Fatal(err)
	}
	if id.Object != 0 || id.State != "" {
		t.Errorf("past the objects: %+v", id)
	}
	// a struct page address is a memmap hit
	if id, _ := Identify(context.Background(), p, slabPage+8); id.Kind != KindMemmap || id.Page.PFN != pfn || id.Offset != 8 {
		t.Errorf("struct page: %+v", id)
	}
}
