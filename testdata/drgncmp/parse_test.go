package main

import (
	"reflect"
	"testing"
	"time"
)

func TestParseKwalkPS(t *testing.T) {
	out := `   PID    PPID  CPU        TASK        ST  %MEM      VSZ      RSS  COMM
>     0       0    0  ffffffff8721aa40  RU   0.0        0        0  [swapper/0]
>     0       0    1  ffff897081260000  RU   0.0        0        0  [swapper/1]
      1       0    0  ffff8970811f20c0  IN   0.7     2260     1668  init
    111     100    1  ffff8970811f4180  UN   0.0     2260     1000  truncate
     12       2    0  ffff8970811f8300  I    0.0        0        0  [kworker/0:1]
`
	got, err := parseKwalkPS(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []task{{0, "R"}, {0, "R"}, {1, "S"}, {111, "D"}, {12, "I"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	n, d, pids := taskCounts(got)
	if n != 3 || d != 1 || !reflect.DeepEqual(pids, []int{1, 12, 111}) {
		t.Fatalf("taskCounts = %d, %d, %v", n, d, pids)
	}
	if _, err := parseKwalkPS("no header here\n"); err == nil {
		t.Fatal("no error for a table without PID and ST columns")
	}
}

func TestParseDrgnPS(t *testing.T) {
	got, err := parseDrgnPS("1 S init\n111 D truncate\n\n2 I kworker/0:1 name with spaces\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []task{{1, "S"}, {111, "D"}, {2, "I"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := parseDrgnPS("x S init\n"); err == nil {
		t.Fatal("no error for a bad pid")
	}
}

func TestDiffPIDs(t *testing.T) {
	for _, c := range []struct {
		a, b, onlyA, onlyB []int
	}{
		{[]int{1, 2, 3}, []int{1, 2, 3}, nil, nil},
		{[]int{1, 2, 3}, []int{2, 4}, []int{1, 3}, []int{4}},
		{nil, []int{5, 6}, nil, []int{5, 6}},
		{[]int{1, 2, 3, 4}, nil, []int{1, 2}, nil}, // at most 2
	} {
		a, b := diffPIDs(c.a, c.b, 2)
		if !reflect.DeepEqual(a, c.onlyA) || !reflect.DeepEqual(b, c.onlyB) {
			t.Errorf("diffPIDs(%v, %v) = %v, %v; want %v, %v", c.a, c.b, a, b, c.onlyA, c.onlyB)
		}
	}
}

func TestCountTraces(t *testing.T) {
	kwalk := `PID: 0       TASK: ffffffff8721aa40  CPU: 0   COMMAND: "swapper/0"
 #0 [0000000000000000] native_safe_halt+0xb at ffffffff8620dfeb

PID: 1       TASK: ffff8970811f20c0  CPU: 0   COMMAND: "init"
 #0 [ffffc90000013d38] __schedule+0x2f5 at ffffffff81a0f1e5
`
	if n, e := countTraces(kwalk); n != 1 || e != 0 {
		t.Errorf("kwalk: %d traces, %d errors", n, e)
	}
	drgn := "PID: 1 init\n#0  context_switch (kernel/sched/core.c:5245:2)\nPID: 7 kworker\nerror: cannot unwind stack of running task\n"
	if n, e := countTraces(drgn); n != 2 || e != 1 {
		t.Errorf("drgn: %d traces, %d errors", n, e)
	}
}

func TestMedianRatio(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		ds   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{5 * ms}, 5 * ms},
		{[]time.Duration{9 * ms, 1 * ms, 5 * ms}, 5 * ms},
		{[]time.Duration{4 * ms, 1 * ms, 2 * ms, 100 * ms}, 3 * ms},
	} {
		if got := median(c.ds); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.ds, got, c.want)
		}
	}
	for _, c := range []struct {
		a, b time.Duration
		want string
	}{
		{220 * ms, 510 * ms, "0.43"},
		{3 * time.Second, 2 * time.Second, "1.5"},
		{26 * time.Second, 2 * time.Second, "13"},
		{1, 0, "-"},
	} {
		if got := ratio(c.a, c.b); got != c.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
	if got := seconds(2300 * ms); got != "2.30 s" {
		t.Errorf("seconds = %q", got)
	}
	if got := seconds(84600 * ms); got != "84.6 s" {
		t.Errorf("seconds = %q", got)
	}
}

func TestSimulateChanges(t *testing.T) {
	out := `Inst libsnappy1v5 (1.1.9-3 Debian:12.15/oldstable [amd64])
Inst libc6 [2.36-9+deb12u14] (2.43-7 Debian:unstable [amd64]) [libc-bin:amd64 ]
Remv python3.11-venv [3.11.2-6+deb12u6] []
Conf libsnappy1v5 (1.1.9-3 Debian:12.15/oldstable [amd64])
`
	if up, rm := simulateChanges(out); up != 1 || rm != 1 {
		t.Errorf("simulateChanges = %d upgrades, %d removals", up, rm)
	}
}

func TestParseModules(t *testing.T) {
	out := `MODULE            NAME         BASE              SIZE    STATE
ffffffffc02342c0  qemu_fw_cfg  ffffffffc0231000  20480   LIVE
ffffffffc02299c0  fuse         ffffffffc0205000  176128  LIVE
`
	if got := parseModules(out); !reflect.DeepEqual(got, []string{"qemu_fw_cfg", "fuse"}) {
		t.Errorf("parseModules = %v", got)
	}
}
