package net

import (
	"reflect"
	"testing"

	"github.com/kwalk/kwalk/symbols/symtest"
)

// netKernel is a kernel with the network types net and net -s read
// (shaped like 6.1's, the members flattened).
func netKernel() *symtest.Kernel {
	b := symtest.NewKernel()
	ty := b.Types
	M, P, A := symtest.M, symtest.Ptr, symtest.Array
	ifa := ty.Declare("in_ifaddr")
	symtest.LayoutInto(ifa, []symtest.Field{M("ifa_next", P(ifa)), M("ifa_local", b.U32), M("ifa_prefixlen", b.U8)})
	ind := ty.Add(symtest.Layout("in_device", M("dev", P(nil)), M("ifa_list", P(ifa))))
	ty.Add(symtest.Layout("net_device", M("name", A(b.Char, 16)), M("dev_list", b.ListHead), M("ifindex", b.S32),
		M("flags", b.U32), M("mtu", b.U32), M("type", b.U16), M("addr_len", b.U8), M("ip_ptr", P(ind)), M("dev_addr", P(b.U8))))
	ty.Add(symtest.Layout("net", M("count", b.U32), M("dev_base_head", b.ListHead)))
	skc := ty.Add(symtest.Layout("sock_common", M("skc_daddr", A(b.U8, 4)), M("skc_rcv_saddr", A(b.U8, 4)),
		M("skc_dport", b.U16), M("skc_num", b.U16), M("skc_family", b.U16), M("skc_state", b.U8),
		M("skc_v6_daddr", A(b.U8, 16)), M("skc_v6_rcv_saddr", A(b.U8, 16))))
	sk := ty.Add(symtest.Layout("sock", M("__sk_common", skc), M("sk_backlog", symtest.Layout("", M("rmem_alloc", b.S32))),
		M("sk_receive_queue", symtest.Layout("", M("next", P(nil)), M("qlen", b.U32))), M("sk_wmem_alloc", b.U32),
		M("sk_protocol", b.U16), M("sk_type", b.U16), M("sk_ack_backlog", b.U32)))
	ty.Add(symtest.Layout("tcp_sock", M("sk", sk), M("rcv_nxt", b.U32), M("copied_seq", b.U32), M("write_seq", b.U32), M("snd_una", b.U32)))
	sun := ty.Add(symtest.Layout("sockaddr_un", M("sun_family", b.U16), M("sun_path", A(b.Char, 108))))
	ua := ty.Add(symtest.Layout("unix_address", M("refcnt", b.U32), M("len", b.S32), M("name", A(sun, 0))))
	ty.Add(symtest.Layout("unix_sock", M("sk", sk), M("addr", P(ua)), M("peer", P(sk))))
	ty.Add(symtest.Layout("socket", M("state", b.U32), M("type", ty.Get("short")), M("flags", b.U64), M("file", P(nil)), M("sk", P(sk))))
	return b
}

func TestDevices(t *testing.T) {
	b := netKernel()
	off := func(typ, m string) uint64 { return b.Off("struct "+typ, m) }
	netns := b.NewObj("struct net")
	b.Syms.Add("init_net", netns, 64, 'D')
	head := netns + off("net", "dev_base_head")
	b.ListInit(head)
	mk := func(name string, flags uint32, addrs ...[4]byte) uint64 {
		d := b.NewObj("struct net_device")
		b.Mem.WriteString(d+off("net_device", "name"), name)
		b.Mem.WriteU32(d+off("net_device", "flags"), flags)
		b.Mem.WriteU32(d+off("net_device", "mtu"), 1500)
		b.Mem.WriteU8(d+off("net_device", "addr_len"), 6)
		hw := b.Alloc(8)
		b.Mem.Write(hw, []byte{0x52, 0x54, 0, 0x12, 0x34, 0x56})
		b.Mem.WriteU64(d+off("net_device", "dev_addr"), hw)
		if len(addrs) > 0 {
			in := b.NewObj("struct in_device")
			b.Mem.WriteU64(d+off("net_device", "ip_ptr"), in)
			link := in + off("in_device", "ifa_list")
			for _, a := range addrs {
				ia := b.NewObj("struct in_ifaddr")
				b.Mem.Write(ia+off("in_ifaddr", "ifa_local"), a[:])
				b.Mem.WriteU8(ia+off("in_ifaddr", "ifa_prefixlen"), 24)
				b.Mem.WriteU64(link, ia)
				link = ia + off("in_ifaddr", "ifa_next")
			}
		}
		b.ListAddTail(head, d+off("net_device", "dev_list"))
		return d
	}
	lo := mk("lo", 1|8|0x40)
	eth := mk("eth0", 1|2|0x40|0x1000, [4]byte{10, 0, 2, 15}, [4]byte{192, 168, 1, 7})
	got, err := Devices(b.Program())
	if err != nil || len(got) != 2 {
		t.Fatalf("Devices = %+v, %v", got, err)
	}
	want := Device{Addr: eth, Name: "eth0", Flags: 0x1043, FlagSet: []string{"UP", "BROADCAST", "RUNNING", "MULTICAST"},
		MTU: 1500, HWAddr: "52:54:00:12:34:56", IPv4: []string{"10.0.2.15/24", "192.168.1.7/24"}}
	if got[0].Addr != lo || got[0].Name != "lo" || got[0].IPv4 != nil || !reflect.DeepEqual(got[1], want) {
		t.Errorf("Devices =\n%+v\nwant eth0 as\n%+v", got, want)
	}
}

func TestReadSocket(t *testing.T) {
	b := netKernel()
	off := func(typ, m string) uint64 { return b.Off("struct "+typ, m) }
	w16 := func(a uint64, v uint16) { b.Mem.Write(a, []byte{byte(v), byte(v >> 8)}) }
	sock := func(typ string, family, stype, proto uint16, state uint8, ss uint32) (so, sk uint64) {
		sk = b.NewObj("struct " + typ)
		w16(sk+off("sock", "__sk_common.skc_family"), family)
		b.Mem.WriteU8(sk+off("sock", "__sk_common.skc_state"), state)
		w16(sk+off("sock", "sk_protocol"), proto)
		so = b.NewObj("struct socket")
		b.Mem.WriteU32(so+off("socket", "state"), ss)
		w16(so+off("socket", "type"), stype)
		b.Mem.WriteU64(so+off("socket", "sk"), sk)
		return so, sk
	}
	// TCP over IPv4, established, 3 bytes unread and 5 unacknowledged.
	tcp, tsk := sock("tcp_sock", 2, 1, 6, 1, 3)
	b.Mem.Write(tsk+off("sock", "__sk_common.skc_rcv_saddr"), []byte{10, 0, 0, 1})
	b.Mem.Write(tsk+off("sock", "__sk_common.skc_daddr"), []byte{10, 0, 0, 2})
	b.Mem.Write(tsk+off("sock", "__sk_common.skc_dport"), []byte{0x15, 0xb3}) // 5555, big-endian
	w16(tsk+off("sock", "__sk_common.skc_num"), 22)
	for m, v := range map[string]uint32{"rcv_nxt": 103, "copied_seq": 100, "write_seq": 2, "snd_una": 0xfffffffd} {
		b.Mem.WriteU32(tsk+off("tcp_sock", m), v)
	}
	// A TCP listener with 2 connections waiting for accept.
	lis, lsk := sock("tcp_sock", 2, 1, 6, 10, 1)
	w16(lsk+off("sock", "__sk_common.skc_num"), 80)
	b.Mem.WriteU32(lsk+off("sock", "sk_ack_backlog"), 2)
	// UDP over IPv6 bound to ::1, 512 bytes received, 100 being sent.
	udp, usk := sock("sock", 10, 2, 17, 7, 1)
	b.Mem.Write(usk+off("sock", "__sk_common.skc_v6_rcv_saddr"), []byte{15: 1})
	w16(usk+off("sock", "__sk_common.skc_num"), 53)
	b.Mem.WriteU32(usk+off("sock", "sk_backlog.rmem_alloc"), 512)
	b.Mem.WriteU32(usk+off("sock", "sk_wmem_alloc"), 101)
	// Unix sockets: a path, an abstract name, none.
	unixAt := func(name string) (uint64, uint64) {
		so, sk := sock("unix_sock", 1, 1, 0, 1, 3)
		if name != "" {
			a := b.Alloc(128)
			b.Mem.WriteU32(a+off("unix_address", "len"), uint32(2+len(name)))
			b.Mem.Write(a+off("unix_address", "name")+2, []byte(name))
			b.Mem.WriteU64(sk+off("unix_sock", "addr"), a)
		}
		b.Mem.WriteU32(sk+off("sock", "sk_receive_queue.qlen"), 4)
		return so, sk
	}
	path, _ := unixAt("/run/x.sock\x00")
	abstract, _ := unixAt("\x00kw\x00x")
	anon, _ := unixAt("")
	released, _ := sock("sock", 1, 2, 0, 0, 1)
	b.Mem.WriteU64(released+off("socket", "sk"), 0)

	p := b.Program()
	for _, tc := range []struct {
		name  string
		addr  uint64
		check func(s Socket) bool
	}{
		{"tcp", tcp, func(s Socket) bool {
			return s.Family == "INET" && s.Type == "STREAM" && s.ProtoName == "TCP" && s.State == "ESTABLISHED" &&
				s.Local == "10.0.0.1" && s.LocalPt == 22 && s.Remote == "10.0.0.2" && s.RemotePt == 5555 && s.RecvQ == 3 && s.SendQ == 5
		}},
		{"listener", lis, func(s Socket) bool { return s.State == "LISTEN" && s.Listen && s.LocalPt == 80 && s.RecvQ == 2 }},
		{"udp6", udp, func(s Socket) bool {
			return s.Family == "INET6" && s.Type == "DGRAM" && s.ProtoName == "UDP" && s.State == "CLOSE" &&
				s.Local == "::1" && s.LocalPt == 53 && s.RecvQ == 512 && s.SendQ == 100
		}},
		{"unix path", path, func(s Socket) bool {
			return s.Family == "UNIX" && s.State == "CONNECTED" && s.Local == "/run/x.sock" && s.RecvQ == 4
		}},
		{"unix abstract", abstract, func(s Socket) bool { return s.Local == "@kw@x" }},
		{"unix unbound", anon, func(s Socket) bool { return s.Local == "" && s.State == "CONNECTED" }},
		{"released", released, func(s Socket) bool { return s.State == "released" && s.Sock == 0 }},
	} {
		s, err := ReadSocket(p, tc.addr)
		if err != nil || len(s.Errors) > 0 || !tc.check(s) {
			t.Errorf("%s: %+v, %v", tc.name, s, err)
		}
	}
	if _, err := ReadSocket(p, 0xffff888099990000); err == nil {
		t.Errorf("unmapped socket: no error")
	}
}
