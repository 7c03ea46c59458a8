package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/repl"
	"github.com/kwalk/kwalk/walkers/waitfor"
)

// The demo: "kwalk demo" in a clone of kwalk's repository makes (once; it
// is cached) a real dump of a Debian kernel in which the project's
// generator staged hangs — an rm stuck behind an inode lock whose holder
// waits on a FUSE server that never answers, a FUSE server that deadlocks
// on its own mount, a pid-namespace init waiting for an exiting FUSE
// server — and shows what kwalk says of it.

// demoGuest is the generated dump the demo analyses (testdata/guests.go).
const demoGuest = "6.1/hangs"

// demoTools are the Debian packages the generator needs (.ci/run).
var demoTools = []string{"qemu-system-x86", "busybox-static", "makedumpfile", "cpio", "xz-utils", "zstd"}

func runDemo(ctx context.Context, stdout, stderr io.Writer) int {
	step := func(f string, a ...any) { fmt.Fprintf(stderr, "kwalk demo: "+f+"\n", a...) }
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintf(stderr, "kwalk demo: %v\n(the demo builds a dump with the generator of kwalk's repository: run it from a clone, e.g. go run ./cmd/kwalk demo)\n", err)
		return repl.ExitFailed
	}
	dir, err := cachedDemoDump(ctx, root)
	if err != nil {
		step("making a real dump of a Debian 6.1 kernel with staged hangs (once; later runs reuse it; 2 to 8 minutes)")
		if err := installDemoTools(ctx, step, stderr); err != nil {
			fmt.Fprintf(stderr, "kwalk demo: %v\n", err)
			return repl.ExitFailed
		}
		var log strings.Builder
		gen := exec.CommandContext(ctx, "go", "run", "./testdata/gen", "-only", demoGuest)
		gen.Dir, gen.Stdout, gen.Stderr = root, io.MultiWriter(stderr, &log), io.MultiWriter(stderr, &log)
		if err := gen.Run(); err != nil {
			fmt.Fprintf(stderr, "kwalk demo: the generator failed: %v (its output is above)\n", err)
			return repl.ExitFailed
		}
		if dir = madeDir(log.String()); dir == "" {
			if dir, err = cachedDemoDump(ctx, root); err != nil {
				fmt.Fprintf(stderr, "kwalk demo: %v\n", err)
				return repl.ExitFailed
			}
		}
	}
	dump := filepath.Join(dir, "vmcore.kdump-zlib-flat")
	step("analysing %s", dump)
	p, err := kwalk.Open(dump, kwalk.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "kwalk demo: %v\n", err)
		return repl.ExitFailed
	}
	defer p.Dump.Close()
	rep, err := waitfor.Deadlock(p)
	if err != nil {
		fmt.Fprintf(stderr, "kwalk demo: %v\n", err)
		return repl.ExitFailed
	}
	fmt.Fprintf(stdout, "$ kwalk deadlock %s\n\n", dump)
	if err := (repl.DeadlockResult{DeadlockReport: rep}).WriteText(stdout); err != nil {
		return repl.ExitFailed
	}
	fmt.Fprintf(stdout, `
What you see: every blocked task of the dump, grouped by root cause, each
hop with how kwalk knows it (certain, or a hint) and the command that would
unstick it. kwalk read the kernel's own kallsyms, BTF and ORC from the dump:
no debuginfo was needed. "kwalk deadlock" exits 2 when it finds a cycle, 1
for stuck chains, 0 when nothing is stuck (this demo exits 0).

Try next:
  go run ./cmd/kwalk %[1]s            # the prompt: ps, bt PID, files PID, blocked PID, help
  go run ./cmd/kwalk deadlock --json %[1]s
  go run ./cmd/kwalk -c 'ps -m; bt -a' %[1]s
`, dump)
	return repl.ExitOK
}

// repoRoot finds the clone of kwalk's repository around the working
// directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/kwalk/kwalk\n") {
			if _, err := os.Stat(filepath.Join(dir, "testdata", "gen")); err == nil {
				return dir, nil
			}
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("not inside a clone of kwalk's repository")
		}
		dir = up
	}
}

// cachedDemoDump asks the generator where the demo dump is, and whether
// it is made.
func cachedDemoDump(ctx context.Context, root string) (string, error) {
	kernel, guest, _ := strings.Cut(demoGuest, "/")
	cmd := exec.CommandContext(ctx, "go", "run", "./testdata/gen", "-list", "-only", demoGuest)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("listing the generated dumps: %w", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 4 && f[0] == kernel && f[1] == guest {
			dir := f[len(f)-1]
			if f[len(f)-2] != "cached" {
				return dir, fmt.Errorf("%s is not made yet", dir)
			}
			return dir, nil
		}
	}
	return "", fmt.Errorf("the generator does not know the guest %s", demoGuest)
}

// madeDir finds the dump directory in the generator's log ("6.1/hangs
// done in 42s: DIR" or "6.1/hangs: cached in DIR").
func madeDir(log string) string {
	dir := ""
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, demoGuest) {
			continue
		}
		for _, sep := range []string{" done in ", ": cached in "} {
			if i := strings.Index(l, sep); i >= 0 {
				rest := l[i+len(sep):]
				if j := strings.Index(rest, ": "); sep == " done in " && j >= 0 {
					rest = rest[j+2:]
				}
				if _, err := os.Stat(filepath.Join(strings.TrimSpace(rest), "vmcore.kdump-zlib-flat")); err == nil {
					dir = strings.TrimSpace(rest)
				}
			}
		}
	}
	return dir
}

// installDemoTools installs the generator's tools when some are missing:
// with apt-get as root, else it says what to install.
func installDemoTools(ctx context.Context, step func(string, ...any), stderr io.Writer) error {
	var missing []string
	for _, t := range []struct{ bin, pkg string }{{"qemu-system-x86_64", "qemu-system-x86"}, {"makedumpfile", "makedumpfile"},
		{"cpio", "cpio"}, {"xz", "xz-utils"}, {"zstd", "zstd"}} {
		if _, err := exec.LookPath(t.bin); err != nil {
			missing = append(missing, t.pkg)
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		missing = append(missing, "busybox-static")
	}
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("the generator needs %s: sudo apt-get install %s", strings.Join(missing, ", "), strings.Join(demoTools, " "))
	}
	step("installing %s with apt-get", strings.Join(missing, " "))
	for _, args := range [][]string{{"update", "-q"}, append([]string{"install", "-y", "-q", "--no-install-recommends"}, demoTools...)} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Stdout, cmd.Stderr = io.Discard, stderr
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get %s: %w", args[0], err)
		}
	}
	return nil
}
