package unwind

import (
	"errors"
	"fmt"
	"sync"

	"github.com/kwalk/kwalk/symbols"
)

// orcInfo is the kernel's ORC unwind data: vmlinux's table and, loaded on
// first need, every module's.
type orcInfo struct {
	p       *symbols.Program
	format  orcFormat
	how     string // how the format was decided, for messages
	vmlinux *orcTable

	modOnce sync.Once
	mods    []*orcTable
	modErr  error
}

// errNoORC: the kernel has no ORC tables (CONFIG_UNWINDER_ORC=n, or the
// symbols are missing).
var errNoORC = errors.New("no ORC unwind tables")

// loadORC finds vmlinux's ORC tables through the __start_/__stop_ symbols,
// which kallsyms keeps even without KALLSYMS_ALL (scripts/kallsyms.c), and
// decides the entry format.
func loadORC(p *symbols.Program) (*orcInfo, error) {
	start, err := p.Symbol("__start_orc_unwind_ip")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoORC, err)
	}
	stop, err := p.Symbol("__stop_orc_unwind_ip")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoORC, err)
	}
	orc, err := p.Symbol("__start_orc_unwind")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoORC, err)
	}
	if stop <= start || (stop-start)%4 != 0 {
		return nil, fmt.Errorf("%w: __start_orc_unwind_ip %#x .. __stop_orc_unwind_ip %#x is not a table", errNoORC, start, stop)
	}
	n := (stop - start) / 4
	if orcStop, err := p.Symbol("__stop_orc_unwind"); err == nil && orcStop > orc && (orcStop-orc)/orcEntrySize != n {
		return nil, fmt.Errorf("%w: %d ip entries but %d orc entries", errNoORC, n, (orcStop-orc)/orcEntrySize)
	}
	t, err := newORCTable("vmlinux", p.Mem, start, orc, n)
	if err != nil {
		return nil, err
	}
	t.lookup = findORCLookup(p)
	info := &orcInfo{p: p, vmlinux: t}
	info.format, info.how, err = detectORCFormat(p, t)
	if err != nil {
		return nil, err
	}
	return info, nil
}

// findORCLookup returns vmlinux's orc_lookup table when its symbols are
// known (data symbols: KALLSYMS_ALL), else nil (binary search over all).
func findORCLookup(p *symbols.Program) *orcLookup {
	a, err1 := p.Symbol("orc_lookup")
	e, err2 := p.Symbol("orc_lookup_end")
	s, err3 := p.Symbol("_stext")
	t, err4 := p.Symbol("_etext")
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || e <= a || t <= s {
		return nil
	}
	return &orcLookup{addr: a, numBlocks: (e - a) / 4, start: s, end: t}
}

// detectORCFormat decides the struct orc_entry layout. BTF (or DWARF)
// describes struct orc_entry when unwind_orc.c is built: its bit fields tell
// v1 (end), v2 (signal and end) and v3+ (signal, type:3). The register
// numbering (v3 or v4) and kernels without the type are decided from the
// table itself: compiled code is overwhelmingly call frames based on rsp
// (or rbp), so the right decoding makes most sampled entries plausible
// call frames and the wrong ones make few.
func detectORCFormat(p *symbols.Program, t *orcTable) (orcFormat, string, error) {
	candidates := []orcFormat{orcV1, orcV2, orcV3, orcV4}
	how := "sampled entries"
	if ty, err := p.Type("struct orc_entry"); err == nil && ty.IsAggregate() {
		hasEnd, hasSignal := ty.HasMember("end"), ty.HasMember("signal")
		switch {
		case hasEnd && !hasSignal:
			candidates, how = []orcFormat{orcV1}, "struct orc_entry has end, no signal"
		case hasEnd && hasSignal:
			candidates, how = []orcFormat{orcV2}, "struct orc_entry has end and signal"
		case hasSignal:
			candidates, how = []orcFormat{orcV3, orcV4}, "struct orc_entry has signal, no end; registers from sampled entries"
		}
	}
	samples, err := sampleORC(t, 1024)
	if err != nil {
		return 0, "", err
	}
	best, bestScore := orcFormat(0), -1
	scores := map[orcFormat]int{}
	for _, f := range candidates {
		score := 0
		for _, s := range samples {
			if f.decode(s).plausibleCall() {
				score++
			}
		}
		// v2 differs from v1 only in where end sits: bit 11 is unused in v1.
		if f == orcV1 && len(candidates) > 1 {
			for _, s := range samples {
				if s[5]&0x08 != 0 {
					score = -1
					break
				}
			}
		}
		scores[f] = score
		if score > bestScore {
			best, bestScore = f, score
		}
	}
	if bestScore*4 < len(samples) {
		return 0, "", fmt.Errorf("ORC table at %#x: no entry format fits (%d samples, scores %v)", t.ipAddr, len(samples), scores)
	}
	return best, fmt.Sprintf("%s (%d/%d plausible)", how, bestScore, len(samples)), nil
}

// sampleORC reads up to max entries from 16 runs of consecutive entries
// spread over the table: a run shares its pages, so sampling reads a few
// dozen pages instead of the whole table.
func sampleORC(t *orcTable, max uint64) ([][]byte, error) {
	const runs = 16
	runLen := max / runs
	var out [][]byte
	var firstErr error
	for r := uint64(0); r < runs; r++ {
		start := t.n * r / runs
		for i := start; i < start+runLen && i < t.n; i++ {
			b, err := t.entry(i)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				break
			}
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("sampling ORC entries: %w", firstErr)
	}
	return out, nil
}

// find returns the ORC entry for ip from vmlinux or a module. ok is false
// when no table covers ip.
func (o *orcInfo) find(ip uint64) (e orcEntry, ok bool, err error) {
	if ip == 0 {
		return orcNullEntry, true, nil
	}
	t := o.tableFor(ip)
	if t == nil {
		return orcEntry{}, false, nil
	}
	i, found, err := t.find(ip)
	if err != nil || !found {
		return orcEntry{}, false, err
	}
	b, err := t.entry(i)
	if err != nil {
		return orcEntry{}, false, err
	}
	return o.format.decode(b), true, nil
}

func (o *orcInfo) tableFor(ip uint64) *orcTable {
	if o.vmlinux.contains(ip) {
		return o.vmlinux
	}
	o.modOnce.Do(func() { o.mods, o.modErr = loadModuleORC(o.p) })
	for _, t := range o.mods {
		if t.contains(ip) {
			return t
		}
	}
	return nil
}

// maxModules bounds the walk of the modules list.
const maxModules = 8192

// loadModuleORC reads each loaded module's ORC table from struct module's
// arch.orc_unwind_ip, arch.orc_unwind and arch.num_orcs
// (arch/x86/include/asm/module.h mod_arch_specific, set by
// unwind_module_init in arch/x86/kernel/unwind_orc.c), walking the global
// modules list (kernel/module/main.c; kernel/module.c before 5.19).
func loadModuleORC(p *symbols.Program) ([]*orcTable, error) {
	head, err := p.Variable("modules")
	if err != nil {
		return nil, fmt.Errorf("module ORC tables: %w", err)
	}
	off, err := p.OffsetOf("struct module", "list")
	if err != nil {
		return nil, fmt.Errorf("module ORC tables: %w", err)
	}
	headAddr := head.Addr()
	next, err := p.ReadU64(headAddr)
	if err != nil {
		return nil, fmt.Errorf("module ORC tables: modules.next: %w", err)
	}
	var tables []*orcTable
	var errs []error
	for i := 0; next != headAddr; i++ {
		if i >= maxModules || next == 0 {
			errs = append(errs, fmt.Errorf("modules list: broken or longer than %d at %#x", maxModules, next))
			break
		}
		mod, err := p.Object("struct module", next-off)
		if err != nil {
			return tables, err
		}
		if t, err := moduleORC(p, mod); err != nil {
			errs = append(errs, err)
		} else if t != nil {
			tables = append(tables, t)
		}
		if next, err = p.ReadU64(next); err != nil {
			errs = append(errs, fmt.Errorf("modules list at %#x: %w", mod.Addr()+off, err))
			break
		}
	}
	return tables, errors.Join(errs...)
}

func moduleORC(p *symbols.Program, mod symbols.Object) (*orcTable, error) {
	name, err := mod.MemberString("name")
	if err != nil {
		return nil, err
	}
	ip, err := mod.MemberUint("arch.orc_unwind_ip")
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	orc, err := mod.MemberUint("arch.orc_unwind")
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	n, err := mod.MemberUint("arch.num_orcs")
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	if ip == 0 || orc == 0 || n == 0 {
		return nil, nil
	}
	// The table keeps the entries of the module's init text, freed after
	// init and reused by later modules, so its IP span overlaps other
	// modules: like the kernel (orc_module_find → __module_address), a
	// module's table answers only for its own memory.
	mem, err := symbols.ModuleMemory(p, mod)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	if len(mem) == 0 {
		return nil, nil
	}
	t, err := newORCTable(name, p.Mem, ip, orc, n)
	if err != nil {
		return nil, err
	}
	t.mem = mem
	return t, nil
}
