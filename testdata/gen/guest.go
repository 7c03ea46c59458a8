package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/testdata/truth"
)

// run boots one guest, waits for its record and dumps it into dir.
type guestRun struct {
	g      testdata.Guest
	pk     *preparedKernel
	hangfs []byte
	kwalk  []byte // cmd/kwalk built static: the guest runs it live
	// kwalkID names that build (binary digest, git describe) in the manifest.
	kwalkID string
	dir     string // final directory
	tmp     string // work directory, renamed to dir when complete
	log     func(string, ...any)
	times   map[string]float64
}

func (r *guestRun) phase(name string, start time.Time) {
	r.times[name] = time.Since(start).Round(10 * time.Millisecond).Seconds()
}

func (r *guestRun) scenarioArg() string {
	var parts []string
	for _, s := range r.g.Scenarios {
		if s == testdata.ScenarioThreads {
			s += "=" + strconv.Itoa(r.g.Threads)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

func (r *guestRun) readyTimeout() time.Duration {
	if r.g.Threads > 0 {
		return 30 * time.Minute
	}
	return 10 * time.Minute
}

func (r *guestRun) generate(ctx context.Context) error {
	if r.g.Trigger != "" {
		return r.generateKdump(ctx) // kdump.go
	}
	if testdata.IsArm64(r.g) {
		return r.generateArm64(ctx) // arm64.go
	}
	start := time.Now()
	os.RemoveAll(r.tmp)
	if err := os.MkdirAll(r.tmp, 0o755); err != nil {
		return err
	}
	initrd := filepath.Join(r.tmp, "initramfs.cpio")
	if err := buildInitramfs(initrd, r.pk, r.hangfs, r.kwalk, r.scenarioArg(), r.g.Modules); err != nil {
		return err
	}
	r.phase("initramfs", start)

	sockDir, err := os.MkdirTemp("", "kwalk-qmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "qmp.sock")
	console := filepath.Join(r.tmp, "console.log")
	cpu := "max"
	if r.g.PagingLevels == 4 {
		cpu = "max,la57=off"
	}
	args := []string{
		"-nodefaults", "-no-user-config", "-accel", "tcg",
		"-m", strconv.Itoa(r.g.MemoryMB), "-smp", strconv.Itoa(r.g.CPUs), "-cpu", cpu,
		"-kernel", r.pk.Vmlinuz, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 hung_task_panic=0",
		"-display", "none", "-serial", "file:" + console,
		"-qmp", "unix:" + sock + ",server=on,wait=off",
		"-device", "vmcoreinfo", "-no-reboot",
		// A guest that resets (triple fault) leaves its CPU state here.
		"-d", "guest_errors,cpu_reset", "-D", filepath.Join(r.tmp, "qemu-debug.log"),
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(qctx, "qemu-system-x86_64", args...)
	var qerr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qerr, &qerr
	bootStart := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start qemu: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
	}()
	r.log("booted %s (qemu pid %d, -cpu %s, %d MB), waiting for %s", r.pk.Release, cmd.Process.Pid, cpu, r.g.MemoryMB, truth.ReadyMarker)
	if err := waitReady(qctx, console, exited, &qerr, r.readyTimeout()); err != nil {
		return err
	}
	r.phase("boot+stage", bootStart)

	q, err := dialQMP(sock, 30*time.Second)
	if err != nil {
		return err
	}
	defer q.Close()
	// Stop the guest first: every format then holds the same memory.
	if _, err := q.exec("stop", nil, 30*time.Second); err != nil {
		return err
	}
	formats, err := dumpFormats(q)
	if err != nil {
		return err
	}
	files := map[testdata.Format]string{}
	for _, f := range formats {
		t := time.Now()
		name := "vmcore." + string(f.name)
		args := map[string]any{"paging": f.paging, "protocol": "file:" + filepath.Join(r.tmp, name), "format": f.qemu}
		if _, err := q.exec("dump-guest-memory", args, 20*time.Minute); err != nil {
			return fmt.Errorf("dump %s: %w", f.qemu, err)
		}
		files[f.name] = name
		r.phase("dump "+string(f.name), t)
	}
	q.exec("quit", nil, 10*time.Second)
	q.Close()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
	}

	for _, name := range files {
		os.Chmod(filepath.Join(r.tmp, name), 0o644) // QEMU creates them 0400
	}
	t := time.Now()
	convertDumps(r.tmp, files, r.log)
	r.phase("makedumpfile", t)

	return r.finish(console, files, testdata.FormatELF, start, nil, initrd)
}

// finish checks the guest's record and the dump's VMCOREINFO against what
// was asked, writes manifest.json, removes the scratch files (extra) and
// moves the dump into place. elf is the format whose file has VMCOREINFO;
// kdump is set for dumps a capture kernel saved.
func (r *guestRun) finish(console string, files map[testdata.Format]string, elf testdata.Format, start time.Time, kdump *testdata.KdumpManifest, extra ...string) error {
	rec, err := truth.ParseFile(console)
	if err != nil {
		return fmt.Errorf("guest record: %w", err)
	}
	info, err := readVMCOREINFO(filepath.Join(r.tmp, files[elf]))
	if err != nil {
		return err
	}
	if err := r.check(rec, info); err != nil {
		return err
	}
	levels := 4
	if info["NUMBER(pgtable_l5_enabled)"] == "1" {
		levels = 5
	}
	ver, _ := exec.Command("qemu-system-x86_64", "--version").Output()
	m := testdata.Manifest{
		Guest:         r.g,
		Kernel:        r.pk.Kernel,
		Key:           filepath.Base(r.dir)[len(r.g.Name)+1:],
		GeneratorHash: testdata.GeneratorHash(),
		Release:       info["OSRELEASE"],
		PagingLevels:  levels,
		Files:         files,
		Console:       "console.log",
		KernelRoot:    r.pk.Root,
		Vmlinuz:       r.pk.Vmlinuz,
		QEMU:          strings.SplitN(string(ver), "\n", 2)[0],
		Seconds:       r.times,
		Kwalk:         r.kwalkID,
		Kdump:         kdump,
	}
	r.times["total"] = time.Since(start).Round(10 * time.Millisecond).Seconds()
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(r.tmp, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	for _, f := range extra {
		os.Remove(f)
	}
	os.Remove(filepath.Join(r.tmp, "qemu-debug.log"))
	os.RemoveAll(r.dir)
	return os.Rename(r.tmp, r.dir)
}

// check compares the guest's record and VMCOREINFO with what was asked.
func (r *guestRun) check(rec *truth.Record, info map[string]string) error {
	if info["OSRELEASE"] != r.pk.Release {
		return fmt.Errorf("VMCOREINFO OSRELEASE %q, want %q", info["OSRELEASE"], r.pk.Release)
	}
	if rec.Release() != r.pk.Release {
		return fmt.Errorf("record release %q, want %q", rec.Release(), r.pk.Release)
	}
	l5 := info["NUMBER(pgtable_l5_enabled)"] == "1"
	if l5 != (r.g.PagingLevels == 5) || (rec.Meta["la57"] == "1") != l5 {
		return fmt.Errorf("paging: want %d levels, VMCOREINFO pgtable_l5_enabled=%q, guest cpuinfo la57=%q",
			r.g.PagingLevels, info["NUMBER(pgtable_l5_enabled)"], rec.Meta["la57"])
	}
	if len(rec.Tasks) < 20 {
		return fmt.Errorf("record has %d tasks", len(rec.Tasks))
	}
	return nil
}

const (
	// initMarker is the first line /init prints (init.sh).
	initMarker  = "KWALK-INIT release"
	bootTimeout = 3 * time.Minute
)

// waitReady polls the console log for the ready line.
func waitReady(ctx context.Context, console string, exited <-chan error, qerr *bytes.Buffer, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	// A boot that has not reached /init by then is stuck (seen under TCG:
	// a secondary CPU that never comes up); the caller boots again.
	bootDeadline := time.Now().Add(bootTimeout)
	booted := false
	var off int64
	var tail []byte
	for {
		if b, err := readFrom(console, off); err == nil && len(b) > 0 {
			off += int64(len(b))
			tail = append(tail, b...)
			if bytes.Contains(tail, []byte(truth.FailedMarker)) {
				return fmt.Errorf("guest failed to stage:\n%s", lastLines(tail, 30))
			}
			// Under TCG a guest kernel once failed its AES self-test
			// (crypto/testmgr.c: an instruction emulated wrongly) and
			// wrote over its own log buffer: its memory cannot be
			// compared with its record. Boot it again.
			if bytes.Contains(tail, []byte("alg: self-tests for")) && bytes.Contains(tail, []byte(") failed (rc=")) {
				return fmt.Errorf("the guest kernel failed a crypto self-test (TCG emulation fault): its memory is not to be trusted\n%s", lastLines(tail, 10))
			}
			if bytes.Contains(tail, []byte(truth.ReadyMarker)) {
				return nil
			}
			booted = booted || bytes.Contains(tail, []byte(initMarker))
			if len(tail) > 1<<16 {
				tail = tail[len(tail)-1<<15:]
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("qemu exited before the guest was ready (%v): %s\nconsole:\n%s", err, qerr.String(), lastLines(tail, 30))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("guest not ready after %v; console:\n%s", timeout, lastLines(tail, 30))
		}
		if !booted && time.Now().After(bootDeadline) {
			return fmt.Errorf("guest did not reach /init within %v; console:\n%s", bootTimeout, lastLines(tail, 30))
		}
	}
}

func readFrom(path string, off int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(off, 0); err != nil {
		return nil, err
	}
	buf := make([]byte, 1<<20)
	n, err := f.Read(buf)
	if n > 0 {
		return buf[:n], nil
	}
	return nil, err
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
