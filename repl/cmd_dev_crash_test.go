package repl

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

func TestDevResourcesText(t *testing.T) {
	var b bytes.Buffer
	r := DevResult{resources: true,
		IOPorts: []DevResource{{Addr: 0xffffffff82a4ff20, End: 0xffff, Name: "PCI IO"}, {Addr: 0xffffffff8282c260, End: 0x1f, Name: "dma1", Depth: 1}},
		IOMem:   []DevResource{{Addr: 0xffffffff82a4fee0, End: 0xffffffff, Name: "PCI mem"}, {Addr: 0xffff888001000000, Start: 0x100000, End: 0x7ffdfff, Name: "System RAM", Depth: 1}}}
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "    RESOURCE        RANGE    NAME\n" +
		"ffffffff82a4ff20  0000-ffff  PCI IO\n" +
		"ffffffff8282c260    0000-001f  dma1\n" +
		"\n" +
		"    RESOURCE            RANGE        NAME\n" +
		"ffffffff82a4fee0  00000000-ffffffff  PCI mem\n" +
		"ffff888001000000    00100000-07ffdfff  System RAM\n"
	if b.String() != want {
		t.Errorf("dev -i:\n%s\nwant\n%s", b.String(), want)
	}
}

// TestDevResourcesRealDumps checks dev -i on every generated dump: each
// tree is well formed as kernel/resource.c keeps it (a child inside its
// parent, siblings in order without overlap), the port tree spans the
// 64 KiB port space on x86_64, and the System RAM of the memory tree holds
// at least the guest's MemTotal (/proc/meminfo: the pages the kernel
// manages, less than the RAM by what it reserved).
func TestDevResourcesRealDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			var out, errb bytes.Buffer
			s := NewSession(p, NewDefaultRegistry(), &out, &errb)
			var res DevResult
			execJSON(t, s, &out, &errb, "dev -i", &res)
			if len(res.Warnings) > 0 {
				t.Errorf("warnings: %v", res.Warnings)
			}
			for name, tree := range map[string][]DevResource{"ioports": res.IOPorts, "iomem": res.IOMem} {
				if len(tree) < 2 || tree[0].Depth != 0 {
					t.Errorf("%s: %d resources", name, len(tree))
					continue
				}
				var stack []DevResource // the ancestors of the current resource
				var prev []DevResource  // by depth: the last sibling seen
				for _, r := range tree {
					if r.End < r.Start {
						t.Errorf("%s: %s %#x-%#x: end before start", name, r.Name, uint64(r.Start), uint64(r.End))
					}
					if r.Depth > len(stack) {
						t.Fatalf("%s: %s at depth %d under %d ancestors", name, r.Name, r.Depth, len(stack))
					}
					stack = stack[:r.Depth]
					prev = prev[:min(len(prev), r.Depth+1)]
					if len(stack) > 0 {
						par := stack[len(stack)-1]
						if r.Start < par.Start || r.End > par.End {
							t.Errorf("%s: %s %#x-%#x outside its parent %s %#x-%#x", name, r.Name, uint64(r.Start), uint64(r.End), par.Name, uint64(par.Start), uint64(par.End))
						}
					}
					if len(prev) > r.Depth {
						if sib := prev[r.Depth]; r.Start <= sib.End {
							t.Errorf("%s: %s %#x-%#x overlaps or precedes its sibling %s %#x-%#x", name, r.Name, uint64(r.Start), uint64(r.End), sib.Name, uint64(sib.Start), uint64(sib.End))
						}
						prev[r.Depth] = r
					} else {
						prev = append(prev, r)
					}
					stack = append(stack, r)
				}
			}
			if !strings.HasPrefix(d.Name, "arm64") {
				if r := res.IOPorts[0]; r.Start != 0 || r.End != 0xffff {
					t.Errorf("ioport_resource %#x-%#x, want 0-0xffff", uint64(r.Start), uint64(r.End))
				}
			}
			var ram uint64
			for _, r := range res.IOMem {
				if r.Name == "System RAM" {
					ram += uint64(r.End) - uint64(r.Start) + 1
				}
			}
			for _, l := range d.Truth.Files["/proc/meminfo"] {
				f := strings.Fields(l)
				if len(f) == 3 && f[0] == "MemTotal:" {
					kb, _ := strconv.ParseUint(f[1], 10, 64)
					if ram < kb*1024 || ram > 2*kb*1024 {
						t.Errorf("System RAM %d bytes, MemTotal %d kB", ram, kb)
					}
				}
			}
		})
	}
}
