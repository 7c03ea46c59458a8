package resource

import (
	"fmt"

	"github.com/kwalk/kwalk/symbols"
)

// Resource is one struct resource of a tree.
type Resource struct {
	Addr  uint64 `json:"addr"`
	Start uint64 `json:"start"`
	End   uint64 `json:"end"` // inclusive
	Name  string `json:"name"`
	Flags uint64 `json:"flags"`
	Depth int    `json:"depth"` // 0: the root
	// Errors are what could not be read of it (its name).
	Errors []string `json:"errors,omitempty"`
}

// Limits of one walk: resources, and the depth of the tree (the kernel's
// nest a handful deep: PCI bus, bridge, device, BAR).
const (
	MaxResources = 1 << 16
	MaxDepth     = 32
	maxName      = 256
)

// layout is where struct resource keeps what the walk reads.
type layout struct {
	start, end, name, flags, sibling, child uint64
}

func layoutOf(p *symbols.Program) (layout, error) {
	var l layout
	for _, f := range []struct {
		dst  *uint64
		name string
	}{{&l.start, "start"}, {&l.end, "end"}, {&l.name, "name"}, {&l.flags, "flags"}, {&l.sibling, "sibling"}, {&l.child, "child"}} {
		off, err := p.OffsetOf("struct resource", f.name)
		if err != nil {
			return l, err
		}
		*f.dst = off
	}
	return l, nil
}

// Tree returns the resource tree whose root is the global sym
// ("ioport_resource", "iomem_resource"), the root first, depth-first.
func Tree(p *symbols.Program, sym string) ([]Resource, error) {
	root, err := p.Symbol(sym)
	if err != nil {
		return nil, err
	}
	return Walk(p, root)
}

// Walk returns the tree of resources at root. On a bad link (unreadable,
// a cycle, too deep or too many) it returns what it read with the error.
func Walk(p *symbols.Program, root uint64) ([]Resource, error) {
	l, err := layoutOf(p)
	if err != nil {
		return nil, err
	}
	w := &walker{p: p, l: l, seen: map[uint64]bool{}}
	err = w.walk(root, 0)
	return w.out, err
}

type walker struct {
	p    *symbols.Program
	l    layout
	seen map[uint64]bool
	out  []Resource
}

// walk appends the resource at addr, its children, then its siblings.
// Siblings are iterated, children recursed (bounded by MaxDepth).
func (w *walker) walk(addr uint64, depth int) error {
	for addr != 0 {
		if depth > MaxDepth {
			return fmt.Errorf("resource %#x: nested more than %d deep (a loop?)", addr, MaxDepth)
		}
		if w.seen[addr] {
			return fmt.Errorf("resource %#x: %w", addr, symbols.ErrCycle)
		}
		if len(w.out) >= MaxResources {
			return fmt.Errorf("more than %d resources", MaxResources)
		}
		w.seen[addr] = true
		r, child, sibling, err := w.read(addr)
		if err != nil {
			return err
		}
		r.Depth = depth
		w.out = append(w.out, r)
		if child != 0 {
			if err := w.walk(child, depth+1); err != nil {
				return err
			}
		}
		if depth == 0 {
			return nil // the root's siblings are not part of its tree
		}
		addr = sibling
	}
	return nil
}

func (w *walker) read(addr uint64) (r Resource, child, sibling uint64, err error) {
	r.Addr = addr
	p, l := w.p, w.l
	rd := func(off uint64, what string) uint64 {
		if err != nil {
			return 0
		}
		var v uint64
		v, err = p.ReadU64(addr + off)
		if err != nil {
			err = fmt.Errorf("resource %#x %s: %w", addr, what, err)
		}
		return v
	}
	r.Start = rd(l.start, "start")
	r.End = rd(l.end, "end")
	name := rd(l.name, "name")
	r.Flags = rd(l.flags, "flags")
	sibling = rd(l.sibling, "sibling")
	child = rd(l.child, "child")
	if err != nil {
		return r, 0, 0, err
	}
	if name != 0 {
		s, serr := p.ReadString(name, maxName)
		if serr != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("name %#x: %v", name, serr))
		}
		r.Name = s
	}
	return r, child, sibling, nil
}
