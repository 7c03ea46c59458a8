package repl

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

func registerList(r *Registry) {
	r.Add(&Command{
		Name:    "list",
		Summary: "walk a linked list, printing each entry's address or contents",
		Usage:   "list [-H|-h] [-r] [-o STRUCT.MEMBER|OFFSET] [-l STRUCT.MEMBER|OFFSET] [-s|-S STRUCT[.MEMBER,...]] [-e END] [-c COUNT] START",
		Help: `Follows next pointers from START, like crash's list. By default the next
pointer is at offset 0 of each entry. With -o STRUCT.MEMBER (or a byte
OFFSET) the entries are structures linked through a struct list_head or
next pointer at that member: each printed address is the structure's
(container_of), and the walk reads the member's first word (list_head.next).
-H says START is a list head that is not itself an entry (a global
struct list_head, or one embedded in another object): the walk starts at
its next and ends when it comes back to it. Without -H the walk ends at
NULL or back at START. -h says START is the list_head (or next pointer)
inside an entry, not the entry: the entry is START less the offset. -r
walks backwards, through list_head.prev (a struct list_head at the
member). -l gives the offset of the list_head in the entry when it is not
-o's (the link is followed at -o within the list_head, the entry is found
-l before it). -s (or crash's -S) prints each entry as that struct (or
only the listed members). -e END stops before the entry at END (or whose
link is at END). The walk stops at COUNT entries (default 1000000), on a
read error, and on a loop that does not return to the start (said on
stderr). Entries are written as they are walked.

JSON: {"entries":[{"address","value"|"members"}],"error","warnings"};
value and members as for struct; error is why the walk stopped early.`,
		Flags: []Flag{
			{Name: "H", Help: "START is a list head, not an entry"},
			{Name: "h", Help: "START is the list_head (next pointer) inside an entry"},
			{Name: "r", Help: "walk backwards, through list_head.prev"},
			{Name: "o", Arg: "STRUCT.MEMBER|OFFSET", Help: "the member (or byte offset) holding the next pointer / list_head"},
			{Name: "l", Arg: "STRUCT.MEMBER|OFFSET", Help: "the list_head's offset in the entry, when not -o's"},
			{Name: "s", Arg: "STRUCT[.MEMBER,...]", Help: "print each entry as this struct, or these members of it"},
			{Name: "S", Arg: "STRUCT[.MEMBER,...]", Help: "as -s (crash reads the members without gdb; kwalk always does)"},
			{Name: "e", Arg: "END", Help: "stop before the entry at END"},
			{Name: "c", Arg: "COUNT", Default: "1000000", Help: "stop after COUNT entries"},
		},
		Examples: []string{"list -H -o task_struct.tasks -s task_struct.comm,pid init_task.tasks",
			"list -H -o module.list -s module.name modules", "list -o 8 ffff8a83c2830000"},
		Complete: completeTypeThenSymbol,
		Run:      runList,
	})
}

// ListResult is the JSON document of list (see its help); list streams
// it: the entries as walked, then listTail.
type ListResult struct {
	Entries  []ListEntry `json:"entries"`
	Error    string      `json:"error,omitempty"`
	Warnings []string    `json:"warnings,omitempty"`
	hex      bool
}

// listTail ends list's document: why the walk stopped early.
type listTail struct {
	Error    string   `json:"error,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// ResultWarnings implements Warner.
func (t listTail) ResultWarnings() []string { return t.Warnings }

// listRow is one entry as list streams it.
type listRow struct {
	ListEntry
	hex bool
}

// MarshalJSON is the entry's.
func (r listRow) MarshalJSON() ([]byte, error) { return json.Marshal(r.ListEntry) }

// WriteText implements Result.
func (r listRow) WriteText(w io.Writer) error {
	return ListResult{Entries: []ListEntry{r.ListEntry}, hex: r.hex}.WriteText(w)
}

// ListEntry is one entry of ListResult.
type ListEntry struct {
	Address Hex            `json:"address"`
	Value   *Node          `json:"value,omitempty"`
	Members []MemberResult `json:"members,omitempty"`
}

// WriteText implements Result.
func (l ListResult) WriteText(w io.Writer) error {
	for _, e := range l.Entries {
		if _, err := fmt.Fprintf(w, "%x\n", uint64(e.Address)); err != nil {
			return err
		}
		if e.Value != nil || e.Members != nil {
			o := ObjectResult{Value: e.Value, Members: e.Members, hex: l.hex}
			if err := o.WriteText(w); err != nil {
				return err
			}
		}
	}
	return nil
}

// ResultWarnings implements Warner.
func (l ListResult) ResultWarnings() []string { return l.Warnings }

func runList(c *Call) (Result, error) {
	if err := c.NeedArgs(1, 1); err != nil {
		return nil, err
	}
	start, err := evalAddr(c.Prog, c.Args[0])
	if err != nil {
		return nil, err
	}
	if c.Bool("H") && c.Bool("h") {
		return nil, UsageErrorf("-H and -h: START is either a list head or an entry's list_head")
	}
	if c.IsSet("s") && c.IsSet("S") {
		return nil, UsageErrorf("-s and -S are one option: give one")
	}
	offsetOf := func(flag string) (uint64, error) {
		o := c.String(flag)
		if o == "" {
			return 0, nil
		}
		if v, err := strconv.ParseUint(o, 0, 64); err == nil {
			return v, nil
		}
		st, member, ok := strings.Cut(o, ".")
		if !ok {
			return 0, UsageErrorf("-%s %s: want STRUCT.MEMBER or an offset", flag, o)
		}
		return c.Prog.OffsetOf(st, member)
	}
	off, err := offsetOf("o")
	if err != nil {
		return nil, err
	}
	// entryOff is how far the link is from the entry's start: -o's
	// offset, or -l's list_head offset plus -o's place in the list_head.
	entryOff := off
	if c.IsSet("l") {
		l, err := offsetOf("l")
		if err != nil {
			return nil, err
		}
		entryOff = l + off
	}
	var end uint64
	if e := c.String("e"); e != "" {
		if end, err = evalAddr(c.Prog, e); err != nil {
			return nil, err
		}
	}
	// -r follows list_head.prev, the word after next.
	step := uint64(0)
	if c.Bool("r") {
		step = 8
	}
	max, err := c.Int("c")
	if err != nil || max <= 0 {
		return nil, UsageErrorf("-c: a positive count")
	}
	var show *symbols.Type
	var members string
	sflag := c.String("s")
	if sflag == "" {
		sflag = c.String("S")
	}
	if s := sflag; s != "" {
		var name string
		name, members, _ = strings.Cut(s, ".")
		if show, err = lookupTypeLoose(c.Prog, name); err != nil {
			return nil, err
		}
	}
	return &Stream{Field: "entries", Rows: func(emit func(Result) error) (any, error) {
		var tail listTail
		n := int64(0)
		seen := make(map[uint64]bool)
		// link is the address of the next pointer (entry + off).
		link := start
		if !c.Bool("H") && !c.Bool("h") {
			link = start + entryOff
		}
		head := link
		first := true
		for n < max {
			if err := c.Ctx.Err(); err != nil {
				return nil, err
			}
			if n%4096 == 0 {
				c.Progress("list: %d entries", n)
			}
			if c.Bool("H") || !first {
				next, err := c.Prog.ReadU64(link + step)
				if err != nil {
					tail.Error = fmt.Sprintf("reading the next pointer at %#x: %v", link+step, err)
					break
				}
				if next == 0 || next == head {
					break
				}
				link = next
			}
			first = false
			if end != 0 && (link == end || link-entryOff == end) {
				break
			}
			if seen[link] {
				tail.Error = fmt.Sprintf("loop: %#x met again after %d entries", link, n)
				break
			}
			seen[link] = true
			e := ListEntry{Address: Hex(link - entryOff)}
			if show != nil {
				or, err := objectAt(c, show, link-entryOff, members, false)
				if err != nil {
					e.Value = &Node{Type: show, Err: err.Error()}
				} else {
					e.Value, e.Members = or.Value, or.Members
				}
			}
			if err := emit(listRow{ListEntry: e}); err != nil {
				return nil, err
			}
			n++
		}
		if tail.Error != "" {
			tail.Warnings = []string{fmt.Sprintf("stopped after %d entries: %s", n, tail.Error)}
		}
		return tail, nil
	}}, nil
}
