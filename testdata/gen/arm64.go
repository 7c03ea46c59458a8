package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/testdata/truth"
)

// The aarch64 guests (testdata.Arm64Guests) boot Debian's arm64 cloud
// kernels under qemu-system-aarch64 with TCG: -M virt, -cpu max with the
// cheap QEMU-defined pointer-authentication algorithm (return addresses on
// the kernel stacks are then PAC-signed as on real hardware), and the
// vmcoreinfo device so that QEMU's dumps carry VMCOREINFO.

// allGuests is the x86_64 matrix followed by the aarch64 guests.
func allGuests() []testdata.Guest {
	return append(append([]testdata.Guest{}, testdata.Guests...), testdata.Arm64Guests...)
}

// kernelByID finds an x86_64 or aarch64 pinned kernel.
func kernelByID(id string) (testdata.Kernel, bool) {
	if k, ok := testdata.KernelByID(id); ok {
		return k, true
	}
	return testdata.Arm64KernelByID(id)
}

// arm64Busybox is busybox-static for arm64 from the machine's Debian
// mirror (apt-get download busybox-static:arm64; the arm64 architecture
// must be known to dpkg: dpkg --add-architecture arm64 && apt-get update).
func arm64Busybox(cache string, log func(string, ...any)) ([]byte, error) {
	dir := filepath.Join(cache, "debs", "arm64")
	bin := filepath.Join(dir, "busybox-root", "bin", "busybox")
	if b, err := os.ReadFile(bin); err == nil {
		return b, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	aptMu.Lock()
	defer aptMu.Unlock()
	m, _ := filepath.Glob(filepath.Join(dir, "busybox-static_*_arm64.deb"))
	if len(m) == 0 {
		log("apt-get download busybox-static:arm64")
		cmd := exec.Command("apt-get", "download", "-q", "busybox-static:arm64")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("apt-get download busybox-static:arm64 (needs dpkg --add-architecture arm64 && apt-get update): %v: %s", err, lastLines(out, 5))
		}
		m, _ = filepath.Glob(filepath.Join(dir, "busybox-static_*_arm64.deb"))
		if len(m) == 0 {
			return nil, fmt.Errorf("apt-get download busybox-static:arm64: no .deb afterwards")
		}
	}
	root := filepath.Join(dir, "busybox-root")
	if out, err := exec.Command("dpkg-deb", "-x", m[0], root).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("dpkg-deb -x %s: %v: %s", m[0], err, out)
	}
	return os.ReadFile(bin)
}

// generateArm64 boots an aarch64 guest, waits for its record and dumps it.
// The guest runs kwalk live like the x86_64 ones, built for arm64.
func (r *guestRun) generateArm64(ctx context.Context) error {
	start := time.Now()
	os.RemoveAll(r.tmp)
	if err := os.MkdirAll(r.tmp, 0o755); err != nil {
		return err
	}
	cache := testdata.CacheDir()
	busybox, err := arm64Busybox(cache, r.log)
	if err != nil {
		return err
	}
	// Built per guest: the aarch64 guests run side by side.
	hangfs, err := buildStaticArch(cache, "hangfs-arm64-"+r.g.Kernel+"-"+r.g.Name, "./testdata/hangfs", "arm64", r.log)
	if err != nil {
		return err
	}
	kwalk, err := buildStaticArch(cache, "kwalk-arm64-"+r.g.Kernel+"-"+r.g.Name, "./cmd/kwalk", "arm64", r.log)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(kwalk)
	r.kwalkID = hex.EncodeToString(sum[:8]) + " " + gitDescribe()
	initrd := filepath.Join(r.tmp, "initramfs.cpio")
	if err := writeInitramfs(initrd, r.pk, busybox, hangfs, kwalk, r.scenarioArg(), r.g.Modules); err != nil {
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
	cpu := "max,pauth-impdef=on"
	args := []string{
		"-nodefaults", "-no-user-config", "-M", "virt", "-accel", "tcg,thread=multi",
		"-m", strconv.Itoa(r.g.MemoryMB), "-smp", strconv.Itoa(r.g.CPUs), "-cpu", cpu,
		"-kernel", r.pk.Vmlinuz, "-initrd", initrd,
		"-append", "console=ttyAMA0 panic=-1 hung_task_panic=0",
		"-display", "none", "-serial", "file:" + console,
		"-qmp", "unix:" + sock + ",server=on,wait=off",
		"-device", "vmcoreinfo", "-no-reboot",
		"-d", "guest_errors", "-D", filepath.Join(r.tmp, "qemu-debug.log"),
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(qctx, "qemu-system-aarch64", args...)
	var qerr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &qerr, &qerr
	bootStart := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start qemu-system-aarch64 (apt-get install qemu-system-arm): %w", err)
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
	r.log("booted %s (qemu-system-aarch64 pid %d, -cpu %s, %d MB), waiting for %s", r.pk.Release, cmd.Process.Pid, cpu, r.g.MemoryMB, truth.ReadyMarker)
	if err := waitReady(qctx, console, exited, &qerr, r.readyTimeout()); err != nil {
		return err
	}
	r.phase("boot+stage", bootStart)

	q, err := dialQMP(sock, 30*time.Second)
	if err != nil {
		return err
	}
	defer q.Close()
	if _, err := q.exec("stop", nil, 30*time.Second); err != nil {
		return err
	}
	formats, err := dumpFormats(q)
	if err != nil {
		return err
	}
	files := map[testdata.Format]string{}
	for _, f := range formats {
		if f.name == testdata.FormatELFPaging {
			// QEMU's aarch64 ELF dump is one physical segment with or
			// without paging: the paging file would repeat the ELF.
			continue
		}
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
		os.Chmod(filepath.Join(r.tmp, name), 0o644)
	}
	// Only the flattened kdump is reassembled: the machine's makedumpfile
	// reads x86_64 dumps only.
	if flat, ok := files[testdata.FormatKdumpZlibFlat]; ok {
		out := "vmcore." + string(testdata.FormatKdumpZlib)
		if err := makedumpfileStdin(r.tmp, filepath.Join(r.tmp, flat), "-R", filepath.Join(r.tmp, out)); err != nil {
			r.log("makedumpfile -R: %v", err)
		} else {
			os.Chmod(filepath.Join(r.tmp, out), 0o644)
			files[testdata.FormatKdumpZlib] = out
		}
	}
	return r.finish(console, files, testdata.FormatELF, start, nil, initrd)
}
