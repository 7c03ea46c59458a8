package kcore

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// A synthetic x86_64 machine: sparse physical memory with known contents,
// kernel page tables (4 or 5 levels, 4K/2M/1G leaves), VMCOREINFO and CPU
// registers. Writers below turn it into each image format.

const synthPage = 4096

type synthRange struct{ lo, hi uint64 } // physical RAM [lo, hi)

type synthMachine struct {
	levels   int
	ram      []synthRange
	mem      map[uint64][]byte // pfn → contents (RAM pages only)
	excluded map[uint64]bool   // RAM pages a dump leaves out
	zero     map[uint64]bool   // pages left all zero

	physBase   uint64 // as uint64 (may be "negative")
	kaslr      uint64
	kernelVA   uint64 // _text
	kernelPA   uint64
	directBase uint64
	vmalloc2M  uint64 // va of a 2 MiB leaf
	vmalloc4K  uint64 // va of 4 KiB leaves
	vmalloc4KN int
	unmapped   uint64 // a va in a present table but not mapped
	root       uint64 // pa of the top table
	nextTable  uint64 // pfn allocator for tables
	vmcoreinfo string
	cpus       []CPUState
}

// newSynth builds the machine. The layout:
//
//	RAM  [0, 4 MiB)              tables from pfn 0x10, data pages
//	hole [4 MiB, 16 MiB)
//	RAM  [16 MiB, 18 MiB)        the kernel image
//	RAM  [4 GiB, 4 GiB + 64 KiB) high memory
func newSynth(t testing.TB, levels int, seed uint64) *synthMachine {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	m := &synthMachine{
		levels:   levels,
		ram:      []synthRange{{0, 4 << 20}, {16 << 20, 18 << 20}, {4 << 30, 4<<30 + 64<<10}},
		mem:      map[uint64][]byte{},
		excluded: map[uint64]bool{},
		zero:     map[uint64]bool{},
		kaslr:    0x2000000,
		kernelPA: 16 << 20,
	}
	for _, r := range m.ram {
		for pa := r.lo; pa < r.hi; pa += synthPage {
			pg := make([]byte, synthPage)
			for i := 0; i < synthPage; i += 8 {
				binary.LittleEndian.PutUint64(pg[i:], (pa+uint64(i))*0x9e3779b97f4a7c15^seed)
			}
			m.mem[pa/synthPage] = pg
		}
	}
	// Some pages compress well, some are zero, some are excluded.
	for i := 0; i < 40; i++ {
		pfn := uint64(0x200 + rng.IntN(0x100))
		switch i % 3 {
		case 0:
			clear(m.mem[pfn])
			m.zero[pfn] = true
		case 1:
			pg := m.mem[pfn]
			for j := range pg {
				pg[j] = byte(j / 512)
			}
		case 2:
			m.excluded[pfn] = true
		}
	}
	m.kernelVA = startKernelMap + 0x1000000 + m.kaslr
	m.physBase = m.kernelPA - (m.kernelVA - startKernelMap) // negative here
	if levels == 5 {
		m.directBase, m.vmalloc2M = 0xff11000000000000, 0xffa0000000000000
	} else {
		m.directBase, m.vmalloc2M = 0xffff888000000000, 0xffffc90000000000
	}
	m.vmalloc4K = m.vmalloc2M + 0x400000
	m.vmalloc4KN = 8
	m.unmapped = m.vmalloc4K + uint64(m.vmalloc4KN+1)*synthPage
	m.nextTable = 0x10
	m.root = m.allocTable()
	// Direct map with 1 GiB leaves over [0, 5 GiB).
	for g := uint64(0); g < 5; g++ {
		m.mapLeaf(m.directBase+g<<30, g<<30, 3)
	}
	// Kernel image with 2 MiB leaves.
	m.mapLeaf(m.kernelVA, m.kernelPA, 2)
	// vmalloc: one 2 MiB leaf and scattered 4 KiB leaves, in reverse
	// physical order so neighbours are not physically contiguous; one
	// of them is in high memory.
	m.mapLeaf(m.vmalloc2M, 0x200000, 2)
	for i := 0; i < m.vmalloc4KN; i++ {
		pa := uint64(0x300000 - (i+1)*synthPage*3)
		if i == 3 {
			pa = 4<<30 + 0x3000
		}
		m.mapLeaf(m.vmalloc4K+uint64(i)*synthPage, pa, 1)
	}
	initTopPgt := m.root - m.physBase + startKernelMap
	m.vmcoreinfo = fmt.Sprintf("OSRELEASE=6.99.0-synth\nBUILD-ID=%040x\nPAGESIZE=4096\n"+
		"SYMBOL(init_uts_ns)=%x\nOFFSET(uts_namespace.name)=4\nSIZE(page)=64\nLENGTH(mem_section)=2048\n"+
		"SYMBOL(swapper_pg_dir)=%x\nNUMBER(phys_base)=%d\nSYMBOL(init_top_pgt)=%x\nNUMBER(pgtable_l5_enabled)=%d\n"+
		"KERNELOFFSET=%x\nNUMBER(KERNEL_IMAGE_SIZE)=1073741824\nNUMBER(sme_mask)=0\nCRASHTIME=1700000000\n",
		seed, m.kernelVA+0x1000, initTopPgt, int64(m.physBase), initTopPgt, b2i(levels == 5), m.kaslr)
	for c := 0; c < 2; c++ {
		var r Regs
		r.IP = m.kernelVA + uint64(0x100*c)
		r.SP = m.vmalloc4K + 0x800
		r.CS = 0x10
		r.GSBase = m.directBase + uint64(c)<<20
		m.cpus = append(m.cpus, CPUState{CPU: c, PID: 100 + c, Regs: r, CR3: m.root, CR4: uint64(b2i(levels == 5)) << 12, KernelGSBase: r.GSBase})
	}
	return m
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (m *synthMachine) allocTable() uint64 {
	pa := m.nextTable * synthPage
	m.nextTable++
	clear(m.mem[pa/synthPage])
	delete(m.zero, pa/synthPage)
	delete(m.excluded, pa/synthPage)
	return pa
}

func (m *synthMachine) entry(table, idx uint64) uint64 {
	return binary.LittleEndian.Uint64(m.mem[table/synthPage][idx*8:])
}

func (m *synthMachine) setEntry(table, idx, v uint64) {
	binary.LittleEndian.PutUint64(m.mem[table/synthPage][idx*8:], v)
}

// mapLeaf maps va → pa with a leaf at level (1: 4K, 2: 2M, 3: 1G).
func (m *synthMachine) mapLeaf(va, pa uint64, leaf int) {
	table := m.root
	for level := m.levels; level > leaf; level-- {
		idx := (va >> (12 + 9*(level-1))) & 0x1ff
		e := m.entry(table, idx)
		if e&ptePresent == 0 {
			e = m.allocTable() | 0x63
			m.setEntry(table, idx, e)
		}
		table = e & pteAddrMask
	}
	idx := (va >> (12 + 9*(leaf-1))) & 0x1ff
	e := pa | 0x63
	if leaf > 1 {
		e |= ptePSE
	}
	m.setEntry(table, idx, e)
}

// expect returns the bytes at pa and the error an image must give: pages
// outside RAM are not in the dump; with o.excluded the excluded pages, with
// o.exclTail the last page of each RAM range, are left out.
func (m *synthMachine) expect(pa uint64, n int, o checkOpts) ([]byte, error) {
	out := make([]byte, 0, n)
	for len(out) < n {
		pfn := pa / synthPage
		pg, ok := m.mem[pfn]
		if !ok {
			return nil, ErrNotInDump
		}
		if o.excluded && m.excluded[pfn] {
			return nil, ErrExcluded
		}
		if o.exclTail {
			for _, r := range m.ram {
				if pfn == r.hi/synthPage-1 {
					return nil, ErrExcluded
				}
			}
		}
		k := min(n-len(out), synthPage-int(pa%synthPage))
		out = append(out, pg[pa%synthPage:pa%synthPage+uint64(k)]...)
		pa += uint64(k)
	}
	return out, nil
}

func (m *synthMachine) maxPFN() uint64 {
	return m.ram[len(m.ram)-1].hi / m.pageSize()
}

// pageSize is the size of the machine's pages (4 KiB, smaller for fuzz seeds).
func (m *synthMachine) pageSize() uint64 {
	for _, pg := range m.mem {
		return uint64(len(pg))
	}
	return synthPage
}

func readFileT(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
