package locking

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// CompletionInfo is a decoded struct completion.
type CompletionInfo struct {
	Addr uint64 `json:"addr"`
	// Done is the completion count (UINT_MAX after complete_all).
	Done    uint64       `json:"done"`
	Waiters []LockWaiter `json:"waiters"`
	Error   string       `json:"error,omitempty"`
}

// Completion decodes the struct completion at addr. Its wait member is a
// swait_queue_head of struct swait_queue (include/linux/completion.h,
// swait.h since 5.x) or, in older kernels, a plain wait_queue_head; the
// type says which.
func Completion(p *symbols.Program, addr uint64) (*CompletionInfo, error) {
	c, err := p.Object("struct completion", addr)
	if err != nil {
		return nil, err
	}
	done, err := kmem.ScalarMember(c, "done")
	if err != nil {
		return nil, fmt.Errorf("completion %#x: %w", addr, err)
	}
	info := &CompletionInfo{Addr: addr, Done: done}
	wait, err := c.Member("wait")
	if err != nil {
		return nil, err
	}
	if wait.Type().HasMember("task_list") {
		info.Waiters, err = swaitWaiters(wait)
	} else {
		var q *WaitQueueInfo
		if q, err = WaitQueue(p, wait.Addr()); q != nil {
			info.Waiters = q.Waiters
			if err == nil && q.Error != "" {
				err = fmt.Errorf("%s", q.Error)
			}
		}
	}
	info.Error = kmem.ErrString(err)
	return info, nil
}

// swaitWaiters lists the struct swait_queue entries (task, task_list) of a
// swait_queue_head (include/linux/swait.h).
func swaitWaiters(head symbols.Object) ([]LockWaiter, error) {
	p := head.Prog()
	h, err := head.Member("task_list")
	if err != nil {
		return nil, err
	}
	off, err := p.OffsetOf("struct swait_queue", "task_list")
	if err != nil {
		return nil, err
	}
	nodes, werr := kmem.ListNodes(p, h.Addr(), kmem.MaxWaiters)
	if werr != nil {
		werr = fmt.Errorf("%s.task_list: %w", head.Path(), werr)
	}
	return taskWaiters(p, "struct swait_queue", subtract(nodes, off)), werr
}
