package repl

import (
	"fmt"
	"io"
	"strings"

	"github.com/kwalk/kwalk/walkers/resource"
)

// dev -i: the I/O port and I/O memory resource trees.

// DevResource is one struct resource of dev -i.
type DevResource struct {
	Addr   Hex      `json:"addr"`
	Start  Hex      `json:"start"`
	End    Hex      `json:"end"`
	Name   string   `json:"name"`
	Flags  Hex      `json:"flags"`
	Depth  int      `json:"depth"`
	Errors []string `json:"errors,omitempty"`
}

func runDevResources(c *Call) (Result, error) {
	res := DevResult{resources: true}
	var failed []error
	for _, tree := range []struct {
		sym string
		dst *[]DevResource
	}{{"ioport_resource", &res.IOPorts}, {"iomem_resource", &res.IOMem}} {
		rs, err := resource.Tree(c.Prog, tree.sym)
		if err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %v", tree.sym, err))
			if len(rs) == 0 {
				failed = append(failed, err)
			}
		}
		for _, r := range rs {
			*tree.dst = append(*tree.dst, DevResource{Addr: Hex(r.Addr), Start: Hex(r.Start), End: Hex(r.End), Name: r.Name,
				Flags: Hex(r.Flags), Depth: r.Depth, Errors: r.Errors})
			for _, e := range r.Errors {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s: resource %#x: %s", tree.sym, r.Addr, e))
			}
		}
	}
	if len(failed) == 2 {
		return nil, fmt.Errorf("dev -i: %w; %w", failed[0], failed[1])
	}
	return res, nil
}

// writeResources prints dev -i like crash: the port tree, then the memory
// tree, each as RESOURCE, RANGE and NAME, a child's range indented under
// its parent's as /proc/ioports and /proc/iomem indent them. Ranges are 4
// hex digits wide in a tree whose root ends below 0x10000, else 8 or more
// (kernel/resource.c r_show).
func (r DevResult) writeResources(w io.Writer) error {
	var b strings.Builder
	for i, tree := range [][]DevResource{r.IOPorts, r.IOMem} {
		if len(tree) == 0 {
			continue
		}
		if i > 0 && len(r.IOPorts) > 0 {
			b.WriteByte('\n')
		}
		width := 8
		if uint64(tree[0].End) < 0x10000 {
			width = 4
		}
		rangeW := 2*width + 1
		fmt.Fprintf(&b, "%-16s  %-*s  NAME\n", "    RESOURCE", rangeW, center("RANGE", rangeW))
		for _, rs := range tree {
			ind := strings.Repeat("  ", rs.Depth)
			rng := fmt.Sprintf("%s%0*x-%0*x", ind, width, uint64(rs.Start), width, uint64(rs.End))
			fmt.Fprintf(&b, "%016x  %-*s  %s\n", uint64(rs.Addr), rangeW, rng, orNone(rs.Name))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// center pads s to width n, centred.
func center(s string, n int) string {
	if len(s) >= n {
		return s
	}
	left := (n - len(s)) / 2
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", n-len(s)-left)
}
