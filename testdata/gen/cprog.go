package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kwalk/kwalk/testdata"
)

// cprogToolchain is, per guest architecture, the compiler, the static C
// library it needs and the Debian packages that bring them.
var cprogToolchain = map[string]struct {
	gcc, libc string
	pkgs      []string
}{
	"amd64": {"gcc", "/usr/lib/x86_64-linux-gnu/libc.a", []string{"gcc", "libc6-dev"}},
	"arm64": {"aarch64-linux-gnu-gcc", "/usr/aarch64-linux-gnu/lib/libc.a", []string{"gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"}},
}

// buildCprog builds testdata/cprog/NAME.c static (glibc, pthreads) for
// arch ("amd64", "arm64") with Debian's gcc (the cross compiler for
// arm64), installing it with apt-get when missing: a program linked as
// users' programs are, whose pthread mutexes are glibc's.
func buildCprog(name, arch string) ([]byte, error) {
	src, err := testdata.CprogSource(name)
	if err != nil {
		return nil, fmt.Errorf("cprog %s: %w", name, err)
	}
	tc, ok := cprogToolchain[arch]
	if !ok {
		return nil, fmt.Errorf("cprog %s: no compiler for %s", name, arch)
	}
	if err := ensureCompiler(tc.gcc, tc.libc, tc.pkgs); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kwalk-cprog-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	c, bin := filepath.Join(dir, name+".c"), filepath.Join(dir, name)
	if err := os.WriteFile(c, src, 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.Command(tc.gcc, "-static", "-O2", "-pthread", "-o", bin, c).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cprog: gcc -static %s: %v\n%s", name, err, lastLines(out, 20))
	}
	return os.ReadFile(bin)
}

// ensureCompiler installs pkgs when gcc or libc is missing.
func ensureCompiler(gcc, libc string, pkgs []string) error {
	headersMu.Lock()
	defer headersMu.Unlock()
	_, gerr := exec.LookPath(gcc)
	_, lerr := os.Stat(libc)
	if gerr == nil && lerr == nil {
		return nil
	}
	cmd := exec.Command("apt-get", append([]string{"install", "-y", "-q", "--no-install-recommends"}, pkgs...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cprog: apt-get install %s (needs root): %v\n%s", strings.Join(pkgs, " "), err, lastLines(out, 20))
	}
	return nil
}
