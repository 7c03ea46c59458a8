package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Scenario names accepted by "hangfs scenario". The generator's guest table
// (testdata/guests.go) lists which guests run which.
const (
	scSquare  = "square"  // /mnt/w: dd → truncate → rm → touch lock chain
	scReenter = "reenter" // /mnt/c: the server's WRITE re-enters its own mount
	scNetflix = "netflix" // /mnt/n: killed server in fuse_flush, init in zap_pid_ns_processes
	scIdle    = "idle"    // nothing staged
	scThreads = "threads" // threads=N: one process with N parked threads

	// The stuck guest's (stuck.go).
	scFrozen  = "frozen"  // /mnt/frz: ext2 on a loop device, frozen; writers in sb_start_write
	scLocks   = "locks"   // flock, POSIX, OFD lock waiters and a POSIX chain
	scStopped = "stopped" // SIGSTOP'd flock holder and FUSE server, each with a waiter
	scFolio   = "folio"   // /mnt/r: a reader waits on the folio another holds for its READ
	scMutex   = "mutex"   // /mnt/m: a thread waits for the f_pos_lock of a thread in READ
	scBenign  = "benign"  // sleepers that are not stuck

	// The stuck2 guest's (stuck2.go).
	scPIFutex   = "pifutex"   // a PI futex waiter (rt_mutex) behind its holder
	scVfork     = "vfork"     // a vfork parent whose child pauses before exec
	scCgFrozen  = "cgfrozen"  // a flock holder frozen by the cgroup v2 freezer, a waiter
	scPtraced   = "ptraced"   // a flock holder kept in a ptrace stop, a waiter
	scDMSuspend = "dmsuspend" // writers of a suspended device-mapper device
	scNBD       = "nbd"       // readers of NBD devices whose servers do not answer (nbd.go)

	// The stuck3 guest's (stuck3.go).
	scJbd2     = "jbd2"     // fsync waits for a journal commit stuck on a suspended device
	scCoredump = "coredump" // a core dump waits for a thread blocked on that device
	scMmapLock = "mmaplock" // ps waits for an mmap_lock held by a reader in a FUSE READ
	scSyncWB   = "syncwb"   // sync waits for a flusher worker stuck on that device
	scLoopFuse = "loopfuse" // a loop device over a FUSE file whose READ hangs
	scFuseInit = "fuseinit" // requests wait for an INIT the server never answers (stuck3_fuse.go)
	scFuseWB   = "fusewb"   // fsync waits for the WRITE of a dirty mapped page; truncate for its inode lock
	scNFS      = "nfs"      // an RPC to a stopped NFS server holds a directory's lock; a lookup waits (nfs.go)
	scFuseLock = "fuselock" // a buffered write holds a folio locked across its WRITE; a reader waits for the lock

	// The kmod guest's (kmod.go).
	scKmod   = "kmod"   // kernel threads of testdata/kmod/kwalk_hang.c stuck on kernel locks, kthread_stop, flush_work, RCU
	scUfutex = "ufutex" // threads of testdata/cprog/ufutex.c stuck behind glibc pthread mutexes (ufutex.go)
)

const (
	readyLine  = "KWALK-SCENARIO-READY"
	failedLine = "KWALK-SCENARIO-FAILED"
	stageWait  = 240 * time.Second
)

type stager struct {
	roles []role
	meta  []string // KEY=VALUE lines the scenarios add to the record
	// noMaps are processes whose /proc/PID/maps the record leaves out
	// (their mmap_lock is kept contended).
	noMaps map[int]bool
	// procLocks is /proc/locks read before a scenario stopped RCU grace
	// periods (nil: read it with the record).
	procLocks []byte
}

func (s *stager) addRole(name string, pid int) { s.roles = append(s.roles, role{name, pid}) }

func runScenarios(list string) error {
	s := &stager{}
	for _, sc := range strings.Split(list, ",") {
		name, arg, _ := strings.Cut(sc, "=")
		var err error
		switch name {
		case scSquare:
			err = s.square()
		case scReenter:
			err = s.reenter()
		case scNetflix:
			err = s.netflix()
		case scIdle:
		case scThreads:
			err = s.threads(arg)
		case scFrozen:
			err = s.frozen()
		case scLocks:
			err = s.locks()
		case scStopped:
			err = s.stopped()
		case scFolio:
			err = s.folio()
		case scMutex:
			err = s.mutex()
		case scBenign:
			err = s.benign()
		case scKdump:
			err = s.kdump(arg) // panic.go
		case scPIFutex:
			err = s.pifutex()
		case scVfork:
			err = s.vfork()
		case scCgFrozen:
			err = s.cgfrozen()
		case scPtraced:
			err = s.ptraced()
		case scDMSuspend:
			err = s.dmsuspend()
		case scNBD:
			err = s.nbd()
		case scJbd2:
			err = s.jbd2()
		case scCoredump:
			err = s.coredump()
		case scMmapLock:
			err = s.mmaplock()
		case scSyncWB:
			err = s.syncwb()
		case scLoopFuse:
			err = s.loopfuse()
		case scFuseInit:
			err = s.fuseinit()
		case scFuseWB:
			err = s.fusewb()
		case scFuseLock:
			err = s.fuselock()
		case scNFS:
			err = s.nfs()
		case scKmod:
			err = s.kmod()
		case scUfutex:
			err = s.ufutex()
		default:
			err = fmt.Errorf("unknown scenario %q", name)
		}
		if err != nil {
			fmt.Printf("%s %s: %v\n", failedLine, name, err)
			return err
		}
	}
	meta := []string{
		"scenarios=" + list,
		"release=" + strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		"cmdline=" + strings.TrimSpace(readFile("/proc/cmdline")),
		"la57=" + boolDigit(cpuHasFlag("la57")),
		"recorder=" + strconv.Itoa(os.Getpid()),
	}
	meta = append(meta, s.meta...)
	// Let the staged tasks settle in their final sleeps, and keep kernel
	// messages (hung task warnings) from interleaving with the record.
	time.Sleep(time.Second)
	if err := os.WriteFile("/proc/sys/kernel/printk", []byte("1"), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "hangfs: quiet console: %v\n", err)
	}
	if err := writeRecord(os.Stdout, meta, s.roles, s.noMaps, s.procLocks); err != nil {
		return err
	}
	if firePanic != nil {
		firePanic() // a kdump guest panics here (panic.go)
	}
	runLive(list)
	fmt.Println(readyLine)
	// Stay alive, as the record says (meta recorder=). Not "select {}":
	// with no other goroutine (the idle guest) the Go runtime takes that
	// for a deadlock and exits before the host has stopped the guest.
	for {
		time.Sleep(time.Hour)
	}
}

// pageBS is dd's bs= of one whole page: a FUSE write of a whole page
// leaves the folio uptodate and unlocked while its WRITE waits (fs/fuse/
// file.c fuse_fill_write_pages), as the square and reenter scenarios
// need on every page size (4 KiB, and 16 KiB on arm64-16k).
func pageBS() string { return "bs=" + strconv.Itoa(os.Getpagesize()) }

func (s *stager) square() error {
	srv, err := s.server("/mnt/w", modeHangWrite)
	if err != nil {
		return err
	}
	s.addRole("square.server", srv)
	dd, err := start("dd", "if=/dev/zero", "of=/mnt/w/data", pageBS(), "count=1")
	if err != nil {
		return err
	}
	s.addRole("square.dd", dd)
	if err := waitStack(dd, "request_wait_answer", "vfs_write"); err != nil {
		return fmt.Errorf("dd: %w", err)
	}
	for _, step := range []struct {
		role string
		argv []string
	}{
		{"square.truncate", []string{"truncate", "-s", "0", "/mnt/w/data"}},
		{"square.rm", []string{"rm", "-f", "/mnt/w/data"}},
		{"square.touch", []string{"touch", "/mnt/w/newfile"}},
	} {
		pid, err := start(step.argv[0], step.argv[1:]...)
		if err != nil {
			return err
		}
		s.addRole(step.role, pid)
		if step.role == "square.truncate" {
			if err := waitStack(pid, "do_truncate"); err != nil {
				return fmt.Errorf("%s: %w", step.role, err)
			}
		}
		if err := waitState(pid, "D"); err != nil {
			return fmt.Errorf("%s: %w", step.role, err)
		}
	}
	return nil
}

func (s *stager) reenter() error {
	srv, err := s.server("/mnt/c", modeReenter)
	if err != nil {
		return err
	}
	s.addRole("reenter.server", srv)
	dd, err := start("dd", "if=/dev/zero", "of=/mnt/c/data", pageBS(), "count=1")
	if err != nil {
		return err
	}
	s.addRole("reenter.dd", dd)
	if err := waitStack(dd, "request_wait_answer", "vfs_write"); err != nil {
		return fmt.Errorf("dd: %w", err)
	}
	if err := waitAnyThreadStack(srv, "do_truncate"); err != nil {
		return fmt.Errorf("server thread: %w", err)
	}
	return nil
}

func (s *stager) netflix() error {
	ready := readyPath("/mnt/n")
	// unshare forks; its child is init of a new pid namespace and runs the
	// server, waits until it serves with a file of its own mount on fd 0,
	// and exits: zap_pid_ns_processes (kernel/pid_namespace.c) kills the
	// server and waits for it.
	script := fmt.Sprintf("hangfs serve /mnt/n %s & hangfs waitfile %s 120; exit 0", modeSelfFlush, ready)
	us, err := start("unshare", "-pf", "sh", "-c", script)
	if err != nil {
		return err
	}
	s.addRole("netflix.unshare", us)
	var nsInit, srv int
	err = poll("namespace init and server", func() bool {
		if nsInit == 0 {
			nsInit = childNamed(us, "sh")
		}
		if nsInit != 0 && srv == 0 {
			srv = childNamed(nsInit, "hangfs")
		}
		return srv != 0
	})
	if err != nil {
		return err
	}
	s.addRole("netflix.init", nsInit)
	s.addRole("netflix.server", srv)
	if err := waitStack(nsInit, "zap_pid_ns_processes"); err != nil {
		return fmt.Errorf("namespace init: %w", err)
	}
	if err := waitAnyThreadStack(srv, "fuse_flush"); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

func (s *stager) threads(arg string) error {
	n, err := strconv.Atoi(arg)
	if err != nil || n <= 0 {
		return fmt.Errorf("threads: bad count %q", arg)
	}
	// The default limit scales with memory (kernel/fork.c set_max_threads:
	// a 1 GB guest allows about 7,800 threads in all).
	if err := os.WriteFile("/proc/sys/kernel/threads-max", []byte(strconv.Itoa(4*n+10000)), 0o644); err != nil {
		return fmt.Errorf("threads: raise threads-max: %w", err)
	}
	pid, err := start("hangfs", "threads", arg)
	if err != nil {
		return err
	}
	s.addRole("threads.proc", pid)
	var gone bool
	err = pollFor(10*time.Minute, "threads", func() bool {
		if st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid)); err != nil || st.state == "Z" {
			gone = true
			return true
		}
		return len(numericDir(fmt.Sprintf("/proc/%d/task", pid))) >= n
	})
	if gone {
		return fmt.Errorf("threads: process %d exited before starting %d threads", pid, n)
	}
	return err
}

// server starts "hangfs serve" and waits until it serves.
func (s *stager) server(mnt, mode string) (int, error) {
	pid, err := start("hangfs", "serve", mnt, mode)
	if err != nil {
		return 0, err
	}
	if err := waitFile(readyPath(mnt), stageWait); err != nil {
		return 0, err
	}
	return pid, nil
}

// start runs a command in the background with stdin from /dev/null and
// output on the console; it is never waited for (init reaps it).
func start(name string, args ...string) (int, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", name, err)
	}
	go cmd.Wait()
	return cmd.Process.Pid, nil
}

func poll(what string, cond func() bool) error { return pollFor(stageWait, what, cond) }

// pollFor waits until cond has held on stableChecks polls in a row, so that
// a task passing through a wait (a LOOKUP on the way to the WRITE) is not
// taken for one stuck in it.
func pollFor(timeout time.Duration, what string, cond func() bool) error {
	const stableChecks = 3
	deadline := time.Now().Add(timeout)
	for held := 0; held < stableChecks; {
		if cond() {
			held++
		} else {
			held = 0
		}
		if held < stableChecks && time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// waitStack waits until pid's stack holds every one of fns.
func waitStack(pid int, fns ...string) error {
	return withWhere(poll(fmt.Sprintf("pid %d in %s", pid, strings.Join(fns, " and ")), func() bool {
		for _, fn := range fns {
			if !stackHas(pid, pid, fn) {
				return false
			}
		}
		return true
	}), pid)
}

func waitAnyThreadStack(pid int, fn string) error {
	return withWhere(pollAnyThread(pid, fn), pid)
}

func pollAnyThread(pid int, fn string) error {
	return poll(fmt.Sprintf("a thread of pid %d in %s", pid, fn), func() bool {
		for _, tid := range numericDir(fmt.Sprintf("/proc/%d/task", pid)) {
			if stackHas(pid, tid, fn) {
				return true
			}
		}
		return false
	})
}

func waitState(pid int, state string) error {
	err := poll(fmt.Sprintf("pid %d in state %s", pid, state), func() bool {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
		return err == nil && st.state == state
	})
	return withWhere(err, pid)
}

// withWhere adds where pid is (state and stack of each thread) to err.
func withWhere(err error, pid int) error {
	if err == nil {
		return nil
	}
	var b strings.Builder
	for _, tid := range numericDir(fmt.Sprintf("/proc/%d/task", pid)) {
		st, _ := readStat(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid))
		stack := strings.ReplaceAll(strings.TrimSpace(readFile(fmt.Sprintf("/proc/%d/task/%d/stack", pid, tid))), "\n", " <- ")
		fmt.Fprintf(&b, "; tid %d (%s) state %s: %s", tid, st.comm, st.state, stack)
	}
	if b.Len() == 0 {
		b.WriteString("; process gone")
	}
	return fmt.Errorf("%w%s", err, b.String())
}

func stackHas(pid, tid int, fn string) bool {
	b := readFile(fmt.Sprintf("/proc/%d/task/%d/stack", pid, tid))
	return strings.Contains(b, " "+fn+"+")
}

// childNamed returns a child of parent whose comm is name, or 0.
func childNamed(parent int, name string) int {
	for _, pid := range numericDir("/proc") {
		st, err := readStat(fmt.Sprintf("/proc/%d/stat", pid))
		if err == nil && st.ppid == parent && st.comm == name {
			return pid
		}
	}
	return 0
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func cpuHasFlag(flag string) bool {
	for _, l := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "flags" {
			for _, f := range strings.Fields(v) {
				if f == flag {
					return true
				}
			}
			return false
		}
	}
	return false
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
