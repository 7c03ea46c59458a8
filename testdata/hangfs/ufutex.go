package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The ufutex scenario (testdata/guests.go ScenarioUfutex): /bin/ufutex,
// testdata/cprog/ufutex.c built static with glibc, prints its threads'
// ids once they are where it wants them; hangfs names them as roles and
// waits until /proc shows each in its wait.

const ufutexLock = "/tmp/ufutex.lock"

// futexWaitFuncs are where a thread asleep in a futex wait stands in
// /proc/PID/stack (kernel/futex/waitwake.c; futex_wait_queue_me before
// 5.16, futex_do_wait since 6.17).
var futexWaitFuncs = []string{"futex_wait_queue", "futex_wait_queue_me", "futex_do_wait", "futex_wait", "__futex_wait"}

// ufutexRoles: the program's name of each thread, its role, and the
// functions its /proc stack shows.
var ufutexRoles = []struct {
	name, role string
	funcs      []string
}{
	{"a", "ufutex.a", futexWaitFuncs},
	{"b", "ufutex.b", futexWaitFuncs},
	{"c", "ufutex.c", futexWaitFuncs},
	{"flockwait", "ufutex.flockwait", []string{"locks_lock_inode_wait", "flock_lock_inode_wait"}},
	{"d", "ufutex.d", futexWaitFuncs},
	{"cond", "benign.ufutex.cond", futexWaitFuncs},
	{"sleeper", "benign.ufutex.sleeper", []string{"hrtimer_nanosleep", "do_nanosleep", "common_nsleep"}},
	{"contend", "benign.ufutex.contend", futexWaitFuncs},
}

func (s *stager) ufutex() error {
	cmd := exec.Command("/bin/ufutex", ufutexLock)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("ufutex: %w", err)
	}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- l
	}()
	var l string
	select {
	case l = <-line:
	case <-time.After(stageWait):
		return fmt.Errorf("ufutex (pid %d) printed nothing in %v", cmd.Process.Pid, stageWait)
	}
	ids := map[string]int{}
	for _, f := range strings.Fields(l) {
		if k, v, ok := strings.Cut(f, "="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				ids[k] = n
			}
		}
	}
	pid := cmd.Process.Pid
	if ids["pid"] != pid || ids["flockholder"] == 0 {
		return fmt.Errorf("ufutex (pid %d): unexpected line %q", pid, l)
	}
	s.addRole("ufutex.proc", pid)
	s.addRole("ufutex.flockholder", ids["flockholder"])
	for _, r := range ufutexRoles {
		tid := ids[r.name]
		if tid == 0 {
			return fmt.Errorf("ufutex: no %s= in %q", r.name, l)
		}
		err := poll(fmt.Sprintf("%s (tid %d) in S in one of %v", r.role, tid, r.funcs), func() bool {
			st, err := readStat(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
			return err == nil && st.state == "S" && stackHasAny(pid, tid, r.funcs...)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", r.role, withWhere(err, pid))
		}
		s.addRole(r.role, tid)
	}
	return nil
}
