package repl

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/crash"
	"github.com/kwalk/kwalk/walkers/kmem"
)

func registerMod(r *Registry) {
	r.Add(&Command{
		Name:    "mod",
		Summary: "list loaded kernel modules",
		Usage:   "mod [-t | -s NAME | -S] [NAME]...",
		Help: `Lists the modules on the kernel's modules list: the struct module address,
name, base of the module's core (text) memory, the core size and state.
Names select modules (globs allowed).

The layout is detected from struct module: mem[] (6.4+,
include/linux/module.h struct module_memory), core_layout (4.5-6.3) or
module_core/core_size (older).

-t shows each module's taint letters (module->taints, the flags
/proc/modules shows in parentheses), only for tainted modules.

-s NAME and -S are crash's "load the module's debug file": kwalk needs
none. Each loaded module's symbols come from its own kallsyms and its
types from its BTF, both read from the dump when it is opened; -s and -S
list the modules with how many symbols kwalk has for each and where they
came from. Line numbers and local variables of module code need the
module's .ko with DWARF (the kernel's -dbg package).

JSON: {"modules":[{"module","name","base","size","state","taints" (-t),
"symbols" (-s/-S: how many),"object_file" (-s/-S)}],"error"}.`,
		Flags: []Flag{
			{Name: "t", Help: "show the modules' taint flags"},
			{Name: "s", Arg: "NAME", Help: "show where module NAME's symbols and types come from"},
			{Name: "S", Help: "show where every module's symbols and types come from"},
		},
		Examples: []string{"mod", "mod fuse", "mod 'nf_*'", "mod -t", "mod -s fuse", "mod -S"},
		Run:      runMod,
	})
}

// ModList is the result of mod (see its help for the JSON).
type ModList struct {
	Modules []ModEntry `json:"modules"`
	Error   string     `json:"error,omitempty"`

	view string // "t", "s" or ""
}

// ModEntry is one module in ModList.
type ModEntry struct {
	Module Hex     `json:"module"`
	Name   string  `json:"name"`
	Base   Hex     `json:"base"`
	Size   uint64  `json:"size"`
	State  string  `json:"state"`
	Taints *string `json:"taints,omitempty"`
	// Symbols and ObjectFile answer -s/-S.
	Symbols    *int   `json:"symbols,omitempty"`
	ObjectFile string `json:"object_file,omitempty"`
}

// maxModules bounds the modules list walk.
const maxModules = 1 << 16

func runMod(c *Call) (Result, error) {
	head, err := c.Prog.Variable("modules")
	if err != nil {
		return nil, err
	}
	mt, err := c.Prog.Type("struct module")
	if err != nil {
		return nil, err
	}
	filter := parseTaskFilter(nil)
	filter.comms = c.Args
	view := ""
	switch {
	case c.Bool("t") && (c.IsSet("s") || c.Bool("S")), c.IsSet("s") && c.Bool("S"):
		return nil, UsageErrorf("mod: -t, -s and -S exclude each other")
	case c.Bool("t"):
		view = "t"
	case c.IsSet("s"):
		view = "s"
		filter.comms = append(filter.comms, c.String("s"))
	case c.Bool("S"):
		view = "s"
	}
	symCount := map[string]int{}
	if view == "s" {
		if _, infos, err := symbols.LoadModules(c.Prog); err == nil {
			for _, mi := range infos {
				symCount[mi.Name] = mi.NumSyms
			}
		}
	}
	var mods []symbols.Object
	nodes, werr := kmem.ListHeadNodes(c.Prog, head.Addr(), "modules", maxModules)
	if off, err := c.Prog.OffsetOfType(mt, "list"); err == nil {
		for _, n := range nodes {
			mods = append(mods, c.Prog.ObjectAt(mt, n-off))
		}
	} else if werr == nil {
		werr = err
	}
	res := ModList{Modules: []ModEntry{}, view: view}
	if werr != nil {
		if len(mods) == 0 {
			return nil, fmt.Errorf("walking the modules list: %w", werr)
		}
		res.Error = werr.Error()
	}
	for _, m := range mods {
		e := ModEntry{Module: Hex(m.Addr())}
		e.Name, _ = m.MemberString("name")
		if !filter.match(TaskInfo{Comm: e.Name}) {
			continue
		}
		switch {
		case mt.HasMember("mem"):
			// struct module_memory mem[MOD_MEM_NUM_TYPES]; index 0 is MOD_TEXT.
			if v, err := m.MemberUint("mem[0].base"); err == nil {
				e.Base = Hex(v)
			}
			if arr, err := m.Member("mem"); err == nil {
				if r := arr.Type().Resolve(); r != nil {
					for i := int64(0); i < int64(r.Len); i++ {
						if el, err := arr.Index(i); err == nil {
							if s, err := el.MemberUint("size"); err == nil {
								e.Size += s
							}
						}
					}
				}
			}
		case mt.HasMember("core_layout"):
			if v, err := m.MemberUint("core_layout.base"); err == nil {
				e.Base = Hex(v)
			}
			e.Size, _ = m.MemberUint("core_layout.size")
		case mt.HasMember("module_core"):
			if v, err := m.MemberUint("module_core"); err == nil {
				e.Base = Hex(v)
			}
			e.Size, _ = m.MemberUint("core_size")
		}
		if st, err := m.Member("state"); err == nil {
			n := DecodeObject(st)
			e.State = strings.TrimPrefix(n.ScalarText(), "MODULE_STATE_")
		}
		switch view {
		case "t":
			v, err := m.MemberUint("taints")
			if err != nil {
				return nil, fmt.Errorf("module %s at %#x: %w", e.Name, m.Addr(), err)
			}
			if v == 0 {
				continue
			}
			l := crash.DecodeTaint(c.Prog, v).Letters
			e.Taints = &l
		case "s":
			n := symCount[e.Name]
			e.Symbols = &n
			e.ObjectFile = "(none needed: kallsyms and BTF from the dump)"
		}
		res.Modules = append(res.Modules, e)
	}
	if c.IsSet("s") && len(res.Modules) == 0 {
		return nil, fmt.Errorf("-s: no module %q is loaded", c.String("s"))
	}
	return res, nil
}

// WriteText implements Result.
func (l ModList) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	switch l.view {
	case "t":
		fmt.Fprintln(tw, "NAME\tTAINTS")
		for _, m := range l.Modules {
			fmt.Fprintf(tw, "%s\t%s\n", m.Name, *m.Taints)
		}
		if len(l.Modules) == 0 {
			fmt.Fprintln(tw, "(no tainted modules)")
		}
	case "s":
		fmt.Fprintln(tw, "MODULE\tNAME\tBASE\tSIZE\tSYMBOLS\tOBJECT FILE")
		for _, m := range l.Modules {
			fmt.Fprintf(tw, "%x\t%s\t%x\t%d\t%d\t%s\n", uint64(m.Module), m.Name, uint64(m.Base), m.Size, *m.Symbols, m.ObjectFile)
		}
	default:
		fmt.Fprintln(tw, "MODULE\tNAME\tBASE\tSIZE\tSTATE")
		for _, m := range l.Modules {
			fmt.Fprintf(tw, "%x\t%s\t%x\t%d\t%s\n", uint64(m.Module), m.Name, uint64(m.Base), m.Size, m.State)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.Error != "" {
		_, err := fmt.Fprintf(w, "mod: list incomplete: %s\n", l.Error)
		return err
	}
	return nil
}
