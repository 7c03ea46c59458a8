package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/kwalk/kwalk/testdata"
)

// prepareDebug downloads kernel k's -dbg package and unpacks the parts DWARF
// tests use: usr/lib/debug/boot (vmlinux, System.map, config) and the debug
// files of the modules whose frames tests resolve (fuse, nfs, sunrpc). The whole package unpacks to ~1.7 GB; this keeps
// well under half of that.
func prepareDebug(cache string, k testdata.Kernel, log func(string, ...any)) (string, error) {
	dir := testdata.DebugDir(k)
	if dir == "" {
		return "", nil
	}
	if root, err := testdata.DebugRoot(k); err == nil {
		return root, nil
	}
	debs := filepath.Join(cache, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", err
	}
	deb, err := download(debs, *k.Debug, k, log)
	if err != nil {
		return "", err
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	log("unpacking %s", filepath.Base(deb))
	// dpkg-deb streams the data tarball; tar keeps only the wanted members.
	script := `set -o pipefail; dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards './usr/lib/debug/boot/*' './usr/lib/debug/lib/modules/*/kernel/fs/fuse/*' './usr/lib/debug/lib/modules/*/kernel/fs/nfs/*' './usr/lib/debug/lib/modules/*/kernel/net/sunrpc/*'`
	if out, err := exec.Command("bash", "-c", script, "unpack", deb, tmp).CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("unpack %s: %v: %s", deb, err, out)
	}
	if err := os.WriteFile(filepath.Join(tmp, testdata.DebugMarker), nil, 0o644); err != nil {
		return "", err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	// The package is large and only needed once.
	os.Remove(deb)
	return testdata.DebugRoot(k)
}
