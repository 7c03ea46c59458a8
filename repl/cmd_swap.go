package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/walkers/mm"
)

func registerSwap(r *Registry) {
	r.Add(&Command{
		Name:    "swap",
		Summary: "swap devices and their use",
		Usage:   "swap",
		Help: `Lists the swap areas in use (swap_info[] entries with SWP_USED), like
/proc/swaps and crash's swap: the struct swap_info_struct, kind
(partition or file), size and used space in KiB, percent used, priority
and path. An area being switched off (SWP_WRITEOK clear) is marked.

JSON: {"devices": [{"swap_info", "type", "path", "kind", "pages",
"used_pages", "priority", "flags", "active", "errors"}], "page_size"}.`,
		Examples: []string{"swap", "swap --json"},
		Run:      runSwap,
	})
}

// SwapResult is the result of "swap".
type SwapResult struct {
	Devices  []SwapRow `json:"devices"`
	PageSize uint64    `json:"page_size"`
}

// SwapRow is one swap area of "swap".
type SwapRow struct {
	Info     Hex      `json:"swap_info"`
	Type     int      `json:"type"`
	Path     string   `json:"path"`
	Kind     string   `json:"kind"`
	Pages    uint64   `json:"pages"`
	Used     uint64   `json:"used_pages"`
	Priority int      `json:"priority"`
	Flags    Hex      `json:"flags"`
	Active   bool     `json:"active"`
	Errors   []string `json:"errors,omitempty"`
}

// ResultWarnings implements Warner.
func (r *SwapResult) ResultWarnings() []string {
	var out []string
	for _, d := range r.Devices {
		for _, e := range d.Errors {
			out = append(out, fmt.Sprintf("swap %d (%s): %s", d.Type, d.Path, e))
		}
	}
	return out
}

func runSwap(c *Call) (Result, error) {
	if err := c.NeedArgs(0, 0); err != nil {
		return nil, err
	}
	ds, err := mm.SwapDevices(c.Prog)
	if err != nil && len(ds) == 0 {
		return nil, err
	}
	r := &SwapResult{Devices: []SwapRow{}, PageSize: mm.PageSize(c.Prog)}
	for _, d := range ds {
		r.Devices = append(r.Devices, SwapRow{Info: Hex(d.Info), Type: d.Type, Path: d.Path, Kind: d.Kind, Pages: d.Pages,
			Used: d.Used, Priority: d.Priority, Flags: Hex(d.Flags), Active: d.Active, Errors: d.Errors})
	}
	return r, err
}

// WriteText implements Result.
func (r *SwapResult) WriteText(w io.Writer) error {
	var b strings.Builder
	b.WriteString("SWAP_INFO_STRUCT    TYPE       SIZE       USED    PCT  PRI  FILENAME\n")
	kb := r.PageSize / 1024
	for _, d := range r.Devices {
		pct := 0.0
		if d.Pages != 0 {
			pct = float64(d.Used) * 100 / float64(d.Pages)
		}
		path := d.Path
		if !d.Active {
			path += " (being switched off)"
		}
		fmt.Fprintf(&b, "%016x  %-9s %9dk %9dk  %4.1f%% %4d  %s\n", uint64(d.Info), d.Kind, d.Pages*kb, d.Used*kb, pct, d.Priority, path)
	}
	if len(r.Devices) == 0 {
		b.WriteString("(no swap in use)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
