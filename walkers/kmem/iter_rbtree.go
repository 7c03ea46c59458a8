package kmem

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// RBTreeNodes returns the addresses of the struct rb_node's of the red-black
// tree whose struct rb_root is at root, in order (leftmost first).
// include/linux/rbtree_types.h: rb_root { rb_node *rb_node },
// rb_node { unsigned long __rb_parent_color; rb_node *rb_right, *rb_left }.
// Member offsets come from the type; the walk is bounded and cycle-checked.
func RBTreeNodes(p *symbols.Program, root uint64, name string, limit int) ([]uint64, error) {
	if name == "" {
		name = fmt.Sprintf("rb_root %#x", root)
	}
	top, err := p.ReadU64(root)
	if err != nil {
		return nil, fmt.Errorf("%s: read root %#x: %w", name, root, err)
	}
	return RBSubtreeNodes(p, top, name, limit)
}

// RBSubtreeNodes is RBTreeNodes for the subtree below the struct rb_node
// at top (top itself included), in order; top 0 is an empty tree.
func RBSubtreeNodes(p *symbols.Program, top uint64, name string, limit int) ([]uint64, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	if name == "" {
		name = fmt.Sprintf("rb_node %#x", top)
	}
	rightOff, err := p.OffsetOf("struct rb_node", "rb_right")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	leftOff, err := p.OffsetOf("struct rb_node", "rb_left")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []uint64
	seen := make(map[uint64]struct{})
	var stack []uint64
	cur := top
	for cur != 0 || len(stack) > 0 {
		for cur != 0 {
			if _, dup := seen[cur]; dup {
				return out, fmt.Errorf("%s: %w: rb_node %#x met twice", name, symbols.ErrCycle, cur)
			}
			if len(seen) >= limit {
				return out, fmt.Errorf("%s: %w: more than %d nodes", name, ErrListCorrupt, limit)
			}
			seen[cur] = struct{}{}
			stack = append(stack, cur)
			l, err := p.ReadU64(cur + leftOff)
			if err != nil {
				return out, fmt.Errorf("%s: rb_node %#x: %w", name, cur, err)
			}
			cur = l
		}
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		out = append(out, n)
		r, err := p.ReadU64(n + rightOff)
		if err != nil {
			return out, fmt.Errorf("%s: rb_node %#x: %w", name, n, err)
		}
		cur = r
	}
	return out, nil
}
