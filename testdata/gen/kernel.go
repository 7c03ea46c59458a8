package main

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kwalk/kwalk/testdata"
)

// preparedKernel is a kernel's packages downloaded and extracted.
type preparedKernel struct {
	testdata.Kernel
	Root    string // extracted packages
	Release string
	Vmlinuz string
	ModDir  string // lib/modules/RELEASE inside Root
}

var aptMu sync.Mutex // apt-get must not run twice at once

// prepareKernel downloads (apt-get download) and extracts (dpkg-deb -x) k's
// packages into the cache, once.
func prepareKernel(cache string, k testdata.Kernel, log func(string, ...any)) (*preparedKernel, error) {
	sum := sha256.Sum256([]byte(fmt.Sprint(k.Packages)))
	root := filepath.Join(cache, "kernels", k.ID+"-"+hex.EncodeToString(sum[:])[:12])
	done := filepath.Join(root, ".extracted")
	if _, err := os.Stat(done); err != nil {
		debs := filepath.Join(cache, "debs")
		if err := os.MkdirAll(debs, 0o755); err != nil {
			return nil, err
		}
		tmp := root + ".tmp"
		os.RemoveAll(tmp)
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return nil, err
		}
		for _, p := range k.Packages {
			deb, err := download(debs, p, k, log)
			if err != nil {
				os.RemoveAll(tmp)
				return nil, err
			}
			if out, err := exec.Command("dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
				os.RemoveAll(tmp)
				return nil, fmt.Errorf("dpkg-deb -x %s: %v: %s", deb, err, out)
			}
		}
		if err := os.WriteFile(filepath.Join(tmp, ".extracted"), nil, 0o644); err != nil {
			return nil, err
		}
		os.RemoveAll(root)
		if err := os.Rename(tmp, root); err != nil {
			return nil, err
		}
	}
	pk := &preparedKernel{Kernel: k, Root: root}
	for _, base := range []string{"lib/modules", "usr/lib/modules"} {
		ents, _ := os.ReadDir(filepath.Join(root, base))
		for _, e := range ents {
			if e.IsDir() {
				pk.Release = e.Name()
				pk.ModDir = filepath.Join(root, base, e.Name())
			}
		}
	}
	if pk.Release == "" {
		return nil, fmt.Errorf("kernel %s: no lib/modules/RELEASE in %v", k.ID, k.Packages)
	}
	for _, cand := range []string{
		filepath.Join(root, "boot", "vmlinuz-"+pk.Release),
		filepath.Join(pk.ModDir, "vmlinuz"),
		filepath.Join(pk.ModDir, "vmlinuz.unsigned"),
	} {
		if _, err := os.Stat(cand); err == nil {
			pk.Vmlinuz = cand
			break
		}
	}
	if pk.Vmlinuz == "" {
		return nil, fmt.Errorf("kernel %s (%s): no vmlinuz in %v", k.ID, pk.Release, k.Packages)
	}
	return pk, nil
}

// download fetches one package version into dir (cached by file name).
func download(dir string, p testdata.Package, k testdata.Kernel, log func(string, ...any)) (string, error) {
	pattern := filepath.Join(dir, p.Name+"_"+strings.ReplaceAll(p.Version, ":", "%3a")+"_*.deb")
	if m, _ := filepath.Glob(pattern); len(m) == 1 {
		return m[0], nil
	}
	aptMu.Lock()
	defer aptMu.Unlock()
	log("apt-get download %s=%s", p.Name, p.Version)
	cmd := exec.Command("apt-get", "download", "-q", p.Name+"="+p.Version)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		policy, _ := exec.Command("apt-cache", "policy", p.Name).CombinedOutput()
		return "", fmt.Errorf("kernel %s: package %s version %s is not available from the configured Debian mirror "+
			"(apt-get download: %v: %s)\napt-cache policy %s:\n%s\n"+
			"Pin another version in testdata/guests.go, or override: KWALK_KERNEL_%s='%s=<version>'",
			k.ID, p.Name, p.Version, err, bytes.TrimSpace(out), p.Name, policy,
			strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(k.ID)), p.Name)
	}
	m, _ := filepath.Glob(pattern)
	if len(m) != 1 {
		return "", fmt.Errorf("apt-get download %s=%s: no %s afterwards", p.Name, p.Version, pattern)
	}
	return m[0], nil
}

// findModule returns the path of module name (fuse, qemu_fw_cfg) under the
// kernel's module tree, or "" when the kernel has no such module file (it
// is built in, or absent).
func (pk *preparedKernel) findModule(name string) string {
	var found string
	filepath.WalkDir(filepath.Join(pk.ModDir, "kernel"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return nil
		}
		base := d.Name()
		for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
			if b, ok := strings.CutSuffix(base, ext); ok && normMod(b) == normMod(name) {
				found = p
			}
		}
		return nil
	})
	return found
}

func normMod(s string) string { return strings.ReplaceAll(s, "-", "_") }

// decompressModule returns the plain .ko bytes of a module file.
func decompressModule(path string) ([]byte, error) {
	var cmd *exec.Cmd
	switch {
	case strings.HasSuffix(path, ".ko"):
		return os.ReadFile(path)
	case strings.HasSuffix(path, ".xz"):
		cmd = exec.Command("xz", "-dc", path)
	case strings.HasSuffix(path, ".zst"):
		cmd = exec.Command("zstd", "-dcq", path)
	case strings.HasSuffix(path, ".gz"):
		cmd = exec.Command("gzip", "-dc", path)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %v: %s", path, err, stderr.Bytes())
	}
	return out, nil
}

// moduleDepends reads the depends= entry of a module's .modinfo section.
func moduleDepends(ko []byte, name string) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", name, err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, nil
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s .modinfo: %w", name, err)
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			if len(v) == 0 {
				return nil, nil
			}
			return strings.Split(string(v), ","), nil
		}
	}
	return nil, nil
}

type module struct {
	name string
	ko   []byte
}

// modulesFor returns the modules (with dependencies first) that must be
// loaded for names; names the kernel builds in are left out.
func (pk *preparedKernel) modulesFor(names ...string) ([]module, error) {
	var out []module
	seen := map[string]bool{}
	var visit func(name string, depth int) error
	visit = func(name string, depth int) error {
		name = normMod(name)
		if seen[name] {
			return nil
		}
		seen[name] = true
		if depth > 32 {
			return fmt.Errorf("module dependency chain too deep at %s", name)
		}
		path := pk.findModule(name)
		if path == "" {
			return nil // built in
		}
		ko, err := decompressModule(path)
		if err != nil {
			return err
		}
		deps, err := moduleDepends(ko, name)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, depth+1); err != nil {
				return err
			}
		}
		out = append(out, module{name: name, ko: ko})
		return nil
	}
	for _, n := range names {
		if err := visit(n, 0); err != nil {
			return nil, err
		}
	}
	return out, nil
}
