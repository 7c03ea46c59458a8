package net

import "testing"

func TestIsLocalPeer(t *testing.T) {
	client := Socket{Sock: 0x100, FamilyNum: afInet, Family: "INET", Protocol: 6, ProtoName: "TCP",
		Local: "127.0.0.1", LocalPt: 43442, Remote: "127.0.0.1", RemotePt: 10809}
	server := Socket{Sock: 0x200, FamilyNum: afInet, Protocol: 6, Local: "127.0.0.1", LocalPt: 10809, Remote: "127.0.0.1", RemotePt: 43442}
	listener := Socket{Sock: 0x300, FamilyNum: afInet, Protocol: 6, Listen: true, Local: "127.0.0.1", LocalPt: 10809, Remote: "127.0.0.1", RemotePt: 43442}
	other := server
	other.Sock, other.RemotePt = 0x400, 50000
	udp := server
	udp.Sock, udp.Protocol = 0x500, 17
	six := Socket{Sock: 0x600, FamilyNum: afInet6, Protocol: 6, Local: "::1", LocalPt: 10809, Remote: "::1", RemotePt: 43442}
	ux := Socket{Sock: 0x700, FamilyNum: afUnix, Family: "UNIX", Peer: 0x800}
	uxPeer := Socket{Sock: 0x800, FamilyNum: afUnix, Peer: 0x700}
	unconnected := Socket{Sock: 0x900, FamilyNum: afUnix}
	for _, tc := range []struct {
		name string
		s, o Socket
		want bool
	}{
		{"the TCP server end", client, server, true},
		{"a listener on the port", client, listener, false},
		{"another connection to the port", client, other, false},
		{"UDP with the same ports", client, udp, false},
		{"another family", client, six, false},
		{"itself", client, client, false},
		{"the unix peer", ux, uxPeer, true},
		{"an unconnected unix socket has none", unconnected, uxPeer, false},
		{"not the unix peer", ux, unconnected, false},
	} {
		if got := IsLocalPeer(tc.s, tc.o); got != tc.want {
			t.Errorf("%s: IsLocalPeer = %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		s    Socket
		want string
	}{
		{client, "TCP 127.0.0.1:43442 → 127.0.0.1:10809"},
		{Socket{FamilyNum: afInet6, Family: "INET6", Protocol: 6, ProtoName: "TCP", Local: "::1", LocalPt: 1, Remote: "::1", RemotePt: 2}, "TCP [::1]:1 → [::1]:2"},
		{ux, "unix socket"},
		{Socket{FamilyNum: afUnix, Local: "/run/nbd.sock"}, "unix socket /run/nbd.sock"},
	} {
		if got := tc.s.Endpoints(); got != tc.want {
			t.Errorf("Endpoints = %q, want %q", got, tc.want)
		}
	}
}
