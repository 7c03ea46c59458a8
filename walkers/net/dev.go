package net

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// Device is one struct net_device (include/linux/netdevice.h).
type Device struct {
	Addr    uint64   `json:"addr"`
	Name    string   `json:"name"`
	Index   int      `json:"ifindex"`
	Flags   uint64   `json:"flags"` // IFF_* (include/uapi/linux/if.h)
	FlagSet []string `json:"flag_names,omitempty"`
	MTU     uint64   `json:"mtu"`
	// Type is the ARPHRD_* hardware type (1 ether, 772 loopback).
	Type uint64 `json:"type"`
	// HWAddr is dev_addr, addr_len bytes, "aa:bb:..".
	HWAddr string `json:"hw_addr,omitempty"`
	// IPv4 are the in_device's addresses, "a.b.c.d/prefix".
	IPv4   []string `json:"ipv4,omitempty"`
	Errors []string `json:"errors,omitempty"`
}

// maxDevices bounds the device list; maxAddrs one device's addresses.
const (
	maxDevices = 1 << 16
	maxAddrs   = 1024
)

// iffNames are the IFF_* bits of enum net_device_flags
// (include/uapi/linux/if.h), lowest first.
var iffNames = []string{"UP", "BROADCAST", "DEBUG", "LOOPBACK", "POINTOPOINT", "NOTRAILERS", "RUNNING",
	"NOARP", "PROMISC", "ALLMULTI", "MASTER", "SLAVE", "MULTICAST", "PORTSEL", "AUTOMEDIA", "DYNAMIC",
	"LOWER_UP", "DORMANT", "ECHO"}

// FlagNames names the IFF_* bits of flags.
func FlagNames(flags uint64) []string {
	var out []string
	for b := 0; b < 64; b++ {
		if flags&(1<<b) == 0 {
			continue
		}
		if b < len(iffNames) {
			out = append(out, iffNames[b])
		} else {
			out = append(out, fmt.Sprintf("BIT%d", b))
		}
	}
	return out
}

// Devices returns the network devices of the initial network namespace
// in the order of init_net.dev_base_head (net/core/dev.c
// list_netdevice: the order /proc/net/dev lists them).
func Devices(p *symbols.Program) ([]Device, error) {
	net, err := p.Symbol("init_net")
	if err != nil {
		return nil, err
	}
	return NamespaceDevices(p, net)
}

// NamespaceDevices returns the network devices of the network namespace
// (struct net) at net, in the order of its dev_base_head.
func NamespaceDevices(p *symbols.Program, net uint64) ([]Device, error) {
	head, err := p.OffsetOf("struct net", "dev_base_head")
	if err != nil {
		return nil, err
	}
	link, err := p.OffsetOf("struct net_device", "dev_list")
	if err != nil {
		return nil, err
	}
	nodes, err := kmem.ListHeadNodes(p, net+head, fmt.Sprintf("net %#x dev_base_head", net), maxDevices)
	out := make([]Device, 0, len(nodes))
	for _, n := range nodes {
		d, err2 := ReadDevice(p, n-link)
		if err2 != nil {
			return out, err2
		}
		out = append(out, d)
	}
	return out, err
}

// ReadDevice decodes the net_device at addr.
func ReadDevice(p *symbols.Program, addr uint64) (Device, error) {
	d := Device{Addr: addr}
	o, err := p.Object("struct net_device", addr)
	if err != nil {
		return d, fmt.Errorf("net_device %#x: %w", addr, err)
	}
	if d.Name, err = o.MemberString("name"); err != nil {
		return d, fmt.Errorf("net_device %#x: %w", addr, err)
	}
	note := func(err error) {
		if err != nil {
			d.Errors = append(d.Errors, err.Error())
		}
	}
	idx, err := o.MemberUint("ifindex")
	note(err)
	d.Index = int(int32(idx))
	d.Flags, err = o.MemberUint("flags")
	note(err)
	d.FlagSet = FlagNames(d.Flags)
	d.MTU, err = o.MemberUint("mtu")
	note(err)
	d.Type, _ = o.MemberUint("type")
	if n, err := o.MemberUint("addr_len"); err == nil && n > 0 && n <= 32 {
		if a, err := o.MemberUint("dev_addr"); err == nil && a != 0 {
			buf := make([]byte, n)
			if err := p.Mem.ReadVirt(buf, a); err == nil {
				parts := make([]string, n)
				for i, b := range buf {
					parts[i] = fmt.Sprintf("%02x", b)
				}
				d.HWAddr = strings.Join(parts, ":")
			} else {
				note(fmt.Errorf("dev_addr %#x: %w", a, err))
			}
		}
	}
	// IPv4: ip_ptr → struct in_device, ifa_list → in_ifaddr.ifa_next
	// (include/linux/inetdevice.h).
	ind, err := o.MemberUint("ip_ptr")
	note(err)
	if ind != 0 {
		addrs, err := ipv4Addrs(p, ind)
		note(err)
		d.IPv4 = addrs
	}
	return d, nil
}

func ipv4Addrs(p *symbols.Program, inDev uint64) ([]string, error) {
	in, err := p.Object("struct in_device", inDev)
	if err != nil {
		return nil, err
	}
	ifa, err := in.MemberUint("ifa_list")
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[uint64]bool{}
	for ifa != 0 {
		if seen[ifa] || len(out) >= maxAddrs {
			return out, fmt.Errorf("in_device %#x ifa_list: %w at %#x", inDev, symbols.ErrCycle, ifa)
		}
		seen[ifa] = true
		a, err := p.Object("struct in_ifaddr", ifa)
		if err != nil {
			return out, err
		}
		local, err := a.Member("ifa_local")
		if err != nil {
			return out, err
		}
		b, err := local.Read()
		if err != nil || len(b) != 4 {
			return out, fmt.Errorf("in_ifaddr %#x: %v", ifa, err)
		}
		plen, _ := a.MemberUint("ifa_prefixlen")
		out = append(out, fmt.Sprintf("%s/%d", netip.AddrFrom4([4]byte(b)), plen))
		if ifa, err = a.MemberUint("ifa_next"); err != nil {
			return out, err
		}
	}
	return out, nil
}
