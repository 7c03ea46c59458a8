package locking

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
	"github.com/kwalk/kwalk/walkers/sched"
)

// SemaphoreInfo is a decoded struct semaphore (include/linux/semaphore.h).
type SemaphoreInfo struct {
	Addr  uint64 `json:"addr"`
	Count uint64 `json:"count"`
	// LastHolder is the last task that took the semaphore, recorded with
	// CONFIG_DETECT_HUNG_TASK_BLOCKER (6.18+): a hint, not proof it still
	// holds it.
	LastHolder *sched.TaskRef `json:"last_holder,omitempty"`
	Waiters    []LockWaiter   `json:"waiters"`
	Error      string         `json:"error,omitempty"`
}

// Semaphore decodes the struct semaphore at addr. Its waiters are struct
// semaphore_waiter on wait_list (≤ 6.19) or from first_waiter (7.1+).
func Semaphore(p *symbols.Program, addr uint64) (*SemaphoreInfo, error) {
	s, err := p.Object("struct semaphore", addr)
	if err != nil {
		return nil, err
	}
	count, err := kmem.ScalarMember(s, "count")
	if err != nil {
		return nil, fmt.Errorf("semaphore %#x: %w", addr, err)
	}
	info := &SemaphoreInfo{Addr: addr, Count: count}
	if s.Type().HasMember("last_holder") {
		if h, err := s.MemberUint("last_holder"); err == nil && h != 0 {
			t, _ := sched.TaskRefAt(p, h)
			info.LastHolder = &t
		}
	}
	ws, err := waiterList(s, "wait_list", "first_waiter", "struct semaphore_waiter")
	info.Waiters = taskWaiters(p, "struct semaphore_waiter", ws)
	info.Error = kmem.ErrString(err)
	return info, nil
}
