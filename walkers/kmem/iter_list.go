package kmem

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// DefaultListLimit bounds every list walk that does not give its own limit:
// more nodes than this is taken as a corrupt (or hostile) list.
const DefaultListLimit = 1 << 20

// ErrListCorrupt is wrapped by list walks that meet a node whose back
// pointer does not lead back (list_head.prev, hlist_node.pprev), a NULL
// link in a circular list, or more nodes than the limit allows.
var ErrListCorrupt = errors.New("corrupt list")

// ListHeadNodes walks the circular doubly linked list whose struct
// list_head is at head (include/linux/list.h) and returns the addresses of
// its nodes, head excluded, in list order. The walk is bounded by limit
// (DefaultListLimit when limit <= 0), checks every node's prev pointer, and
// stops with an error wrapping symbols.ErrCycle when it meets a node twice
// without coming back to head. name describes the head in errors
// ("init_task.tasks"). On error the nodes read so far are returned too.
func ListHeadNodes(p *symbols.Program, head uint64, name string, limit int) ([]uint64, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	if name == "" {
		name = fmt.Sprintf("list_head %#x", head)
	}
	var nodes []uint64
	seen := make(map[uint64]struct{})
	prev := head
	next, err := p.ReadU64(head)
	if err != nil {
		return nil, fmt.Errorf("%s: read head %#x: %w", name, head, err)
	}
	for next != head {
		if next == 0 {
			return nodes, fmt.Errorf("%s: %w: NULL next pointer after node %#x", name, ErrListCorrupt, prev)
		}
		if _, dup := seen[next]; dup {
			return nodes, fmt.Errorf("%s: %w: node %#x met twice after %d nodes", name, symbols.ErrCycle, next, len(nodes))
		}
		if len(nodes) >= limit {
			return nodes, fmt.Errorf("%s: %w (%w): more than %d nodes", name, ErrListTruncated, ErrListCorrupt, limit)
		}
		nNext, nPrev, err := readPtrPair(p, next)
		if err != nil {
			return nodes, fmt.Errorf("%s: node %#x (after %#x): %w", name, next, prev, err)
		}
		if nPrev != prev {
			return nodes, fmt.Errorf("%s: %w: node %#x has prev %#x, expected %#x (garbage pointer?)", name, ErrListCorrupt, next, nPrev, prev)
		}
		seen[next] = struct{}{}
		nodes = append(nodes, next)
		prev, next = next, nNext
	}
	return nodes, nil
}

// ListEntries returns the objects of type typeName linked into the list
// whose head is the struct list_head object head, through member path
// member of typeName (list_for_each_entry). The head's own container is not
// included. Errors are those of ListHeadNodes, naming head's path.
func ListEntries(head symbols.Object, typeName, member string) ([]symbols.Object, error) {
	addr, ok := head.Address()
	if !ok {
		return nil, fmt.Errorf("%s: list head is not in memory", head.Path())
	}
	p := head.Prog()
	nodes, err := ListHeadNodes(p, addr, head.Path(), 0)
	out := make([]symbols.Object, 0, len(nodes))
	for _, n := range nodes {
		o, cerr := p.ContainerOf(n, typeName, member)
		if cerr != nil {
			return out, cerr
		}
		out = append(out, o)
	}
	return out, err
}

// readPtrPair reads two consecutive pointers at addr: list_head {next,
// prev} and hlist_node {next, pprev} (include/linux/types.h) both start so.
func readPtrPair(p *symbols.Program, addr uint64) (first, second uint64, err error) {
	var b [16]byte
	if err := p.Mem.ReadVirt(b[:], addr); err != nil {
		return 0, 0, err
	}
	return binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:]), nil
}

// ListRingNodes walks a circular list that has no separate head, starting
// at the list_head at start (e.g. task_struct.thread_group): it returns the
// nodes after start up to, not including, start itself.
func ListRingNodes(p *symbols.Program, start uint64, name string, limit int) ([]uint64, error) {
	return ListHeadNodes(p, start, name, limit)
}
