package net

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/kwalk/kwalk/symbols"
	"github.com/kwalk/kwalk/walkers/kmem"
)

// Network namespaces and the ARP cache (crash's net -n and net -a).

// TaskNetNamespace returns the address of task's network namespace,
// task->nsproxy->net_ns (include/linux/nsproxy.h). An exited task has no
// nsproxy.
func TaskNetNamespace(p *symbols.Program, task symbols.Object) (uint64, error) {
	nsp, err := task.MemberUint("nsproxy")
	if err != nil {
		return 0, err
	}
	if nsp == 0 {
		return 0, fmt.Errorf("task %#x has no nsproxy (it has exited)", task.Addr())
	}
	o, err := p.Object("struct nsproxy", nsp)
	if err != nil {
		return 0, fmt.Errorf("nsproxy %#x: %w", nsp, err)
	}
	ns, err := o.MemberUint("net_ns")
	if err != nil {
		return 0, fmt.Errorf("nsproxy %#x: %w", nsp, err)
	}
	if ns == 0 {
		return 0, fmt.Errorf("nsproxy %#x has no net_ns", nsp)
	}
	return ns, nil
}

// InitNet returns the address of the initial network namespace, init_net.
func InitNet(p *symbols.Program) (uint64, error) { return p.Symbol("init_net") }

// Neighbour is one entry of a neighbour table (struct neighbour,
// include/net/neighbour.h): for the ARP cache an IPv4 address and the
// hardware address it resolves to.
type Neighbour struct {
	Addr uint64 `json:"addr"`
	IP   string `json:"ip"`
	// HWType is the device's ARPHRD_* type (include/uapi/linux/if_arp.h),
	// HWTypeName its name.
	HWType     uint64 `json:"hw_type"`
	HWTypeName string `json:"hw_type_name"`
	HWAddr     string `json:"hw_addr"`
	Device     string `json:"device"`
	DeviceAddr uint64 `json:"device_addr"`
	// State is nud_state (NUD_*, include/uapi/linux/neighbour.h), States
	// its names.
	State  uint64   `json:"state"`
	States []string `json:"state_names"`
	Errors []string `json:"errors,omitempty"`
}

// nudNames are the NUD_* bits, lowest first.
var nudNames = []string{"INCOMPLETE", "REACHABLE", "STALE", "DELAY", "PROBE", "FAILED", "NOARP", "PERMANENT"}

// NUDNames names the bits of a nud_state ("NONE" for 0).
func NUDNames(s uint64) []string {
	if s == 0 {
		return []string{"NONE"}
	}
	var out []string
	for b := 0; b < 8; b++ {
		if s&(1<<b) != 0 {
			out = append(out, nudNames[b])
		}
	}
	return out
}

// arphrdNames are the ARPHRD_* types a guest commonly has.
var arphrdNames = map[uint64]string{1: "ETHER", 24: "IEEE1394", 32: "INFINIBAND", 768: "TUNNEL", 769: "TUNNEL6",
	772: "LOOPBACK", 776: "SIT", 778: "IPGRE", 65534: "NONE"}

// HWTypeName names an ARPHRD_* type, "UNKNOWN" when it is not a common one.
func HWTypeName(t uint64) string {
	if n, ok := arphrdNames[t]; ok {
		return n
	}
	return "UNKNOWN"
}

// Bounds of a neighbour table walk: hash buckets and entries.
const (
	maxNeighBuckets = 1 << 20
	maxNeighbours   = 1 << 20
)

// ARPCache returns the entries of the ARP cache, arp_tbl (net/ipv4/arp.c),
// in hash-table order, of every namespace. The table's hash is
// nht->hash_buckets, chains linked by neighbour.next, before 6.13, and
// nht->hash_heads, hlists through neighbour.hash, since
// (net/core/neighbour.c). What could not be read is in the error, with the
// entries read.
func ARPCache(p *symbols.Program) ([]Neighbour, error) {
	tblAddr, err := p.Symbol("arp_tbl")
	if err != nil {
		return nil, err
	}
	return NeighTable(p, tblAddr)
}

// NeighTable returns the entries of the struct neigh_table at tblAddr.
func NeighTable(p *symbols.Program, tblAddr uint64) ([]Neighbour, error) {
	tbl, err := p.Object("struct neigh_table", tblAddr)
	if err != nil {
		return nil, fmt.Errorf("neigh_table %#x: %w", tblAddr, err)
	}
	keyLen, err := tbl.MemberUint("key_len")
	if err != nil {
		return nil, fmt.Errorf("neigh_table %#x: %w", tblAddr, err)
	}
	nhtAddr, err := tbl.MemberUint("nht")
	if err != nil {
		return nil, fmt.Errorf("neigh_table %#x: %w", tblAddr, err)
	}
	if nhtAddr == 0 {
		return nil, nil
	}
	nht, err := p.Object("struct neigh_hash_table", nhtAddr)
	if err != nil {
		return nil, fmt.Errorf("neigh_hash_table %#x: %w", nhtAddr, err)
	}
	shift, err := nht.MemberUint("hash_shift")
	if err != nil {
		return nil, fmt.Errorf("neigh_hash_table %#x: %w", nhtAddr, err)
	}
	if shift > 30 || 1<<shift > maxNeighBuckets {
		return nil, fmt.Errorf("neigh_hash_table %#x: hash_shift %d: more than %d buckets (damaged?)", nhtAddr, shift, maxNeighBuckets)
	}
	nb := uint64(1) << shift
	var addrs []uint64
	var walkErr error
	switch {
	case nht.Type().HasMember("hash_heads"):
		heads, err := nht.MemberUint("hash_heads")
		if err != nil {
			return nil, err
		}
		link, err := p.OffsetOf("struct neighbour", "hash")
		if err != nil {
			return nil, err
		}
		for i := uint64(0); i < nb && len(addrs) < maxNeighbours; i++ {
			nodes, err := kmem.HlistNodes(p, heads+8*i, fmt.Sprintf("neigh hash bucket %d", i), maxNeighbours-len(addrs))
			for _, n := range nodes {
				addrs = append(addrs, n-link)
			}
			if err != nil {
				walkErr = err
				break
			}
		}
	case nht.Type().HasMember("hash_buckets"):
		buckets, err := nht.MemberUint("hash_buckets")
		if err != nil {
			return nil, err
		}
		next, err := p.OffsetOf("struct neighbour", "next")
		if err != nil {
			return nil, err
		}
		seen := map[uint64]bool{}
	buckets:
		for i := uint64(0); i < nb; i++ {
			n, err := p.ReadU64(buckets + 8*i)
			if err != nil {
				walkErr = fmt.Errorf("neigh hash bucket %d: %w", i, err)
				break
			}
			for n != 0 {
				if seen[n] || len(addrs) >= maxNeighbours {
					walkErr = fmt.Errorf("neigh hash bucket %d: %w at %#x", i, symbols.ErrCycle, n)
					break buckets
				}
				seen[n] = true
				addrs = append(addrs, n)
				nx, err := p.ReadU64(n + next)
				if err != nil {
					walkErr = fmt.Errorf("neighbour %#x: next: %w", n, err)
					break buckets
				}
				n = nx
			}
		}
	default:
		return nil, fmt.Errorf("struct neigh_hash_table has neither hash_heads nor hash_buckets: %w", symbols.ErrNoMember)
	}
	out := make([]Neighbour, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, readNeighbour(p, a, keyLen))
	}
	return out, walkErr
}

// readNeighbour decodes the struct neighbour at addr; keyLen is the
// table's key length (4: an IPv4 address; 16: IPv6).
func readNeighbour(p *symbols.Program, addr, keyLen uint64) Neighbour {
	n := Neighbour{Addr: addr}
	note := func(err error) {
		if err != nil {
			n.Errors = append(n.Errors, err.Error())
		}
	}
	o, err := p.Object("struct neighbour", addr)
	if err != nil {
		note(err)
		return n
	}
	if key, err := p.OffsetOf("struct neighbour", "primary_key"); err != nil {
		note(err)
	} else if keyLen == 4 || keyLen == 16 {
		b := make([]byte, keyLen)
		if err := p.Mem.ReadVirt(b, addr+key); err != nil {
			note(fmt.Errorf("neighbour %#x primary_key: %w", addr, err))
		} else if ip, ok := netip.AddrFromSlice(b); ok {
			n.IP = ip.String()
		}
	} else {
		note(fmt.Errorf("neighbour %#x: key length %d is not an IP address's", addr, keyLen))
	}
	st, err := o.MemberUint("nud_state")
	note(err)
	n.State, n.States = st, NUDNames(st)
	dev, err := o.MemberUint("dev")
	note(err)
	alen := uint64(6)
	if dev != 0 {
		n.DeviceAddr = dev
		d, err := p.Object("struct net_device", dev)
		if err == nil {
			n.Device, err = d.MemberString("name")
			note(err)
			n.HWType, _ = d.MemberUint("type")
			if l, err := d.MemberUint("addr_len"); err == nil && l <= 32 {
				alen = l
			}
		} else {
			note(err)
		}
	}
	n.HWTypeName = HWTypeName(n.HWType)
	if ha, err := p.OffsetOf("struct neighbour", "ha"); err != nil {
		note(err)
	} else if alen > 0 {
		b := make([]byte, alen)
		if err := p.Mem.ReadVirt(b, addr+ha); err != nil {
			note(fmt.Errorf("neighbour %#x ha: %w", addr, err))
		} else {
			parts := make([]string, len(b))
			for i, c := range b {
				parts[i] = fmt.Sprintf("%02x", c)
			}
			n.HWAddr = strings.Join(parts, ":")
		}
	}
	return n
}
