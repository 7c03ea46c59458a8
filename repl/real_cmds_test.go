package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestRealDumpScratch runs the commands in $KWALK_SCRATCH (";"-separated)
// on the real dump and logs their output: a debugging aid.
func TestRealDumpScratch(t *testing.T) {
	if os.Getenv("KWALK_SCRATCH") == "" {
		t.Skip("set KWALK_SCRATCH='cmd; cmd' to run commands on the real dump")
	}
	prog := openRealDump(t)
	var out, errb bytes.Buffer
	s := NewSession(prog, NewDefaultRegistry(), &out, &errb)
	for _, line := range strings.Split(os.Getenv("KWALK_SCRATCH"), ";") {
		out.Reset()
		errb.Reset()
		st := s.Exec(context.Background(), line)
		t.Logf("%s -> %d\n%s%s", line, st, out.String(), errb.String())
	}
}

// TestRealDumpCommands checks core commands against what the guest
// recorded (console.log) and what the dump's own structures say.
func TestRealDumpCommands(t *testing.T) {
	prog := openRealDump(t)
	console, err := os.ReadFile("/work/shared/vmcores/6.1-cloud/console.log")
	if err != nil {
		t.Skipf("SKIP: console.log: %v", err)
	}
	tests := []struct {
		line string
		want []string
	}{
		{"p init_task.comm", []string{`init_task.comm = "swapper/0"`}},
		{"p init_uts_ns.name.machine", []string{`"x86_64"`}},
		{"p runqueues", []string{"PER-CPU DATA TYPE:", "struct rq runqueues;", "[0]: ", "[1]: "}},
		{"p runqueues:1.cpu", []string{"runqueues:1.cpu = 1"}},
		{"set -c 1", []string{"CPU: 1", "STATE: TASK_RUNNING"}},
		{"whatis init_task", []string{"struct task_struct init_task;"}},
		{"struct -o list_head", []string{"[0x8] struct list_head *prev;"}},
		{"sym -q __schedule", []string{"(t) __schedule"}},
		{"dis schedule", []string{"<schedule>:", "<__schedule>"}},
		{"rd -a linux_banner", []string{"Linux version 6.1.0-50-cloud-amd64"}},
	}
	// The guest mounted fuse.hangfs file systems: the fuse module is loaded.
	if bytes.Contains(console, []byte("fuse.hangfs")) {
		tests = append(tests, struct {
			line string
			want []string
		}{"mod fuse", []string{"fuse", "LIVE"}})
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		s := NewSession(prog, NewDefaultRegistry(), &out, &errb)
		if st := s.Exec(context.Background(), tc.line); st != ExitOK {
			t.Errorf("%s: status %d: %s", tc.line, st, errb.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.line, w, out.String())
			}
		}
	}
}

// TestRealDumpVtop checks that vtop's physical address holds the same bytes
// as the virtual one, and that ptov inverts it for a direct-map address.
func TestRealDumpVtop(t *testing.T) {
	prog := openRealDump(t)
	s := NewSession(prog, NewDefaultRegistry(), &bytes.Buffer{}, &bytes.Buffer{})
	for _, sym := range []string{"init_task", "jiffies"} {
		c, _ := s.prepare(context.Background(), []string{"vtop", sym}, &bytes.Buffer{})
		res, err := c.cmd.Run(c)
		if err != nil {
			t.Fatal(err)
		}
		x := res.(Translations).Translations[0]
		if x.Physical == nil {
			t.Fatalf("vtop %s: %s", sym, x.Error)
		}
		v := make([]byte, 64)
		p := make([]byte, 64)
		if err := prog.Mem.ReadVirt(v, uint64(x.Virtual)); err != nil {
			t.Fatal(err)
		}
		if err := prog.Mem.ReadPhys(p, uint64(*x.Physical)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(v, p) {
			t.Errorf("vtop %s: %#x and physical %#x differ", sym, uint64(x.Virtual), uint64(*x.Physical))
		}
	}
	// A direct-map address: ptov(vtop(va)) == va.
	task, err := prog.Variable("init_task")
	if err != nil {
		t.Fatal(err)
	}
	next, err := task.MemberUint("tasks.next") // a task_struct in the direct map (slab)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := s.prepare(context.Background(), []string{"vtop", fmt.Sprintf("%#x", next)}, &bytes.Buffer{})
	res, err := c.cmd.Run(c)
	if err != nil {
		t.Fatal(err)
	}
	pa := res.(Translations).Translations[0].Physical
	c, _ = s.prepare(context.Background(), []string{"ptov", pa.String()}, &bytes.Buffer{})
	res, err = c.cmd.Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := uint64(res.(Translations).Translations[0].Virtual); got != next {
		t.Errorf("ptov(vtop(%#x)) = %#x", next, got)
	}
}

// TestRealDumpSearch finds the list neighbours of a task: the next task's
// tasks.prev and the previous task's tasks.next point at its tasks member.
func TestRealDumpSearch(t *testing.T) {
	prog := openRealDump(t)
	init, err := prog.Variable("init_task")
	if err != nil {
		t.Fatal(err)
	}
	first, err := init.MemberUint("tasks.next") // &T.tasks of the first task
	if err != nil {
		t.Fatal(err)
	}
	second, err := prog.ReadU64(first) // T.tasks.next: the second task's tasks
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	s := NewSession(prog, NewDefaultRegistry(), &out, &errb)
	if st := s.Exec(context.Background(), fmt.Sprintf("search %#x", first)); st != ExitOK {
		t.Fatalf("status %d: %s", st, errb.String())
	}
	// init_task.tasks.next is in the kernel image, seen through the direct
	// map; the second task's tasks.prev is at second+8 in the direct map.
	if want := fmt.Sprintf("%x: %x", second+8, first); !strings.Contains(out.String(), want) {
		t.Errorf("search %#x: no hit %q in:\n%s", first, want, out.String())
	}
	out.Reset()
	if st := s.Exec(context.Background(), fmt.Sprintf("search -s _sdata -e _edata %#x", first)); st != ExitOK {
		t.Fatalf("status %d: %s", st, errb.String())
	}
	if !strings.Contains(out.String(), "(init_task+") {
		t.Errorf("virtual search of the kernel data did not find init_task.tasks.next:\n%s", out.String())
	}
}

// TestRealDumpUptime: the uptime sys derives from the timekeeper is at
// least the timestamp of the last kernel message the guest printed, and
// the load average is a plausible fraction.
func TestRealDumpUptime(t *testing.T) {
	prog := openRealDump(t)
	console, err := os.ReadFile("/work/shared/vmcores/6.1-cloud/console.log")
	if err != nil {
		t.Skipf("SKIP: console.log: %v", err)
	}
	last := 0.0
	for _, l := range strings.Split(string(console), "\n") {
		var ts float64
		if strings.HasPrefix(l, "[") {
			if _, err := fmt.Sscanf(strings.TrimLeft(l[1:], " "), "%f]", &ts); err == nil && ts > last {
				last = ts
			}
		}
	}
	var out bytes.Buffer
	s := NewSession(prog, NewDefaultRegistry(), &out, &bytes.Buffer{})
	s.Exec(context.Background(), "sys --json")
	var si SysInfo
	if err := json.Unmarshal(out.Bytes(), &si); err != nil {
		t.Fatal(err)
	}
	if si.UptimeSeconds == nil || *si.UptimeSeconds < last || *si.UptimeSeconds > last+3600 {
		t.Errorf("uptime %v s; the guest's last kernel message was at %.3f s", si.UptimeSeconds, last)
	}
	if len(si.LoadAverage) != 3 || si.LoadAverage[0] < 0 || si.LoadAverage[0] > 1000 {
		t.Errorf("load average %v", si.LoadAverage)
	}
	if si.CrashTime == nil {
		t.Errorf("no crash time")
	}
}
