package repl

import (
	"bytes"
	"context"
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
