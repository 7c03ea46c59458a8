package repl

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/kwalk/kwalk/walkers/net"
)

// net's crash flags -n (a task's network namespace) and -a (the ARP
// cache).

// NetNeighbor is one ARP cache entry of net -a.
type NetNeighbor struct {
	Addr       Hex      `json:"addr"`
	IP         string   `json:"ip"`
	HWType     uint64   `json:"hw_type"`
	HWTypeName string   `json:"hw_type_name"`
	HWAddr     string   `json:"hw_addr,omitempty"`
	Device     string   `json:"device,omitempty"`
	DeviceAddr Hex      `json:"device_addr,omitempty"`
	State      uint64   `json:"state"`
	StateNames []string `json:"state_names"`
	Errors     []string `json:"errors,omitempty"`
}

// netNamespaceOf is -n's namespace: the task given, else the current one.
func netNamespaceOf(c *Call) (uint64, error) {
	tasks, err := argTasks(c)
	if err != nil {
		return 0, err
	}
	ns, err := net.TaskNetNamespace(c.Prog, tasks[0])
	if err != nil {
		return 0, fmt.Errorf("net -n: %w", err)
	}
	return ns, nil
}

func runNetARP(c *Call) (Result, error) {
	if err := c.NeedArgs(0, 0); err != nil {
		return nil, err
	}
	ns, err := net.ARPCache(c.Prog)
	if err != nil && len(ns) == 0 {
		return nil, err
	}
	res := NetResult{arp: true, ARP: []NetNeighbor{}}
	if err != nil {
		res.Warnings = append(res.Warnings, err.Error())
	}
	for _, n := range ns {
		res.ARP = append(res.ARP, NetNeighbor{Addr: Hex(n.Addr), IP: n.IP, HWType: n.HWType, HWTypeName: n.HWTypeName,
			HWAddr: n.HWAddr, Device: n.Device, DeviceAddr: Hex(n.DeviceAddr), State: n.State, StateNames: n.States, Errors: n.Errors})
		for _, e := range n.Errors {
			res.Warnings = append(res.Warnings, fmt.Sprintf("neighbour %#x: %s", n.Addr, e))
		}
	}
	return res, nil
}

// writeARP prints net -a like crash: NEIGHBOUR, IP ADDRESS, HW TYPE, HW
// ADDRESS, DEVICE, STATE.
func (r NetResult) writeARP(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NEIGHBOUR\tIP ADDRESS\tHW TYPE\tHW ADDRESS\tDEVICE\tSTATE")
	for _, n := range r.ARP {
		fmt.Fprintf(tw, "%x\t%s\t%s\t%s\t%s\t%s\n", uint64(n.Addr), orDash(n.IP), n.HWTypeName, orDash(n.HWAddr),
			orDash(n.Device), strings.Join(n.StateNames, "|"))
	}
	return tw.Flush()
}
