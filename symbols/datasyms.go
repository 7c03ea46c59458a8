package symbols

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/kwalk/kwalk/kcore"
)

// A kernel built without CONFIG_KALLSYMS_ALL (Debian's arm64 kernels) keeps
// only text symbols in kallsyms (scripts/kallsyms.c symbol_valid: the
// _stext.._etext and _sinittext.._einittext ranges). The data symbols the
// walkers need are found from what the dump itself carries:
//
//   - VMCOREINFO's SYMBOL(name) lines (kernel/crash_core.c, 6.12+
//     kernel/vmcore_info.c): prb, init_uts_ns, swapper_pg_dir, ...;
//   - the kernel's export table (__ksymtab, __ksymtab_gpl; include/linux/
//     export.h, 6.5+ include/linux/export-internal.h), which the module
//     loader resolves symbols through and which holds every EXPORT_SYMBOL'd
//     variable: init_task, __per_cpu_offset, nr_cpu_ids, the CPU masks,
//     jiffies, avenrun, _totalram_pages, ...;
//   - BTF's DATASEC .data..percpu, which gives every per-CPU variable's
//     offset in the per-CPU section, whose link address follows from the
//     exported per-CPU variables (include/linux/percpu-defs.h
//     EXPORT_PER_CPU_SYMBOL);
//   - memory signatures for a few static variables, each checked through
//     pointers back to it (datasyms_sig.go): the list heads modules,
//     btf_modules, super_blocks and slab_caches, the idr worker_pool_idr and the
//     timekeeper tk_core;
//   - on arm64, the code of small functions known to use a variable
//     (datasyms_textref.go): irq_desc_tree or sparse_irqs, chrdevs,
//     major_names.
//
// A symbol none of these give is reported by name with the hint to supply
// System.map: a guess is never returned.

// DataSymTable is a text-only kallsyms table completed with the data
// symbols found from the dump. Lookup asks kallsyms first. Discovery runs
// once the program's types are known (NewProgram calls Discover).
type DataSymTable struct {
	inner SymbolTable
	mem   kcore.Memory
	info  VMCoreInfo

	mu    sync.Mutex
	found map[string]Symbol
	// notes say what a discovery step could not do, for the error of a
	// symbol that is missing.
	notes   []string
	counts  map[string]int // symbols found per source, for Describe
	started bool
	// data is the image's data as the signatures read it (dataRegion),
	// from dataLo; dropped when discovery ends.
	data   []byte
	dataLo uint64
	// pcpuLo, pcpuHi bound the per-CPU section's variables (link
	// addresses), which are no place for the signatures to look.
	pcpuLo, pcpuHi uint64
}

// newDataSymTable wraps a kallsyms table that lacks data symbols.
func newDataSymTable(inner SymbolTable, mem kcore.Memory, info VMCoreInfo) *DataSymTable {
	return &DataSymTable{inner: inner, mem: mem, info: info, found: map[string]Symbol{}, counts: map[string]int{}}
}

// Inner returns the kallsyms table behind t.
func (t *DataSymTable) Inner() SymbolTable { return t.inner }

// Lookup implements SymbolTable: kallsyms, then the data symbols found.
func (t *DataSymTable) Lookup(name string) (Symbol, error) {
	s, err := t.inner.Lookup(name)
	if err == nil {
		return s, nil
	}
	t.mu.Lock()
	s, ok := t.found[name]
	notes := strings.Join(t.notes, "; ")
	t.mu.Unlock()
	if ok {
		return s, nil
	}
	return Symbol{}, &MissingDataSymbolError{Name: name, Notes: notes}
}

// MissingDataSymbolError is the error of a data symbol that kallsyms lacks
// (no CONFIG_KALLSYMS_ALL) and the dump did not give. It wraps
// ErrNoSymbol.
type MissingDataSymbolError struct {
	Name  string
	Notes string // what discovery could not do
}

func (e *MissingDataSymbolError) Error() string {
	msg := fmt.Sprintf("%v: %s: kallsyms in this dump has text symbols only (kernel built without CONFIG_KALLSYMS_ALL) and the dump's VMCOREINFO, export table, BTF and memory do not give it", ErrNoSymbol, e.Name)
	if e.Notes != "" {
		msg += " (" + e.Notes + ")"
	}
	return msg + "; supply System.map with --system-map FILE (Debian: from the linux-image-<release>-dbg package)"
}

func (e *MissingDataSymbolError) Unwrap() error { return ErrNoSymbol }

// LookupAddr implements SymbolTable (text symbols: kallsyms).
func (t *DataSymTable) LookupAddr(addr uint64) (Symbol, uint64, bool) {
	return t.inner.LookupAddr(addr)
}

// Names implements SymbolTable: kallsyms' names and the data symbols found.
func (t *DataSymTable) Names() []string {
	names := t.inner.Names()
	t.mu.Lock()
	for n := range t.found {
		names = append(names, n)
	}
	t.mu.Unlock()
	slices.Sort(names)
	return slices.Compact(names)
}

// Describe implements SymbolTable.
func (t *DataSymTable) Describe() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.found) == 0 {
		return t.inner.Describe() + "; no data symbols in kallsyms"
	}
	var parts []string
	for _, src := range []string{srcVMCoreInfo, srcKsymtab, srcPerCPU, srcSignature, srcTextRef} {
		if n := t.counts[src]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d from %s", n, src))
		}
	}
	return fmt.Sprintf("%s; %d data symbols found in the dump (%s)", t.inner.Describe(), len(t.found), strings.Join(parts, ", "))
}

// Sources of data symbols, for Describe.
const (
	srcVMCoreInfo = "VMCOREINFO"
	srcKsymtab    = "the export table"
	srcPerCPU     = "BTF .data..percpu"
	srcSignature  = "memory signatures"
	srcTextRef    = "the code that uses them"
)

// Found returns the data symbols discovery found, sorted by name.
func (t *DataSymTable) Found() []Symbol {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Symbol, 0, len(t.found))
	for _, s := range t.found {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// add records symbols found by src; names kallsyms or an earlier source
// has are kept as they are.
func (t *DataSymTable) add(src string, syms []Symbol) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range syms {
		if _, ok := t.found[s.Name]; ok {
			continue
		}
		if _, err := t.inner.Lookup(s.Name); err == nil {
			continue
		}
		t.found[s.Name] = s
		t.counts[src]++
	}
}

func (t *DataSymTable) note(format string, args ...any) {
	t.mu.Lock()
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

// Discover finds the data symbols of p's kernel; p's Syms must lead to t
// and p's types be set. It runs once; later calls return at once. Symbols
// are published step by step, so that later steps (and lookups made while
// they run, such as BTF asking for btf_modules) see the earlier ones.
func (t *DataSymTable) Discover(p *Program) {
	t.mu.Lock()
	if t.started {
		t.mu.Unlock()
		return
	}
	t.started = true
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.data = nil
		t.mu.Unlock()
	}()

	img, err := imageLayoutOf(t.inner, t.info)
	if err != nil {
		t.note("kernel image layout: %v", err)
		return
	}
	t.add(srcVMCoreInfo, vmcoreinfoSymbols(t.info, img))
	ks, err := scanKsymtab(t.mem, t.inner, img)
	if err != nil {
		t.note("export table: %v", err)
	}
	t.add(srcKsymtab, ks)
	if p == nil || p.Types == nil {
		t.note("no types: per-CPU variables and signatures not searched")
		return
	}
	pc, err := perCPUSymbols(p, t)
	if err != nil {
		t.note("per-CPU variables: %v", err)
	}
	t.add(srcPerCPU, pc)
	if _, err := t.Lookup("runqueues"); err != nil {
		if s, err := runqueuesSymbol(p); err != nil {
			t.note("runqueues: %v", err)
		} else {
			t.add(srcSignature, []Symbol{s})
		}
	}
	modules, err := t.Lookup("modules")
	if err != nil {
		m, err := findModulesHead(p, img, t)
		if err != nil {
			t.note("modules list: %v", err)
		} else {
			t.add(srcSignature, []Symbol{m})
			modules = m
		}
	}
	if _, err := t.Lookup("btf_modules"); err != nil && modules.Addr != 0 {
		if m, err := findBTFModulesHead(p, img, t, modules.Addr); err != nil {
			t.note("btf_modules: %v", err)
		} else {
			t.add(srcSignature, []Symbol{m})
		}
	}
	if _, err := t.Lookup("super_blocks"); err != nil {
		if s, err := findSuperBlocks(p, img, t); err != nil {
			t.note("super_blocks: %v", err)
		} else {
			t.add(srcSignature, []Symbol{s})
		}
	}
	if _, err := t.Lookup("slab_caches"); err != nil {
		if s, err := findSlabCaches(p, img, t); err != nil {
			t.note("slab_caches: %v", err)
		} else {
			t.add(srcSignature, []Symbol{s})
		}
	}
	if _, err := t.Lookup("worker_pool_idr"); err != nil {
		if s, err := findWorkerPoolIDR(p, img, t); err != nil {
			t.note("worker_pool_idr: %v", err)
		} else {
			t.add(srcSignature, []Symbol{s})
		}
	}
	_, err1 := t.Lookup("tk_core")
	_, err2 := t.Lookup("timekeeper_data")
	if err1 != nil && err2 != nil {
		if s, err := findTkCore(p, img, t); err != nil {
			t.note("tk_core: %v", err)
		} else {
			t.add(srcSignature, []Symbol{s})
		}
	}
	if isARM64Dump(p) {
		syms, notes := textRefSymbols(p, t)
		t.add(srcTextRef, syms)
		for _, n := range notes {
			t.note("%s", n)
		}
	}
}

// imageLayout is what kallsyms and VMCOREINFO tell of the kernel image.
type imageLayout struct {
	stext, etext         uint64
	sinittext, einittext uint64
	// modLo, modHi bound module memory (NUMBER(MODULES_VADDR),
	// NUMBER(VMALLOC_END) or NUMBER(MODULES_END); 0 when unknown).
	modLo, modHi uint64
}

// maxImageSpan bounds the distance from _stext of anything taken to be in
// the kernel image (vmlinux is tens of MiB; KASLR moves it as a whole).
const maxImageSpan = 1 << 30

func (l imageLayout) inImage(a uint64) bool { return a >= l.stext && a-l.stext < maxImageSpan }

func (l imageLayout) isText(a uint64) bool {
	return a >= l.stext && a < l.etext || a >= l.sinittext && a < l.einittext
}

func imageLayoutOf(syms SymbolTable, info VMCoreInfo) (imageLayout, error) {
	var l imageLayout
	get := func(name string) (uint64, error) {
		s, err := syms.Lookup(name)
		if err != nil {
			return 0, err
		}
		return s.Addr, nil
	}
	var err error
	if l.stext, err = get("_stext"); err != nil {
		if info == nil {
			return l, err
		}
		v, ok := info.Symbol("_stext")
		if !ok {
			return l, err
		}
		l.stext = v
	}
	if l.etext, err = get("_etext"); err != nil {
		return l, err
	}
	if l.sinittext, err = get("_sinittext"); err != nil {
		return l, err
	}
	if l.einittext, err = get("_einittext"); err != nil {
		return l, err
	}
	if l.etext <= l.stext || l.sinittext < l.etext || l.einittext < l.sinittext || l.einittext-l.stext > maxImageSpan {
		return l, fmt.Errorf("_stext %#x, _etext %#x, _sinittext %#x, _einittext %#x are not a kernel image", l.stext, l.etext, l.sinittext, l.einittext)
	}
	if info != nil {
		// arch/arm64/kernel/crash_core.c (6.1+): module memory lies in
		// [MODULES_VADDR, MODULES_END), or anywhere in vmalloc space with
		// module PLTs (arch/arm64/kernel/module.c module_alloc).
		lo, ok1 := info.Number("MODULES_VADDR")
		hi, ok2 := info.Number("VMALLOC_END")
		if !ok2 {
			hi, ok2 = info.Number("MODULES_END")
		}
		if ok1 && ok2 && uint64(hi) > uint64(lo) {
			l.modLo, l.modHi = uint64(lo), uint64(hi)
		}
	}
	return l, nil
}

// vmcoreinfoSymbols returns VMCOREINFO's SYMBOL(name) lines that lie in the
// kernel image. SYMBOL(mem_section) with SPARSEMEM_EXTREME is the value of
// the pointer (VMCOREINFO_SYMBOL_ARRAY), not its address: it points outside
// the image and is left out, as is anything else that does.
func vmcoreinfoSymbols(info VMCoreInfo, img imageLayout) []Symbol {
	if nilInfo(info) {
		return nil
	}
	k, ok := info.(interface{ Keys() []string })
	if !ok {
		return nil
	}
	var out []Symbol
	for _, key := range k.Keys() {
		name, ok := strings.CutPrefix(key, "SYMBOL(")
		if !ok || !strings.HasSuffix(name, ")") {
			continue
		}
		name = strings.TrimSuffix(name, ")")
		if strings.HasPrefix(name, "kallsyms_") {
			continue // rodata tables, not variables the walkers read
		}
		a, ok := info.Symbol(name)
		if !ok || !img.inImage(a) || img.isText(a) {
			continue
		}
		out = append(out, Symbol{Name: name, Addr: a, Type: 'D'})
	}
	return out
}

// IndexNamesInBackground passes the request on to kallsyms' table.
func (t *DataSymTable) IndexNamesInBackground() {
	if bi, ok := t.inner.(backgroundIndexer); ok {
		bi.IndexNamesInBackground()
	}
}
