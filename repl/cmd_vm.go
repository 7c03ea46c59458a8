package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/walkers/mm"
	"github.com/kwalk/kwalk/walkers/sched"
)

// vmMaxPages bounds the pages "vm -p" translates (1 GiB of 4 KiB pages).
const vmMaxPages = 1 << 18

func registerVM(r *Registry) {
	r.Add(&Command{
		Name:    "vm",
		Summary: "a task's address space: mm, page tables, VMAs",
		Usage:   "vm [-p] [PID|TASK-ADDR]",
		Help: `Shows the mm of the current task (or of the task given): the struct
mm_struct, its pgd, resident pages (RSS) and total_vm, then each VMA in
address order: struct vm_area_struct, start, end, vm_flags and the file
path or the name /proc/PID/maps gives it ([heap], [stack], [vdso]). The
VMAs come from the maple tree mm_mt (6.1+) or the mmap list (older).

With -p each page of each VMA is translated through the task's page
tables: its physical address, "not present" (never touched, or
reclaimed), "swapped" (a swap entry), or "not in dump" when the page
exists but the dump left it out.

JSON: {"pid", "comm", "task", "mm", "pgd", "rss_pages", "total_vm_pages",
"vmas": [{"vma", "start", "end", "flags", "flag_names", "pgoff", "file",
"path", "pages": [{"virt", "phys", "present", "swapped", "in_dump",
"error"}] (-p)}]}.`,
		Flags:    []Flag{{Name: "p", Help: "translate every page of every VMA"}},
		Examples: []string{"vm", "vm 1", "vm -p 1234", "vm --json 1"},
		PerTask:  true,
		Run:      runVM,
	})
}

// VMHead begins "vm": the task and its mm.
type VMHead struct {
	PID     int    `json:"pid"`
	Comm    string `json:"comm"`
	Task    Hex    `json:"task"`
	MM      Hex    `json:"mm,omitempty"`
	PGD     Hex    `json:"pgd,omitempty"`
	RSS     uint64 `json:"rss_pages"`
	TotalVM uint64 `json:"total_vm_pages"`
	NoMM    bool   `json:"no_mm,omitempty"`
	pageKB  uint64
}

// WriteText implements Result.
func (h *VMHead) WriteText(w io.Writer) error {
	s := fmt.Sprintf("PID: %d  TASK: %x  COMMAND: %q\n", h.PID, uint64(h.Task), h.Comm)
	if h.NoMM {
		s += "(no mm: a kernel thread or an exited task)\n"
	} else {
		s += "       MM               PGD          RSS    TOTAL_VM\n"
		s += fmt.Sprintf("%016x  %016x  %6dk  %8dk\n", uint64(h.MM), uint64(h.PGD), h.RSS*h.pageKB, h.TotalVM*h.pageKB)
		s += "      VMA           START          END     FLAGS FILE\n"
	}
	_, err := io.WriteString(w, s)
	return err
}

// VMRow is one VMA of "vm".
type VMRow struct {
	VMA       Hex      `json:"vma"`
	Start     Hex      `json:"start"`
	End       Hex      `json:"end"`
	Flags     Hex      `json:"flags"`
	FlagNames []string `json:"flag_names"`
	PgOff     uint64   `json:"pgoff"`
	File      Hex      `json:"file,omitempty"`
	Path      string   `json:"path"`
	Pages     []VMPage `json:"pages,omitempty"`
	Errors    []string `json:"errors,omitempty"`
}

// VMPage is one page of a VMA with "vm -p".
type VMPage struct {
	Virt    Hex    `json:"virt"`
	Phys    Hex    `json:"phys,omitempty"` // when present
	Present bool   `json:"present"`
	Swapped bool   `json:"swapped,omitempty"`
	InDump  bool   `json:"in_dump"`
	Error   string `json:"error,omitempty"`
}

// ResultWarnings implements Warner.
func (r VMRow) ResultWarnings() []string {
	var out []string
	for _, e := range r.Errors {
		out = append(out, fmt.Sprintf("vma %#x: %s", uint64(r.VMA), e))
	}
	return out
}

// WriteText implements Result.
func (r VMRow) WriteText(w io.Writer) error {
	var b strings.Builder
	if len(r.Errors) > 0 && r.Start == 0 && r.End == 0 {
		fmt.Fprintf(&b, "%016x (unreadable: see the warnings)\n", uint64(r.VMA))
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "%016x %12x %12x %8x %s\n", uint64(r.VMA), uint64(r.Start), uint64(r.End), uint64(r.Flags), r.Path)
	for _, pg := range r.Pages {
		v, ph := uint64(pg.Virt), uint64(pg.Phys)
		switch {
		case pg.Error != "" && !pg.Present:
			fmt.Fprintf(&b, "  %16x  (unreadable: %s)\n", v, pg.Error)
		case pg.Present && !pg.InDump:
			fmt.Fprintf(&b, "  %16x  %12x  (not in dump)\n", v, ph)
		case pg.Present:
			fmt.Fprintf(&b, "  %16x  %12x\n", v, ph)
		case pg.Swapped:
			fmt.Fprintf(&b, "  %16x  (swapped)\n", v)
		default:
			fmt.Fprintf(&b, "  %16x  (not present)\n", v)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// VMTail ends "vm".
type VMTail struct {
	VMCount   int    `json:"vma_count"`
	Truncated bool   `json:"truncated,omitempty"`
	Error     string `json:"error,omitempty"`
}

// ResultWarnings implements Warner.
func (t *VMTail) ResultWarnings() []string {
	if t.Error != "" {
		return []string{t.Error}
	}
	return nil
}

// VMResult is the result of "vm": the head's members, "vmas", then the
// tail's. It is held whole (a process has at most vm.max_map_count VMAs,
// 65530 by default, and -p is bounded) so that foreach can run it.
type VMResult struct {
	VMHead
	VMAs []VMRow `json:"vmas"`
	VMTail
}

// ResultWarnings implements Warner.
func (r *VMResult) ResultWarnings() []string {
	out := r.VMTail.ResultWarnings()
	for _, v := range r.VMAs {
		out = append(out, v.ResultWarnings()...)
	}
	return out
}

// WriteText implements Result.
func (r *VMResult) WriteText(w io.Writer) error {
	if err := r.VMHead.WriteText(w); err != nil {
		return err
	}
	for _, v := range r.VMAs {
		if err := v.WriteText(w); err != nil {
			return err
		}
	}
	if r.Truncated {
		_, err := fmt.Fprintf(w, "(truncated after %d pages)\n", vmMaxPages)
		return err
	}
	return nil
}

func runVM(c *Call) (Result, error) {
	objs, err := argTasks(c)
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 {
		return nil, UsageErrorf("vm: give one task")
	}
	t, err := sched.TaskFromObject(objs[0])
	if err != nil {
		return nil, err
	}
	m, ok, err := mm.TaskMM(c.Prog, t)
	if err != nil {
		return nil, err
	}
	ps := mm.PageSize(c.Prog)
	r := &VMResult{VMHead: VMHead{PID: t.PID, Comm: t.Comm, Task: Hex(t.Addr), NoMM: !ok, pageKB: ps / 1024,
		MM: Hex(m.Addr), PGD: Hex(m.PGD), RSS: m.RSSPages, TotalVM: m.TotalVM}, VMAs: []VMRow{}}
	if !ok {
		return r, nil
	}
	withPages := c.Bool("p")
	var pages uint64
	werr := m.VMAs(c.Prog, func(v mm.VMA) error {
		if err := c.Ctx.Err(); err != nil {
			return err
		}
		row := VMRow{VMA: Hex(v.Addr), Start: Hex(v.Start), End: Hex(v.End), Flags: Hex(v.Flags),
			FlagNames: mm.VMFlagNames(v.Flags), PgOff: v.PgOff, File: Hex(v.File), Path: v.Path, Errors: v.Errors}
		if withPages {
			for va := v.Start; va < v.End && !r.Truncated; va += ps {
				up := mm.TranslateUser(c.Prog, m.PGD, va)
				row.Pages = append(row.Pages, VMPage{Virt: Hex(up.Virt), Phys: Hex(up.Phys), Present: up.Present,
					Swapped: up.Swapped, InDump: up.InDump, Error: up.Err})
				if pages++; pages >= vmMaxPages {
					r.Truncated = true
				}
			}
		}
		r.VMAs = append(r.VMAs, row)
		r.VMCount++
		return nil
	})
	if werr != nil {
		if c.Ctx.Err() != nil {
			return nil, werr
		}
		r.Error = werr.Error()
	}
	return r, nil
}
