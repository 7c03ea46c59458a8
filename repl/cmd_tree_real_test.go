package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/sched"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// treeDoc is tree's JSON document with the members' values as decoded.
type treeDoc struct {
	Type    string         `json:"type"`
	Entries []treeDocEntry `json:"entries"`
	Error   string         `json:"error"`
}

type treeDocEntry struct {
	Address     Hex     `json:"address"`
	Index       *uint64 `json:"index"`
	First, Last *Hex
	Members     []struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
	} `json:"members"`
}

// TestTreeRealDumps runs tree on each generated dump: the IRQ descriptors
// (a radix tree before 6.5, the sparse_irqs maple tree after) hold every
// numbered line of the guest's /proc/interrupts, each desc at its own irq;
// init's mm_mt holds its /proc/1/maps and the page cache of its executable
// holds folios of that mapping at their index; the free vmap areas'
// rbtree is in address order.
func TestTreeRealDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			p := walktest.OpenReal(t, d)
			needDataSymbols(t, p, "sparse_irqs|irq_desc_tree", "free_vmap_area_root")
			var out, errb bytes.Buffer
			s := NewSession(p, NewDefaultRegistry(), &out, &errb)
			run := func(line string) treeDoc {
				t.Helper()
				out.Reset()
				errb.Reset()
				if st := s.Exec(context.Background(), line+" --json"); st != ExitOK {
					t.Fatalf("%s: status %d: %s %s", line, st, out.String(), errb.String())
				}
				var doc treeDoc
				dec := json.NewDecoder(&out)
				dec.UseNumber() // unsigned longs above 2^53
				if err := dec.Decode(&doc); err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				if doc.Error != "" {
					t.Errorf("%s: %s", line, doc.Error)
				}
				return doc
			}
			member := func(e treeDocEntry, i int) uint64 {
				if i >= len(e.Members) {
					t.Fatalf("entry %#x: members %+v", uint64(e.Address), e.Members)
				}
				v, err := strconv.ParseUint(fmt.Sprint(e.Members[i].Value), 0, 64) // a number, or a pointer's "0x..."
				if err != nil {
					t.Fatalf("entry %#x: member %s is %v", uint64(e.Address), e.Members[i].Name, e.Members[i].Value)
				}
				return v
			}

			// IRQ descriptors.
			line := "tree -t radix -s irq_desc.irq_data.irq irq_desc_tree"
			if _, err := p.Symbol("sparse_irqs"); err == nil {
				line = "tree -t maple -s irq_desc.irq_data.irq sparse_irqs"
			}
			irqs := map[uint64]bool{}
			for _, e := range run(line).Entries {
				first, last := uint64(0), uint64(0)
				if e.Index != nil {
					first, last = *e.Index, *e.Index
				} else {
					first, last = uint64(*e.First), uint64(*e.Last)
				}
				if first != last || member(e, 0) != first {
					t.Errorf("%s: desc %#x for %d-%d has irq %d", line, uint64(e.Address), first, last, member(e, 0))
				}
				irqs[first] = true
			}
			recorded := 0
			for _, l := range d.Truth.Files["/proc/interrupts"] {
				n, err := strconv.Atoi(strings.TrimSuffix(strings.Fields(l + " x")[0], ":"))
				if err != nil {
					continue
				}
				recorded++
				if !irqs[uint64(n)] {
					t.Errorf("%s: no desc for irq %d of /proc/interrupts", line, n)
				}
			}
			if recorded == 0 {
				t.Logf("the record has no /proc/interrupts")
			}

			// The free vmap areas, in address order.
			var prevEnd uint64
			areas := run("tree -o vmap_area.rb_node -s vmap_area.va_start,va_end free_vmap_area_root").Entries
			for _, e := range areas {
				start, end := member(e, 0), member(e, 1)
				if start < prevEnd || end <= start {
					t.Errorf("free vmap area %#x: %#x-%#x after %#x", uint64(e.Address), start, end, prevEnd)
				}
				prevEnd = end
			}
			if len(areas) == 0 {
				t.Errorf("no free vmap areas")
			}

			task, err := sched.TaskByPID(p, 1)
			if err != nil {
				t.Fatal(err)
			}
			// The page cache of init's executable: each entry is a folio
			// (a page before 5.16) of that mapping at its index.
			if mapping, err := task.Obj.MemberUint("mm->exe_file->f_inode->i_mapping"); err == nil && mapping != 0 {
				typ := "folio"
				if ft, err := p.Type("struct folio"); err != nil || !ft.HasMember("index") {
					typ = "page"
				}
				pages := 0
				for _, e := range run(fmt.Sprintf("tree -t xarray -r address_space.i_pages -s %s.mapping,index %#x", typ, mapping)).Entries {
					if uint64(e.Address)&1 != 0 {
						continue // a value entry (a shadow of an evicted page)
					}
					pages++
					if member(e, 0) != mapping || e.Index == nil || member(e, 1) != *e.Index {
						t.Errorf("page cache of %#x: %s %#x at %v has mapping %#x index %d", mapping, typ, uint64(e.Address), e.Index, member(e, 0), member(e, 1))
					}
				}
				if pages == 0 {
					t.Errorf("init's executable has no page in the page cache")
				}
			} else {
				t.Logf("no exe_file mapping: %v", err)
			}

			// init's VMAs.
			if _, err := p.Type("struct maple_tree"); err != nil {
				return
			}
			rt := d.Truth.Task(1)
			if rt == nil || len(rt.Maps) == 0 {
				t.Logf("the record has no /proc/1/maps")
				return
			}
			mm, err := task.Obj.MemberUint("mm")
			if err != nil {
				t.Fatal(err)
			}
			var got, want []string
			for _, e := range run(fmt.Sprintf("tree -t maple -r mm_struct.mm_mt -s vm_area_struct.vm_start,vm_end %#x", mm)).Entries {
				if member(e, 0) != uint64(*e.First) || member(e, 1)-1 != uint64(*e.Last) {
					t.Errorf("vma %#x: %#x-%#x in range %#x-%#x", uint64(e.Address), member(e, 0), member(e, 1), uint64(*e.First), uint64(*e.Last))
				}
				got = append(got, fmt.Sprintf("%x-%x", uint64(*e.First), uint64(*e.Last)+1))
			}
			for _, l := range rt.Maps {
				r, _, _ := strings.Cut(strings.TrimSpace(l), " ")
				lo, hi, _ := strings.Cut(r, "-")
				a, _ := strconv.ParseUint(lo, 16, 64)
				b, _ := strconv.ParseUint(hi, 16, 64)
				if a < 0xffffffffff600000 { // [vsyscall] is no VMA
					want = append(want, fmt.Sprintf("%x-%x", a, b))
				}
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("init's VMAs:\n got %v\nwant %v", got, want)
			}
		})
	}
}
