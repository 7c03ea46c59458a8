// Command drgncmp times kwalk against drgn on the generated dumps: the same
// questions asked of the same dump file, each tool run as a whole process,
// alternately, several times; it prints the medians and their ratio as a
// Markdown table. From the repository root:
//
//	go run ./testdata/drgncmp -install          # as root: python3-drgn, the -dbg package
//	go run ./testdata/drgncmp [-runs 5] [-kernel 6.1] [-guests hangs,stuck]
//
// kwalk reads nothing but the dump. drgn needs DWARF: it is given the
// kernel's -dbg vmlinux and the debug files of the modules the dump has
// loaded (testdata.DebugRoot), with --no-default-symbols so that it reads
// nothing else. The questions:
//
//	first  open the dump, print init_task.comm
//	ps     every task: pid, state, comm
//	bt     every task's stack (kwalk foreach bt; drgn prog.stack_trace)
//	hang   kwalk deadlock; drgn has no such analysis, the closest is the
//	       stack of every task in D state
//
// Each answer is checked once against the other tool's (task counts and
// pids, D-state counts, traces unwound); a mismatch is printed under the
// table. The harness needs drgn and the dumps, so it is a command, not a
// test.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/kwalk/kwalk/testdata"
)

const psScript = `from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_state_to_char
for t in for_each_task(prog):
    print(t.pid.value_(), task_state_to_char(t), t.comm.string_().decode(errors="replace"))
`

const firstScript = `print(prog["init_task"].comm.string_().decode())
`

const btScript = `from drgn.helpers.linux.pid import for_each_task
for t in for_each_task(prog):
    print("PID:", t.pid.value_(), t.comm.string_().decode(errors="replace"))
    try:
        print(prog.stack_trace(t))
    except Exception as e:
        print("error:", e)
`

const hangScript = `from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_state_to_char
for t in for_each_task(prog):
    if task_state_to_char(t) != "D":
        continue
    print("PID:", t.pid.value_(), t.comm.string_().decode(errors="replace"))
    try:
        print(prog.stack_trace(t))
    except Exception as e:
        print("error:", e)
`

// question is one thing asked of both tools.
type question struct {
	Name  string
	Kwalk []string // arguments before the dump path
	Drgn  string   // script
	// KwalkOK lists exit statuses that are answers (deadlock: 1 chains,
	// 2 a cycle, 4 incomplete).
	KwalkOK []int
}

var questions = []question{
	{Name: "first", Kwalk: []string{"-c", "p init_task.comm"}, Drgn: firstScript},
	{Name: "ps", Kwalk: []string{"ps"}, Drgn: psScript},
	{Name: "bt", Kwalk: []string{"-c", "foreach bt"}, Drgn: btScript},
	{Name: "hang", Kwalk: []string{"deadlock"}, Drgn: hangScript, KwalkOK: []int{1, 2, 4}},
}

var describe = map[string]string{
	"first": "open, print init_task.comm",
	"ps":    "every task: pid, state, comm",
	"bt":    "every task's stack",
	"hang":  "kwalk deadlock / drgn: stacks of D tasks",
}

func main() {
	install := flag.Bool("install", false, "install python3-drgn (apt, from the newest configured suite that upgrades nothing) and the kernel's -dbg package (the generator), then exit")
	runs := flag.Int("runs", 5, "runs of each tool per question")
	kernel := flag.String("kernel", "6.1", "kernel ID (testdata.Kernels); it must pin a -dbg package")
	guests := flag.String("guests", "hangs,stuck", "comma-separated guests of that kernel")
	format := flag.String("format", string(testdata.FormatMakedumpfileZlib), "dump format both tools read")
	kwalkBin := flag.String("kwalk", "", "kwalk binary (default: go build ./cmd/kwalk into a temporary directory)")
	drgnBin := flag.String("drgn", "drgn", "drgn command")
	only := flag.String("q", "", "comma-separated questions (first,ps,bt,hang; default all)")
	flag.Parse()
	if err := run(*install, *runs, *kernel, *guests, testdata.Format(*format), *kwalkBin, *drgnBin, *only); err != nil {
		fmt.Fprintln(os.Stderr, "drgncmp:", err)
		os.Exit(1)
	}
}

func run(install bool, runs int, kernelID, guests string, format testdata.Format, kwalkBin, drgnBin, only string) error {
	k, ok := testdata.KernelByID(kernelID)
	if !ok {
		return fmt.Errorf("no kernel %q", kernelID)
	}
	if install {
		return doInstall(k, guests)
	}
	debugRoot, err := testdata.DebugRoot(k)
	if err != nil {
		return fmt.Errorf("%v (go run ./testdata/drgncmp -install)", err)
	}
	release, vmlinux, err := findVmlinux(debugRoot)
	if err != nil {
		return err
	}
	drgnVersion, err := output(drgnBin, "--version")
	if err != nil {
		return fmt.Errorf("%s --version: %v (go run ./testdata/drgncmp -install)", drgnBin, err)
	}
	if kwalkBin == "" {
		dir, err := os.MkdirTemp("", "drgncmp")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		kwalkBin = filepath.Join(dir, "kwalk")
		cmd := exec.Command("go", "build", "-o", kwalkBin, "./cmd/kwalk")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/kwalk: %v", err)
		}
	}
	kwalkVersion, _ := output(kwalkBin, "version")
	scripts, err := os.MkdirTemp("", "drgncmp-scripts")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scripts)

	var qs []question
	for _, q := range questions {
		if only == "" || contains(strings.Split(only, ","), q.Name) {
			qs = append(qs, q)
		}
	}
	host, _ := os.Hostname()
	fmt.Printf("date %s, %s, %d CPUs, load average at start %s\n", time.Now().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), loadavg())
	fmt.Printf("kwalk %s; %s\n", strings.TrimSpace(kwalkVersion), strings.TrimSpace(drgnVersion))
	fmt.Printf("kernel %s (%s), format %s, %d runs of each, alternating; whole-process wall time, medians\n\n", kernelID, release, format, runs)

	var notes []string
	type row struct{ dump, q, kw, dr, ratio string }
	var rows []row
	for _, name := range strings.Split(guests, ",") {
		d, err := loadDump(kernelID, name)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s/%s: %v", kernelID, name, err))
			continue
		}
		path := d.Path(format)
		if path == "" {
			notes = append(notes, fmt.Sprintf("%s: no %s file (has %v)", d.ID(), format, d.Formats()))
			continue
		}
		mods, err := output(kwalkBin, "mod", path)
		if err != nil {
			return fmt.Errorf("%s: kwalk mod: %v", d.ID(), err)
		}
		drgnArgs := []string{"-q", "--no-default-symbols", "-c", path, "-s", vmlinux}
		for _, m := range parseModules(mods) {
			ko, err := findModule(debugRoot, release, m)
			if err != nil {
				return err
			}
			if ko != "" {
				drgnArgs = append(drgnArgs, "-s", ko)
			}
		}
		outs := map[string][2]string{}
		for _, q := range qs {
			script := filepath.Join(scripts, q.Name+".py")
			if err := os.WriteFile(script, []byte(q.Drgn), 0o644); err != nil {
				return err
			}
			kcmd := append(append([]string{}, q.Kwalk...), path)
			dcmd := append(append([]string{}, drgnArgs...), script)
			var kt, dt []time.Duration
			for i := 0; i < runs; i++ {
				// Alternate which tool goes first, so neither always
				// finds the page cache warmed by the other.
				order := []bool{true, false}
				if i%2 == 1 {
					order = []bool{false, true}
				}
				for _, isKwalk := range order {
					var out string
					var el time.Duration
					var err error
					if isKwalk {
						out, el, err = timed(kwalkBin, kcmd, q.KwalkOK)
						kt = append(kt, el)
					} else {
						out, el, err = timed(drgnBin, dcmd, nil)
						dt = append(dt, el)
					}
					if err != nil {
						return fmt.Errorf("%s %s: %v", d.ID(), q.Name, err)
					}
					if i == 0 {
						o := outs[q.Name]
						if isKwalk {
							o[0] = out
						} else {
							o[1] = out
						}
						outs[q.Name] = o
					}
				}
			}
			fmt.Fprintf(os.Stderr, "%s %s: kwalk %v, drgn %v\n", d.ID(), q.Name, kt, dt)
			rows = append(rows, row{d.ID(), q.Name, seconds(median(kt)), seconds(median(dt)), ratio(median(kt), median(dt))})
		}
		notes = append(notes, check(d.ID(), outs)...)
	}
	fmt.Println("| dump | question | kwalk | drgn | kwalk/drgn |")
	fmt.Println("|---|---|---:|---:|---:|")
	for _, r := range rows {
		fmt.Printf("| %s | %s (%s) | %s | %s | %s |\n", r.dump, r.q, describe[r.q], r.kw, r.dr, r.ratio)
	}
	fmt.Printf("\nload average at end %s\n", loadavg())
	for _, n := range notes {
		fmt.Println("note:", n)
	}
	return nil
}

// check compares the two tools' answers to each question.
func check(id string, outs map[string][2]string) []string {
	var notes []string
	var kwalkD = -1
	if o, ok := outs["first"]; ok {
		kw, dr := strings.TrimSpace(o[0]), strings.TrimSpace(o[1])
		if !strings.Contains(kw, "swapper/0") || dr != "swapper/0" {
			notes = append(notes, fmt.Sprintf("%s first: kwalk %q, drgn %q", id, kw, dr))
		}
	}
	if o, ok := outs["ps"]; ok {
		kts, err1 := parseKwalkPS(o[0])
		dts, err2 := parseDrgnPS(o[1])
		if err := errors.Join(err1, err2); err != nil {
			notes = append(notes, fmt.Sprintf("%s ps: %v", id, err))
		} else {
			kn, kd, kp := taskCounts(kts)
			dn, dd, dp := taskCounts(dts)
			kwalkD = kd
			a, b := diffPIDs(kp, dp, 5)
			if kn != dn || kd != dd || len(a)+len(b) > 0 {
				notes = append(notes, fmt.Sprintf("%s ps: MISMATCH kwalk %d tasks (%d D), drgn %d (%d D); pids only kwalk %v, only drgn %v", id, kn, kd, dn, dd, a, b))
			} else {
				notes = append(notes, fmt.Sprintf("%s ps: both list the same %d tasks besides the idle tasks, %d in D state", id, kn, kd))
			}
		}
	}
	if o, ok := outs["bt"]; ok {
		kn, _ := countTraces(o[0])
		dn, de := countTraces(o[1])
		s := fmt.Sprintf("%s bt: kwalk %d traces, drgn %d (%d not unwound) besides the idle tasks", id, kn, dn, de)
		if kn != dn {
			s += " MISMATCH"
		}
		notes = append(notes, s)
	}
	if o, ok := outs["hang"]; ok {
		dn, de := countTraces(o[1])
		first, _, _ := strings.Cut(strings.TrimSpace(o[0]), "\n")
		s := fmt.Sprintf("%s hang: kwalk %q; drgn printed %d D-state stacks (%d not unwound)", id, first, dn, de)
		if kwalkD >= 0 && kwalkD != dn {
			s += fmt.Sprintf(" MISMATCH with kwalk ps's %d D tasks", kwalkD)
		}
		notes = append(notes, s)
	}
	return notes
}

// timed runs name with args, returning its output and wall time; an exit
// status other than 0 and those in ok is an error.
func timed(name string, args []string, ok []int) (string, time.Duration, error) {
	cmd := exec.Command(name, args...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	start := time.Now()
	err := cmd.Run()
	el := time.Since(start)
	var ee *exec.ExitError
	if errors.As(err, &ee) && containsInt(ok, ee.ExitCode()) {
		err = nil
	}
	if err != nil {
		return "", el, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, lastLines(stderr.String(), 5))
	}
	return out.String(), el, nil
}

func output(name string, args ...string) (string, error) {
	out, _, err := timed(name, args, nil)
	return out, err
}

func loadDump(kernel, guest string) (*testdata.Dump, error) {
	for _, g := range testdata.Guests {
		if g.Kernel == kernel && g.Name == guest {
			return testdata.Load(g)
		}
	}
	return nil, fmt.Errorf("no such guest")
}

// findVmlinux returns the release and vmlinux of an unpacked -dbg package.
func findVmlinux(debugRoot string) (release, vmlinux string, err error) {
	m, _ := filepath.Glob(filepath.Join(debugRoot, "boot", "vmlinux-*"))
	if len(m) != 1 {
		return "", "", fmt.Errorf("%s/boot: want one vmlinux-*, have %v", debugRoot, m)
	}
	return strings.TrimPrefix(filepath.Base(m[0]), "vmlinux-"), m[0], nil
}

// findModule returns the debug file of module name (kernel names use _
// where file names may use -), "" when the -dbg unpacking did not keep it.
func findModule(debugRoot, release, name string) (string, error) {
	var found string
	want := map[string]bool{name + ".ko": true, strings.ReplaceAll(name, "_", "-") + ".ko": true}
	dir := filepath.Join(debugRoot, "lib", "modules", release)
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return filepath.SkipAll
			}
			return err
		}
		if !e.IsDir() && want[e.Name()] && found == "" {
			found = p
		}
		return nil
	})
	return found, err
}

// doInstall installs python3-drgn from the newest configured suite whose
// version installs without upgrading or removing anything, and has the
// generator fetch and unpack the kernel's -dbg package.
func doInstall(k testdata.Kernel, guests string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("-install runs apt-get: run it as root")
	}
	if v, err := output("drgn", "--version"); err == nil {
		fmt.Printf("drgn is installed: %s", v)
	} else {
		suite, err := pickSuite()
		if err != nil {
			return err
		}
		fmt.Printf("installing python3-drgn from %s\n", suite)
		cmd := exec.Command("apt-get", "install", "-y", "--no-upgrade", "-t", suite, "python3-drgn")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("apt-get install python3-drgn: %v", err)
		}
	}
	if k.Debug == nil {
		return fmt.Errorf("kernel %s pins no -dbg package: drgn has no debug info for it", k.ID)
	}
	if root, err := testdata.DebugRoot(k); err == nil {
		fmt.Printf("%s is unpacked: %s\n", k.Debug.Name, root)
		return nil
	}
	// The generator fetches the -dbg package with the kernel's dumps
	// (and makes those the cache lacks).
	var only []string
	for _, g := range strings.Split(guests, ",") {
		only = append(only, k.ID+"/"+g)
	}
	cmd := exec.Command("go", "run", "./testdata/gen", "-only", strings.Join(only, ","))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	fmt.Printf("fetching %s: %s\n", k.Debug.Name, strings.Join(cmd.Args, " "))
	return cmd.Run()
}

// pickSuite returns the suite to install python3-drgn from: the first of
// sid, trixie, the default release whose simulated install upgrades and
// removes nothing. drgn in sid and trixie needs their libc and Python, so
// on bookworm this is the default release (drgn 0.0.22).
func pickSuite() (string, error) {
	var why []string
	for _, suite := range []string{"sid", "trixie", ""} {
		args := []string{"install", "-s", "python3-drgn"}
		if suite != "" {
			args = append(args, "-t", suite)
		}
		out, err := output("apt-get", args...)
		if err != nil {
			why = append(why, fmt.Sprintf("%s: %v", suite, err))
			continue
		}
		up, rm := simulateChanges(out)
		if up == 0 && rm == 0 {
			if suite == "" {
				suite = defaultSuite()
			}
			return suite, nil
		}
		why = append(why, fmt.Sprintf("%s: upgrades %d and removes %d packages", suite, up, rm))
	}
	return "", fmt.Errorf("no suite installs python3-drgn without changing installed packages: %s", strings.Join(why, "; "))
}

// simulateChanges counts the upgrades ("Inst NAME [OLD] (NEW ...)") and
// removals ("Remv ...") in apt-get -s output.
func simulateChanges(out string) (upgrades, removals int) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "Inst" && strings.HasPrefix(f[2], "["):
			upgrades++
		case len(f) >= 2 && f[0] == "Remv":
			removals++
		}
	}
	return upgrades, removals
}

// defaultSuite is the codename in /etc/os-release, "stable" when unknown.
func defaultSuite() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "stable"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VERSION_CODENAME="); ok && v != "" {
			return strings.Trim(v, `"`)
		}
	}
	return "stable"
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
