package waitfor

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/walkers/locking"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
)

// WaitSRCUGracePeriod is TaskWait.Kind of a task in synchronize_srcu.
const WaitSRCUGracePeriod = "srcu-grace-period"

// RootSRCUStall is the root kind of a chain ending at an SRCU grace period
// that does not end: a reader of that SRCU domain has not left its
// read-side critical section.
const RootSRCUStall = "srcu-grace-period-stalled"

// SRCUGracePeriodWait: synchronize_srcu and synchronize_srcu_expedited →
// __synchronize_srcu (kernel/rcu/srcutree.c) queue the rcu_head of a
// struct rcu_synchronize on their stack with func wakeme_after_rcu on the
// SRCU domain (struct srcu_struct) and sleep on its completion until the
// domain's grace period ends, which it does once every reader that was
// inside srcu_read_lock() when it began has called srcu_read_unlock().
// SRCU counts its readers per CPU and never records which task reads: the
// domain is named from the waiter's stack (the srcu_struct pointer
// __synchronize_srcu keeps in a callee-saved register, spilled there by
// the functions below it, when it is a symbol), its readers cannot be.
var SRCUGracePeriodWait = &waitkind.Kind{
	Name:     WaitSRCUGracePeriod,
	Verb:     "waits for",
	Frames:   waitkind.NewFrames("synchronize_srcu", "__synchronize_srcu", "synchronize_srcu_expedited"),
	Waiter:   locking.CompletionWait.Waiter,
	Decode:   decodeSRCUGracePeriod,
	Classify: classifySRCU,
	Remedies: srcuRemedies,
}

// maxSRCUDomains bounds the distinct SRCU symbols one waiter's stack may
// name before the domain is called ambiguous.
const maxSRCUDomains = 4

func decodeSRCUGracePeriod(c waitkind.Context, t *sched.Task, f waitkind.Found) (TaskWait, bool) {
	a := c.(*waitAnalysis)
	p := a.p
	coff, err1 := p.OffsetOf("struct completion", "wait")
	rsOff, err2 := p.OffsetOf("struct rcu_synchronize", "completion")
	fnOff, err3 := p.OffsetOf("struct rcu_synchronize", "head.func")
	stack, base := c.Stack(t)
	if err1 != nil || err2 != nil || err3 != nil || stack == nil {
		return locking.CompletionWait.Decode(c, t, f)
	}
	comp := f.Object - coff
	if comp < base+rsOff || comp >= base+uint64(len(stack)) {
		return locking.CompletionWait.Decode(c, t, f)
	}
	rs := comp - rsOff
	if fn, err := p.ReadU64(rs + fnOff); err != nil || a.symbolAt(fn) != "wakeme_after_rcu" {
		return locking.CompletionWait.Decode(c, t, f)
	}
	w := TaskWait{Task: c.Blocked(t), Kind: WaitSRCUGracePeriod, Certain: true,
		How: "swait_queue on the task's stack, linked into the completion of its struct rcu_synchronize, whose rcu_head is queued with wakeme_after_rcu on an SRCU domain (kernel/rcu/srcutree.c __synchronize_srcu)"}
	var domains []srcuDomain
	if d, ok := srcuDomainsByHead(a)[rs]; ok {
		domains = []srcuDomain{d}
		w.How += fmt.Sprintf("; the rcu_head is on %s's callback list of CPU %d (srcu_data.srcu_cblist)", d.name, d.cpu)
	} else {
		domains = srcuDomainsOnStack(a, stack, base)
		if len(domains) > 0 {
			w.Certain = false // a name from the stack is a hint
		}
	}
	switch {
	case len(domains) == 1:
		w.Object = WaitObject{Type: "srcu_struct", Addr: domains[0].addr, What: "an SRCU grace period of " + domains[0].name}
	case len(domains) > 1:
		var names []string
		for _, d := range domains {
			names = append(names, d.name)
		}
		w.Object = WaitObject{Type: "srcu_struct", What: "an SRCU grace period (of " + strings.Join(names, " or ") + ")"}
	default:
		w.Object = WaitObject{Type: "srcu_struct", What: "an SRCU grace period (its srcu_struct is not a symbol on the stack)"}
	}
	w.Note = fmt.Sprintf("the grace period of %s has not ended: a task is still inside srcu_read_lock() of that domain (SRCU counts its readers per CPU and does not record which tasks they are)",
		strings.TrimPrefix(w.Object.What, "an SRCU grace period of "))
	if len(domains) != 1 {
		w.Note = "the SRCU grace period has not ended: a task is still inside srcu_read_lock() of the domain (SRCU counts its readers per CPU and does not record which tasks they are)"
	}
	return w, true
}

type srcuDomain struct {
	addr uint64
	name string
	cpu  int // whose srcu_data holds the callback (srcuDomainsByHead)
}

// Bounds of the SRCU callback index: domains looked at and callbacks
// walked per CPU list.
const (
	maxSRCUSymbols   = 256
	maxSRCUCallbacks = 1 << 14
)

type srcuIndexKey struct{}

// srcuDomainsByHead indexes, once per analysis, the callbacks queued on
// the SRCU domains the symbols name (DEFINE_SRCU / DEFINE_STATIC_SRCU, in
// vmlinux and modules: data symbols with "srcu" in their name that are
// struct srcu_struct): each CPU's srcu_data (srcu_struct.sda, per-CPU)
// keeps them on srcu_cblist, a struct rcu_segcblist whose head starts a
// NULL-terminated list of rcu_heads (kernel/rcu/rcu_segcblist.c).
func srcuDomainsByHead(a *waitAnalysis) map[uint64]srcuDomain {
	return a.Memo(srcuIndexKey{}, func() any {
		p := a.p
		out := map[uint64]srcuDomain{}
		sdaOff, err1 := p.OffsetOf("struct srcu_struct", "sda")
		cbOff, err2 := p.OffsetOf("struct srcu_data", "srcu_cblist.head")
		ncpu, err3 := p.NumCPUIDs()
		if err1 != nil || err2 != nil || err3 != nil || p.Syms == nil {
			return out
		}
		n := 0
		for _, name := range p.Syms.Names() {
			if !strings.Contains(strings.ToLower(name), "srcu") {
				continue
			}
			s, err := p.Syms.Lookup(name)
			if err != nil || s.IsText() || (s.Size != 0 && s.Size < sdaOff+8) {
				continue
			}
			if n++; n > maxSRCUSymbols {
				a.Warn(fmt.Sprintf("srcu: more than %d SRCU symbols; the rest are not looked at", maxSRCUSymbols))
				break
			}
			dname := s.Name
			if s.Module != "" {
				dname += " [" + s.Module + "]"
			}
			sda, err := p.ReadU64(s.Addr + sdaOff)
			if err != nil || sda == 0 {
				continue
			}
			for cpu := 0; cpu < ncpu; cpu++ {
				sdp, err := p.PerCPUAddr(sda, cpu)
				if err != nil {
					break
				}
				cb, err := p.ReadU64(sdp + cbOff)
				for i := 0; err == nil && cb != 0 && i < maxSRCUCallbacks; i++ {
					if _, dup := out[cb]; dup {
						break // a list that loops, or shared: stop
					}
					out[cb] = srcuDomain{s.Addr, dname, cpu}
					cb, err = p.ReadU64(cb) // rcu_head.next
				}
			}
		}
		return out
	}).(map[uint64]srcuDomain)
}

// srcuDomainsOnStack returns the data symbols the stack words point at
// whose names say SRCU (DEFINE_SRCU / DEFINE_STATIC_SRCU domains:
// tracepoint_srcu, fsnotify_mark_srcu, …), in stack order, at most
// maxSRCUDomains.
func srcuDomainsOnStack(a *waitAnalysis, stack []byte, base uint64) []srcuDomain {
	if a.p.Syms == nil {
		return nil
	}
	var out []srcuDomain
	seen := map[uint64]bool{}
	for off := 0; off+8 <= len(stack); off += 8 {
		v := binary.LittleEndian.Uint64(stack[off:])
		if v < 0xff00000000000000 || seen[v] || (v >= base && v < base+uint64(len(stack))) {
			continue
		}
		seen[v] = true
		s, symOff, ok := a.p.Syms.LookupAddr(v)
		if !ok || symOff != 0 || s.IsText() || !strings.Contains(strings.ToLower(s.Name), "srcu") {
			continue
		}
		name := s.Name
		if s.Module != "" {
			name += " [" + s.Module + "]"
		}
		out = append(out, srcuDomain{v, name, -1})
		if len(out) > maxSRCUDomains {
			return out
		}
	}
	return out
}

func classifySRCU(w *TaskWait, r *Root) bool {
	if w.Kind != WaitSRCUGracePeriod {
		return false
	}
	r.Kind = RootSRCUStall
	r.Summary = w.Note + " (kernel/rcu/srcutree.c)"
	r.Certain = false // the reader is inferred, never seen
	return true
}

func srcuRemedies(r *Root) []string {
	if r.Kind != RootSRCUStall {
		return nil
	}
	return []string{
		"foreach bt  # find the task asleep inside the SRCU read-side section: in code that uses the domain, between srcu_read_lock and srcu_read_unlock",
		"dmesg | grep -i srcu  # SRCU stall warnings (CONFIG_RCU_CPU_STALL_TIMEOUT) name the domain",
	}
}
