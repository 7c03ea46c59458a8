package repl

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

func registerTree(r *Registry) {
	r.Add(&Command{
		Name:    "tree",
		Summary: "walk a red-black tree, xarray, radix tree or maple tree",
		Usage:   "tree [-t rbtree|xarray|radix|maple] [-r OFFSET] [-o OFFSET] [-N] [-s STRUCT[.MEMBER,...]] [-x] [-p] [-c COUNT] START",
		Help: `Prints the entries of the tree whose root is at START, like crash's tree.
-t says what START is: an rbtree's struct rb_root (the default), an xarray
or a radix tree (struct xarray / radix_tree_root, the same since 4.20), or a
maple tree (struct maple_tree, 6.1+). With -r the root is at byte OFFSET (or
STRUCT.MEMBER) inside the structure at START.

rbtree: the nodes in linear (in-order, leftmost first) order. -o OFFSET (or
STRUCT.MEMBER) is the offset of the struct rb_node in the structure that
holds it: each printed address is the structure's (container_of). -N says
START is an rb_node: its subtree is walked. -l (crash's linear order) is
accepted; the order is always linear.

xarray/radix: the present entries in index order (internal entries are
skipped); the printed address is the stored pointer. maple: the stored
ranges in order; the printed address is the entry. -p adds each entry's
index (xarray), range (maple) or position (rbtree).

-s prints each entry as that struct (or only the listed members), like
list. The walk stops at COUNT entries (default 1000000) and on a corrupt
tree (said on stderr, after the entries read).

JSON: {"type","entries":[{"address","index" (xarray),"first","last"
(maple),"value"|"members"}],"error","warnings"}.`,
		Flags: []Flag{
			{Name: "t", Arg: "TYPE", Default: "rbtree", Help: "rbtree, xarray, radix or maple"},
			{Name: "r", Arg: "OFFSET", Help: "the root is at OFFSET (or STRUCT.MEMBER) inside the structure at START"},
			{Name: "o", Arg: "OFFSET", Help: "rbtree: offset (or STRUCT.MEMBER) of the rb_node in each entry"},
			{Name: "N", Help: "rbtree: START is an rb_node, not an rb_root"},
			{Name: "s", Arg: "STRUCT[.MEMBER,...]", Help: "print each entry as this struct, or these members of it"},
			{Name: "p", Help: "print each entry's index, range or position"},
			{Name: "x", Help: "with -s, integers in hex"},
			{Name: "l", Help: "rbtree: linear order (always)"},
			{Name: "c", Arg: "COUNT", Default: "1000000", Help: "stop after COUNT entries"},
		},
		Examples: []string{
			"tree -t maple -r mm_struct.mm_mt -s vm_area_struct.vm_start,vm_end ffff8a83c2830000",
			"tree -t xarray -p -r address_space.i_pages ffff8a83c1f3e9a0",
			"tree -o sched_entity.run_node -s sched_entity.vruntime ffff8a83fbc2cd00",
			"tree -t radix -p irq_desc_tree"},
		Complete: completeTypeThenSymbol,
		Run:      runTree,
	})
}

// TreeEntry is one entry of tree's document.
type TreeEntry struct {
	Address Hex            `json:"address"`
	Index   *uint64        `json:"index,omitempty"`
	First   *Hex           `json:"first,omitempty"`
	Last    *Hex           `json:"last,omitempty"`
	Value   *Node          `json:"value,omitempty"`
	Members []MemberResult `json:"members,omitempty"`
}

// TreeResult is the JSON document of tree (see its help); tree streams
// it: Type, the entries as walked, then the error and warnings.
type TreeResult struct {
	Type     string      `json:"type"`
	Entries  []TreeEntry `json:"entries"`
	Error    string      `json:"error,omitempty"`
	Warnings []string    `json:"warnings,omitempty"`
}

// treeHead begins tree's document.
type treeHead struct {
	Type string `json:"type"`
}

// treeRow is one entry as tree streams it.
type treeRow struct {
	TreeEntry
	pos string // -p text
	hex bool
}

// MarshalJSON is the entry's.
func (r treeRow) MarshalJSON() ([]byte, error) { return json.Marshal(r.TreeEntry) }

// WriteText implements Result.
func (r treeRow) WriteText(w io.Writer) error {
	if _, err := fmt.Fprintf(w, "%x\n", uint64(r.Address)); err != nil {
		return err
	}
	if r.pos != "" {
		if _, err := fmt.Fprintf(w, "  %s\n", r.pos); err != nil {
			return err
		}
	}
	if r.Value != nil || r.Members != nil {
		return ObjectResult{Value: r.Value, Members: r.Members, hex: r.hex}.WriteText(w)
	}
	return nil
}

// offsetArg parses a byte offset or STRUCT.MEMBER.
func offsetArg(p *symbols.Program, flag, s string) (uint64, error) {
	if v, err := strconv.ParseUint(s, 0, 64); err == nil {
		return v, nil
	}
	st, member, ok := strings.Cut(s, ".")
	if !ok {
		return 0, UsageErrorf("-%s %s: want STRUCT.MEMBER or an offset", flag, s)
	}
	t, err := lookupTypeLoose(p, st)
	if err != nil {
		return 0, err
	}
	return p.OffsetOfType(t, member)
}

func runTree(c *Call) (Result, error) {
	if err := c.NeedArgs(1, 1); err != nil {
		return nil, err
	}
	kind := c.String("t")
	switch kind {
	case "rb", "rbtree":
		kind = "rbtree"
	case "ra", "radix", "x", "xa", "xarray":
		if strings.HasPrefix(kind, "r") {
			kind = "radix"
		} else {
			kind = "xarray"
		}
	case "m", "ma", "maple":
		kind = "maple"
	default:
		return nil, UsageErrorf("-t %s: want rbtree, xarray, radix or maple", kind)
	}
	start, err := evalAddr(c.Prog, c.Args[0])
	if err != nil {
		return nil, err
	}
	if r := c.String("r"); r != "" {
		off, err := offsetArg(c.Prog, "r", r)
		if err != nil {
			return nil, err
		}
		start += off
	}
	var off uint64
	if o := c.String("o"); o != "" {
		if kind != "rbtree" {
			return nil, UsageErrorf("-o: only an rbtree's entries hold their node inside them")
		}
		if off, err = offsetArg(c.Prog, "o", o); err != nil {
			return nil, err
		}
	}
	if c.Bool("N") && kind != "rbtree" {
		return nil, UsageErrorf("-N: only for an rbtree")
	}
	max, err := c.Int("c")
	if err != nil || max <= 0 {
		return nil, UsageErrorf("-c: a positive count")
	}
	var show *symbols.Type
	var members string
	if s := c.String("s"); s != "" {
		var name string
		name, members, _ = strings.Cut(s, ".")
		if show, err = lookupTypeLoose(c.Prog, name); err != nil {
			return nil, err
		}
	}
	// The walk: the kmem iterators, bounded by COUNT (one more, to say the
	// tree went on).
	limit := int(min(max+1, int64(kmem.DefaultListLimit)))
	var rows []TreeEntry
	var walkErr error
	name := fmt.Sprintf("%s %#x", kind, start)
	switch kind {
	case "rbtree":
		var nodes []uint64
		if c.Bool("N") {
			nodes, walkErr = kmem.RBSubtreeNodes(c.Prog, start, name, limit)
		} else {
			nodes, walkErr = kmem.RBTreeNodes(c.Prog, start, name, limit)
		}
		for i, n := range nodes {
			pos := uint64(i)
			rows = append(rows, TreeEntry{Address: Hex(n - off), Index: &pos})
		}
	case "xarray", "radix":
		var ents []kmem.XEntry
		ents, walkErr = kmem.XArrayEntries(c.Prog, start, name)
		for _, e := range ents {
			idx := e.Index
			rows = append(rows, TreeEntry{Address: Hex(e.Value), Index: &idx})
		}
	case "maple":
		var ents []kmem.MapleEntry
		ents, walkErr = kmem.MapleEntries(c.Prog, start, name, limit)
		for _, e := range ents {
			first, last := Hex(e.First), Hex(e.Last)
			rows = append(rows, TreeEntry{Address: Hex(e.Entry), First: &first, Last: &last})
		}
	}
	if len(rows) == 0 && walkErr != nil {
		return nil, walkErr
	}
	return &Stream{Head: treeHead{Type: kind}, Field: "entries", Rows: func(emit func(Result) error) (any, error) {
		var tail listTail
		if walkErr != nil {
			tail.Error = walkErr.Error()
		}
		for i, e := range rows {
			if int64(i) >= max {
				tail.Error = fmt.Sprintf("more than %d entries", max)
				break
			}
			if err := c.Ctx.Err(); err != nil {
				return nil, err
			}
			row := treeRow{TreeEntry: e, hex: c.Bool("x")}
			if c.Bool("p") {
				switch {
				case e.First != nil:
					row.pos = fmt.Sprintf("range: %x-%x", uint64(*e.First), uint64(*e.Last))
				case kind == "rbtree":
					row.pos = fmt.Sprintf("position: %d", *e.Index)
				default:
					row.pos = fmt.Sprintf("index: %d", *e.Index)
				}
			}
			if kind == "rbtree" {
				row.Index = nil // the in-order position is text-only
			}
			if show != nil {
				switch a := uint64(e.Address); {
				case !kmem.IsKernelPointer(a):
					row.Value = &Node{Type: show, Err: fmt.Sprintf("entry %#x is not a kernel pointer", a)}
				default:
					or, err := objectAt(c, show, a, members, false)
					if err != nil {
						row.Value = &Node{Type: show, Err: err.Error()}
					} else {
						row.Value, row.Members = or.Value, or.Members
					}
				}
			}
			if err := emit(row); err != nil {
				return nil, err
			}
		}
		if tail.Error != "" {
			tail.Warnings = []string{fmt.Sprintf("stopped after %d entries: %s", min(int64(len(rows)), max), tail.Error)}
		}
		return tail, nil
	}}, nil
}
