// Command kwalk analyses a Linux kernel crash dump or the running kernel:
// an interactive session like crash, batch commands for pipelines, and Go
// scripts over the kwalk API. "kwalk -h" for usage, "kwalk help" for the
// commands.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/kcore"
	"github.com/kwalk/kwalk/repl"
	"github.com/kwalk/kwalk/symbols"
	"golang.org/x/sys/unix"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	reg := repl.NewDefaultRegistry()
	if err := reg.Err(); err != nil {
		fmt.Fprintln(stderr, "kwalk:", repl.Printable(err.Error()))
		return repl.ExitFailed
	}
	isCmd := func(n string) bool { _, ok := reg.Lookup(n); return ok }
	inv, err := parseCommandLine(args, isCmd, statPath)
	if err != nil {
		fmt.Fprintf(stderr, "kwalk: %s\n(kwalk -h for usage)\n", repl.Printable(err.Error()))
		return repl.ExitUsage
	}
	switch inv.mode {
	case modeVersion:
		fmt.Fprintln(stdout, "kwalk", version())
		return repl.ExitOK
	case modeHelp:
		fmt.Fprint(stdout, usageText)
		return repl.ExitOK
	case modeDemo:
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runDemo(ctx, stdout, stderr)
	}

	// SIGTERM, and SIGINT outside an interactive terminal session (there
	// Ctrl-C cancels the command at the prompt), end kwalk at any point.
	interactive := inv.mode == modeInteractive && stdinIsTerminal()
	sigs := []os.Signal{syscall.SIGTERM}
	if !interactive {
		sigs = append(sigs, os.Interrupt)
	}
	ctx, intr := catchSignals(context.Background(), stderr, os.Exit, signalGrace, sigs...)
	status := runSession(ctx, reg, inv, interactive, stdout, stderr)
	intr.stop()
	if sig := intr.received(); sig != 0 {
		return 128 + int(sig)
	}
	return status
}

// runSession opens the kernel and runs the invocation's commands.
func runSession(ctx context.Context, reg *repl.Registry, inv invocation, interactive bool, stdout, stderr io.Writer) int {
	var err error
	needProg := inv.mode != modeScript // scripts open the kernel themselves
	switch {
	case inv.mode == modeBatch:
		if c, ok := reg.Lookup(inv.words[0]); ok && c.NoProgram {
			needProg = false
		}
	case inv.mode == modeCommands && inv.inputFile == "" && inv.dump == "":
		needProg = reg.NeedsProgram(inv.commands) // kwalk -c help
	}
	var prog *symbols.Program
	if needProg {
		prog, err = openProgram(ctx, inv, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "kwalk:", repl.Printable(err.Error()))
			return repl.ExitNoInput
		}
	}
	sess := repl.NewSession(prog, reg, stdout, stderr)
	sess.JSON = inv.json
	if prog != nil {
		// Like crash: commands without a task work on the running one.
		sess.SetDefaultTask(ctx)
	}

	switch inv.mode {
	case modeBatch:
		warn(prog, stderr)
		return sess.RunWords(ctx, inv.words)
	case modeCommands:
		warn(prog, stderr)
		return runCommands(ctx, sess, inv, stderr)
	case modeScript:
		return runScript(ctx, inv, stdout, stderr)
	}
	// Interactive, unless stdin is not a terminal: then the commands come
	// from stdin, without prompt or banner (echo ps | kwalk vmcore).
	if !interactive {
		inv.inputFile = "-"
		warn(prog, stderr)
		return runCommands(ctx, sess, inv, stderr)
	}
	if !sess.JSON {
		sess.Exec(ctx, "sys")
		if sess.Task.IsValid() {
			fmt.Fprintln(stdout)
			sess.Exec(ctx, "set")
			fmt.Fprintln(stdout)
		}
	}
	warn(prog, stderr)
	if err := sess.RunInteractive(ctx, repl.InteractiveOptions{HistoryFile: repl.DefaultHistoryFile()}); err != nil {
		fmt.Fprintln(stderr, "kwalk:", repl.Printable(err.Error()))
		return repl.ExitFailed
	}
	return repl.ExitOK
}

// runCommands runs -c text or the lines of the -i file; the status is the
// highest of the commands'.
func runCommands(ctx context.Context, sess *repl.Session, inv invocation, stderr io.Writer) int {
	status := repl.ExitOK
	runLine := func(line string) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			return
		}
		if st := sess.Exec(ctx, line); st > status {
			status = st
		}
	}
	if inv.commands != "" {
		runLine(inv.commands)
	}
	if inv.inputFile != "" {
		var r io.Reader = os.Stdin
		if inv.inputFile != "-" {
			f, err := os.Open(inv.inputFile)
			if err != nil {
				fmt.Fprintln(stderr, "kwalk:", repl.Printable(err.Error()))
				return repl.ExitNoInput
			}
			defer f.Close()
			r = f
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() && !sess.Quit() && ctx.Err() == nil {
			runLine(sc.Text())
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintf(stderr, "kwalk: reading %s: %s\n", inv.inputFile, repl.Printable(err.Error()))
			if status < repl.ExitFailed {
				status = repl.ExitFailed
			}
		}
	}
	return status
}

// openProgram opens the dump (or the live kernel) with discovered debug info.
// Without a vmlinux, one comes from debuginfod ($DEBUGINFOD_URLS, unless
// --no-debuginfod) when the commands need DWARF, when the kernel has no
// BTF, or when elfutils' cache already holds it.
func openProgram(ctx context.Context, inv invocation, stderr io.Writer) (*symbols.Program, error) {
	opts := kwalk.Options{
		Vmlinux:      inv.vmlinux,
		SystemMap:    inv.systemMap,
		DebugDirs:    inv.debugDirs,
		ZeroExcluded: inv.zeroExcl,
		ForceBuildID: inv.forceBID,
	}
	if !inv.noDebuginfod {
		opts.ModuleDebug = func(module, buildID string) (string, error) {
			return fetchModuleDebug(ctx, module, buildID, stderr)
		}
	}
	// debuginfo fetches the vmlinux of buildID when there is none yet.
	debuginfo := func(buildID, release string, fetch bool) bool {
		if opts.Vmlinux != "" || inv.noDebuginfod {
			return false
		}
		p, err := fetchVmlinux(ctx, buildID, release, fetch, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "kwalk: debuginfod:", repl.Printable(err.Error()))
		}
		if p == "" {
			return false
		}
		opts.Vmlinux = p
		return true
	}
	if inv.dump == "" {
		var uts unix.Utsname
		release := ""
		if unix.Uname(&uts) == nil {
			release = unix.ByteSliceToString(uts.Release[:])
		}
		applyDiscovery(&opts, discover("/", "", release))
		debuginfo(liveBuildID(), release, needsDWARF(inv))
		prog, err := kwalk.OpenLive(opts)
		if errors.Is(err, kwalk.ErrNoTypes) && debuginfo(liveBuildID(), release, true) {
			prog, err = kwalk.OpenLive(opts)
		}
		if err != nil {
			return nil, fmt.Errorf("%w\n(no dump was named, so kwalk tried the running kernel; to analyse a crash dump, name it: kwalk VMCORE [VMLINUX])", err)
		}
		return prog, nil
	}
	d := discover("/", inv.dump, "")
	var release, buildID string
	if opts.Vmlinux == "" && d.Vmlinux == "" {
		// The release (for /usr/lib/debug) and build-id (for debuginfod)
		// are in the dump's VMCOREINFO.
		release, buildID = dumpRelease(d.Dump, inv.zeroExcl)
		if release != "" {
			d = discover("/", inv.dump, release)
		}
	}
	applyDiscovery(&opts, d)
	debuginfo(buildID, release, needsDWARF(inv))
	prog, err := kwalk.Open(d.Dump, opts)
	if errors.Is(err, kwalk.ErrNoTypes) && debuginfo(buildID, release, true) {
		prog, err = kwalk.Open(d.Dump, opts)
	}
	return prog, err
}

func applyDiscovery(opts *kwalk.Options, d discovered) {
	if opts.Vmlinux == "" {
		opts.Vmlinux = d.Vmlinux
	}
	opts.DebugDirs = append(opts.DebugDirs, d.DebugDirs...)
}

// dumpRelease reads the kernel release and build-id from a dump's headers.
func dumpRelease(path string, zero bool) (release, buildID string) {
	d, err := kcore.Open(path, kcore.Options{ZeroExcluded: zero})
	if err != nil {
		return "", ""
	}
	defer d.Close()
	if info := d.VMCoreInfo(); info != nil {
		buildID = info.BuildID()
	}
	return d.Release(), buildID
}

func warn(prog *symbols.Program, stderr io.Writer) {
	if prog == nil {
		return
	}
	for _, w := range prog.Warnings {
		fmt.Fprintln(stderr, "WARNING:", repl.Printable(w))
	}
}

func stdinIsTerminal() bool {
	_, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS)
	return err == nil
}

// statPath tells whether p exists: nil when it does, else the os error
// (see isMissing).
func statPath(p string) error {
	_, err := os.Stat(p)
	return err
}

// version is kwalk's version: the module version, the VCS revision and
// time the binary was built from (and whether the tree was modified), and
// the Go release that built it.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown) " + runtime.Version()
	}
	v := bi.Main.Version
	var rev, when, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
			if len(rev) > 12 {
				rev = rev[:12]
			}
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = " (modified)"
			}
		}
	}
	if rev != "" {
		v += " revision " + rev + dirty
		if when != "" {
			v += " of " + when
		}
	} else {
		v += " (no VCS information: built with go run, or outside a git checkout)"
	}
	return v + ", " + bi.GoVersion
}
