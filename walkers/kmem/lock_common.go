package kmem

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// MaxWaiters bounds every walk of a lock's or wait queue's waiter list. A
// list longer than this is reported as truncated (a real kernel rarely has
// more than a few hundred waiters on one object).
const MaxWaiters = 100000

// ErrListTruncated is returned (wrapped) when a waiter list is longer than
// MaxWaiters.
var ErrListTruncated = errors.New("list longer than the walk bound")

// ScalarMember reads an integer member that may be wrapped in an atomic
// type (atomic_t, atomic_long_t: struct { counter; }).
func ScalarMember(o symbols.Object, name string) (uint64, error) {
	m, err := o.Member(name)
	if err != nil {
		return 0, err
	}
	if m.Type().IsAggregate() {
		if m.Type().HasMember("counter") {
			m, err = m.Member("counter")
		} else if m.Type().HasMember("refs") { // refcount_t { atomic_t refs; }
			m, err = m.Member("refs.counter")
		} else {
			return 0, fmt.Errorf("%s.%s: %s is not a scalar or atomic", o.Path(), name, m.Type())
		}
		if err != nil {
			return 0, err
		}
	}
	return m.Uint()
}

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// CircularNodes walks the headless circular list used since Linux 7.1 for
// lock waiters (kernel/locking/mutex.c __mutex_add_waiter: the first waiter
// is in lock->first_waiter, the others are list_add_tail'ed to its list):
// first is the address of the first waiter's list member.
func CircularNodes(p *symbols.Program, first uint64, max int) ([]uint64, error) {
	nodes := []uint64{first}
	seen := map[uint64]bool{first: true}
	cur, err := p.ReadU64(first)
	if err != nil {
		return nodes, fmt.Errorf("first waiter list %#x: %w", first, err)
	}
	for cur != first {
		if cur == 0 || seen[cur] {
			return nodes, fmt.Errorf("first waiter list %#x: node %#x: %w", first, cur, symbols.ErrCycle)
		}
		if len(nodes) >= max {
			return nodes, fmt.Errorf("first waiter list %#x: %w (%d)", first, ErrListTruncated, max)
		}
		seen[cur] = true
		nodes = append(nodes, cur)
		next, err := p.ReadU64(cur)
		if err != nil {
			return nodes, fmt.Errorf("first waiter list %#x: node %#x: %w", first, cur, err)
		}
		cur = next
	}
	return nodes, nil
}

func ErrString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
