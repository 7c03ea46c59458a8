package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	"github.com/kwalk/kwalk/testdata"
)

// The kmod guest's module (testdata/kmod/kwalk_hang.c) is built for the
// guest's kernel with Debian's linux-headers package of that kernel and
// the host's compiler, as a user builds an out-of-tree module (kbuild's
// "make -C HEADERS M=DIR modules"). The headers are installed with apt-get
// when missing; the package pulls in the kernel's gcc, which must be the
// host's (bookworm's gcc-12 for its 6.1 kernel).

const hangModuleName = "kwalk_hang"

var headersMu sync.Mutex // one apt-get at a time (cprog.go too)

// buildHangModule returns kwalk_hang.ko built for pk's kernel.
func buildHangModule(pk *preparedKernel) ([]byte, error) {
	hdr := "/usr/src/linux-headers-" + pk.Release
	if err := ensureHeaders(pk.Release, hdr); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kwalk-kmod-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src := testdata.KmodSources()
	if len(src) != 2 {
		return nil, fmt.Errorf("kmod: the module's sources are not embedded (testdata/kmod)")
	}
	for name, b := range src {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command("make", "-C", hdr, "M="+dir, "modules")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("kmod: build %s for %s: %v\n%s", hangModuleName, pk.Release, err, lastLines(out, 20))
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
	headersMu.Lock()
	defer headersMu.Unlock()
	_, err := os.Stat(filepath.Join(hdr, "Makefile"))
	if _, merr := exec.LookPath("make"); err == nil && merr == nil {
		return nil
	}
	pkg := "linux-headers-" + release
	cmd := exec.Command("apt-get", "install", "-y", "-q", "--no-install-recommends", pkg, "make", "gcc", "libc6-dev")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kmod: apt-get install %s make (needs root): %v\n%s", pkg, err, lastLines(out, 20))
	}
	return nil
}
