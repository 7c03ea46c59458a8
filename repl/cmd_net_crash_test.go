package repl

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

func TestNetARPText(t *testing.T) {
	var b bytes.Buffer
	r := NetResult{arp: true, ARP: []NetNeighbor{
		{Addr: 0xffff888001000000, IP: "10.0.2.2", HWTypeName: "ETHER", HWAddr: "52:55:0a:00:02:02", Device: "eth0", StateNames: []string{"REACHABLE"}},
		{Addr: 0xffff888001000200, IP: "127.0.0.1", HWTypeName: "LOOPBACK", Device: "lo", StateNames: []string{"NOARP"}},
	}}
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "NEIGHBOUR         IP ADDRESS  HW TYPE   HW ADDRESS         DEVICE  STATE\n" +
		"ffff888001000000  10.0.2.2    ETHER     52:55:0a:00:02:02  eth0    REACHABLE\n" +
		"ffff888001000200  127.0.0.1   LOOPBACK  -                  lo      NOARP\n"
	if b.String() != want {
		t.Errorf("net -a:\n%s\nwant\n%s", b.String(), want)
	}
}

// TestNetNamespaceARPRealDumps checks net -n against the guest's
// /proc/net/dev for every recorded process (the guests run in the initial
// namespace: each one's is init_net) and that net -a reads the ARP cache
// without a warning (the guests' only device, lo, is down: it is empty).
func TestNetNamespaceARPRealDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		t.Run(d.Name, func(t *testing.T) {
			netdev, ok := d.Truth.Files["/proc/net/dev"]
			if !ok {
				t.Skip("the record has no /proc/net/dev")
			}
			var want []string
			for _, l := range netdev {
				if name, _, ok := strings.Cut(l, ":"); ok && !strings.Contains(name, "|") {
					want = append(want, strings.TrimSpace(name))
				}
			}
			p := walktest.OpenReal(t, d)
			initNet, err := p.Symbol("init_net")
			if err != nil {
				t.Skip(err)
			}
			var out, errb bytes.Buffer
			s := NewSession(p, NewDefaultRegistry(), &out, &errb)
			checked := 0
			for _, w := range d.Truth.Tasks {
				if w.TID != w.PID || w.State == 'Z' || walktest.RecorderTask(d.Truth, w.TID) {
					continue
				}
				var res NetResult
				execJSON(t, s, &out, &errb, fmt.Sprintf("net -n %d", w.TID), &res)
				var got []string
				for _, dv := range res.Devices {
					got = append(got, dv.Name)
				}
				if uint64(res.Namespace) != initNet || !reflect.DeepEqual(got, want) {
					t.Errorf("net -n %d: namespace %#x devices %v; want init_net %#x, /proc/net/dev's %v", w.TID, uint64(res.Namespace), got, initNet, want)
				}
				if checked++; checked >= 20 {
					break
				}
			}
			if checked == 0 {
				t.Errorf("no recorded process checked")
			}
			var arp NetResult
			execJSON(t, s, &out, &errb, "net -a", &arp)
			if len(arp.Warnings) > 0 {
				t.Errorf("net -a: %v", arp.Warnings)
			}
			for _, n := range arp.ARP {
				if n.IP == "" || n.Device == "" {
					t.Errorf("net -a: entry %+v", n)
				}
			}
			out.Reset()
			if st := s.Exec(context.Background(), "net -a -s"); st != ExitUsage {
				t.Errorf("net -a -s: status %d", st)
			}
		})
	}
}
