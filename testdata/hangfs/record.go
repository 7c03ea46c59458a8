package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The record is the guest kernel's own account of its state, printed just
// before the host dumps memory. testdata/truth parses it; keep them in step.
//
//	KWALK-TRUTH-BEGIN
//	meta KEY=VALUE                      release, la57, cmdline, scenarios, recorder
//	role NAME pid=PID                   who plays which part in a scenario
//	<lines of /proc/self/mountinfo>
//	fuseconn DEV waiting=N              /sys/fs/fuse/connections/DEV/waiting
//	lock <a line of /proc/locks>        granted file locks and the requests waiting for them
//	file PATH                           a system file (recordFiles), its lines follow:
//	  | LINE
//	task tid=T pid=P comm=C state=S SigPnd:=HEX ShdPnd:=HEX ppid=PP flags=0xF cpu=N SigBlk=HEX SigIgn=HEX SigCgt=HEX
//	  stack [<0>] FUNC+0xOFF/0xLEN [MODULE]
//	  fd N -> TARGET                    thread-group leaders only
//	  map <a line of /proc/PID/maps>    thread-group leaders only
//	KWALK-TRUTH-END
const (
	truthBegin = "KWALK-TRUTH-BEGIN"
	truthEnd   = "KWALK-TRUTH-END"
)

// role names a process that plays a part in a scenario.
type role struct {
	name string
	pid  int
}

// writeRecord writes the record. noMaps are processes whose maps are
// left out: a scenario keeps their mmap_lock contended, and reading
// /proc/PID/maps (which takes it, before 6.17's per-VMA reads) would
// block the recorder. locks, when not nil, is /proc/locks as a scenario
// read it before it stopped RCU grace periods: reading it takes
// file_rwsem for write (fs/locks.c locks_start, percpu_down_write), which
// waits for one.
func writeRecord(w io.Writer, meta []string, roles []role, noMaps map[int]bool, locks []byte) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	fmt.Fprintln(bw, truthBegin)
	for _, m := range meta {
		fmt.Fprintf(bw, "meta %s\n", m)
	}
	for _, r := range roles {
		fmt.Fprintf(bw, "role %s pid=%d\n", r.name, r.pid)
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		bw.Write(mi)
	} else {
		fmt.Fprintf(bw, "error mountinfo: %v\n", err)
	}
	conns, _ := filepath.Glob("/sys/fs/fuse/connections/*/waiting")
	for _, c := range conns {
		b, err := os.ReadFile(c)
		if err != nil {
			continue
		}
		fmt.Fprintf(bw, "fuseconn %s waiting=%s\n", filepath.Base(filepath.Dir(c)), strings.TrimSpace(string(b)))
	}
	var err error
	if locks == nil {
		locks, err = os.ReadFile("/proc/locks")
	}
	if err == nil {
		for _, l := range strings.Split(string(locks), "\n") {
			if l != "" {
				fmt.Fprintf(bw, "lock %s\n", l)
			}
		}
	} else {
		fmt.Fprintf(bw, "error locks: %v\n", err)
	}
	for _, path := range recordFiles {
		writeFile(bw, path)
	}
	// Tasks started while the record is written (a kworker the pool adds,
	// a thread of ours) would otherwise be missing from it with tids lower
	// than recorded ones: list /proc again until nothing is new.
	written := map[int]bool{}
	for added := true; added; {
		added = false
		for _, pid := range numericDir("/proc") {
			if written[pid] {
				continue
			}
			written[pid], added = true, true
			for _, tid := range numericDir(fmt.Sprintf("/proc/%d/task", pid)) {
				writeTask(bw, pid, tid, !noMaps[pid])
			}
		}
	}
	fmt.Fprintln(bw, truthEnd)
	return bw.Flush()
}

func writeTask(w io.Writer, pid, tid int, maps bool) {
	dir := fmt.Sprintf("/proc/%d/task/%d", pid, tid)
	st, err := readStat(dir + "/stat")
	if err != nil {
		return // exited meanwhile
	}
	status := readStatus(dir + "/status")
	name := status["Name"]
	if name == "" {
		name = st.comm
	}
	fmt.Fprintf(w, "task tid=%d pid=%d comm=%s state=%s SigPnd:=%s ShdPnd:=%s ppid=%d flags=%#x cpu=%d SigBlk=%s SigIgn=%s SigCgt=%s\n",
		tid, pid, name, st.state, status["SigPnd"], status["ShdPnd"], st.ppid, st.flags, st.cpu,
		status["SigBlk"], status["SigIgn"], status["SigCgt"])
	if stack, err := os.ReadFile(dir + "/stack"); err == nil {
		for _, l := range strings.Split(strings.TrimRight(string(stack), "\n"), "\n") {
			if l != "" {
				fmt.Fprintf(w, "  stack %s\n", l)
			}
		}
	}
	if tid != pid {
		return
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	for _, fd := range numericDir(fdDir) {
		target, err := os.Readlink(fmt.Sprintf("%s/%d", fdDir, fd))
		if err != nil {
			continue
		}
		fmt.Fprintf(w, "  fd %d -> %s\n", fd, target)
	}
	if !maps {
		return
	}
	if maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid)); err == nil {
		for _, l := range strings.Split(strings.TrimRight(string(maps), "\n"), "\n") {
			if l != "" {
				fmt.Fprintf(w, "  map %s\n", l)
			}
		}
	}
}

// recordFiles are the system files the record carries whole: the kernel's
// own account of memory, slab caches, zones, interrupts, swap, network
// and timers, for the commands that read the same state from a dump.
var recordFiles = []string{
	"/proc/meminfo", "/proc/slabinfo", "/proc/zoneinfo", "/proc/vmstat", "/proc/buddyinfo",
	"/proc/interrupts", "/proc/softirqs", "/proc/stat", "/proc/uptime", "/proc/loadavg",
	"/proc/swaps", "/proc/partitions", "/proc/diskstats", "/proc/devices", "/proc/modules",
	"/proc/net/dev", "/proc/net/unix", "/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp",
	"/proc/timer_list", "/proc/sched_debug", "/proc/schedstat", "/proc/cmdline",
}

// writeFile writes one system file as a "file PATH" line and its lines,
// each after "  | "; a file that cannot be read is left out.
func writeFile(w io.Writer, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	fmt.Fprintf(w, "file %s\n", path)
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		fmt.Fprintf(w, "  | %s\n", l)
	}
}

type statLine struct {
	comm  string
	state string
	ppid  int
	flags uint64
	cpu   int // the CPU it last ran on (field 39, "processor")
}

// readStat reads /proc/PID/stat (fs/proc/array.c do_task_stat): comm is in
// parentheses and may hold spaces, so fields are counted after the last ')'.
func readStat(path string) (statLine, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return statLine{}, err
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return statLine{}, fmt.Errorf("%s: no comm", path)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 7 {
		return statLine{}, fmt.Errorf("%s: short", path)
	}
	ppid, _ := strconv.Atoi(f[1])
	flags, _ := strconv.ParseUint(f[6], 10, 64)
	cpu := -1
	if len(f) > 36 { // fields after comm start at state, the 3rd field
		cpu, _ = strconv.Atoi(f[36])
	}
	return statLine{comm: s[open+1 : end], state: f[0], ppid: ppid, flags: flags, cpu: cpu}, nil
}

func readStatus(path string) map[string]string {
	m := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return m
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// numericDir lists the numeric names in dir, sorted.
func numericDir(dir string) []int {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}
