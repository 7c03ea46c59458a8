package unwind

import (
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/symbols"
)

// orcTable is one ORC table in kernel memory: vmlinux's
// __start_orc_unwind_ip/__start_orc_unwind or a module's
// mod->arch.orc_unwind_ip/orc_unwind/num_orcs (arch/x86/kernel/unwind_orc.c).
// The ip table holds int32s relative to their own address, sorted (vmlinux
// at build time since 5.6, modules by unwind_module_init). Pages of the
// tables are read on demand and kept.
type orcTable struct {
	name    string
	ipAddr  uint64 // int32 ip table
	orcAddr uint64 // struct orc_entry table
	n       uint64
	lo, hi  uint64 // IPs of the first and last entries
	lookup  *orcLookup
	cache   *blockCache
	// mem, for a module, is its memory (symbols.ModuleMemory): the table
	// answers only there.
	mem []symbols.SymRange
}

// maxORCEntries bounds a table read from memory (vmlinux has ~10^6).
const maxORCEntries = 1 << 24

// orcLookup is vmlinux's fast lookup table: orc_lookup[] indexes the ORC
// table by 256-byte block of text from _stext to _etext
// (arch/x86/include/asm/orc_lookup.h LOOKUP_BLOCK_ORDER 8; unwind_orc.c
// orc_find).
type orcLookup struct {
	addr       uint64 // orc_lookup
	numBlocks  uint64 // orc_lookup_end - orc_lookup, in u32s
	start, end uint64 // _stext, _etext
}

const orcLookupBlockOrder = 8

func newORCTable(name string, mem kcore.Memory, ipAddr, orcAddr, n uint64) (*orcTable, error) {
	if n == 0 || n > maxORCEntries {
		return nil, fmt.Errorf("ORC table of %s: %d entries (ip table %#x) is not plausible", name, n, ipAddr)
	}
	t := &orcTable{name: name, ipAddr: ipAddr, orcAddr: orcAddr, n: n, cache: newBlockCache(mem)}
	var err error
	if t.lo, err = t.ipAt(0); err != nil {
		return nil, err
	}
	if t.hi, err = t.ipAt(n - 1); err != nil {
		return nil, err
	}
	if t.hi < t.lo {
		return nil, fmt.Errorf("ORC table of %s at %#x: not sorted (first ip %#x, last %#x)", name, ipAddr, t.lo, t.hi)
	}
	return t, nil
}

// ipAt returns the IP of entry i.
func (t *orcTable) ipAt(i uint64) (uint64, error) {
	a := t.ipAddr + 4*i
	var b [4]byte
	if err := t.cache.read(b[:], a); err != nil {
		return 0, fmt.Errorf("ORC ip table of %s, entry %d: %w", t.name, i, err)
	}
	return a + uint64(int64(int32(binary.LittleEndian.Uint32(b[:])))), nil
}

// entry returns the raw bytes of entry i.
func (t *orcTable) entry(i uint64) ([]byte, error) {
	b := make([]byte, orcEntrySize)
	if err := t.cache.read(b, t.orcAddr+orcEntrySize*i); err != nil {
		return nil, fmt.Errorf("ORC table of %s, entry %d: %w", t.name, i, err)
	}
	return b, nil
}

// contains reports whether ip falls in the range the table describes (its
// last entry is the terminator at the end of the text).
// A module's table answers only inside the module's memory.
func (t *orcTable) contains(ip uint64) bool {
	if ip < t.lo || ip > t.hi {
		return false
	}
	if t.mem == nil {
		return true
	}
	for _, r := range t.mem {
		if ip >= r.Lo && ip < r.Hi {
			return true
		}
	}
	return false
}

// find returns the index of the entry for ip: the rightmost entry whose IP
// is at or below ip (unwind_orc.c __orc_find; for duplicates the rightmost
// wins, so real entries beat section terminators).
func (t *orcTable) find(ip uint64) (uint64, bool, error) {
	first, last := uint64(0), t.n
	if lk := t.lookup; lk != nil && ip >= lk.start && ip < lk.end {
		idx := (ip - lk.start) >> orcLookupBlockOrder
		if idx+1 < lk.numBlocks {
			var b [8]byte
			if err := t.cache.read(b[:], lk.addr+4*idx); err == nil {
				s := uint64(binary.LittleEndian.Uint32(b[:]))
				e := uint64(binary.LittleEndian.Uint32(b[4:])) + 1
				if s < e && e <= t.n {
					first, last = s, e
				}
			}
		}
	}
	found, ok := uint64(0), false
	lo, hi := first, last // search [lo, hi)
	for lo < hi {
		mid := lo + (hi-lo)/2
		v, err := t.ipAt(mid)
		if err != nil {
			return 0, false, err
		}
		if v <= ip {
			found, ok = mid, true
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return found, ok, nil
}

// blockCache reads kernel memory in aligned 4 KiB blocks and keeps them: the
// ORC tables are read-only, and a binary search touches the same blocks
// over and over. The number of blocks is bounded by maxCachedBlocks.
type blockCache struct {
	mem    kcore.Memory
	mu     sync.Mutex
	blocks map[uint64][]byte
}

const (
	cacheBlock      = 4096
	maxCachedBlocks = 16384 // 64 MiB, more than any ORC table
)

func newBlockCache(mem kcore.Memory) *blockCache {
	return &blockCache{mem: mem, blocks: make(map[uint64][]byte)}
}

func (c *blockCache) read(p []byte, addr uint64) error {
	for len(p) > 0 {
		base := addr &^ (cacheBlock - 1)
		blk, err := c.block(base)
		if err != nil {
			// A block may be partly unreadable; fall back to the exact read.
			return c.mem.ReadVirt(p, addr)
		}
		n := copy(p, blk[addr-base:])
		p = p[n:]
		addr += uint64(n)
	}
	return nil
}

func (c *blockCache) block(base uint64) ([]byte, error) {
	c.mu.Lock()
	b, ok := c.blocks[base]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	b = make([]byte, cacheBlock)
	if err := c.mem.ReadVirt(b, base); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.blocks) >= maxCachedBlocks {
		clear(c.blocks)
	}
	c.blocks[base] = b
	c.mu.Unlock()
	return b, nil
}
