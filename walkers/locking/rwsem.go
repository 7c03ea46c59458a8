package locking

import (
	"fmt"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/waitkind"
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

// Kind names of rw_semaphore waits.
const (
	WaitRwsemRead  = "rwsem-read"
	WaitRwsemWrite = "rwsem-write"
)

// RwsemWait is the wait kind of a task in an rw_semaphore slowpath
// (kernel/locking/rwsem.c rwsem_down_{read,write}_slowpath): a struct
// rwsem_waiter on its stack. A write-locked rwsem names its owner; a
// read-locked one does not record its readers, so holders are hints (the
// last reader in owner, tasks whose stacks hold the lock's address).
var RwsemWait = &waitkind.Kind{
	Name: WaitRwsemWrite,
	Verb: "waits to write-lock",
	Frames: waitkind.NewFrames("rwsem_down_write_slowpath", "rwsem_down_read_slowpath", "down_write",
		"down_read", "down_write_killable", "down_read_killable", "down_read_interruptible", "down_write_nested",
		"down_read_nested", "__down_write", "__down_read", "__down_write_common", "__down_read_common"),
	Interruptible: true,
	Waiter: &waitkind.Waiter{Type: "struct rwsem_waiter", List: "list", Task: "task",
		Object: "struct rw_semaphore", Head: "wait_list", First: "first_waiter"},
	BlockerTypes: []uint64{2, 3}, // BLOCKER_TYPE_RWSEM_READER, _WRITER
	Decode:       decodeRwsemWait,
}

func decodeRwsemWait(c waitkind.Context, t *sched.Task, f waitkind.Found) (waitkind.TaskWait, bool) {
	p := c.Prog()
	m := memoLock(c, "rw_semaphore", f.Object, func() (*RwsemInfo, []LockWaiter, error) {
		info, err := Rwsem(p, f.Object)
		if err != nil {
			return nil, nil, err
		}
		return info, info.Waiters, nil
	})
	info := m.info
	if m.err != nil || info.Count&RwsemFlagWaiters == 0 {
		return waitkind.TaskWait{}, false
	}
	pos, n := m.pos(f.Waiter, t.Addr)
	if pos == 0 && f.Damaged == "" {
		return waitkind.TaskWait{}, false
	}
	kind := WaitRwsemWrite
	if pos > 0 && info.Waiters[pos-1].Type == "read" {
		kind = WaitRwsemRead
	} else if pos == 0 && RwsemWaiterType(p, f.Waiter) == "read" {
		kind = WaitRwsemRead
	}
	w := waitkind.TaskWait{Task: c.Blocked(t), Kind: kind, How: f.How, Certain: true, Position: pos, QueueLen: n}
	w.Object = waitkind.WaitObject{Type: "rw_semaphore", Addr: f.Object, What: describeLock(c, f.Object, "rw_semaphore")}
	switch {
	case info.Owner != nil:
		w.Holders = append(w.Holders, waitkind.Holder{Task: c.Ref(info.Owner.Addr), How: "rw_semaphore.owner (writer)", Certain: true})
	case info.State == "read-locked":
		w.ReaderOwned = true
		w.Note = fmt.Sprintf("read-locked by %d reader(s); readers are not recorded by the kernel", info.Readers)
		seen := map[uint64]bool{}
		if info.LastReader != nil {
			seen[info.LastReader.Addr] = true
			w.Holders = append(w.Holders, waitkind.Holder{Task: c.Ref(info.LastReader.Addr), Certain: false,
				How: "last reader recorded in rw_semaphore.owner (READER_OWNED): a hint, it may have released"})
		}
		refs := c.Memo(lockKey{"rwsem-readers", f.Object}, func() any {
			skip := map[uint64]bool{}
			for _, lw := range info.Waiters {
				skip[lw.Task.Addr] = true
			}
			return c.StackReferences(f.Object, skip)
		}).([]uint64)
		for _, h := range refs {
			if !seen[h] {
				w.Holders = append(w.Holders, waitkind.Holder{Task: c.Ref(h), Certain: false,
					How: "blocked task whose stack holds the lock's address (guess)"})
			}
		}
	default:
		w.Note = "the rw_semaphore looks unlocked: the waiter is being woken, or the owner field was cleared"
	}
	return w, true
}

// RwsemReadWait names a reader's wait in reports; RwsemWait finds both
// readers and writers.
var RwsemReadWait = &waitkind.Kind{Name: WaitRwsemRead, Verb: "waits to read-lock"}
