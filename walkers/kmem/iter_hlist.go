package kmem

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// HlistNodes walks the NULL-terminated list whose struct hlist_head is at
// head (include/linux/list.h: hlist_head { first }, hlist_node { next,
// pprev }) and returns its node addresses in order, bounded by limit
// (DefaultListLimit when <= 0), checking each pprev and stopping on a cycle.
func HlistNodes(p *symbols.Program, head uint64, name string, limit int) ([]uint64, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	if name == "" {
		name = fmt.Sprintf("hlist_head %#x", head)
	}
	first, err := p.ReadU64(head)
	if err != nil {
		return nil, fmt.Errorf("%s: read head %#x: %w", name, head, err)
	}
	var nodes []uint64
	seen := make(map[uint64]struct{})
	link := head // address of the pointer that led to cur
	for cur := first; cur != 0; {
		if _, dup := seen[cur]; dup {
			return nodes, fmt.Errorf("%s: %w: node %#x met twice", name, symbols.ErrCycle, cur)
		}
		if len(nodes) >= limit {
			return nodes, fmt.Errorf("%s: %w: more than %d nodes", name, ErrListCorrupt, limit)
		}
		next, pprev, err := readPtrPair(p, cur)
		if err != nil {
			return nodes, fmt.Errorf("%s: node %#x: %w", name, cur, err)
		}
		if pprev != link {
			return nodes, fmt.Errorf("%s: %w: node %#x has pprev %#x, expected %#x (garbage pointer?)", name, ErrListCorrupt, cur, pprev, link)
		}
		seen[cur] = struct{}{}
		nodes = append(nodes, cur)
		link, cur = cur, next
	}
	return nodes, nil
}
