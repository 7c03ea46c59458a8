package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kwalk/kwalk/testdata"
	"github.com/kwalk/kwalk/testdata/truth"
)

// The kdump guests (testdata.Guest.Trigger set) are dumped the way users'
// kernels are: the first kernel boots with crashkernel=, its scenario
// runner loads a capture kernel with the suite's own kexec (kexec -p: the
// same vmlinuz, the capture initramfs below), stages the hangs, writes its
// record and makes the kernel panic (testdata/hangfs/panic.go). The panic
// boots the capture kernel, whose /init finds /proc/vmcore and saves it
// with the suite's own makedumpfile to an ext2 file system on a virtio
// disk; the host reads the files back with debugfs. Both kernels write to
// the same serial console.
const (
	// kdumpCrashkernel is the first kernel's reservation for the capture
	// kernel (a 512 MB guest; the capture kernel, its initramfs and
	// makedumpfile fit; README "kdump guests").
	kdumpCrashkernel = "160M"
	// kdumpCaptureCmdline is the capture kernel's command line (kexec
	// adds elfcorehdr= and the memory map), as Debian's kdump-tools has it
	// plus the console.
	kdumpCaptureCmdline = "console=ttyS0 reset_devices nr_cpus=1 irqpoll nousb panic=-1"
	kdumpLibDir         = "lib/x86_64-linux-gnu"

	kdumpStageTimeout   = 10 * time.Minute // boot to KWALK-KDUMP-TRIGGER
	kdumpPanicTimeout   = 5 * time.Minute  // trigger to the capture kernel's /init
	kdumpCaptureTimeout = 20 * time.Minute // capture kernel's /init to KWALK-KDUMP-DONE
)

// captureInit is /init of the capture initramfs. It saves /proc/vmcore as
// an ELF copy (cp) and with makedumpfile -d 31 in every compression this
// makedumpfile has, to /dev/vda (an ext2 made by the host), each step
// framed on the console for the host: KWALK-KDUMP-STEP FORMAT rc=RC s=SECONDS cmd=COMMAND.
const captureInit = `#!/bin/busybox sh
# /init of the kdump guests' capture kernel (testdata/gen/kdump.go).
/bin/busybox --install -s /bin
export PATH=/bin:/usr/sbin LD_LIBRARY_PATH=/` + kdumpLibDir + `
mkdir -p /proc /sys /dev /tmp /out
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() {
	echo "` + testdata.KdumpFailedMarker + ` $*"
	sync
	poweroff -f
	sleep 3600
}
echo "` + testdata.KdumpCaptureMarker + ` release $(uname -r) cmdline $(cat /proc/cmdline)"
[ -e /proc/vmcore ] || fail "no /proc/vmcore: this is not a capture kernel"
echo "` + testdata.KdumpCaptureMarker + ` vmcore $(stat -c %s /proc/vmcore) bytes; $(grep MemTotal /proc/meminfo)"
while read -r m; do
	insmod "/lib/modules/$m" || echo "` + testdata.KdumpCaptureMarker + ` insmod $m failed"
done < /lib/modules/load
i=0
while [ ! -b /dev/vda ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/vda ] || fail "no /dev/vda"
mount -t ext2 /dev/vda /out || fail "mount /dev/vda"
echo "` + testdata.KdumpCaptureMarker + ` tool $(makedumpfile -v 2>&1 | head -n 1)"
up() { cut -d ' ' -f 1 /proc/uptime; }
step() {
	f=$1
	shift
	t0=$(up)
	"$@" >/tmp/step.log 2>&1
	rc=$?
	t1=$(up)
	tr '\r' '\n' </tmp/step.log | grep -v '^ *$' | tail -n 4 | sed 's/^/  /'
	echo "` + testdata.KdumpStepMarker + ` $f rc=$rc s=$(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }") cmd=$*"
}
step kdump-elf cp /proc/vmcore /out/vmcore.kdump-elf
step kdump-d31-zlib makedumpfile -c -d 31 /proc/vmcore /out/vmcore.kdump-d31-zlib
step kdump-d31-lzo makedumpfile -l -d 31 /proc/vmcore /out/vmcore.kdump-d31-lzo
if makedumpfile -v 2>&1 | grep -q '^zstd[[:space:]]*enabled'; then
	step kdump-d31-zstd makedumpfile -z -d 31 /proc/vmcore /out/vmcore.kdump-d31-zstd
fi
echo "` + testdata.KdumpCaptureMarker + ` $(free -m | grep Mem:)"
umount /out || fail "umount /out"
sync
echo "` + testdata.KdumpDoneMarker + `"
poweroff -f
sleep 3600
`

// kdumpFormats are the files the capture kernel writes, by the name of
// its step, with the kdump header's compression bit each must have
// (makedumpfile diskdump_mod.h DUMP_DH_COMPRESSED_*; 0 for the ELF).
var kdumpFormats = []struct {
	f   testdata.Format
	bit uint32
}{
	{testdata.FormatKdumpELF, 0},
	{testdata.FormatKdumpD31Zlib, 0x1},
	{testdata.FormatKdumpD31LZO, 0x2},
	{testdata.FormatKdumpD31Zstd, 0x20},
}

// kdumpTools are a suite's kexec-tools and makedumpfile with the shared
// libraries they need, unpacked into a directory (a sysroot).
type kdumpTools struct {
	Root  string `json:"-"`
	Suite string
	Tools []testdata.Package
	Libs  []testdata.Package
}

var (
	kdumpToolsMu   sync.Mutex
	kdumpToolsDone = map[string]*kdumpTools{}
)

// prepareKdumpTools downloads kernel k's pinned kdump tools and, from the
// same suite, the library packages they depend on (Depends, transitively,
// library packages only), and unpacks them all into one directory of the
// cache, once.
func prepareKdumpTools(cache string, k testdata.Kernel, log func(string, ...any)) (*kdumpTools, error) {
	if len(k.Kdump) == 0 {
		return nil, fmt.Errorf("kernel %s pins no kdump tools (Kernel.Kdump in testdata/guests.go)", k.ID)
	}
	kdumpToolsMu.Lock()
	defer kdumpToolsMu.Unlock()
	sum := sha256.Sum256([]byte(fmt.Sprint(k.Suite, k.Kdump)))
	dir := filepath.Join(cache, "kdump-tools", k.ID+"-"+hex.EncodeToString(sum[:])[:12])
	if t := kdumpToolsDone[dir]; t != nil {
		return t, nil
	}
	t := &kdumpTools{Root: filepath.Join(dir, "root")}
	if b, err := os.ReadFile(filepath.Join(dir, "packages.json")); err == nil && json.Unmarshal(b, t) == nil {
		kdumpToolsDone[dir] = t
		return t, nil
	}
	t0 := time.Now()
	debs := filepath.Join(cache, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return nil, err
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "root"), 0o755); err != nil {
		return nil, err
	}
	t.Suite, t.Tools = k.Suite, k.Kdump
	var files []string
	seen := map[string]bool{}
	var names, specs []string
	for _, p := range k.Kdump {
		seen[p.Name] = true
		names, specs = append(names, p.Name), append(specs, p.Name+"="+p.Version)
	}
	// Level by level (one apt-get per level): the packages, then the
	// library packages they depend on, at the suite's version.
	for level := 0; len(names) > 0; level++ {
		got, err := aptDownload(debs, names, specs, log)
		if err != nil {
			return nil, fmt.Errorf("kernel %s kdump tools: %w", k.ID, err)
		}
		var next []string
		for i, deb := range got {
			if level > 0 {
				ver, err := exec.Command("dpkg-deb", "-f", deb, "Version").Output()
				if err != nil {
					return nil, fmt.Errorf("dpkg-deb -f %s: %w", deb, err)
				}
				t.Libs = append(t.Libs, testdata.Package{Name: names[i], Version: strings.TrimSpace(string(ver))})
			}
			files = append(files, deb)
			deps, err := debLibDepends(deb)
			if err != nil {
				return nil, err
			}
			for _, d := range deps {
				if !seen[d] {
					seen[d] = true
					next = append(next, d)
				}
			}
		}
		names, specs = next, nil
		for _, n := range names {
			specs = append(specs, n+"/"+k.Suite)
		}
	}
	sort.Slice(t.Libs, func(i, j int) bool { return t.Libs[i].Name < t.Libs[j].Name })
	for _, deb := range files {
		if out, err := exec.Command("dpkg-deb", "-x", deb, filepath.Join(tmp, "root")).CombinedOutput(); err != nil {
			os.RemoveAll(tmp)
			return nil, fmt.Errorf("dpkg-deb -x %s: %v: %s", deb, err, out)
		}
	}
	b, _ := json.MarshalIndent(t, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "packages.json"), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	log("kdump tools of %s (%d packages) unpacked in %.1fs", k.Suite, len(files), time.Since(t0).Seconds())
	kdumpToolsDone[dir] = t
	return t, nil
}

// aptDownload fetches packages (specs "name=version" or "name/suite", of
// packages names) into dir with one apt-get and returns their paths.
func aptDownload(dir string, names, specs []string, log func(string, ...any)) ([]string, error) {
	aptMu.Lock()
	defer aptMu.Unlock()
	work, err := os.MkdirTemp(dir, ".download-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	cmd := exec.Command("apt-get", append([]string{"download", "-q"}, specs...)...)
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		policy, _ := exec.Command("apt-cache", append([]string{"policy"}, names...)...).CombinedOutput()
		return nil, fmt.Errorf("apt-get download %s: %v: %s\napt-cache policy:\n%s", strings.Join(specs, " "), err, bytes.TrimSpace(out), policy)
	}
	var out []string
	for _, n := range names {
		got, _ := filepath.Glob(filepath.Join(work, n+"_*.deb"))
		if len(got) != 1 {
			return nil, fmt.Errorf("apt-get download: %d .deb files of %s", len(got), n)
		}
		dst := filepath.Join(dir, filepath.Base(got[0]))
		if _, err := os.Stat(dst); err != nil {
			if err := os.Rename(got[0], dst); err != nil {
				return nil, err
			}
		}
		out = append(out, dst)
	}
	log("downloaded %s", strings.Join(specs, " "))
	return out, nil
}

// debLibDepends lists the library packages a .deb depends on: the first
// alternative of each Depends and Pre-Depends entry whose name is a
// library's (lib*, zlib1g).
func debLibDepends(deb string) ([]string, error) {
	out, err := exec.Command("dpkg-deb", "-f", deb, "Depends", "Pre-Depends").Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg-deb -f %s: %w", deb, err)
	}
	return libDepends(string(out)), nil
}

// libDepends reads Depends: and Pre-Depends: lines (deb-control(5)).
func libDepends(control string) []string {
	var names []string
	for _, line := range strings.Split(control, "\n") {
		_, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		for _, dep := range strings.Split(v, ",") {
			alt, _, _ := strings.Cut(dep, "|")
			f := strings.Fields(alt)
			if len(f) == 0 {
				continue
			}
			name, _, _ := strings.Cut(f[0], ":")
			if (strings.HasPrefix(name, "lib") && name != "libc-bin") || name == "zlib1g" {
				names = append(names, name)
			}
		}
	}
	return names
}

// inRoot reads file rel of the sysroot, following symbolic links inside
// it (absolute targets are relative to root).
func inRoot(root, rel string) ([]byte, error) {
	p := filepath.Join(root, rel)
	for i := 0; i < 40; i++ {
		st, err := os.Lstat(p)
		if err != nil {
			return nil, err
		}
		if st.Mode()&os.ModeSymlink == 0 {
			return os.ReadFile(p)
		}
		target, err := os.Readlink(p)
		if err != nil {
			return nil, err
		}
		if filepath.IsAbs(target) {
			p = filepath.Join(root, target)
		} else {
			p = filepath.Join(filepath.Dir(p), target)
		}
	}
	return nil, fmt.Errorf("%s: too many symbolic links", rel)
}

// findInRoot returns the sysroot's copy of an absolute path, also looking
// under usr/ (merged /usr: sid's packages have no /lib, /sbin).
func findInRoot(root, path string) ([]byte, error) {
	b, err := inRoot(root, path)
	if err == nil {
		return b, nil
	}
	if b, err2 := inRoot(root, filepath.Join("usr", path)); err2 == nil {
		return b, nil
	}
	return nil, err
}

// binaryEntries returns the initramfs entries that run the sysroot's
// binary (one of paths) as dst: the binary, its ELF interpreter at the
// path it names, and every shared library it needs, transitively, in
// /lib/x86_64-linux-gnu by soname.
func (t *kdumpTools) binaryEntries(dst string, paths ...string) ([]cpioEntry, error) {
	var bin []byte
	var err error
	for _, p := range paths {
		if bin, err = findInRoot(t.Root, p); err == nil {
			break
		}
	}
	if bin == nil {
		return nil, fmt.Errorf("kdump tools of %s: none of %v: %v", t.Suite, paths, err)
	}
	entries := []cpioEntry{{name: dst, mode: sIFREG | 0o755, data: bin}}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dst, err)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return nil, err
		}
		interp := strings.TrimRight(string(b), "\x00")
		data, err := findInRoot(t.Root, interp)
		if err != nil {
			return nil, fmt.Errorf("%s: interpreter %s: %w", dst, interp, err)
		}
		entries = append(entries, cpioEntry{name: strings.TrimPrefix(interp, "/"), mode: sIFREG | 0o755, data: data})
	}
	seen := map[string]bool{}
	queue := []*elf.File{f}
	for len(queue) > 0 {
		libs, err := queue[0].ImportedLibraries()
		queue = queue[1:]
		if err != nil {
			return nil, err
		}
		for _, so := range libs {
			if seen[so] {
				continue
			}
			seen[so] = true
			var data []byte
			for _, d := range []string{"lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib", "usr/lib", "lib64", "usr/lib64"} {
				if data, err = inRoot(t.Root, filepath.Join(d, so)); err == nil {
					break
				}
			}
			if data == nil {
				return nil, fmt.Errorf("%s needs %s: not in the %s packages %v", dst, so, t.Suite, t.Libs)
			}
			entries = append(entries, cpioEntry{name: kdumpLibDir + "/" + so, mode: sIFREG | 0o755, data: data})
			lf, err := elf.NewFile(bytes.NewReader(data))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", so, err)
			}
			queue = append(queue, lf)
		}
	}
	return entries, nil
}

func dirEntries(names ...string) []cpioEntry {
	var out []cpioEntry
	for _, n := range names {
		out = append(out, cpioEntry{name: n, mode: sIFDIR | 0o755})
	}
	return out
}

// dedupEntries keeps the first entry of each name.
func dedupEntries(in []cpioEntry) []cpioEntry {
	seen := map[string]bool{}
	var out []cpioEntry
	for _, e := range in {
		if !seen[e.name] {
			seen[e.name] = true
			out = append(out, e)
		}
	}
	return out
}

// buildCaptureInitramfs is the capture kernel's initramfs: busybox, /init,
// makedumpfile with its libraries, and the modules for the virtio disk.
func buildCaptureInitramfs(pk *preparedKernel, t *kdumpTools) ([]byte, error) {
	busybox, err := os.ReadFile(busyboxPath)
	if err != nil {
		return nil, fmt.Errorf("capture initramfs: %w (install busybox-static)", err)
	}
	mods, err := pk.modulesFor("virtio_pci", "virtio_blk", "ext4")
	if err != nil {
		return nil, fmt.Errorf("capture initramfs for %s: %w", pk.Release, err)
	}
	entries := dirEntries("bin", "dev", "etc", "lib", "lib/modules", kdumpLibDir, "lib64", "out", "proc", "sys", "tmp", "usr", "usr/sbin")
	entries = append(entries,
		cpioEntry{name: "bin/busybox", mode: sIFREG | 0o755, data: busybox},
		cpioEntry{name: "bin/sh", mode: 0o120777, data: []byte("busybox")},
		cpioEntry{name: "init", mode: sIFREG | 0o755, data: []byte(captureInit)},
	)
	mdf, err := t.binaryEntries("usr/sbin/makedumpfile", "/usr/sbin/makedumpfile", "/usr/bin/makedumpfile", "/sbin/makedumpfile")
	if err != nil {
		return nil, err
	}
	entries = append(entries, mdf...)
	var load strings.Builder
	for _, m := range mods {
		entries = append(entries, cpioEntry{name: "lib/modules/" + m.name + ".ko", mode: sIFREG | 0o644, data: m.ko})
		load.WriteString(m.name + ".ko\n")
	}
	entries = append(entries, cpioEntry{name: "lib/modules/load", mode: sIFREG | 0o644, data: []byte(load.String())})
	var buf bytes.Buffer
	if err := writeCPIO(&buf, dedupEntries(entries)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// kdumpExtras is what the kdump guest's first kernel needs besides the
// usual initramfs: the kernel image and capture initramfs for kexec -p,
// kexec with its libraries, the capture command line, and the oops
// trigger's module. It is a second cpio archive appended to the first (the
// kernel unpacks concatenated archives in turn).
func (r *guestRun) kdumpExtras(t *kdumpTools) ([]byte, error) {
	vmlinuz, err := os.ReadFile(r.pk.Vmlinuz)
	if err != nil {
		return nil, err
	}
	capture, err := buildCaptureInitramfs(r.pk, t)
	if err != nil {
		return nil, err
	}
	entries := dirEntries("boot", "etc", "lib", kdumpLibDir, "lib64", "lib/kwalk", "usr", "usr/sbin")
	entries = append(entries,
		cpioEntry{name: "boot/vmlinuz", mode: sIFREG | 0o644, data: vmlinuz},
		cpioEntry{name: "boot/capture.cpio", mode: sIFREG | 0o644, data: capture},
		cpioEntry{name: "etc/kwalk-kdump-cmdline", mode: sIFREG | 0o644, data: []byte(kdumpCaptureCmdline + "\n")},
	)
	kexec, err := t.binaryEntries("usr/sbin/kexec", "/sbin/kexec", "/usr/sbin/kexec")
	if err != nil {
		return nil, err
	}
	entries = append(entries, kexec...)
	if r.g.Trigger == testdata.TriggerOops {
		ko, err := buildOopsModule(r.pk)
		if err != nil {
			return nil, err
		}
		entries = append(entries, cpioEntry{name: "lib/kwalk/" + oopsModuleName + ".ko", mode: sIFREG | 0o644, data: ko})
	}
	if r.g.Trigger == testdata.TriggerSoftLockup {
		ko, err := buildHangModule(r.pk) // kmod.go
		if err != nil {
			return nil, err
		}
		entries = append(entries, cpioEntry{name: "lib/kwalk/" + hangModuleName + ".ko", mode: sIFREG | 0o644, data: ko})
	}
	var buf bytes.Buffer
	if err := writeCPIO(&buf, dedupEntries(entries)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// consoleWatch follows the serial console log.
type consoleWatch struct {
	path    string
	all     []byte
	exited  <-chan struct{} // closed when QEMU has exited
	exitErr *error          // then its exit status
	qerr    *bytes.Buffer
}

func (w *consoleWatch) read() {
	if b, err := readFrom(w.path, int64(len(w.all))); err == nil {
		w.all = append(w.all, b...)
	}
}

// waitFor waits until the console, from offset from on, holds want; it
// fails on any of fail, on QEMU's exit and after timeout. When boot is
// set it also fails if the guest's /init has not spoken within
// bootTimeout. It returns the offset of want.
func (w *consoleWatch) waitFor(ctx context.Context, from int, want string, timeout time.Duration, boot bool, fail ...string) (int, error) {
	deadline := time.Now().Add(timeout)
	bootDeadline := time.Now().Add(bootTimeout)
	for {
		w.read()
		seen := w.all[min(from, len(w.all)):]
		for _, f := range fail {
			if i := bytes.Index(seen, []byte(f)); i >= 0 {
				return 0, fmt.Errorf("guest failed (%s):\n%s", f, lastLines(w.all, 40))
			}
		}
		if i := bytes.Index(seen, []byte(want)); i >= 0 {
			return from + i, nil
		}
		select {
		case <-w.exited:
			// What it wrote last may have come after the read above.
			w.read()
			if i := bytes.Index(w.all[min(from, len(w.all)):], []byte(want)); i >= 0 {
				return from + i, nil
			}
			return 0, fmt.Errorf("qemu exited while waiting for %s (%v): %s\nconsole:\n%s", want, *w.exitErr, w.qerr.String(), lastLines(w.all, 40))
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no %s after %v; console:\n%s", want, timeout, lastLines(w.all, 40))
		}
		if boot && time.Now().After(bootDeadline) && !bytes.Contains(w.all, []byte(initMarker)) {
			return 0, fmt.Errorf("guest did not reach /init within %v; console:\n%s", bootTimeout, lastLines(w.all, 40))
		}
	}
}

var kdumpStepRE = regexp.MustCompile(`(?m)^` + testdata.KdumpStepMarker + ` (\S+) rc=(-?\d+) s=([0-9.]+) cmd=(.*)$`)

// generateKdump makes a kdump guest's dump (generate's counterpart).
func (r *guestRun) generateKdump(ctx context.Context) error {
	start := time.Now()
	for _, tool := range []string{"mke2fs", "debugfs"} {
		if _, err := lookSbin(tool); err != nil {
			return fmt.Errorf("kdump guests need %s (apt-get install e2fsprogs)", tool)
		}
	}
	os.RemoveAll(r.tmp)
	if err := os.MkdirAll(r.tmp, 0o755); err != nil {
		return err
	}
	tools, err := prepareKdumpTools(testdata.CacheDir(), r.pk.Kernel, r.log)
	if err != nil {
		return err
	}
	r.phase("kdump tools", start)
	t := time.Now()
	initrd := filepath.Join(r.tmp, "initramfs.cpio")
	// No kwalk: a kdump guest runs none live.
	scen := r.scenarioArg() + ",kdump=" + r.g.Trigger
	if err := buildInitramfs(initrd, r.pk, r.hangfs, nil, scen, r.g.Modules); err != nil {
		return err
	}
	extra, err := r.kdumpExtras(tools)
	if err != nil {
		return err
	}
	if err := appendFile(initrd, extra); err != nil {
		return err
	}
	r.phase("initramfs", t)

	// The capture kernel's disk: an empty ext2, room for the ELF copy
	// and the makedumpfile files.
	disk := filepath.Join(r.tmp, "capture-disk.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		return err
	}
	if err := os.Truncate(disk, int64(r.g.MemoryMB+512)<<20); err != nil {
		return err
	}
	mke2fs, _ := lookSbin("mke2fs")
	if out, err := exec.Command(mke2fs, "-q", "-F", "-t", "ext2", "-b", "4096", "-m", "0", disk).CombinedOutput(); err != nil {
		return fmt.Errorf("mke2fs %s: %v: %s", disk, err, out)
	}

	console := filepath.Join(r.tmp, "console.log")
	cpu := "max"
	if r.g.PagingLevels == 4 {
		cpu = "max,la57=off"
	}
	args := []string{
		"-nodefaults", "-no-user-config", "-accel", "tcg",
		"-m", strconv.Itoa(r.g.MemoryMB), "-smp", strconv.Itoa(r.g.CPUs), "-cpu", cpu,
		"-kernel", r.pk.Vmlinuz, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 hung_task_panic=0 crashkernel=" + kdumpCrashkernel,
		"-drive", "file=" + disk + ",format=raw,if=virtio",
		"-display", "none", "-serial", "file:" + console, "-no-reboot",
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
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	defer func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
	}()
	r.log("booted %s (qemu pid %d, -cpu %s, %d MB, crashkernel=%s), trigger %s", r.pk.Release, cmd.Process.Pid, cpu, r.g.MemoryMB, kdumpCrashkernel, r.g.Trigger)
	w := &consoleWatch{path: console, exited: exited, exitErr: &exitErr, qerr: &qerr}
	trig, err := w.waitFor(ctx, 0, testdata.KdumpTriggerMarker, kdumpStageTimeout, true, truth.FailedMarker)
	if err != nil {
		return err
	}
	r.phase("boot+stage", bootStart)
	t = time.Now()
	capStart, err := w.waitFor(ctx, trig, testdata.KdumpCaptureMarker, kdumpPanicTimeout, false, truth.FailedMarker)
	if err != nil {
		return err
	}
	r.phase("panic+capture boot", t)
	t = time.Now()
	if _, err := w.waitFor(ctx, capStart, testdata.KdumpDoneMarker, kdumpCaptureTimeout, false, testdata.KdumpFailedMarker); err != nil {
		return err
	}
	r.phase("capture", t)
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		r.log("the capture kernel did not power off; stopping qemu")
	}
	cancel()
	w.read()
	for _, l := range testdata.KdumpPanicLines(r.g.Trigger) {
		if !bytes.Contains(w.all[trig:capStart], []byte(l)) {
			return fmt.Errorf("no %q between %s and %s on the console", l, testdata.KdumpTriggerMarker, testdata.KdumpCaptureMarker)
		}
	}

	// The files, as the capture kernel's steps say.
	t = time.Now()
	km := &testdata.KdumpManifest{
		Trigger:        r.g.Trigger,
		Crashkernel:    kdumpCrashkernel,
		CaptureCmdline: kdumpCaptureCmdline,
		Suite:          tools.Suite,
		Tools:          tools.Tools,
		Libs:           tools.Libs,
		MadeBy:         map[testdata.Format]string{},
		CaptureSeconds: map[testdata.Format]float64{},
	}
	capLog := w.all[capStart:]
	if m := regexp.MustCompile(testdata.KdumpCaptureMarker + ` tool (.*)`).FindSubmatch(capLog); m != nil {
		km.Makedumpfile = strings.TrimSpace(string(m[1]))
	}
	steps := map[string][][]byte{}
	for _, m := range kdumpStepRE.FindAllSubmatch(capLog, -1) {
		steps[string(m[1])] = m
	}
	debugfs, _ := lookSbin("debugfs")
	files := map[testdata.Format]string{}
	for _, kf := range kdumpFormats {
		m, ok := steps[string(kf.f)]
		if !ok {
			if kf.f == testdata.FormatKdumpD31Zstd {
				continue // this makedumpfile has no zstd
			}
			return fmt.Errorf("capture kernel did not write %s", kf.f)
		}
		if string(m[2]) != "0" {
			return fmt.Errorf("capture kernel: %s failed (rc=%s): %s", kf.f, m[2], m[4])
		}
		name := "vmcore." + string(kf.f)
		out := filepath.Join(r.tmp, name)
		if b, err := exec.Command(debugfs, "-R", "dump /"+name+" "+out, disk).CombinedOutput(); err != nil {
			return fmt.Errorf("debugfs dump %s: %v: %s", name, err, b)
		}
		if st, err := os.Stat(out); err != nil || st.Size() < 1<<20 {
			return fmt.Errorf("%s from the capture disk: %v (size %d)", name, err, st.Size())
		}
		if kf.bit != 0 {
			if st, err := kdumpStatus(out); err != nil || st&kf.bit == 0 {
				return fmt.Errorf("%s: not compressed as asked (status %#x, %v)", name, st, err)
			}
		}
		os.Chmod(out, 0o644)
		files[kf.f] = name
		km.MadeBy[kf.f] = string(m[4])
		if s, err := strconv.ParseFloat(string(m[3]), 64); err == nil {
			km.CaptureSeconds[kf.f] = s
		}
	}
	r.phase("extract", t)

	return r.finish(console, files, testdata.FormatKdumpELF, start, km, initrd, disk)
}

// lookSbin finds a tool in PATH or in /usr/sbin, /sbin (not in every
// user's PATH).
func lookSbin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			return filepath.Join(d, name), nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
