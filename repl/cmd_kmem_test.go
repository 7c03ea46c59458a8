package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/walkers/walktest"
)

// TestMemoryCommandsGeneratedDumps runs kmem, swap and vm on the hangs
// dump of every kernel: each --json document decodes into its documented
// type with no unknown member, the text has crash's shape, and the answers
// agree with the guest's record where it has one.
func TestMemoryCommandsGeneratedDumps(t *testing.T) {
	for _, d := range testdata.GeneratedDumps(t) {
		if !strings.HasSuffix(d.Name, "/hangs") {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			prog := walktest.OpenReal(t, d)
			if _, err := prog.Symbol("init_task"); err != nil || (prog.Dump != nil && prog.Dump.Machine() != "x86_64") {
				t.Skipf("SKIP: not an x86_64 dump with data symbols (%v)", err)
			}
			run := func(line string) (string, string, int) {
				var out, errb bytes.Buffer
				s := NewSession(prog, NewDefaultRegistry(), &out, &errb)
				st := s.Exec(context.Background(), line)
				return out.String(), errb.String(), st
			}
			decode := func(line string, v any) {
				t.Helper()
				out, errs, st := run(line + " --json")
				if st != ExitOK {
					t.Fatalf("%s: status %d: %s %s", line, st, out, errs)
				}
				dec := json.NewDecoder(strings.NewReader(out))
				dec.DisallowUnknownFields()
				if err := dec.Decode(v); err != nil {
					t.Fatalf("%s: %v in %.300s", line, err, out)
				}
			}
			var info KmemInfoResult
			decode("kmem -i", &info)
			if info.Info == nil || info.Info.Total == 0 {
				t.Errorf("kmem -i: %+v", info)
			}
			var zones KmemZonesResult
			decode("kmem -z", &zones)
			if len(zones.Nodes) == 0 || len(zones.Nodes[0].Zones) < 2 {
				t.Errorf("kmem -z: %+v", zones)
			}
			var vs KmemVMStatResult
			decode("kmem -V", &vs)
			if len(vs.Stat.Zone) == 0 || len(vs.Stat.Node) == 0 {
				t.Errorf("kmem -V: %+v", vs)
			}
			var caches struct {
				Caches []KmemCacheRow `json:"caches"`
			}
			decode("kmem -s", &caches)
			if len(caches.Caches) < 50 {
				t.Errorf("kmem -s: %d caches", len(caches.Caches))
			}
			var one struct {
				Caches []KmemCacheRow `json:"caches"`
			}
			decode("kmem -s task_struct", &one)
			if len(one.Caches) != 1 || one.Caches[0].Name != "task_struct" {
				t.Fatalf("kmem -s task_struct: %+v", one)
			}
			var slabs struct {
				KmemSlabsHead
				Slabs []KmemSlabRow `json:"slabs"`
				KmemSlabsTail
			}
			decode("kmem -S task_struct", &slabs)
			if uint64(len(slabs.Slabs)) != one.Caches[0].Slabs || slabs.Objects != one.Caches[0].Total {
				t.Errorf("kmem -S task_struct: %d slabs %d objects; kmem -s: %+v", len(slabs.Slabs), slabs.Objects, one.Caches[0])
			}
			var addr KmemAddrResult
			decode(fmt.Sprintf("kmem %#x", uint64(slabs.Slabs[0].Base)), &addr)
			if addr.Kind != "slab" || addr.Cache != "task_struct" || addr.Offset != 0 {
				t.Errorf("kmem %#x: %+v", uint64(slabs.Slabs[0].Base), addr)
			}
			var flags KmemFlagsResult
			decode("kmem -g", &flags)
			if flags.Source != "pageflag_names" || len(flags.Flags) < 15 {
				t.Errorf("kmem -g: %+v", flags)
			}
			var sw SwapResult
			decode("swap", &sw)
			if want := len(d.Truth.Files["/proc/swaps"]) - 1; want >= 0 && len(sw.Devices) != want {
				t.Errorf("swap: %d devices, record %d", len(sw.Devices), want)
			}
			var vm VMResult
			decode("vm 1", &vm)
			if vm.PID != 1 || len(vm.VMAs) == 0 || vm.VMAs[0].Path == "" || vm.VMAs == nil {
				t.Errorf("vm 1: %+v", vm)
			}

			var fe struct {
				Command string `json:"command"`
				Tasks   []struct {
					PID    int      `json:"pid"`
					Comm   string   `json:"comm"`
					Task   Hex      `json:"task"`
					CPU    int      `json:"cpu"`
					Result VMResult `json:"result"`
					Error  string   `json:"error"`
				} `json:"tasks"`
				Warnings []string `json:"warnings"`
			}
			decode("foreach 1 vm", &fe)
			if len(fe.Tasks) != 1 || fe.Tasks[0].Error != "" || len(fe.Tasks[0].Result.VMAs) != len(vm.VMAs) {
				t.Errorf("foreach 1 vm: %+v", fe)
			}
			for _, tc := range []struct{ line, want string }{
				{"kmem -i", "COMMIT LIMIT"},
				{"kmem -s", "OBJSIZE  ALLOCATED     TOTAL  SLABS  SSIZE  NAME"},
				{"kmem -z", "MIN/LOW/HIGH"},
				{"kmem -V", "NR_FREE_PAGES"},
				{"vm 1", "[stack]"},
				{"help kmem", "-S CACHE"},
			} {
				out, errs, st := run(tc.line)
				if st != ExitOK || !strings.Contains(out, tc.want) {
					t.Errorf("%s: status %d, no %q in:\n%s%s", tc.line, st, tc.want, out, errs)
				}
			}
		})
	}
}
