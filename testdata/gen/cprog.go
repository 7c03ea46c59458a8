package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/kwalk/kwalk/testdata"
)

// buildCprog builds testdata/cprog/NAME.c static (glibc, pthreads) with
// the host's gcc, installing gcc and libc6-dev with apt-get when missing:
// a program linked as users' programs are, whose pthread mutexes are
// glibc's.
func buildCprog(name string) ([]byte, error) {
	src, err := testdata.CprogSource(name)
	if err != nil {
		return nil, fmt.Errorf("cprog %s: %w", name, err)
	}
	if err := ensureCompiler(); err != nil {
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
	if out, err := exec.Command("gcc", "-static", "-O2", "-pthread", "-o", bin, c).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cprog: gcc -static %s: %v\n%s", name, err, lastLines(out, 20))
	}
	return os.ReadFile(bin)
}

// ensureCompiler installs gcc and libc6-dev (static glibc) when missing.
func ensureCompiler() error {
	headersMu.Lock()
	defer headersMu.Unlock()
	_, gerr := exec.LookPath("gcc")
	_, lerr := os.Stat("/usr/lib/x86_64-linux-gnu/libc.a")
	if gerr == nil && lerr == nil {
		return nil
	}
	cmd := exec.Command("apt-get", "install", "-y", "-q", "--no-install-recommends", "gcc", "libc6-dev")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cprog: apt-get install gcc libc6-dev (needs root): %v\n%s", err, lastLines(out, 20))
	}
	return nil
}
