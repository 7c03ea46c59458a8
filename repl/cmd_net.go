package repl

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/kwalk/kwalk/walkers/net"
	"github.com/kwalk/kwalk/walkers/sched"
)

func registerNet(r *Registry) {
	r.Add(&Command{
		Name:    "net",
		Summary: "network devices, or the sockets of tasks",
		Usage:   "net [-s [PID|TASK-ADDR]...] [-n [PID|TASK-ADDR]] [-a]",
		Help: `Without flags, lists the network devices of the initial network namespace
(init_net.dev_base_head, the order of /proc/net/dev), like crash's net:
the net_device, its name, IPv4 addresses (from its in_device), MTU,
hardware address and IFF_* flags.

-n lists instead the devices of a network namespace: that of the current
task, or of the task given (task->nsproxy->net_ns), like crash's net -n;
"namespace" in JSON is the struct net's address.

-a lists the ARP cache (arp_tbl's neighbours, every namespace's), like
crash's net -a and /proc/net/arp: the struct neighbour, the IPv4 address,
the device's hardware type (ARPHRD_*), the hardware address, the device
and the NUD_* state.

-s lists the open sockets of the current task, or of each task given by
pid or task_struct address, like crash's net -s: fd, struct socket,
struct sock, family and type, protocol, state (TCP_* for inet sockets,
the socket's SS_* state for unix ones, as /proc/net/unix shows it), local
and remote address and port (a unix socket's path, "@name" for an
abstract one), queued data (bytes for inet sockets as /proc/net/tcp and
udp show them; for unix sockets the skbs on the receive queue, or a
listener's backlog), and the socket inode's number (the N of the fd's
"socket:[N]" link).

JSON: {"devices":[{"addr","name","ifindex","flags","flag_names","mtu",
"type","hw_addr","ipv4":[],"errors"}],"namespace" (-n)}, with -a
{"arp":[{"addr","ip","hw_type","hw_type_name","hw_addr","device",
"device_addr","state","state_names","errors"}]}, with -s {"tasks":[{"pid","comm",
"task","sockets":[{"fd","file","inode","socket","sock","family",
"family_num","type","protocol","proto_name","state","sk_state",
"listening","local","remote","local_port","remote_port","recv_q",
"send_q","peer","errors"}],"error"}]}; addresses are hex strings.`,
		Flags: []Flag{
			{Name: "s", Help: "the sockets of the current task, or of the tasks given"},
			{Name: "n", Help: "the devices of the network namespace of the current task, or of the task given"},
			{Name: "a", Help: "the ARP cache"},
		},
		Examples: []string{"net", "net -s", "net -s 1234 1", "net -s --json", "net -n 1234", "net -a"},
		Run:      runNet,
	})
}

// NetResult is net's JSON document (see its help).
type NetResult struct {
	Devices []NetDevice `json:"devices,omitempty"`
	// Namespace (-n) is the struct net whose devices these are.
	Namespace Hex           `json:"namespace,omitempty"`
	Tasks     []NetTask     `json:"tasks,omitempty"`
	ARP       []NetNeighbor `json:"arp,omitempty"`
	Warnings  []string      `json:"warnings,omitempty"`
	sockets   bool
	arp       bool
}

// ResultWarnings implements Warner: why the device list is partial.
func (r NetResult) ResultWarnings() []string { return r.Warnings }

// MarshalJSON writes the list of the mode net ran in, empty as [].
func (r NetResult) MarshalJSON() ([]byte, error) {
	if r.sockets {
		return json.Marshal(struct {
			Tasks    []NetTask `json:"tasks"`
			Warnings []string  `json:"warnings,omitempty"`
		}{nonNil(r.Tasks), r.Warnings})
	}
	if r.arp {
		return json.Marshal(struct {
			ARP      []NetNeighbor `json:"arp"`
			Warnings []string      `json:"warnings,omitempty"`
		}{nonNil(r.ARP), r.Warnings})
	}
	return json.Marshal(struct {
		Devices   []NetDevice `json:"devices"`
		Namespace Hex         `json:"namespace,omitempty"`
		Warnings  []string    `json:"warnings,omitempty"`
	}{nonNil(r.Devices), r.Namespace, r.Warnings})
}

// NetDevice is one network device of net.
type NetDevice struct {
	Addr      Hex      `json:"addr"`
	Name      string   `json:"name"`
	Index     int      `json:"ifindex"`
	Flags     Hex      `json:"flags"`
	FlagNames []string `json:"flag_names,omitempty"`
	MTU       uint64   `json:"mtu"`
	Type      uint64   `json:"type"`
	HWAddr    string   `json:"hw_addr,omitempty"`
	IPv4      []string `json:"ipv4,omitempty"`
	Errors    []string `json:"errors,omitempty"`
}

// NetTask is one task of net -s.
type NetTask struct {
	PID     int         `json:"pid"`
	Comm    string      `json:"comm"`
	Task    Hex         `json:"task"`
	CPU     int         `json:"cpu"`
	Sockets []NetSocket `json:"sockets"`
	Error   string      `json:"error,omitempty"`
}

// NetSocket is one socket of net -s (net.FDSocket with addresses as
// strings).
type NetSocket struct {
	FD         int      `json:"fd"`
	File       Hex      `json:"file"`
	Inode      uint64   `json:"inode"`
	Socket     Hex      `json:"socket"`
	Sock       Hex      `json:"sock"`
	Family     string   `json:"family"`
	FamilyNum  int      `json:"family_num"`
	Type       string   `json:"type"`
	Protocol   int      `json:"protocol"`
	ProtoName  string   `json:"proto_name,omitempty"`
	State      string   `json:"state"`
	SkState    int      `json:"sk_state"`
	Listening  bool     `json:"listening,omitempty"`
	Local      string   `json:"local,omitempty"`
	Remote     string   `json:"remote,omitempty"`
	LocalPort  int      `json:"local_port,omitempty"`
	RemotePort int      `json:"remote_port,omitempty"`
	RecvQ      uint64   `json:"recv_q"`
	SendQ      uint64   `json:"send_q"`
	Peer       Hex      `json:"peer,omitempty"`
	Errors     []string `json:"errors,omitempty"`
}

func runNet(c *Call) (Result, error) {
	n := 0
	for _, f := range []string{"s", "n", "a"} {
		if c.Bool(f) {
			n++
		}
	}
	if n > 1 {
		return nil, UsageErrorf("net: -s, -n and -a exclude each other")
	}
	if c.Bool("a") {
		return runNetARP(c) // cmd_net_crash.go
	}
	if !c.Bool("s") {
		var devs []net.Device
		var err error
		res := NetResult{}
		if c.Bool("n") {
			if err := c.NeedArgs(0, 1); err != nil {
				return nil, err
			}
			ns, nerr := netNamespaceOf(c) // cmd_net_crash.go
			if nerr != nil {
				return nil, nerr
			}
			res.Namespace = Hex(ns)
			devs, err = net.NamespaceDevices(c.Prog, ns)
		} else {
			if err := c.NeedArgs(0, 0); err != nil {
				return nil, err
			}
			devs, err = net.Devices(c.Prog)
		}
		if err != nil && len(devs) == 0 {
			return nil, err
		}
		for _, d := range devs {
			res.Devices = append(res.Devices, NetDevice{Addr: Hex(d.Addr), Name: d.Name, Index: d.Index, Flags: Hex(d.Flags),
				FlagNames: d.FlagSet, MTU: d.MTU, Type: d.Type, HWAddr: d.HWAddr, IPv4: d.IPv4, Errors: d.Errors})
		}
		if err != nil {
			res.Warnings = append(res.Warnings, err.Error())
		}
		return res, nil
	}
	objs, err := argTasks(c)
	if err != nil {
		return nil, err
	}
	res := NetResult{sockets: true}
	for _, o := range objs {
		if err := c.Ctx.Err(); err != nil {
			return nil, err
		}
		t, err := sched.TaskFromObject(o)
		if err != nil {
			return nil, err
		}
		nt := NetTask{PID: t.PID, Comm: t.Comm, Task: Hex(t.Addr), CPU: t.CPU, Sockets: []NetSocket{}}
		socks, err := net.TaskSockets(c.Prog, t)
		if err != nil {
			nt.Error = err.Error()
		}
		for _, s := range socks {
			nt.Sockets = append(nt.Sockets, NetSocket{FD: s.FD, File: Hex(s.File), Inode: s.Inode, Socket: Hex(s.Socket.Socket),
				Sock: Hex(s.Sock), Family: s.Family, FamilyNum: s.FamilyNum, Type: s.Type, Protocol: s.Protocol,
				ProtoName: s.ProtoName, State: s.State, SkState: s.SkState, Listening: s.Listen, Local: s.Local,
				Remote: s.Remote, LocalPort: s.LocalPt, RemotePort: s.RemotePt, RecvQ: s.RecvQ, SendQ: s.SendQ,
				Peer: Hex(s.Peer), Errors: s.Errors})
		}
		res.Tasks = append(res.Tasks, nt)
	}
	return res, nil
}

// WriteText implements Result: crash's net and net -s layouts.
func (r NetResult) WriteText(w io.Writer) error {
	if r.arp {
		return r.writeARP(w) // cmd_net_crash.go
	}
	if !r.sockets {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "   NET_DEVICE\tNAME\tIP ADDRESS(ES)\tMTU\tHWADDR\tFLAGS")
		for _, d := range r.Devices {
			ip := strings.Join(d.IPv4, ", ")
			fmt.Fprintf(tw, "%16x\t%s\t%s\t%d\t%s\t%s\n", uint64(d.Addr), d.Name, orNone(ip), d.MTU, orNone(d.HWAddr), strings.Join(d.FlagNames, ","))
		}
		return tw.Flush()
	}
	var b strings.Builder
	for i, t := range r.Tasks {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "PID: %-6d TASK: %016x  CPU: %-3d COMMAND: %q\n", t.PID, uint64(t.Task), t.CPU, t.Comm)
		if t.Error != "" {
			fmt.Fprintf(&b, "(error: %s)\n", t.Error)
		}
		if len(t.Sockets) == 0 {
			b.WriteString("No open sockets.\n")
			continue
		}
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FD\tSOCKET\tSOCK\tFAMILY:TYPE\tPROTO\tSTATE\tLOCAL\tREMOTE\tRECV-Q\tSEND-Q\tINODE")
		for _, s := range t.Sockets {
			local, remote := s.Local, s.Remote
			if s.Family == "INET" || s.Family == "INET6" {
				local = hostPort(s.Local, s.LocalPort)
				remote = hostPort(s.Remote, s.RemotePort)
			}
			proto := s.ProtoName
			if proto == "" {
				proto = fmt.Sprint(s.Protocol)
			}
			fmt.Fprintf(tw, "%d\t%x\t%x\t%s:%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\n", s.FD, uint64(s.Socket), uint64(s.Sock),
				s.Family, s.Type, proto, s.State, orDash(local), orDash(remote), s.RecvQ, s.SendQ, s.Inode)
		}
		tw.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func hostPort(addr string, port int) string {
	if strings.Contains(addr, ":") {
		return fmt.Sprintf("[%s]:%d", addr, port)
	}
	return fmt.Sprintf("%s:%d", addr, port)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
