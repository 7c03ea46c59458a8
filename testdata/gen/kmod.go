package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/kwalk/kwalk/testdata"
)

// The module of the kmod scenario (testdata/kmod/kwalk_hang.c) is built for
// the guest's kernel with Debian's linux-headers package of that kernel
// and the compiler Debian built the kernel with, as a user builds an
// out-of-tree module (kbuild's "make -C HEADERS M=DIR modules"). The
// headers package depends on that compiler (gcc-12 for bookworm's 6.1,
// gcc-14 for trixie's 6.12, gcc-16 for sid's 7.x), and the kernel's
// configuration holds what the compiler supports (CONFIG_CC_HAS_*), so an
// older compiler cannot build for a newer kernel. For the kernel of the
// host's own release, the headers are installed on the host; for any other
// suite, in a minimal chroot of that suite made with debootstrap, thrown
// away after the build. The module is cached beside the kernel's packages,
// keyed by its sources.

const hangModuleName = "kwalk_hang"

var (
	headersMu sync.Mutex // one apt-get on the host at a time (cprog.go too)
	kmodLocks sync.Map   // kernel release → *sync.Mutex: one build per kernel at a time
)

// buildHangModule returns kwalk_hang.ko built for pk's kernel.
func buildHangModule(pk *preparedKernel) ([]byte, error) {
	src := testdata.KmodSources()
	if len(src) != 2 {
		return nil, fmt.Errorf("kmod: the module's sources are not embedded (testdata/kmod)")
	}
	names := make([]string, 0, len(src))
	for name := range src {
		names = append(names, name)
	}
	slices.Sort(names)
	h := sha256.New()
	for _, name := range names {
		fmt.Fprintf(h, "%s %d\n", name, len(src[name]))
		h.Write(src[name])
	}
	cached := filepath.Join(pk.Root, "kwalk-kmod", hangModuleName+"-"+hex.EncodeToString(h.Sum(nil))[:16]+".ko")
	mu, _ := kmodLocks.LoadOrStore(pk.Release, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if ko, err := os.ReadFile(cached); err == nil {
		return ko, nil
	}
	var ko []byte
	var err error
	if host := hostSuite(); host == pk.Suite {
		ko, err = buildModuleOnHost(pk.Release, src)
	} else {
		ko, err = buildModuleInChroot(pk, src, host)
	}
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return nil, err
	}
	tmp := cached + ".tmp"
	if err := os.WriteFile(tmp, ko, 0o644); err != nil {
		return nil, err
	}
	return ko, os.Rename(tmp, cached)
}

// hostSuite is the host's Debian codename (VERSION_CODENAME of
// /etc/os-release), "" when unknown.
func hostSuite() string {
	b, _ := os.ReadFile("/etc/os-release")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VERSION_CODENAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// writeSources writes the module's sources into dir.
func writeSources(dir string, src map[string][]byte) error {
	for name, b := range src {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// buildModuleOnHost builds the module with the host's headers package and
// compiler.
func buildModuleOnHost(release string, src map[string][]byte) ([]byte, error) {
	hdr := "/usr/src/linux-headers-" + release
	if err := ensureHeaders(release, hdr); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kwalk-kmod-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := writeSources(dir, src); err != nil {
		return nil, err
	}
	cmd := exec.Command("make", "-C", hdr, "M="+dir, "modules")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kmod: build %s for %s: %v\n%s", hangModuleName, release, err, lastLines(out, 20))
	}
	ko, err := os.ReadFile(filepath.Join(dir, hangModuleName+".ko"))
	if err != nil {
		return nil, fmt.Errorf("kmod: %w", err)
	}
	return ko, nil
}

// ensureHeaders installs linux-headers-RELEASE (and make) when hdr is
// missing.
func ensureHeaders(release, hdr string) error {
	_, err := os.Stat(filepath.Join(hdr, "Makefile"))
	if _, merr := exec.LookPath("make"); err == nil && merr == nil {
		return nil
	}
	return aptInstall("linux-headers-"+release, "make", "gcc", "libc6-dev")
}

// aptInstall installs packages on the host, one apt-get at a time.
func aptInstall(pkgs ...string) error {
	headersMu.Lock()
	defer headersMu.Unlock()
	cmd := exec.Command("apt-get", append([]string{"install", "-y", "-q", "--no-install-recommends"}, pkgs...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kmod: apt-get install %s (needs root): %v\n%s", strings.Join(pkgs, " "), err, lastLines(out, 20))
	}
	return nil
}

// buildModuleInChroot builds the module in a minimal chroot of pk's suite
// (debootstrap --variant=minbase), where apt-get installs the kernel's
// headers package and with it the kernel's compiler. objtool reads
// /proc/self, so the chroot has /proc mounted while it builds.
func buildModuleInChroot(pk *preparedKernel, src map[string][]byte, host string) (ret []byte, err error) {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		if err := aptInstall("debootstrap"); err != nil {
			return nil, err
		}
	}
	root, err := os.MkdirTemp(filepath.Dir(pk.Root), "chroot-"+pk.Suite+"-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if rerr := os.RemoveAll(root); rerr != nil && err == nil {
			err = fmt.Errorf("kmod: remove the chroot %s: %w", root, rerr)
		}
	}()
	run := func(what string, name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("kmod: %s for %s (host %q, kernel's suite %s): %v\n%s", what, pk.Release, host, pk.Suite, err, lastLines(out, 20))
		}
		return nil
	}
	if err := run("debootstrap", "debootstrap", "--variant=minbase", "--include=make,libc6-dev",
		pk.Suite, root, aptMirror()); err != nil {
		return nil, err
	}
	if err := run("apt-get install the headers in the chroot", "chroot", root,
		"apt-get", "install", "-y", "-q", "--no-install-recommends", "linux-headers-"+pk.Release); err != nil {
		return nil, err
	}
	m := filepath.Join(root, "kwalk-kmod")
	if err := os.Mkdir(m, 0o755); err != nil {
		return nil, err
	}
	if err := writeSources(m, src); err != nil {
		return nil, err
	}
	proc := filepath.Join(root, "proc")
	if err := run("mount /proc in the chroot", "mount", "-t", "proc", "proc", proc); err != nil {
		return nil, err
	}
	berr := run("build "+hangModuleName, "chroot", root,
		"make", "-C", "/usr/src/linux-headers-"+pk.Release, "M=/kwalk-kmod", "modules")
	if err := run("unmount /proc in the chroot", "umount", proc); err != nil {
		// Never remove a tree with the host's /proc mounted in it.
		return nil, fmt.Errorf("%w (the chroot %s is left in place)", err, root)
	}
	if berr != nil {
		return nil, berr
	}
	ko, err := os.ReadFile(filepath.Join(m, hangModuleName+".ko"))
	if err != nil {
		return nil, fmt.Errorf("kmod: %w", err)
	}
	return ko, nil
}

// aptMirror is the Debian mirror the host's apt uses (its first deb.debian.org-style
// URI of a "debian" archive), or deb.debian.org.
func aptMirror() string {
	for _, f := range []string{"/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			var uri string
			if v, ok := strings.CutPrefix(l, "URIs:"); ok {
				uri = strings.TrimSpace(v)
			} else if strings.HasPrefix(l, "deb ") {
				for _, w := range strings.Fields(l)[1:] {
					if strings.Contains(w, "://") {
						uri = w
						break
					}
				}
			}
			if uri != "" && strings.HasSuffix(strings.TrimSuffix(uri, "/"), "/debian") {
				return uri
			}
		}
	}
	return "http://deb.debian.org/debian"
}
