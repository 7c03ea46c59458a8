package net

import (
	"reflect"
	"testing"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/symbols/symtest"
)

// neighKernel adds the neighbour table types to netKernel's: with hlists
// (hash_heads, neighbour.hash: 6.13+) or pointer chains (hash_buckets,
// neighbour.next: before).
func neighKernel(hlist bool) *symtest.Kernel {
	b := netKernel()
	ty := b.Types
	M, P, A := symtest.M, symtest.Ptr, symtest.Array
	nb := ty.Declare("neighbour")
	dev := ty.Get("net_device")
	fields := []symtest.Field{M("nud_state", b.U8), M("dev", P(dev)), M("ha", A(b.U8, 32)), M("primary_key", A(b.U8, 0))}
	if hlist {
		fields = append([]symtest.Field{M("hash", b.HlistNode)}, fields...)
		ty.Add(symtest.Layout("neigh_hash_table", M("hash_heads", P(b.HlistHead)), M("hash_shift", b.U32)))
	} else {
		fields = append([]symtest.Field{M("next", P(nb))}, fields...)
		ty.Add(symtest.Layout("neigh_hash_table", M("hash_buckets", P(P(nb))), M("hash_shift", b.U32)))
	}
	symtest.LayoutInto(nb, fields)
	nht := ty.Get("neigh_hash_table")
	ty.Add(symtest.Layout("neigh_table", M("family", b.S32), M("key_len", b.U32), M("nht", P(nht))))
	ty.Add(symtest.Layout("nsproxy", M("count", b.U32), M("net_ns", P(ty.Get("net")))))
	ty.Add(symtest.Layout("task_struct", M("pid", b.S32), M("nsproxy", P(ty.Get("nsproxy")))))
	return b
}

func TestARPCache(t *testing.T) {
	for _, hlist := range []bool{true, false} {
		b := neighKernel(hlist)
		off := func(typ, m string) uint64 { return b.Off("struct "+typ, m) }
		eth := b.NewObj("struct net_device")
		b.Mem.WriteString(eth+off("net_device", "name"), "eth0")
		b.Mem.Write(eth+off("net_device", "type"), []byte{1, 0})
		b.Mem.WriteU8(eth+off("net_device", "addr_len"), 6)
		lo := b.NewObj("struct net_device")
		b.Mem.WriteString(lo+off("net_device", "name"), "lo")
		b.Mem.Write(lo+off("net_device", "type"), []byte{0x04, 0x03}) // 772

		tbl := b.NewObj("struct neigh_table")
		b.Syms.Add("arp_tbl", tbl, 64, 'D')
		b.Mem.WriteU32(tbl+off("neigh_table", "key_len"), 4)
		nht := b.NewObj("struct neigh_hash_table")
		b.Mem.WriteU64(tbl+off("neigh_table", "nht"), nht)
		b.Mem.WriteU32(nht+off("neigh_hash_table", "hash_shift"), 2)
		buckets := b.Alloc(4 * 8)
		if hlist {
			b.Mem.WriteU64(nht+off("neigh_hash_table", "hash_heads"), buckets)
		} else {
			b.Mem.WriteU64(nht+off("neigh_hash_table", "hash_buckets"), buckets)
		}
		mk := func(bucket uint64, ip [4]byte, dev uint64, state byte, ha []byte) uint64 {
			n := b.Alloc(b.Size("struct neighbour") + 16)
			b.Mem.Write(n+off("neighbour", "primary_key"), ip[:])
			b.Mem.WriteU64(n+off("neighbour", "dev"), dev)
			b.Mem.WriteU8(n+off("neighbour", "nud_state"), state)
			b.Mem.Write(n+off("neighbour", "ha"), ha)
			head := buckets + 8*bucket
			if hlist {
				b.HlistAddHead(head, n+off("neighbour", "hash"))
			} else {
				first, _ := b.Program().ReadU64(head)
				b.Mem.WriteU64(n+off("neighbour", "next"), first)
				b.Mem.WriteU64(head, n)
			}
			return n
		}
		gw := mk(1, [4]byte{10, 0, 2, 2}, eth, 0x02, []byte{0x52, 0x55, 10, 0, 2, 2})
		stale := mk(1, [4]byte{10, 0, 2, 3}, eth, 0x04, []byte{0x52, 0x55, 10, 0, 2, 3})
		noarp := mk(3, [4]byte{127, 0, 0, 1}, lo, 0x40, nil)
		got, err := ARPCache(b.Program())
		if err != nil {
			t.Fatalf("hlist %v: %v", hlist, err)
		}
		want := []Neighbour{
			{Addr: stale, IP: "10.0.2.3", HWType: 1, HWTypeName: "ETHER", HWAddr: "52:55:0a:00:02:03", Device: "eth0", DeviceAddr: eth, State: 4, States: []string{"STALE"}},
			{Addr: gw, IP: "10.0.2.2", HWType: 1, HWTypeName: "ETHER", HWAddr: "52:55:0a:00:02:02", Device: "eth0", DeviceAddr: eth, State: 2, States: []string{"REACHABLE"}},
			{Addr: noarp, IP: "127.0.0.1", HWType: 772, HWTypeName: "LOOPBACK", Device: "lo", DeviceAddr: lo, State: 0x40, States: []string{"NOARP"}},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("hlist %v:\n got %+v\nwant %+v", hlist, got, want)
		}

		// A chain that loops back on itself ends with an error, not a hang.
		if hlist {
			b.Mem.WriteU64(gw+off("neighbour", "hash"), stale+off("neighbour", "hash"))
		} else {
			b.Mem.WriteU64(gw+off("neighbour", "next"), stale)
		}
		if _, err := ARPCache(b.Program()); err == nil {
			t.Errorf("hlist %v: a cyclic chain gave no error", hlist)
		}
		// A damaged hash_shift is refused.
		b.Mem.WriteU32(nht+off("neigh_hash_table", "hash_shift"), 40)
		if _, err := ARPCache(b.Program()); err == nil {
			t.Errorf("hlist %v: hash_shift 40 accepted", hlist)
		}
	}
}

func TestNamespaceDevices(t *testing.T) {
	b := neighKernel(true)
	off := func(typ, m string) uint64 { return b.Off("struct "+typ, m) }
	ns := func(names ...string) uint64 {
		n := b.NewObj("struct net")
		head := n + off("net", "dev_base_head")
		b.ListInit(head)
		for _, name := range names {
			d := b.NewObj("struct net_device")
			b.Mem.WriteString(d+off("net_device", "name"), name)
			b.ListAddTail(head, d+off("net_device", "dev_list"))
		}
		return n
	}
	initNet, other := ns("lo", "eth0"), ns("lo", "veth1")
	b.Syms.Add("init_net", initNet, 64, 'D')
	task := func(netns uint64) symbols.Object {
		tk := b.NewObj("struct task_struct")
		if netns != 0 {
			nsp := b.NewObj("struct nsproxy")
			b.Mem.WriteU64(nsp+off("nsproxy", "net_ns"), netns)
			b.Mem.WriteU64(tk+off("task_struct", "nsproxy"), nsp)
		}
		o, err := b.Program().Object("struct task_struct", tk)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	p := b.Program()
	for _, c := range []struct {
		ns   uint64
		want []string
	}{{initNet, []string{"lo", "eth0"}}, {other, []string{"lo", "veth1"}}} {
		got, err := TaskNetNamespace(p, task(c.ns))
		if err != nil || got != c.ns {
			t.Fatalf("TaskNetNamespace = %#x, %v; want %#x", got, err, c.ns)
		}
		devs, err := NamespaceDevices(p, got)
		var names []string
		for _, d := range devs {
			names = append(names, d.Name)
		}
		if err != nil || !reflect.DeepEqual(names, c.want) {
			t.Errorf("NamespaceDevices(%#x) = %v, %v; want %v", got, names, err, c.want)
		}
	}
	if _, err := TaskNetNamespace(p, task(0)); err == nil {
		t.Errorf("an exited task (no nsproxy) has a namespace")
	}
	if _, err := NamespaceDevices(p, 0xffff888077770000); err == nil {
		t.Errorf("an unmapped namespace gave no error")
	}
}
