package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/symbols/symtest"
)

// treeKernel is a synthetic kernel with an rbtree of struct item (linked
// through item.node), an xarray and a one-leaf maple tree of items.
func treeKernel(t *testing.T) (*Session, *bytes.Buffer, *bytes.Buffer, map[string]uint64) {
	t.Helper()
	b := symtest.NewKernel()
	ty := b.Types
	rb := ty.Get("rb_node")
	ty.Add(symtest.Layout("item", symtest.M("id", b.U64), symtest.M("node", rb)))
	vp := symtest.Ptr(nil)
	meta := ty.Add(symtest.Layout("maple_metadata", symtest.M("end", b.U8), symtest.M("gap", b.U8)))
	ty.Add(symtest.Layout("maple_range_64", symtest.M("parent", vp), symtest.M("pivot", symtest.Array(b.U64, 15)),
		symtest.M("", symtest.Union("", symtest.M("slot", symtest.Array(vp, 16)),
			symtest.M("", symtest.Layout("", symtest.M("pad", symtest.Array(vp, 15)), symtest.M("meta", meta)))))))
	ty.Add(symtest.Layout("maple_arange_64", symtest.M("parent", vp), symtest.M("pivot", symtest.Array(b.U64, 9)),
		symtest.M("slot", symtest.Array(vp, 10)), symtest.M("gap", symtest.Array(b.U64, 10)), symtest.M("meta", meta)))
	ty.Add(symtest.Layout("maple_node", symtest.M("", symtest.Union("",
		symtest.M("", symtest.Layout("", symtest.M("parent", vp), symtest.M("slot", symtest.Array(vp, 31)))),
		symtest.M("mr64", ty.Get("maple_range_64"))))))
	ty.Add(symtest.Layout("maple_tree", symtest.M("ma_lock", b.U32), symtest.M("ma_root", vp), symtest.M("ma_flags", b.U32)))
	ty.Add(symtest.Layout("holder", symtest.M("pad", b.U64), symtest.M("mt", ty.Get("maple_tree"))))

	items := map[int]uint64{}
	for i := 1; i <= 3; i++ {
		items[i] = b.NewObj("struct item")
		b.Mem.WriteU64(items[i], uint64(i*10))
	}
	node := func(i int) uint64 { return items[i] + b.Off("struct item", "node") }
	// 2 at the top, 1 left, 3 right.
	b.Mem.WriteU64(node(2)+b.Off("struct rb_node", "rb_left"), node(1))
	b.Mem.WriteU64(node(2)+b.Off("struct rb_node", "rb_right"), node(3))
	root := b.NewObj("struct rb_root")
	b.Mem.WriteU64(root, node(2))
	b.Syms.Add("item_tree", root, 8, 'd')

	xa := b.NewObj("struct xarray")
	b.Mem.WriteU64(xa+b.Off("struct xarray", "xa_head"), b.BuildXArray(map[uint64]uint64{0: items[1], 70: items[3]}))

	// One maple leaf: [0x1000,0x1fff] → item 1, [0x3000,0x3fff] → item 2.
	raw := b.Alloc(512)
	leaf := (raw + 255) &^ 255
	piv, slot := b.Off("struct maple_range_64", "pivot"), b.Off("struct maple_range_64", "slot")
	for i, pv := range []uint64{0xfff, 0x1fff, 0x2fff, 0x3fff} {
		b.Mem.WriteU64(leaf+piv+8*uint64(i), pv)
	}
	b.Mem.WriteU64(leaf+slot+8, items[1])
	b.Mem.WriteU64(leaf+slot+8*3, items[2])
	b.Mem.WriteU8(leaf+b.Off("struct maple_range_64", "meta.end"), 4)
	holder := b.NewObj("struct holder")
	b.Mem.WriteU64(holder+b.Off("struct holder", "mt.ma_root"), leaf|1<<3|4|2)

	var out, errb bytes.Buffer
	s := NewSession(b.Program(), NewDefaultRegistry(), &out, &errb)
	return s, &out, &errb, map[string]uint64{"root": root, "xa": xa, "holder": holder, "item1": items[1], "item2": items[2], "item3": items[3]}
}

func TestTreeCommand(t *testing.T) {
	s, out, errb, a := treeKernel(t)
	hex := func(v uint64) string { return strings.TrimPrefix(Hex(v).String(), "0x") }
	for _, tc := range []struct {
		line string
		want []string // lines of the output, in order
		err  bool
	}{
		{"tree -o item.node item_tree", []string{hex(a["item1"]), hex(a["item2"]), hex(a["item3"])}, false},
		{"tree -o item.node -s item.id -p item_tree", []string{hex(a["item1"]), "  position: 0", "  id = 10,", hex(a["item2"]), "  position: 1", "  id = 20,"}, false},
		{"tree -N -o 8 " + Hex(a["item3"]+8).String(), []string{hex(a["item3"])}, false},
		{"tree -t xarray -p " + Hex(a["xa"]).String(), []string{hex(a["item1"]), "  index: 0", hex(a["item3"]), "  index: 70"}, false},
		{"tree -t radix -c 1 " + Hex(a["xa"]).String(), []string{hex(a["item1"])}, false},
		{"tree -t maple -p -r holder.mt -s item.id " + Hex(a["holder"]).String(),
			[]string{hex(a["item1"]), "  range: 1000-1fff", "  id = 10,", hex(a["item2"]), "  range: 3000-3fff", "  id = 20,"}, false},
		{"tree -t maple -r 8 " + Hex(a["holder"]).String(), []string{hex(a["item1"]), hex(a["item2"])}, false},
		{"tree -t trie item_tree", nil, true},
		{"tree -t xarray -o 8 item_tree", nil, true},
		{"tree -t maple -N item_tree", nil, true},
	} {
		t.Run(tc.line, func(t *testing.T) {
			out.Reset()
			errb.Reset()
			st := s.Exec(context.Background(), tc.line)
			if tc.err {
				if st == ExitOK {
					t.Errorf("no error: %s", out.String())
				}
				return
			}
			if st != ExitOK {
				t.Fatalf("status %d: %s%s", st, out.String(), errb.String())
			}
			got := strings.Split(strings.TrimSpace(out.String()), "\n")
			i := 0
			for _, l := range got {
				if i < len(tc.want) && l == tc.want[i] {
					i++
				}
			}
			if i != len(tc.want) {
				t.Errorf("output lacks %q (in order):\n%s", tc.want[i:], out.String())
			}
		})
	}
	// -c stops the walk and says so.
	out.Reset()
	errb.Reset()
	s.Exec(context.Background(), "tree -c 2 -o item.node item_tree")
	if n := strings.Count(out.String(), "\n"); n != 2 || !strings.Contains(errb.String(), "stopped after 2 entries") {
		t.Errorf("-c 2: %d lines, stderr %q", n, errb.String())
	}
	// JSON: the schema of help tree.
	out.Reset()
	s.Exec(context.Background(), "tree -t maple -r holder.mt "+Hex(a["holder"]).String()+" --json")
	dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
	dec.DisallowUnknownFields()
	var doc TreeResult
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if doc.Type != "maple" || len(doc.Entries) != 2 || doc.Entries[1].First == nil || *doc.Entries[1].First != 0x3000 ||
		*doc.Entries[1].Last != 0x3fff || uint64(doc.Entries[1].Address) != a["item2"] {
		t.Errorf("JSON %+v", doc)
	}
}
