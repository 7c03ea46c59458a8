package repl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/mm"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/unwind"
)

// bt's crash flags beyond the unwind itself: -F/-FF (symbolic stack
// words), -s/-x/-d (offset radix), -R (reference filter), -S/-I (unwind
// from a given place), -e/-E (searches for exception frames).

// btFormat is how bt renders a trace.
type btFormat struct {
	decimal  bool // -d: offsets in decimal
	symbolic int  // 1: -F, 2: -FF
	search   bool // -e: the exception frames found instead of the trace
	raw      bool // -r: the whole stack instead of the trace
}

// offset renders a symbol offset: "+0x2f5", or "+757" with -d.
func (f btFormat) offset(off uint64) string {
	if f.decimal {
		return fmt.Sprintf("+%d", off)
	}
	return fmt.Sprintf("+%#x", off)
}

// word renders one stack word of -f, -F or -FF, 16 columns wide.
func (f btFormat) word(w *BtWord) string {
	switch {
	case f.symbolic > 1 && w.Cache != "":
		return fmt.Sprintf("[%x:%s]", uint64(w.Object), w.Cache)
	case f.symbolic > 0 && w.Cache != "":
		return fmt.Sprintf("%-16s", "["+w.Cache+"]")
	case f.symbolic > 0 && w.Symbol != "":
		return fmt.Sprintf("%-16s", w.Symbol)
	}
	return fmt.Sprintf("%016x", uint64(w.Value))
}

// btFlagSet is what bt's crash flags asked for.
type btFlagSet struct {
	fmt    btFormat
	ref    string // -R
	noIdle bool   // -n idle
}

// btWantWords: -f, -F and -FF show each frame's stack words.
func btWantWords(c *Call) bool { return c.Bool("f") || c.Bool("F") || c.Bool("FF") }

// btFlags checks the combinations of bt's flags.
func btFlags(c *Call) (*btFlagSet, error) {
	bf := &btFlagSet{ref: c.String("R")}
	if c.Bool("x") && c.Bool("d") {
		return nil, UsageErrorf("bt: -x and -d exclude each other")
	}
	bf.fmt.decimal = c.Bool("d")
	switch {
	case c.Bool("FF"):
		bf.fmt.symbolic = 2
	case c.Bool("F"):
		bf.fmt.symbolic = 1
	}
	bf.fmt.search = c.Bool("e")
	bf.fmt.raw = c.Bool("r")
	if bf.fmt.raw && (bf.fmt.search || c.Bool("t") || c.Bool("T")) {
		return nil, UsageErrorf("bt: -r excludes -e, -t and -T")
	}
	if c.IsSet("R") && strings.TrimSpace(bf.ref) == "" {
		return nil, UsageErrorf("bt -R: give a function name or a text address")
	}
	if c.IsSet("I") && !c.IsSet("S") {
		return nil, UsageErrorf("bt -I IP needs -S SP: the stack pointer at IP")
	}
	if c.IsSet("S") {
		if c.Bool("a") || c.IsSet("c") || c.Bool("E") {
			return nil, UsageErrorf("bt -S: give one task (pid or address), not -a, -c or -E")
		}
		if len(c.Args) > 1 {
			return nil, UsageErrorf("bt -S: one task at a time (the stack address belongs to one stack)")
		}
	}
	if c.Bool("e") && (c.Bool("t") || c.Bool("T")) {
		return nil, UsageErrorf("bt: -e and -t/-T exclude each other")
	}
	if c.IsSet("n") {
		if c.String("n") != "idle" {
			return nil, UsageErrorf("bt -n: only \"-n idle\" is known")
		}
		if !c.Bool("a") && !c.IsSet("c") {
			return nil, UsageErrorf("bt -n idle: only with -a or -c")
		}
		bf.noIdle = true
	}
	if c.Bool("p") && (len(c.Args) > 0 || c.Bool("a") || c.IsSet("c") || c.Bool("g")) {
		return nil, UsageErrorf("bt -p: the panic task alone (no tasks, -a, -c or -g)")
	}
	if c.Bool("g") && (c.Bool("a") || c.IsSet("c")) {
		return nil, UsageErrorf("bt -g: give tasks, not -a or -c")
	}
	return bf, nil
}

// btArgTasks are the tasks bt unwinds: the panic task (-p), the tasks
// given or the current one, with -g each one's whole thread group.
func btArgTasks(c *Call) ([]symbols.Object, error) {
	if c.Bool("p") {
		t, err := panicTask(c.Prog)
		if err != nil {
			return nil, fmt.Errorf("bt -p: %w", err)
		}
		return []symbols.Object{t}, nil
	}
	tasks, err := argTasks(c)
	if err != nil || !c.Bool("g") {
		return tasks, err
	}
	all, err := sched.TasksContext(c.Ctx, c.Prog)
	if len(all) == 0 && err != nil {
		return nil, fmt.Errorf("bt -g: the task list: %w", err)
	}
	var out []symbols.Object
	seen := map[int]bool{}
	for _, o := range tasks {
		t, err := sched.TaskFromObject(o)
		if err != nil {
			return nil, err
		}
		if t.Idle || seen[t.TGID] {
			if t.Idle {
				out = append(out, o)
			}
			continue
		}
		seen[t.TGID] = true
		var leader []symbols.Object
		var rest []symbols.Object
		for _, m := range all {
			switch {
			case m.Idle || m.TGID != t.TGID:
			case m.IsLeader():
				leader = append(leader, m.Obj)
			default:
				rest = append(rest, m.Obj)
			}
		}
		out = append(append(out, leader...), rest...)
	}
	return out, nil
}

// finish applies -R, -e and the format to a result of unwound traces.
func (bf *btFlagSet) finish(c *Call, res *BtResult) (Result, error) {
	res.fmt = bf.fmt
	if bf.ref != "" {
		m := newBtRefMatcher(c.Prog, bf.ref)
		kept := res.Traces[:0]
		for _, t := range res.Traces {
			if m.matches(&t) {
				kept = append(kept, t)
			}
		}
		res.Traces = kept
	}
	if bf.noIdle {
		for i := range res.Traces {
			if t := &res.Traces[i]; t.PID == 0 && t.Task != 0 {
				t.Frames, t.UserRegs, t.Syscall, t.syscall, t.Error = []BtFrame{}, nil, nil, nil, ""
			}
		}
	}
	if bf.fmt.search {
		for i := range res.Traces {
			if err := c.Ctx.Err(); err != nil {
				return nil, err
			}
			btSearchTask(c, &res.Traces[i])
		}
	}
	if bf.fmt.raw {
		for i := range res.Traces {
			if err := c.Ctx.Err(); err != nil {
				return nil, err
			}
			btRawStack(c, &res.Traces[i])
		}
	}
	return res, nil
}

// btUnwind unwinds task: from -S SP (and -I IP) when given, else from its
// saved state or CPU registers.
func btUnwind(c *Call, task symbols.Object) (*unwind.Trace, error) {
	if !c.IsSet("S") {
		return unwind.Stack(c.Prog, task)
	}
	sp, err := btAddress(c.Prog, c.String("S"), false)
	if err != nil {
		return nil, UsageErrorf("bt -S: %v", err)
	}
	var ip uint64
	if c.IsSet("I") {
		if ip, err = btAddress(c.Prog, c.String("I"), true); err != nil {
			return nil, UsageErrorf("bt -I: %v", err)
		}
	}
	tr, err := unwind.StackFrom(c.Prog, task, ip, sp)
	if err != nil {
		return nil, fmt.Errorf("bt -S %#x: %w", sp, err)
	}
	return tr, nil
}

// btAddress parses a hex address ("ffffc9000064bd38", "0x..."), or with
// symbol set also SYMBOL or SYMBOL+OFF.
func btAddress(p *symbols.Program, s string, symbol bool) (uint64, error) {
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 64); err == nil && v != 0 {
		return v, nil
	}
	if symbol {
		name, offs, _ := strings.Cut(s, "+")
		var off uint64
		if offs != "" {
			v, err := strconv.ParseUint(offs, 0, 64)
			if err != nil {
				return 0, fmt.Errorf("%q: bad offset", s)
			}
			off = v
		}
		if a, err := p.Symbol(name); err == nil {
			return a + off, nil
		}
		return 0, fmt.Errorf("%q is neither a hex address nor a symbol", s)
	}
	return 0, fmt.Errorf("%q is not a hex address", s)
}

// btSymbolizer renders stack words for -F and -FF: kernel and module
// symbols by name, pointers into slab objects by cache. Identities are
// looked up once per value.
type btSymbolizer struct {
	c     *Call
	words *unwind.StackWords
	fmt   btFormat
	memo  map[uint64]*mm.Identity
}

// newBtSymbolizer returns nil unless -F or -FF was given.
func newBtSymbolizer(c *Call, words *unwind.StackWords) *btSymbolizer {
	if !c.Bool("F") && !c.Bool("FF") {
		return nil
	}
	return &btSymbolizer{c: c, words: words, fmt: btFormat{decimal: c.Bool("d")}, memo: map[uint64]*mm.Identity{}}
}

// btKernelHalf: values below are user addresses or plain numbers, never
// shown symbolically. x86_64's kernel space starts at 0xffff800000000000
// with 4-level paging and 0xff00000000000000 with 5-level
// (Documentation/arch/x86/x86_64/mm.rst); arm64's at 0xfff0000000000000
// or above.
const btKernelHalf = 0xff00000000000000

// maxBtIdentify bounds the slab look-ups of one trace (a 32 KiB stack
// has 4096 words).
const maxBtIdentify = 4096

// describe fills w's Symbol, or Cache and Object.
func (s *btSymbolizer) describe(w *BtWord) {
	v := uint64(w.Value)
	p := s.c.Prog
	if v < btKernelHalf || (s.words != nil && s.words.Contains(v)) {
		return
	}
	if p.Syms != nil {
		if sym, off, ok := p.Syms.LookupAddr(v); ok {
			w.Symbol = sym.Name + s.fmt.offset(off)
			return
		}
	}
	id, ok := s.memo[v]
	if !ok {
		if len(s.memo) >= maxBtIdentify {
			return
		}
		id, _ = mm.Identify(s.c.Ctx, p, v) // an unidentified word stays hex
		s.memo[v] = id
	}
	if id != nil && id.Kind == mm.KindSlab && id.Cache != "" {
		w.Cache, w.Object = id.Cache, Hex(id.Object)
	}
}

// btRefMatcher is -R: a function name (compiler suffixes aside) or a text
// address inside a frame's function.
type btRefMatcher struct {
	name   string
	addr   uint64
	isAddr bool
}

func newBtRefMatcher(p *symbols.Program, ref string) *btRefMatcher {
	ref = strings.TrimSpace(ref)
	m := &btRefMatcher{name: symbols.BaseName(ref)}
	if v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(ref), "0x"), 16, 64); err == nil && v >= btKernelHalf {
		m.addr, m.isAddr = v, true
	}
	return m
}

// symbolName strips "+OFF" and " [module]" from a rendered symbol.
func symbolName(s string) string {
	if i := strings.IndexAny(s, "+ "); i >= 0 {
		s = s[:i]
	}
	return symbols.BaseName(s)
}

func (m *btRefMatcher) matches(t *BtTrace) bool {
	inFunc := func(ip, off, size uint64) bool {
		return ip == m.addr || (size > 0 && m.addr >= ip-off && m.addr < ip-off+size)
	}
	for _, f := range t.Frames {
		if m.isAddr {
			if inFunc(uint64(f.IP), uint64(f.Offset), uint64(f.Size)) {
				return true
			}
		} else if f.Symbol != "" && symbols.BaseName(f.Symbol) == m.name {
			return true
		}
		if e := f.Exception; e != nil {
			if m.isAddr {
				if ip, ok := e.regs.Get(unwind.RegIP); ok && ip == m.addr {
					return true
				}
			} else if e.RIPSymbol != "" && symbolName(e.RIPSymbol) == m.name {
				return true
			}
		}
	}
	for _, w := range t.TextSymbols {
		if (m.isAddr && uint64(w.Value) == m.addr) || (!m.isAddr && symbolName(w.Symbol) == m.name) {
			return true
		}
	}
	return false
}

// btRefTasks returns every task for "bt -R REF" without task arguments
// (outside foreach, which gives one task at a time); nil otherwise.
func btRefTasks(c *Call) ([]symbols.Object, error) {
	if !c.IsSet("R") || len(c.Args) > 0 || c.foreachTask || c.IsSet("S") {
		return nil, nil
	}
	ts, err := sched.TasksContext(c.Ctx, c.Prog)
	if len(ts) == 0 && err != nil {
		return nil, fmt.Errorf("bt -R: the task list: %w", err)
	}
	out := make([]symbols.Object, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.Obj)
	}
	return out, nil
}

// btSearchTask is -e: the register blocks on the task's stack.
func btSearchTask(c *Call, t *BtTrace) {
	if t.Task == 0 {
		return // a CPU without a readable current task: bt -a said why
	}
	task, err := c.Prog.Object("struct task_struct", uint64(t.Task))
	if err != nil {
		t.SearchError = err.Error()
		return
	}
	efs, err := unwind.SearchTaskExceptionFrames(c.Prog, task)
	if err != nil {
		t.SearchError = err.Error()
	}
	t.ExceptionFrames = btFoundRegs(c.Prog, efs)
}

// btFoundRegs renders exception frames found by a search.
func btFoundRegs(p *symbols.Program, efs []unwind.ExceptionFrame) []*BtRegs {
	out := []*BtRegs{}
	for i := range efs {
		r := btRegs(&efs[i])
		if ip, ok := efs[i].Regs.Get(unwind.RegIP); ok && !efs[i].User && p.Syms != nil {
			if sym, off, ok := p.Syms.LookupAddr(ip); ok && sym.IsText() {
				r.RIPSymbol = fmt.Sprintf("%s+%d", sym.Name, off)
			}
		}
		out = append(out, r)
	}
	return out
}

// writeExceptionSearch prints -e's findings under a task header, like
// crash: each block as KERNEL-MODE or USER-MODE EXCEPTION FRAME AT ADDR.
func writeExceptionSearch(b *strings.Builder, t *BtTrace) {
	writeFoundRegs(b, t.ExceptionFrames, " ")
	if t.SearchError != "" {
		fmt.Fprintf(b, "    (search incomplete: %s)\n", t.SearchError)
	}
}

func writeFoundRegs(b *strings.Builder, regs []*BtRegs, indent string) {
	if len(regs) == 0 {
		fmt.Fprintf(b, "%s(no exception frames found)\n", indent)
	}
	for _, r := range regs {
		mode := "KERNEL"
		if r.User {
			mode = "USER"
		}
		fmt.Fprintf(b, "%s%s-MODE EXCEPTION FRAME AT %x:\n", indent, mode, uint64(r.Addr))
		writeRegs(b, r)
	}
}

// BtCPUStack is one IRQ or exception stack of a CPU searched by -E.
type BtCPUStack struct {
	CPU             int       `json:"cpu"`
	Name            string    `json:"name"`
	Kind            string    `json:"kind"` // "irq" or "exception"
	Base            Hex       `json:"base"`
	Top             Hex       `json:"top"`
	ExceptionFrames []*BtRegs `json:"exception_frames"`
	Error           string    `json:"error,omitempty"`
}

// runBtCPUStacks is -E: every CPU's IRQ and exception stacks searched
// for exception frames (task arguments do not apply, as in crash).
func runBtCPUStacks(c *Call, bf *btFlagSet) (Result, error) {
	var cpus []int
	if c.IsSet("c") {
		var err error
		if cpus, err = parseCPUList(c.String("c")); err != nil {
			return nil, err
		}
	} else if cpus = allCPUs(c.Prog); len(cpus) == 0 {
		online, err := c.Prog.OnlineCPUs()
		if err != nil {
			return nil, fmt.Errorf("bt -E: the kernel's online CPUs: %w", err)
		}
		cpus = online
	}
	res := &BtResult{Traces: []BtTrace{}, fmt: bf.fmt}
	for _, cpu := range cpus {
		if err := c.Ctx.Err(); err != nil {
			return nil, err
		}
		regions, err := unwind.CPUStacks(c.Prog, cpu)
		if err != nil {
			return nil, err
		}
		if len(regions) == 0 {
			res.CPUStacks = append(res.CPUStacks, BtCPUStack{CPU: cpu, ExceptionFrames: []*BtRegs{},
				Error: fmt.Sprintf("cpu %d: no IRQ or exception stack found (per-CPU stack pointers unreadable or unknown)", cpu)})
			continue
		}
		for _, r := range regions {
			cs := BtCPUStack{CPU: cpu, Name: r.Name, Kind: r.Kind.String(), Base: Hex(r.Lo), Top: Hex(r.Hi)}
			efs, err := unwind.SearchExceptionFrames(c.Prog, r.Lo, r.Hi)
			if err != nil {
				cs.Error = err.Error()
			}
			cs.ExceptionFrames = btFoundRegs(c.Prog, efs)
			res.CPUStacks = append(res.CPUStacks, cs)
		}
	}
	return res, nil
}

// writeCPUStacks prints -E's findings: each stack, then its frames.
func writeCPUStacks(b *strings.Builder, stacks []BtCPUStack) {
	for i, s := range stacks {
		if i > 0 {
			b.WriteByte('\n')
		}
		if s.Name == "" {
			fmt.Fprintf(b, "CPU %d: %s\n", s.CPU, s.Error)
			continue
		}
		fmt.Fprintf(b, "CPU %d %s [%x-%x]:\n", s.CPU, strings.ToUpper(strings.TrimSuffix(s.Name, fmt.Sprintf(" of cpu %d", s.CPU))), uint64(s.Base), uint64(s.Top))
		writeFoundRegs(b, s.ExceptionFrames, "  ")
		if s.Error != "" {
			fmt.Fprintf(b, "  (search incomplete: %s)\n", s.Error)
		}
	}
}

// btRawStack is -r: every word of the task's stack, from its base.
func btRawStack(c *Call, t *BtTrace) {
	if t.Task == 0 {
		return
	}
	task, err := c.Prog.Object("struct task_struct", uint64(t.Task))
	if err != nil {
		t.SearchError = err.Error()
		return
	}
	words, err := unwind.ReadStackWords(c.Prog, task)
	if err != nil {
		t.SearchError = err.Error()
		return
	}
	sym := newBtSymbolizer(c, words)
	for i, w := range words.Words {
		bw := BtWord{Addr: Hex(words.Base + uint64(i)*8), Value: Hex(w)}
		if _, ok := words.At(uint64(bw.Addr)); !ok {
			continue // a page the dump lacks
		}
		if sym != nil {
			sym.describe(&bw)
		} else if w != 0 && c.Prog.Syms != nil {
			if s, off, ok := c.Prog.Syms.LookupAddr(w); ok && s.IsText() {
				bw.Symbol = fmt.Sprintf("%s+%#x", s.Name, off)
			}
		}
		t.RawStack = append(t.RawStack, bw)
	}
	if len(words.Missing) > 0 {
		t.SearchError = fmt.Sprintf("%d page(s) of the stack not in the dump, left out", len(words.Missing))
	}
}

// writeRawStack prints -r: two words a line, a gap where pages are
// missing.
func writeRawStack(b *strings.Builder, t *BtTrace, bf btFormat) {
	for i := 0; i < len(t.RawStack); {
		w := t.RawStack[i]
		fmt.Fprintf(b, "  %016x: %s", uint64(w.Addr), bf.word(&t.RawStack[i]))
		i++
		if i < len(t.RawStack) && t.RawStack[i].Addr == w.Addr+8 && (uint64(w.Addr)/8)%2 == 0 {
			fmt.Fprintf(b, " %s", bf.word(&t.RawStack[i]))
			i++
		}
		b.WriteByte('\n')
	}
	if t.SearchError != "" {
		fmt.Fprintf(b, "    (%s)\n", t.SearchError)
	}
}
