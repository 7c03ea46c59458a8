// Command gen makes real dumps of real Debian kernels with staged hangs, for
// kwalk's tests: it downloads the pinned kernel packages (testdata/guests.go),
// boots each guest under QEMU (TCG), waits for the guest's own record of its
// state on the serial console, dumps its memory in every format QEMU and
// makedumpfile can write, and keeps the result in the cache
// (testdata.CacheDir) under a key that changes with the generator's sources.
//
//	go run ./testdata/gen [-only 6.1,sid/idle] [-j 2] [-force] [-list]
package main

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kwalk/kwalk/testdata"
)

//go:embed init.sh
var initScript []byte

//go:embed setup-apt.sh
var setupAptScript []byte

const busyboxPath = "/bin/busybox"

func main() {
	only := flag.String("only", "", "comma-separated kernels or kernel/guest to make (default all), e.g. 6.1,sid/idle")
	jobs := flag.Int("j", 2, "guests to run at once")
	force := flag.Bool("force", false, "regenerate even when the cache has the dump")
	list := flag.Bool("list", false, "list the guests and their cache state, then exit")
	noApt := flag.Bool("no-apt-setup", false, "do not add the extra Debian suites (they must be configured already)")
	dbg := flag.Bool("dbg", true, "also fetch the -dbg package of kernels that pin one (DWARF tests)")
	printDebug := flag.String("print-debug-root", "", "print the unpacked usr/lib/debug of this kernel's -dbg package and exit")
	flag.Parse()
	if *printDebug != "" {
		k, ok := testdata.KernelByID(*printDebug)
		if !ok {
			fmt.Fprintf(os.Stderr, "gen: no kernel %q\n", *printDebug)
			os.Exit(1)
		}
		root, err := testdata.DebugRoot(k)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gen: %v\n", err)
			os.Exit(1)
		}
		fmt.Println(root)
		return
	}
	if err := run(*only, *jobs, *force, *list, *noApt, *dbg); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}

func selected(only string, g testdata.Guest) bool {
	if only == "" {
		return true
	}
	for _, s := range strings.Split(only, ",") {
		s = strings.TrimSpace(s)
		if s == g.Kernel || s == g.Kernel+"/"+g.Name {
			return true
		}
	}
	return false
}

func selectedKernel(only, id string) bool {
	if only == "" {
		return true
	}
	for _, s := range strings.Split(only, ",") {
		if k, _, _ := strings.Cut(strings.TrimSpace(s), "/"); k == id {
			return true
		}
	}
	return false
}

func logf(prefix string) func(string, ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s %-10s %s\n", time.Now().Format("15:04:05"), prefix, fmt.Sprintf(format, args...))
	}
}

func run(only string, jobs int, force, list, noApt, dbg bool) error {
	cache := testdata.CacheDir()
	log := logf("gen")
	type work struct {
		g   testdata.Guest
		k   testdata.Kernel
		dir string
	}
	var todo []work
	var debugKernels []testdata.Kernel
	for _, k := range append(append([]testdata.Kernel{}, testdata.Kernels...), testdata.Arm64Kernels...) {
		if _, err := testdata.DebugRoot(k); dbg && k.Debug != nil && err != nil && selectedKernel(only, k.ID) {
			debugKernels = append(debugKernels, k)
		}
	}
	for _, g := range allGuests() {
		if !selected(only, g) {
			continue
		}
		k, ok := kernelByID(g.Kernel)
		if !ok {
			return fmt.Errorf("guest %s/%s: no kernel %q in testdata.Kernels", g.Kernel, g.Name, g.Kernel)
		}
		k, err := testdata.ResolveKernel(k)
		if err != nil {
			return err
		}
		dir := testdata.DumpDir(g, k)
		_, lerr := testdata.LoadDir(dir)
		if list {
			state := "cached"
			if lerr != nil {
				state = "missing"
			}
			fmt.Printf("%-6s %-6s L%d %5d MB  %-7s %s\n", g.Kernel, g.Name, g.PagingLevels, g.MemoryMB, state, dir)
			continue
		}
		if lerr == nil && !force {
			log("%s/%s: cached in %s", g.Kernel, g.Name, dir)
			continue
		}
		todo = append(todo, work{g, k, dir})
	}
	if list || (len(todo) == 0 && len(debugKernels) == 0) {
		return nil
	}
	if err := checkTools(); err != nil {
		return err
	}
	unlock, err := lockCache(cache, log)
	if err != nil {
		return err
	}
	defer unlock()
	t0 := time.Now()
	if !noApt {
		if err := setupApt(log); err != nil {
			return err
		}
	}
	hangfs, err := buildStatic(cache, "hangfs", "./testdata/hangfs", log)
	if err != nil {
		return err
	}
	kwalkBin, err := buildStatic(cache, "kwalk", "./cmd/kwalk", log)
	if err != nil {
		return err
	}
	kwalkSum := sha256.Sum256(kwalkBin)
	kwalkID := hex.EncodeToString(kwalkSum[:8]) + " " + gitDescribe()
	log("setup (apt, hangfs and kwalk builds) %.1fs; kwalk %s", time.Since(t0).Seconds(), kwalkID)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var (
		mu       sync.Mutex
		failures []string
		kernels  = map[string]*preparedKernel{}
		kmu      sync.Mutex
		wg       sync.WaitGroup
		sem      = make(chan struct{}, max(1, jobs))
		results  []string
	)
	prepare := func(k testdata.Kernel, log func(string, ...any)) (*preparedKernel, error) {
		kmu.Lock()
		defer kmu.Unlock()
		if pk := kernels[k.ID]; pk != nil {
			return pk, nil
		}
		t := time.Now()
		pk, err := prepareKernel(cache, k, log)
		if err != nil {
			return nil, err
		}
		log("kernel %s ready (%s) in %.1fs", k.ID, pk.Release, time.Since(t).Seconds())
		kernels[k.ID] = pk
		return pk, nil
	}
	for _, k := range debugKernels {
		// Beside the guests: mostly download and decompression.
		wg.Add(1)
		go func() {
			defer wg.Done()
			klog := logf(k.ID + "/dbg")
			t := time.Now()
			root, err := prepareDebug(cache, k, klog)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				klog("FAILED: %v", err)
				failures = append(failures, fmt.Sprintf("%s -dbg: %v", k.ID, err))
				return
			}
			klog("debug files in %s (%.0fs)", root, time.Since(t).Seconds())
			results = append(results, fmt.Sprintf("%-12s %5.0fs", k.ID+"/dbg", time.Since(t).Seconds()))
		}()
	}
	for _, w := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := w.g.Kernel + "/" + w.g.Name
			glog := logf(id)
			t := time.Now()
			err := func() error {
				// Downloads go on (one at a time) while other guests run.
				pk, err := prepare(w.k, glog)
				if err != nil {
					return err
				}
				sem <- struct{}{}
				defer func() { <-sem }()
				t = time.Now()
				// A guest that fails is booted again, up to three times in
				// all: QEMU 7.2's TCG with -cpu max now and then raises a
				// spurious #DB in the guest kernel at boot (seen on 6.12:
				// "Fatal exception in interrupt" from exc_debug_kernel), or
				// leaves a secondary CPU that never comes up.
				const attempts = 3
				for attempt := 1; ; attempt++ {
					r := &guestRun{g: w.g, pk: pk, hangfs: hangfs, kwalk: kwalkBin, kwalkID: kwalkID, dir: w.dir, tmp: w.dir + ".tmp", log: glog, times: map[string]float64{}}
					err := r.generate(ctx)
					if err == nil {
						break
					}
					// Keep the console for a look; drop the partial dumps.
					failed := fmt.Sprintf("%s.failed-%d-console.log", w.dir, attempt)
					if os.Rename(filepath.Join(r.tmp, "console.log"), failed) == nil {
						err = fmt.Errorf("%w\n(console kept in %s)", err, failed)
					}
					os.Rename(filepath.Join(r.tmp, "qemu-debug.log"), strings.TrimSuffix(failed, "console.log")+"qemu-debug.log")
					os.RemoveAll(r.tmp)
					if attempt == attempts || ctx.Err() != nil {
						return err
					}
					glog("attempt %d failed, trying again: %v", attempt, err)
				}

				pruneOld(w.dir, glog)
				return nil
			}()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				glog("FAILED after %.0fs: %v", time.Since(t).Seconds(), err)
				failures = append(failures, fmt.Sprintf("%s: %v", id, err))
				return
			}
			glog("done in %.0fs: %s", time.Since(t).Seconds(), w.dir)
			results = append(results, fmt.Sprintf("%-12s %5.0fs", id, time.Since(t).Seconds()))
		}()
	}
	wg.Wait()
	sort.Strings(results)
	for _, r := range results {
		log("made %s", r)
	}
	log("total %.0fs for %d guests", time.Since(t0).Seconds(), len(todo))
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d jobs failed:\n  %s", len(failures), len(todo)+len(debugKernels), strings.Join(failures, "\n  "))
	}
	return nil
}

// lockCache takes an exclusive lock on the cache so that two generators (two
// test runs on one machine) do not write the same dumps; the second waits.
func lockCache(cache string, log func(string, ...any)) (func(), error) {
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(cache, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		log("another generator is using %s; waiting for it", cache)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
	}
	return func() { f.Close() }, nil
}

// pruneOld removes dumps of the same kernel and guest made with other keys.
func pruneOld(dir string, log func(string, ...any)) {
	base := filepath.Base(dir)
	name := base[:strings.LastIndexByte(base, '-')+1]
	old, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), name+"*"))
	for _, o := range old {
		if o != dir && o != dir+".tmp" && !strings.HasPrefix(o, dir+".failed-") {
			log("removing old dump %s", o)
			os.RemoveAll(o)
		}
	}
}

func checkTools() error {
	var missing []string
	for _, t := range []struct{ bin, pkg string }{
		{"qemu-system-x86_64", "qemu-system-x86"},
		{"apt-get", "apt"},
		{"dpkg-deb", "dpkg"},
		{"makedumpfile", "makedumpfile"},
		{"xz", "xz-utils"},
		{"zstd", "zstd"},
	} {
		if _, err := exec.LookPath(t.bin); err != nil {
			missing = append(missing, t.pkg)
		}
	}
	if _, err := os.Stat(busyboxPath); err != nil {
		missing = append(missing, "busybox-static")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing tools; apt-get install %s", strings.Join(missing, " "))
	}
	return nil
}

// setupApt adds the bullseye/trixie/sid suites, pinned low (setup-apt.sh).
func setupApt(log func(string, ...any)) error {
	cmd := exec.Command("bash", "-s")
	cmd.Stdin = strings.NewReader(string(setupAptScript))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("apt setup (testdata/gen/setup-apt.sh, needs root): %v\n%s", err, lastLines(out, 20))
	}
	log("apt suites ready")
	return nil
}

// buildStatic builds the module's package pkg static, for the initramfs.
func buildStatic(cache, name, pkg string, log func(string, ...any)) ([]byte, error) {
	return buildStaticArch(cache, name, pkg, "amd64", log)
}

// buildStaticArch is buildStatic for GOARCH arch.
func buildStaticArch(cache, name, pkg, arch string, log func(string, ...any)) ([]byte, error) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" {
		return nil, fmt.Errorf("run from inside the kwalk module (go env GOMOD is empty)")
	}
	out := filepath.Join(cache, "bin", name)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build %s: %v\n%s", pkg, err, b)
	}
	log("built %s", out)
	return os.ReadFile(out)
}

// gitDescribe names the working tree's commit ("+dirty" when it has
// changes), or "" outside a git checkout.
func gitDescribe() string {
	b, err := exec.Command("git", "describe", "--always", "--dirty=+dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
