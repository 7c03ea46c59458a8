package symbols

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/kcore"
)

// A static variable that no table names can still be found through the
// code that uses it: kallsyms keeps every text symbol, and arm64 code
// forms a global's address with ADRP (its 4 KiB page, PC-relative) and
// then ADD or LDR (the offset in the page). A small function known to use
// the variable is decoded for those pairs, and each address they form is
// checked against the variable's own layout; exactly one must pass. The
// functions called (BL) tell kernels apart where the variable changed
// (irq_to_desc: radix_tree_lookup on irq_desc_tree before 6.5,
// mtree_load on sparse_irqs since).
//
// The instructions are decoded here rather than with golang.org/x/arch's
// arm64asm, which keeps the immediates of ADD and LDR unexported.

// maxRefFunc bounds the code decoded per function.
const maxRefFunc = 4096

// arm64Code is what a function's code references: the addresses formed by
// ADRP+ADD/LDR pairs, in order, and the targets of its BL calls.
type arm64Code struct {
	refs  []uint64
	calls []uint64
}

// decodeARM64Refs decodes the instructions of the function at addr (code,
// little-endian): ADRP Xd, page; ADD Xd, Xn, #imm{, lsl 12} (chained ADDs
// from one ADRP form each address); LDR Xt|Wt, [Xn, #imm]; BL target (Arm ARM C6.2: ADRP, ADD (immediate), LDR
// (immediate, unsigned offset), BL).
func decodeARM64Refs(addr uint64, code []byte) arm64Code {
	var out arm64Code
	var page [32]uint64
	var have [32]bool
	for i := 0; i+4 <= len(code); i += 4 {
		w := binary.LittleEndian.Uint32(code[i:])
		pc := addr + uint64(i)
		switch {
		case w&0x9f000000 == 0x90000000: // ADRP
			rd := w & 31
			imm := int64(((w>>5)&0x7ffff)<<2|(w>>29)&3) << 43 >> 31 // sign-extend 21 bits, << 12
			page[rd], have[rd] = uint64(int64(pc&^0xfff)+imm), true
		case w&0xff800000 == 0x91000000: // ADD (immediate), 64-bit
			rn, rd := (w>>5)&31, w&31
			imm := uint64((w >> 10) & 0xfff)
			if w&(1<<22) != 0 {
				imm <<= 12
			}
			if have[rn] {
				// The address stays in rd: a member or a second
				// variable of the page is formed from it by another ADD.
				v := page[rn] + imm
				out.refs = append(out.refs, v)
				page[rd], have[rd] = v, true
			} else {
				have[rd] = false
			}
		case w&0xbfc00000 == 0xb9400000: // LDR (immediate, unsigned offset), 32- or 64-bit
			rn, rt := (w>>5)&31, w&31
			scale := uint64(4)
			if w&(1<<30) != 0 {
				scale = 8
			}
			if have[rn] {
				out.refs = append(out.refs, page[rn]+uint64((w>>10)&0xfff)*scale)
			}
			have[rt] = false
		case w&0xfc000000 == 0x94000000: // BL
			off := int64(w&0x3ffffff) << 38 >> 36 // sign-extend 26 bits, * 4
			out.calls = append(out.calls, uint64(int64(pc)+off))
		}
	}
	return out
}

// functionCode reads the code of text symbol name, bounded by its size
// (the next symbol) and maxRefFunc.
func functionCode(mem kcore.Memory, syms SymbolTable, name string) (uint64, []byte, error) {
	s, err := syms.Lookup(name)
	if err != nil {
		return 0, nil, err
	}
	size := s.Size
	if size == 0 || size > maxRefFunc {
		size = maxRefFunc
	}
	buf := make([]byte, size&^3)
	if err := mem.ReadVirt(buf, s.Addr); err != nil {
		return 0, nil, fmt.Errorf("code of %s at %#x: %w", name, s.Addr, err)
	}
	return s.Addr, buf, nil
}

// calls reports whether the code calls a function named callee (a
// compiler-made copy of it counts).
func (c arm64Code) callsFunc(syms SymbolTable, callee string) bool {
	for _, a := range c.calls {
		if s, off, ok := syms.LookupAddr(a); ok && off == 0 && BaseName(s.Name) == callee {
			return true
		}
	}
	return false
}

// textRefVar finds variable name among the addresses fn forms: the one
// that verify accepts, when exactly one does. An address formed for a
// member (the compiler folds its offset into ADRP and LDR) is the
// variable's when it is offset by one of members (none: the variable
// itself).
func textRefVar(mem kcore.Memory, syms SymbolTable, fn, name string, verify func(uint64) bool, members ...uint64) (Symbol, error) {
	addr, code, err := functionCode(mem, syms, fn)
	if err != nil {
		return Symbol{}, err
	}
	if len(members) == 0 {
		members = []uint64{0}
	}
	c := decodeARM64Refs(addr, code)
	var hits []uint64
	seen := map[uint64]bool{}
	for _, r := range c.refs {
		for _, m := range members {
			if b := r - m; !seen[b] && verify(b) {
				hits = append(hits, b)
			}
			seen[r-m] = true
		}
	}
	switch len(hits) {
	case 1:
		return Symbol{Name: name, Addr: hits[0], Type: 'd'}, nil
	case 0:
		return Symbol{}, fmt.Errorf("none of the %d addresses %s forms is %s", len(seen), fn, name)
	}
	return Symbol{}, fmt.Errorf("%d addresses %s forms could be %s", len(hits), fn, name)
}

// textRefSymbols finds, on arm64, the static variables that walkers need
// and only code leads to: the IRQ descriptors' tree, and the character
// and block device major tables, the block device class.
func textRefSymbols(p *Program, t *DataSymTable) ([]Symbol, []string) {
	var out []Symbol
	var notes []string
	// try looks for name in the first of fns (those the kernel has) that
	// leads to it.
	try := func(fns, name string, verify func(uint64) bool, members ...uint64) {
		if _, err := t.Lookup(name); err == nil {
			return
		}
		var errs []string
		for _, fn := range strings.Split(fns, ",") {
			s, err := textRefVar(t.mem, t.inner, fn, name, verify, members...)
			if err == nil {
				out = append(out, s)
				return
			}
			errs = append(errs, err.Error())
		}
		notes = append(notes, fmt.Sprintf("%s: %s", name, strings.Join(errs, "; ")))
	}
	// kernel/irq/irqdesc.c irq_to_desc.
	if addr, code, err := functionCode(t.mem, t.inner, "irq_to_desc"); err == nil {
		c := decodeARM64Refs(addr, code)
		switch {
		case c.callsFunc(t.inner, "mtree_load"):
			try("irq_to_desc", "sparse_irqs", func(a uint64) bool { return verifyMapleIRQs(p, a) })
		case c.callsFunc(t.inner, "radix_tree_lookup"):
			try("irq_to_desc", "irq_desc_tree", func(a uint64) bool { return verifyRadixIRQs(p, a) })
		default:
			notes = append(notes, "irq descriptors: irq_to_desc calls neither mtree_load nor radix_tree_lookup")
		}
	} else {
		notes = append(notes, fmt.Sprintf("irq descriptors: %v", err))
	}
	// fs/char_dev.c chrdev_show, block/genhd.c blkdev_show.
	try("chrdev_show", "chrdevs", func(a uint64) bool {
		return verifyMajorTable(p, a, "struct char_device_struct", "major")
	})
	try("blkdev_show", "major_names", func(a uint64) bool {
		return verifyMajorTable(p, a, "struct blk_major_name", "major")
	})
	// arch/arm64/kernel/syscall.c: do_el0_svc passes sys_call_table to
	// el0_svc_common (inlined into el0_svc on some builds).
	try("do_el0_svc,el0_svc,el0_svc_common", "sys_call_table", func(a uint64) bool {
		n := 0
		for i := uint64(0); i < 8; i++ {
			e, err := p.ReadU64(a + 8*i)
			if err != nil {
				return false
			}
			sym, off, ok := t.inner.LookupAddr(e)
			if !ok || off != 0 || !(strings.HasPrefix(sym.Name, "__arm64_sys_") || sym.Name == "sys_ni_syscall" || sym.Name == "__arm64_sys_ni_syscall") {
				return false
			}
			n++
		}
		return n == 8
	})
	// mm/swapfile.c swp_swap_info reads swap_info[type] and nothing else:
	// an array whose set slots are swap_info_structs of their own type
	// (all NULL on a machine that never had swap). Later kernels (6.14+)
	// have no swp_swap_info (swap_type_to_info is inlined);
	// find_first_swap walks swap_info[] there.
	try("swp_swap_info,find_first_swap", "swap_info", func(a uint64) bool {
		off, err := p.OffsetOf("struct swap_info_struct", "type")
		if err != nil {
			return false
		}
		for i := uint64(0); i < 8; i++ {
			e, err := p.ReadU64(a + 8*i)
			if err != nil {
				return false
			}
			if e == 0 {
				continue
			}
			var b [1]byte
			if p.Mem.ReadVirt(b[:], e+off) != nil || uint64(int8(b[0])) != i {
				return false
			}
		}
		return true
	})
	// block/genhd.c: the disks' class, named "block" (set by
	// device_add_disk, by __add_disk since add_disk_fwnode; 6.x's
	// blk_lookup_devt is init code in block/early-lookup.c since 6.5).
	try("blk_lookup_devt,device_add_disk,__add_disk,disk_release,part_devt", "block_class", func(a uint64) bool {
		off, err := p.OffsetOf("struct class", "name")
		if err != nil {
			return false
		}
		np, err := p.ReadU64(a + off)
		if err != nil {
			return false
		}
		name, err := p.ReadString(np, 8)
		return err == nil && name == "block"
	})
	// kernel/rcu/tree.c: rcu_get_gp_seq returns rcu_state.gp_seq,
	// rcu_exp_batches_completed rcu_state.expedited_sequence (both
	// exported); the flavour's name tells the variable.
	var rcuMembers []uint64
	for _, m := range []string{"gp_seq", "expedited_sequence"} {
		if off, err := p.OffsetOf("struct rcu_state", m); err == nil {
			rcuMembers = append(rcuMembers, off)
		}
	}
	if len(rcuMembers) > 0 {
		try("rcu_get_gp_seq,rcu_exp_batches_completed", "rcu_state", func(a uint64) bool { return verifyRCUState(p, a) }, rcuMembers...)
	}
	return out, notes
}

// verifyRCUState: a is a struct rcu_state whose name is its flavour's
// ("rcu_preempt" or "rcu_sched") and whose abbr is that name's letter
// (kernel/rcu/tree.c RCU_NAME, RCU_ABBR).
func verifyRCUState(p *Program, a uint64) bool {
	off, err := p.OffsetOf("struct rcu_state", "name")
	if err != nil {
		return false
	}
	np, err := p.ReadU64(a + off)
	if err != nil || np == 0 {
		return false
	}
	name, err := p.ReadString(np, 16)
	if err != nil || (name != "rcu_preempt" && name != "rcu_sched") {
		return false
	}
	if aoff, err := p.OffsetOf("struct rcu_state", "abbr"); err == nil {
		var b [1]byte
		if p.Mem.ReadVirt(b[:], a+aoff) != nil || b[0] != name[4] {
			return false
		}
	}
	return true
}

// majorHashSize is CHRDEV_MAJOR_HASH_SIZE and BLKDEV_MAJOR_HASH_SIZE
// (include/linux/fs.h, block/genhd.c): 255 buckets, major % 255.
const majorHashSize = 255

// verifyMajorTable: a at the start of an array of majorHashSize list heads
// (pointers to typ), each NULL or an entry whose major is its bucket's,
// and at least one used.
func verifyMajorTable(p *Program, a uint64, typ, major string) bool {
	off, err := p.OffsetOf(typ, major)
	if err != nil {
		return false
	}
	buf := make([]byte, 8*majorHashSize)
	if p.Mem.ReadVirt(buf, a) != nil {
		return false
	}
	used := 0
	for i := 0; i < majorHashSize; i++ {
		e := binary.LittleEndian.Uint64(buf[8*i:])
		if e == 0 {
			continue
		}
		m, err := p.ReadU32(e + off)
		if err != nil || m%majorHashSize != uint32(i) {
			return false
		}
		used++
	}
	return used > 0
}

// irqOf reads irq_desc.irq_data.irq of the descriptor at d.
func irqOf(p *Program, d uint64) (uint32, bool) {
	off, err := p.OffsetOf("struct irq_desc", "irq_data.irq")
	if err != nil {
		return 0, false
	}
	v, err := p.ReadU32(d + off)
	return v, err == nil
}

// verifyRadixIRQs: a is a struct radix_tree_root (an xarray: xa_head)
// whose tree holds IRQ 1's descriptor at index 1 (x86 and arm64 kernels
// allocate descriptors from 0 or 1 up).
func verifyRadixIRQs(p *Program, a uint64) bool {
	headOff, err := p.OffsetOf("struct xarray", "xa_head")
	if err != nil {
		return false
	}
	slotsOff, err1 := p.OffsetOf("struct xa_node", "slots")
	shiftOff, err2 := p.OffsetOf("struct xa_node", "shift")
	if err1 != nil || err2 != nil {
		return false
	}
	head, err := p.ReadU64(a + headOff)
	if err != nil || head&3 != 2 || head < 4096 { // an internal entry: a node (lib/xarray.c xa_mk_node)
		return false
	}
	// Down the first slots to index 1.
	node := head &^ 3
	for depth := 0; depth < 8; depth++ {
		var sb [1]byte
		if p.Mem.ReadVirt(sb[:], node+shiftOff) != nil {
			return false
		}
		shift := sb[0]
		idx := uint64(0)
		if shift == 0 {
			idx = 1
		}
		e, err := p.ReadU64(node + slotsOff + 8*idx)
		if err != nil || e == 0 {
			return false
		}
		if shift == 0 {
			irq, ok := irqOf(p, e)
			return ok && irq == 1
		}
		if e&3 != 2 {
			return false
		}
		node = e &^ 3
	}
	return false
}

// verifyMapleIRQs: a is a struct maple_tree whose root is a node (a tree
// of more than one entry) or IRQ 0's or 1's descriptor; the node is
// checked to be one by its parent pointer leading back to the tree
// (lib/maple_tree.c: a root node's parent is the tree | MA_ROOT_PARENT).
func verifyMapleIRQs(p *Program, a uint64) bool {
	rootOff, err := p.OffsetOf("struct maple_tree", "ma_root")
	if err != nil {
		return false
	}
	root, err := p.ReadU64(a + rootOff)
	if err != nil || root == 0 {
		return false
	}
	if root&3 != 2 { // a lone entry
		irq, ok := irqOf(p, root)
		return ok && irq <= 1
	}
	parentOff, err := p.OffsetOf("struct maple_node", "parent")
	if err != nil {
		return false
	}
	node := root &^ 0xff // mte_to_node: the low bits hold the node type
	parent, err := p.ReadU64(node + parentOff)
	return err == nil && parent == a|1 // MA_ROOT_PARENT
}

// isARM64Dump reports whether p's dump is of an arm64 kernel.
func isARM64Dump(p *Program) bool {
	return p != nil && p.Dump != nil && p.Dump.Arch() == kcore.ArchARM64
}
