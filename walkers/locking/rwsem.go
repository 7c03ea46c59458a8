package locking

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
)

// rw_semaphore count and owner bits (kernel/locking/rwsem.c; count bits are
// the same from 5.10 through 7.1, owner bit 1 is RWSEM_RD_NONSPINNABLE in
// 5.10 and RWSEM_NONSPINNABLE from 5.11, bit 2 RWSEM_WR_NONSPINNABLE only
// in 5.10).
const (
	rwsemWriterLocked = 1 << 0
	RwsemFlagWaiters  = 1 << 1
	rwsemFlagHandoff  = 1 << 2
	rwsemReaderShift  = 8
	rwsemFlagReadFail = 1 << 63
	rwsemReaderOwned  = 1 << 0
	rwsemOwnerFlags   = 7
)

// RwsemInfo is a decoded struct rw_semaphore.
type RwsemInfo struct {
	Addr  uint64 `json:"addr"`
	Count uint64 `json:"count"`
	// State is "unlocked", "write-locked" or "read-locked".
	State string `json:"state"`
	// Readers is the number of active readers from count (bits 8..62).
	Readers uint64 `json:"readers"`
	// CountFlags are count's flag bits: WRITER_LOCKED, WAITERS, HANDOFF, READFAIL.
	CountFlags []string `json:"count_flags,omitempty"`
	// Owner is the writer when write-locked (certain).
	Owner    *sched.TaskRef `json:"owner,omitempty"`
	OwnerRaw uint64         `json:"owner_raw"`
	// OwnerFlags are owner's flag bits: READER_OWNED, NONSPINNABLE...
	OwnerFlags []string `json:"owner_flags,omitempty"`
	// LastReader is, when read-owned, the last task that took the lock for
	// reading: a hint only — it may have released it already, and other
	// readers are not recorded anywhere.
	LastReader *sched.TaskRef `json:"last_reader,omitempty"`
	// Waiters in queue order, each with Type "read" or "write".
	Waiters []LockWaiter `json:"waiters"`
	Error   string       `json:"error,omitempty"`
}

// Rwsem decodes the struct rw_semaphore at addr.
func Rwsem(p *symbols.Program, addr uint64) (*RwsemInfo, error) {
	s, err := p.Object("struct rw_semaphore", addr)
	if err != nil {
		return nil, err
	}
	if !s.Type().HasMember("count") || !s.Type().HasMember("owner") {
		return nil, fmt.Errorf("rwsem %#x: struct rw_semaphore has no count/owner (PREEMPT_RT rwbase_rt is not supported)", addr)
	}
	count, err := kmem.ScalarMember(s, "count")
	if err != nil {
		return nil, fmt.Errorf("rwsem %#x: %w", addr, err)
	}
	owner, err := kmem.ScalarMember(s, "owner")
	if err != nil {
		return nil, fmt.Errorf("rwsem %#x: %w", addr, err)
	}
	info := &RwsemInfo{Addr: addr, Count: count, OwnerRaw: owner}
	info.Readers = (count &^ rwsemFlagReadFail) >> rwsemReaderShift
	info.CountFlags = rwsemCountFlagNames(count)
	waiterType, _ := p.Type("struct rwsem_waiter")
	info.OwnerFlags = rwsemOwnerFlagNames(owner, waiterType != nil && waiterType.HasMember("last_rowner"))
	ownerTask := owner &^ rwsemOwnerFlags
	switch {
	case count&rwsemWriterLocked != 0:
		info.State = "write-locked"
		if ownerTask != 0 {
			t, _ := sched.TaskRefAt(p, ownerTask)
			info.Owner = &t
		}
	case info.Readers > 0:
		info.State = "read-locked"
		if ownerTask != 0 && owner&rwsemReaderOwned != 0 {
			t, _ := sched.TaskRefAt(p, ownerTask)
			info.LastReader = &t
		}
	default:
		info.State = "unlocked"
	}
	ws, err := waiterList(s, "wait_list", "first_waiter", "struct rwsem_waiter")
	info.Waiters = taskWaiters(p, "struct rwsem_waiter", ws)
	for i := range info.Waiters {
		info.Waiters[i].Type = RwsemWaiterType(p, info.Waiters[i].Waiter)
	}
	info.Error = kmem.ErrString(err)
	return info, nil
}

// RwsemWaiterType reads rwsem_waiter.type (enum rwsem_waiter_type:
// RWSEM_WAITING_FOR_WRITE = 0, RWSEM_WAITING_FOR_READ = 1,
// kernel/locking/rwsem.c) by its enumerator names when the type has them.
func RwsemWaiterType(p *symbols.Program, waiter uint64) string {
	o, err := p.Object("struct rwsem_waiter", waiter)
	if err != nil {
		return ""
	}
	m, err := o.Member("type")
	if err != nil {
		return ""
	}
	v, err := m.Uint()
	if err != nil {
		return ""
	}
	if et := m.Type().Resolve(); et != nil && et.Kind == symbols.KindEnum {
		for _, e := range et.Enumerators {
			if uint64(e.Value) == v {
				switch {
				case strings.HasSuffix(e.Name, "WRITE"):
					return "write"
				case strings.HasSuffix(e.Name, "READ"):
					return "read"
				}
			}
		}
	}
	if v == 0 {
		return "write"
	}
	return "read"
}

func rwsemCountFlagNames(c uint64) []string {
	var f []string
	if c&rwsemWriterLocked != 0 {
		f = append(f, "WRITER_LOCKED")
	}
	if c&RwsemFlagWaiters != 0 {
		f = append(f, "WAITERS")
	}
	if c&rwsemFlagHandoff != 0 {
		f = append(f, "HANDOFF")
	}
	if c&rwsemFlagReadFail != 0 {
		f = append(f, "READFAIL")
	}
	return f
}

func rwsemOwnerFlagNames(o uint64, v510 bool) []string {
	var f []string
	if o&1 != 0 {
		f = append(f, "READER_OWNED")
	}
	if o&2 != 0 {
		if v510 {
			f = append(f, "RD_NONSPINNABLE")
		} else {
			f = append(f, "NONSPINNABLE")
		}
	}
	if o&4 != 0 && v510 {
		f = append(f, "WR_NONSPINNABLE")
	}
	return f
}
