package symbols

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/kwalk/kwalk/kcore"
)

// sparseMem is a page-granular kcore.Memory for the tests in this package.
type sparseMem struct{ pages map[uint64][]byte }

func newSparseMem() *sparseMem { return &sparseMem{pages: make(map[uint64][]byte)} }

func (m *sparseMem) write(addr uint64, b []byte) {
	for len(b) > 0 {
		pg := addr &^ 4095
		p := m.pages[pg]
		if p == nil {
			p = make([]byte, 4096)
			m.pages[pg] = p
		}
		n := copy(p[addr-pg:], b)
		b, addr = b[n:], addr+uint64(n)
	}
}

func (m *sparseMem) ReadVirt(p []byte, addr uint64) error {
	for len(p) > 0 {
		pg := addr &^ 4095
		src := m.pages[pg]
		if src == nil {
			return &kcore.ReadError{Addr: addr, Err: kcore.ErrNotMapped}
		}
		n := copy(p, src[addr-pg:])
		p, addr = p[n:], addr+uint64(n)
	}
	return nil
}

func (m *sparseMem) ReadPhys(p []byte, addr uint64) error { return m.ReadVirt(p, addr) }

// mapInfo is a VMCoreInfo from a map of SYMBOL values.
type mapInfo struct {
	syms    map[string]uint64
	nums    map[string]int64
	offset  uint64
	release string
}

func (m *mapInfo) Symbol(n string) (uint64, bool) { v, ok := m.syms[n]; return v, ok }
func (m *mapInfo) Number(n string) (int64, bool)  { v, ok := m.nums[n]; return v, ok }
func (m *mapInfo) KernelOffset() (uint64, bool)   { return m.offset, m.offset != 0 }
func (m *mapInfo) OSRelease() string              { return m.release }

// genSym is one symbol for the synthetic kallsyms generator.
type genSym struct {
	name   string
	typ    byte
	addr   uint64
	percpu bool // in the per-CPU section: absolute under absolute-percpu
}

// genOpts select what scripts/kallsyms.c variant to imitate.
type genOpts struct {
	enc addrEncoding
	big bool // 6.1+: 2-byte lengths for entries of 128+ tokens
	// newOrder: num_syms, names, markers, token table, token index, then the
	// address table (the order since the 6.2-era rework); else the 5.10 order.
	newOrder bool
	// seqs: kallsyms_seqs_of_names (3 bytes a symbol) between the markers
	// and the token table, as 6.2+ and Debian's 6.1 stable have it.
	seqs bool
	// align4: labels aligned to 4 bytes (7.x) instead of 8.
	align4 bool
}

// genKallsyms lays out kallsyms tables at base the way scripts/kallsyms.c
// does and returns the image and the address of each table.
func genKallsyms(base uint64, in []genSym, o genOpts) ([]byte, map[string]uint64, error) {
	syms := slices.Clone(in)
	slices.SortStableFunc(syms, func(a, b genSym) int { return cmp.Compare(a.addr, b.addr) })
	// Token table: single characters in their own slots, then frequent pairs
	// in the free slots from 255 down (scripts/kallsyms.c optimize_result).
	var toks [256]string
	seqs := make([][]int, len(syms))
	for i, s := range syms {
		full := string(s.typ) + s.name
		for j := 0; j < len(full); j++ {
			c := int(full[j])
			toks[c] = string(rune(c))
			seqs[i] = append(seqs[i], c)
		}
	}
	for slot := 255; slot >= 0; slot-- {
		if toks[slot] != "" {
			continue
		}
		counts := map[[2]int]int{}
		for _, sq := range seqs {
			for j := 0; j+1 < len(sq); j++ {
				counts[[2]int{sq[j], sq[j+1]}]++
			}
		}
		best, bestN := [2]int{}, 1
		for k, n := range counts {
			if n > bestN || n == bestN && (k[0] < best[0] || k[0] == best[0] && k[1] < best[1]) {
				best, bestN = k, n
			}
		}
		if bestN < 2 {
			break
		}
		toks[slot] = toks[best[0]] + toks[best[1]]
		for i, sq := range seqs {
			var out []int
			for j := 0; j < len(sq); j++ {
				if j+1 < len(sq) && sq[j] == best[0] && sq[j+1] == best[1] {
					out = append(out, slot)
					j++
					continue
				}
				out = append(out, sq[j])
			}
			seqs[i] = out
		}
	}
	// Names stream and markers.
	var names []byte
	var markers []uint32
	for i, sq := range seqs {
		if i&0xff == 0 {
			markers = append(markers, uint32(len(names)))
		}
		l := len(sq)
		switch {
		case l >= 0x80 && o.big:
			names = append(names, byte(l&0x7f|0x80), byte(l>>7))
		case l >= 0x100:
			return nil, nil, fmt.Errorf("symbol %d has %d tokens", i, l)
		default:
			names = append(names, byte(l))
		}
		for _, t := range sq {
			names = append(names, byte(t))
		}
	}
	var tokTable []byte
	var tokIndex [256]uint16
	for i, t := range toks {
		tokIndex[i] = uint16(len(tokTable))
		tokTable = append(append(tokTable, t...), 0)
	}
	// Address table.
	var relBase uint64
	for _, s := range syms {
		if !(o.enc == encAbsolutePercpu && s.percpu) {
			relBase = s.addr
			break
		}
	}
	img := make([]byte, 0, 1<<16)
	addrs := map[string]uint64{}
	align := 8
	if o.align4 {
		align = 4
	}
	label := func(name string) {
		for len(img)%align != 0 {
			img = append(img, 0)
		}
		addrs[name] = base + uint64(len(img))
	}
	u32 := func(v uint32) { img = binary.LittleEndian.AppendUint32(img, v) }
	u64 := func(v uint64) { img = binary.LittleEndian.AppendUint64(img, v) }
	var err error
	addrTable := func() {
		if o.enc == encAbsolute {
			label("kallsyms_addresses")
			for _, s := range syms {
				u64(s.addr)
			}
			return
		}
		label("kallsyms_offsets")
		for _, s := range syms {
			var off int64
			switch {
			case o.enc == encPlaceRelative:
				off = int64(s.addr - (base + uint64(len(img))))
			case o.enc == encAbsolutePercpu && s.percpu:
				off = int64(s.addr)
			case o.enc == encAbsolutePercpu:
				off = int64(relBase) - int64(s.addr) - 1
			default:
				off = int64(s.addr - relBase)
			}
			if off != int64(int32(off)) && !(o.enc == encBaseRelative && off >= 0 && off <= 0xffffffff) {
				err = fmt.Errorf("symbol %s: offset %#x out of range", s.name, off)
			}
			u32(uint32(off))
		}
		if o.enc != encPlaceRelative {
			label("kallsyms_relative_base")
			u64(relBase)
		}
	}
	if !o.newOrder {
		addrTable()
	}
	label("kallsyms_num_syms")
	u32(uint32(len(syms)))
	label("kallsyms_names")
	img = append(img, names...)
	label("kallsyms_markers")
	for _, m := range markers {
		u32(m)
	}
	if o.seqs {
		label("kallsyms_seqs_of_names")
		for i := range syms {
			img = append(img, byte(i>>16), byte(i>>8), byte(i))
		}
	}
	label("kallsyms_token_table")
	img = append(img, tokTable...)
	label("kallsyms_token_index")
	for _, v := range tokIndex {
		img = binary.LittleEndian.AppendUint16(img, v)
	}
	if o.newOrder {
		addrTable()
	}
	return img, addrs, err
}

// testKernelSyms is a small kernel: per-CPU symbols, text, data, _end.
func testKernelSyms(text uint64, extra int) []genSym {
	syms := []genSym{
		{"fixed_percpu_data", 'D', 0, true},
		{"current_task", 'D', 0x1ad00, true},
		{"__per_cpu_end", 'D', 0x2f000, true},
		{"_text", 'T', text, false},
		{"startup_64", 'T', text, false},
		{"_stext", 'T', text + 0x1000, false},
		{"do_wait", 'T', text + 0x2000, false},
		{"kernel_wait4", 't', text + 0x22f0, false},
		{"__do_sys_wait4", 't', text + 0x2450, false},
		{"do_syscall_64", 'T', text + 0x2600, false},
		{"_etext", 'T', text + 0x100000, false},
		{"linux_banner", 'R', text + 0x200000, false},
		{"init_task", 'D', text + 0x400000, false},
		{"modules", 'd', text + 0x400a00, false},
		{"_end", 'B', text + 0x800000, false},
	}
	for i := range extra {
		syms = append(syms, genSym{fmt.Sprintf("helper_function_%d_%s", i, []string{"alloc", "free", "lock", "unlock"}[i%4]), "tT"[i%2], text + 0x3000 + uint64(i)*0x40, false})
	}
	return syms
}
