package symbols

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Static variables found by what they hold. Each signature is checked
// through pointers back to the candidate, so that it cannot match by
// chance; more than one match is an error, not a choice.

// maxDataScan bounds the image data read for a signature.
const maxDataScan = 64 << 20

// dataRange returns the part of the image that holds its data and bss as
// far as the symbols found so far show: from the lowest to the highest
// variable that is neither text nor per-CPU. Where .data lies differs by
// architecture (arm64 after the init sections, x86_64 before them with
// .bss after; include/asm-generic/vmlinux.lds.h and each arch's
// vmlinux.lds.S), so both sides are covered; the init sections between are
// unmapped after boot and read as zero.
func (t *DataSymTable) dataRange(img imageLayout) (uint64, uint64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	lo, hi := uint64(0), uint64(0)
	for _, s := range t.found {
		a := s.Addr
		if !img.inImage(a) || img.isText(a) || a >= t.pcpuLo && a < t.pcpuHi {
			continue
		}
		if lo == 0 || a < lo {
			lo = a
		}
		if a > hi {
			hi = a
		}
	}
	if lo == 0 {
		return 0, 0, errors.New("no data symbol found to place the image's data")
	}
	lo &^= 4095
	hi = (hi | 4095) + 1
	if hi-lo > maxDataScan {
		return 0, 0, fmt.Errorf("data symbols span %#x-%#x, more than %d MiB", lo, hi, maxDataScan>>20)
	}
	return lo, hi, nil
}

// dataRegion reads the image's data as dataRange places it, extended by
// dataScanMargin (the .bss may end past the last exported variable), once
// for all signatures.
func (t *DataSymTable) dataRegion(p *Program, img imageLayout) (uint64, uint64, []byte, error) {
	t.mu.Lock()
	if t.data != nil {
		defer t.mu.Unlock()
		return t.dataLo, t.dataLo + uint64(len(t.data)), t.data, nil
	}
	t.mu.Unlock()
	lo, hi, err := t.dataRange(img)
	if err != nil {
		return 0, 0, nil, err
	}
	hi += dataScanMargin
	buf, err := readRegion(p.Mem, lo, hi)
	if err != nil {
		return 0, 0, nil, err
	}
	t.mu.Lock()
	t.data, t.dataLo = buf, lo
	t.mu.Unlock()
	return lo, hi, buf, nil
}

// listHeadSig describes a static LIST_HEAD by its entries.
type listHeadSig struct {
	name   string // the symbol
	what   string // the entries, for errors ("struct modules")
	inImg  bool   // entries may lie in the image (else they never do)
	inMods bool   // entries lie in module memory when it is known
	// entry reports whether a node (the address of the list_head in an
	// entry) is an entry; it is asked only after the node links back to
	// the candidate head.
	entry func(node uint64) bool
}

// findListHead finds the one list head in the image's data whose first
// and last entries link back to it and pass sig.entry. None (an empty
// list cannot be told from any other) or several are errors.
func findListHead(p *Program, img imageLayout, t *DataSymTable, sig listHeadSig) (Symbol, error) {
	lo, hi, buf, err := t.dataRegion(p, img)
	if err != nil {
		return Symbol{}, err
	}
	outside := func(node uint64) bool {
		if node < 4096 || node >= lo && node < hi {
			return false
		}
		// The image ends with the data read (x86_64 keeps modules
		// within a GiB above _stext, so inImage would be too wide).
		if !sig.inImg && node >= img.stext && node < hi {
			return false
		}
		return !sig.inMods || img.modHi == 0 || node >= img.modLo && node < img.modHi
	}
	pr := newPageReader(p)
	var heads []uint64
	for off := uint64(0); off+16 <= uint64(len(buf)); off += 8 {
		next := binary.LittleEndian.Uint64(buf[off:])
		prev := binary.LittleEndian.Uint64(buf[off+8:])
		if !outside(next) || !outside(prev) {
			continue
		}
		// Linked back first (one read rules out most pointers), then
		// the entries themselves.
		head := lo + off
		np, err1 := pr.u64(next + 8)
		if err1 != nil || np != head {
			continue
		}
		pn, err2 := pr.u64(prev)
		if err2 != nil || pn != head || !sig.entry(next) || !sig.entry(prev) {
			continue
		}
		heads = append(heads, head)
	}
	switch len(heads) {
	case 0:
		return Symbol{}, fmt.Errorf("no list head in %#x-%#x links %s (none there?)", lo, hi, sig.what)
	case 1:
		return Symbol{Name: sig.name, Addr: heads[0], Type: 'd'}, nil
	}
	return Symbol{}, fmt.Errorf("%d list heads in %#x-%#x link %s", len(heads), lo, hi, sig.what)
}

// findModulesHead finds kernel/module/main.c's static LIST_HEAD(modules):
// its entries are struct modules whose mkobj.mod points back at the module
// (kernel/module/sysfs.c mod_sysfs_init).
func findModulesHead(p *Program, img imageLayout, t *DataSymTable) (Symbol, error) {
	l, err := moduleLayoutOf(p)
	if err != nil {
		return Symbol{}, err
	}
	mt, err := p.Type("struct module")
	if err != nil {
		return Symbol{}, err
	}
	if _, err := p.OffsetOfType(mt, "mkobj.mod"); err != nil {
		return Symbol{}, err
	}
	return findListHead(p, img, t, listHeadSig{name: "modules", what: "struct modules", inMods: true,
		entry: func(node uint64) bool {
			if node < l.listOff {
				return false
			}
			mod := node - l.listOff
			self, err := p.ObjectAt(mt, mod).MemberUint("mkobj.mod")
			return err == nil && self == mod
		}})
}

// findSuperBlocks finds fs/super.c's static LIST_HEAD(super_blocks): its
// entries are struct super_blocks (through s_list) whose root dentry
// belongs to them (s_root->d_sb).
func findSuperBlocks(p *Program, img imageLayout, t *DataSymTable) (Symbol, error) {
	sbt, err := p.Type("struct super_block")
	if err != nil {
		return Symbol{}, err
	}
	listOff, err := p.OffsetOfType(sbt, "s_list")
	if err != nil {
		return Symbol{}, err
	}
	rootOff, err := p.OffsetOfType(sbt, "s_root")
	if err != nil {
		return Symbol{}, err
	}
	dsbOff, err := p.OffsetOf("struct dentry", "d_sb")
	if err != nil {
		return Symbol{}, err
	}
	typeOff, err := p.OffsetOfType(sbt, "s_type")
	if err != nil {
		return Symbol{}, err
	}
	nameOff, err := p.OffsetOf("struct file_system_type", "name")
	if err != nil {
		return Symbol{}, err
	}
	return findListHead(p, img, t, listHeadSig{name: "super_blocks", what: "struct super_blocks",
		entry: func(node uint64) bool {
			if node < listOff {
				return false
			}
			sb := node - listOff
			root, err := p.ReadU64(sb + rootOff)
			if err != nil || root == 0 {
				return false
			}
			back, err := p.ReadU64(root + dsbOff)
			if err != nil || back != sb {
				return false
			}
			// The pointers of other lists' small objects can close such
			// a loop by chance (a trace event class's fields did): the
			// superblock's file system type must also be named.
			fst, err := p.ReadU64(sb + typeOff)
			if err != nil || fst < 4096 {
				return false
			}
			np, err := p.ReadU64(fst + nameOff)
			if err != nil {
				return false
			}
			name, err := p.ReadString(np, 64)
			return err == nil && fsTypeName(name)
		}})
}

// fsTypeName reports whether s can be a file system type's name
// ("ext4", "fuse.sshfs" is the subtype's; "cgroup2", "9p", "nfs4"):
// 1-32 lowercase letters, digits, '_', '-' or '.'.
func fsTypeName(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// findSlabCaches finds mm/slab_common.c's static LIST_HEAD(slab_caches):
// its entries are struct kmem_caches (through list) with a printable name
// and an object size no larger than the slot size.
func findSlabCaches(p *Program, img imageLayout, t *DataSymTable) (Symbol, error) {
	kt, err := p.Type("struct kmem_cache")
	if err != nil {
		return Symbol{}, err
	}
	listOff, err1 := p.OffsetOfType(kt, "list")
	nameOff, err2 := p.OffsetOfType(kt, "name")
	sizeOff, err3 := p.OffsetOfType(kt, "size")
	objOff, err4 := p.OffsetOfType(kt, "object_size")
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return Symbol{}, err
	}
	return findListHead(p, img, t, listHeadSig{name: "slab_caches", what: "struct kmem_caches",
		entry: func(node uint64) bool {
			if node < listOff {
				return false
			}
			c := node - listOff
			np, err := p.ReadU64(c + nameOff)
			if err != nil || np == 0 {
				return false
			}
			name, err := p.ReadString(np, 64)
			size, err1 := p.ReadU32(c + sizeOff)
			obj, err2 := p.ReadU32(c + objOff)
			if err != nil || err1 != nil || err2 != nil || name == "" || obj == 0 || obj > size || size > 1<<26 {
				return false
			}
			for i := 0; i < len(name); i++ {
				if name[i] < 0x20 || name[i] > 0x7e {
					return false
				}
			}
			return true
		}})
}

// maxSigModules bounds the walk of the modules list for signatures.
const maxSigModules = 8192

// loadedModules returns the struct module addresses on the modules list.
func loadedModules(p *Program, head uint64) (map[uint64]bool, error) {
	l, err := moduleLayoutOf(p)
	if err != nil {
		return nil, err
	}
	mods := map[uint64]bool{}
	next, err := p.ReadU64(head)
	if err != nil {
		return nil, fmt.Errorf("modules.next at %#x: %w", head, err)
	}
	for next != head {
		if len(mods) >= maxSigModules {
			return nil, fmt.Errorf("modules list longer than %d", maxSigModules)
		}
		if next < l.listOff || mods[next-l.listOff] {
			return nil, fmt.Errorf("modules list: %w at %#x", ErrCycle, next)
		}
		mods[next-l.listOff] = true
		if next, err = p.ReadU64(next); err != nil {
			return nil, fmt.Errorf("modules list at %#x: %w", next, err)
		}
	}
	return mods, nil
}

// findBTFModulesHead finds kernel/bpf/btf.c's static LIST_HEAD(btf_modules)
// (CONFIG_DEBUG_INFO_BTF_MODULES): a list head in the image's data whose
// first and last entries are struct btf_modules (btf_modules.go) that name
// a loaded module, whose BTF bears the module's name. Module BTF is read
// through it.
func findBTFModulesHead(p *Program, img imageLayout, t *DataSymTable, modulesHead uint64) (Symbol, error) {
	b, ok := p.Types.(*BTFTypes)
	if !ok {
		return Symbol{}, fmt.Errorf("the types (%s) are not BTF", p.Types.Describe())
	}
	b.mu.Lock()
	l, err := b.btfModuleLayoutLocked()
	b.mu.Unlock()
	if err != nil {
		return Symbol{}, err
	}
	mods, err := loadedModules(p, modulesHead)
	if err != nil {
		return Symbol{}, err
	}
	if len(mods) == 0 {
		return Symbol{}, errors.New("no module loaded")
	}
	return findListHead(p, img, t, listHeadSig{name: "btf_modules", what: "struct btf_modules",
		entry: func(node uint64) bool {
			if node < l.listOff {
				return false
			}
			bm := node - l.listOff
			m, err := p.ReadU64(bm + l.moduleOff)
			if err != nil || !mods[m] {
				return false
			}
			// Other lists of small objects can hold a module pointer at
			// that offset (a 6.1 arm64 dump had one): the module's BTF is
			// named after it (struct btf.name, kernel/bpf/btf.c
			// btf_parse_module).
			if l.nameLen == 0 || l.modNameLen == 0 {
				return true
			}
			btf, err := p.ReadU64(bm + l.btfOff)
			if err != nil || btf == 0 {
				return false
			}
			bn, err1 := p.ReadString(btf+l.nameOff, int(l.nameLen))
			mn, err2 := p.ReadString(m+l.modNameOff, int(l.modNameLen))
			return err1 == nil && err2 == nil && bn != "" && bn == mn
		}})
}

// findTkCore finds kernel/time/timekeeping.c's (up to 6.12)
//
//	static struct {
//		seqcount_raw_spinlock_t seq;
//		struct timekeeper timekeeper;
//	} tk_core ____cacheline_aligned;
//
// by its timekeeper: tkr_mono.clock and tkr_raw.clock point at the same
// struct clocksource, whose read is a kernel function, with a non-zero
// mult, a shift below 64 and a wall clock between 2000 and 2200. The
// shadow_timekeeper next to it is a copy that matches too; it is a bare
// struct timekeeper, not cache-line aligned behind a seqcount, so only the
// candidate whose wrapper starts on a cache line and whose seqcount is
// even (no update in progress) is taken. Later kernels (6.13+) keep
//
//	static struct tk_data timekeeper_data[TIMEKEEPERS_MAX];
//
// whose struct tk_data (cache-line aligned) holds the seqcount, the
// timekeeper and the shadow_timekeeper; element 0 is the core timekeeper
// and the others are the auxiliary clocks' (7.x). There the candidates
// all lie in one array and the lowest is timekeeper_data, the name
// returned.
func findTkCore(p *Program, img imageLayout, t *DataSymTable) (Symbol, error) {
	name, tkData := "tk_core", uint64(0)
	if sz, err := p.SizeOf("struct tk_data"); err == nil {
		name, tkData = "timekeeper_data", sz
	}
	tt, err := p.Type("struct timekeeper")
	if err != nil {
		return Symbol{}, err
	}
	monoClock, err1 := p.OffsetOfType(tt, "tkr_mono.clock")
	rawClock, err2 := p.OffsetOfType(tt, "tkr_raw.clock")
	if err := errors.Join(err1, err2); err != nil {
		return Symbol{}, err
	}
	readOff, err := p.OffsetOf("struct clocksource", "read")
	if err != nil {
		return Symbol{}, err
	}
	// The wrapper's timekeeper follows the seqcount (as repl/cmd_sys.go
	// and walkers/sched/clock.go read it).
	seqSize, err := p.SizeOf("seqcount_raw_spinlock_t")
	if err != nil {
		return Symbol{}, err
	}
	off := (seqSize + 7) &^ 7
	if tkData != 0 {
		if off, err = p.OffsetOf("struct tk_data", "timekeeper"); err != nil {
			return Symbol{}, err
		}
	}
	lo, hi, buf, err := t.dataRegion(p, img)
	if err != nil {
		return Symbol{}, err
	}
	end := max(monoClock, rawClock) + 8
	pr := newPageReader(p)
	var cands []uint64
	for x := off; x+end <= uint64(len(buf)); x += 8 {
		c := binary.LittleEndian.Uint64(buf[x+monoClock:])
		if c == 0 || c != binary.LittleEndian.Uint64(buf[x+rawClock:]) {
			continue
		}
		rd, err := pr.u64(c + readOff)
		if err != nil || !img.isText(rd) {
			continue
		}
		tk := p.ObjectAt(tt, lo+x)
		mult, err1 := tk.MemberUint("tkr_mono.mult")
		shift, err2 := tk.MemberUint("tkr_mono.shift")
		sec, err3 := tk.MemberUint("xtime_sec")
		if errors.Join(err1, err2, err3) != nil || mult == 0 || shift >= 64 ||
			int64(sec) < 946684800 || int64(sec) > 7258118400 {
			continue
		}
		w := lo + x - off
		seq := binary.LittleEndian.Uint32(buf[x-off:])
		if w%tkCacheLine != 0 || seq%2 != 0 {
			continue
		}
		cands = append(cands, w)
	}
	switch {
	case len(cands) == 0:
		return Symbol{}, fmt.Errorf("no timekeeper in %#x-%#x", lo, hi)
	case len(cands) == 1:
		return Symbol{Name: name, Addr: cands[0], Type: 'b'}, nil
	case tkData != 0 && cands[len(cands)-1]-cands[0] < tkMaxTimekeepers*tkData:
		return Symbol{Name: name, Addr: cands[0], Type: 'b'}, nil
	}
	return Symbol{}, fmt.Errorf("%d candidates in %#x-%#x", len(cands), lo, hi)
}

// tkMaxTimekeepers bounds TIMEKEEPERS_MAX (include/linux/timekeeping.h:
// the core timekeeper and MAX_AUX_CLOCKS, 8, auxiliary ones).
const tkMaxTimekeepers = 16

// tkCacheLine is the smallest L1_CACHE_BYTES of the 64-bit architectures
// kwalk reads (64 on x86_64 and arm64's 6.x kernels; arm64 5.10 has 128,
// which is a multiple).
const tkCacheLine = 64

// dataScanMargin extends the signature scans past the highest data symbol
// found (tk_core is in .bss, which may end past the last exported
// variable; past the image's end the pages are unmapped and read as zero).
const dataScanMargin = 4 << 20

// pageReader reads u64s through a bounded cache of pages: the signature
// scans follow thousands of pointers into a few hundred pages.
type pageReader struct {
	p     *Program
	pages map[uint64][]byte // nil entry: the page could not be read
}

// maxCachedPages bounds a pageReader's cache (16 MiB).
const maxCachedPages = 4096

func newPageReader(p *Program) *pageReader {
	return &pageReader{p: p, pages: map[uint64][]byte{}}
}

func (r *pageReader) u64(addr uint64) (uint64, error) {
	pg, off := addr&^4095, addr&4095
	if off > 4096-8 {
		return r.p.ReadU64(addr)
	}
	b, ok := r.pages[pg]
	if !ok {
		if len(r.pages) >= maxCachedPages {
			return r.p.ReadU64(addr)
		}
		b = make([]byte, 4096)
		if err := r.p.Mem.ReadVirt(b, pg); err != nil {
			b = nil
		}
		r.pages[pg] = b
	}
	if b == nil {
		return r.p.ReadU64(addr) // the error, as a direct read gives it
	}
	return binary.LittleEndian.Uint64(b[off:]), nil
}

// rootIsIDR is ROOT_IS_IDR (lib/radix-tree.h), set in the xa_flags of
// every idr's xarray (IDR_RT_MARKER), 5.x through 7.x.
const rootIsIDR = 4

// maxXADepth bounds the descent of an xarray (64-bit indices, 6 bits a
// level).
const maxXADepth = 12

// findWorkerPoolIDR finds kernel/workqueue.c's static
// DEFINE_IDR(worker_pool_idr). workqueue_init_early gives the per-CPU
// pools their ids first, the boot CPU's first pool id 0
// (worker_pool_assign_id, idr_alloc from 0), so the idr's index 0 is
// &per_cpu(cpu_worker_pools, 0)[0] (bh_worker_pools, 6.9+), whose id is
// 0: the idr is the one
// struct idr in the image's data, with idr_base 0, whose xarray leads down
// its first slots (lib/xarray.c: a node pointer is tagged 2 and its
// slots[0] covers index 0) to that pool.
func findWorkerPoolIDR(p *Program, img imageLayout, t *DataSymTable) (Symbol, error) {
	pcpu, err := p.PerCPUOffset(0)
	if err != nil {
		return Symbol{}, err
	}
	// 6.9+ give the BH pools (per-CPU bh_worker_pools) their ids before
	// the normal ones (workqueue_init_early); the pool with id 0 is the
	// first pool of whichever comes first.
	var want uint64
	var tried []string
	for _, name := range []string{"bh_worker_pools", "cpu_worker_pools"} {
		pools, err := t.Lookup(name)
		if err != nil {
			continue
		}
		pool, err := p.Object("struct worker_pool", pools.Addr+pcpu)
		if err != nil {
			return Symbol{}, err
		}
		id, err := pool.MemberUint("id")
		if err == nil && id == 0 {
			want = pools.Addr + pcpu
			break
		}
		tried = append(tried, fmt.Sprintf("%s on cpu 0 has id %d (%v)", name, id, err))
	}
	if want == 0 {
		if len(tried) == 0 {
			return Symbol{}, errors.New("neither cpu_worker_pools nor bh_worker_pools is known (no BTF .data..percpu?)")
		}
		return Symbol{}, fmt.Errorf("no per-CPU worker pool has id 0: %s", strings.Join(tried, "; "))
	}
	rtOff, err1 := p.OffsetOf("struct idr", "idr_rt")
	baseOff, err2 := p.OffsetOf("struct idr", "idr_base")
	headOff, err3 := p.OffsetOf("struct xarray", "xa_head")
	shiftOff, err4 := p.OffsetOf("struct xa_node", "shift")
	slotsOff, err5 := p.OffsetOf("struct xa_node", "slots")
	flagsOff, err6 := p.OffsetOf("struct xarray", "xa_flags")
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return Symbol{}, err
	}
	lo, hi, buf, err := t.dataRegion(p, img)
	if err != nil {
		return Symbol{}, err
	}
	pr := newPageReader(p)
	leadsTo := func(entry uint64) bool {
		for depth := 0; depth < maxXADepth; depth++ {
			if entry&3 != 2 || entry <= 4096 {
				return entry == want
			}
			node := entry - 2
			shift, err := pr.u64(node + shiftOff)
			if err != nil || shift&0xff > 63 {
				return false
			}
			if entry, err = pr.u64(node + slotsOff); err != nil {
				return false
			}
		}
		return false
	}
	at, flagsAt := rtOff+headOff, rtOff+flagsOff
	var cands []uint64
	for off := uint64(0); off+max(at, baseOff, flagsAt)+8 <= uint64(len(buf)); off += 8 {
		head := binary.LittleEndian.Uint64(buf[off+at:])
		if head != want && (head&3 != 2 || head >= img.stext && head < hi) {
			continue
		}
		// An idr's xarray is marked ROOT_IS_IDR in its flags
		// (include/linux/idr.h IDR_RT_MARKER, lib/radix-tree.h): a
		// pointer to the pool followed by a zero is not one.
		if binary.LittleEndian.Uint32(buf[off+flagsAt:])&rootIsIDR == 0 {
			continue
		}
		if binary.LittleEndian.Uint32(buf[off+baseOff:]) != 0 || !leadsTo(head) {
			continue
		}
		cands = append(cands, lo+off)
	}
	switch len(cands) {
	case 0:
		return Symbol{}, fmt.Errorf("no struct idr in the image's data leads to cpu 0's worker pool %#x", want)
	case 1:
		return Symbol{Name: "worker_pool_idr", Addr: cands[0], Type: 'd'}, nil
	}
	return Symbol{}, fmt.Errorf("%d struct idrs lead to cpu 0's worker pool %#x", len(cands), want)
}
