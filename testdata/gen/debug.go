package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/kwalk/kwalk/testdata"
)

// prepareDebug downloads kernel k's -dbg package and unpacks the parts DWARF
// tests use: usr/lib/debug/boot (vmlinux, System.map, config), the debug
// files of the modules whose frames tests resolve (fuse, nfs, sunrpc) and,
// where a 7.x package keeps them, lib/modules/RELEASE's vmlinux and
// System.map. The whole package unpacks to ~1.7 GB; this keeps
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
	// The 7.x packages (sid) keep vmlinux and System.map in
	// lib/modules/RELEASE, boot/vmlinux-RELEASE being a symbolic link to
	// it, and have no boot/System.map-RELEASE; the older ones have both
	// in boot. A pattern that matches nothing in one layout is not an
	// error (tar says "Not found in archive" and exits 2).
	script := `set -o pipefail; dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards './usr/lib/debug/boot/*' './usr/lib/debug/lib/modules/*/kernel/fs/fuse/*' './usr/lib/debug/lib/modules/*/kernel/fs/nfs/*' './usr/lib/debug/lib/modules/*/kernel/net/sunrpc/*' './usr/lib/debug/lib/modules/*/vmlinux' './usr/lib/debug/lib/modules/*/System.map' 2>"$2/.tar-errors"; rc=$?
if [ $rc = 2 ] && ! grep -v -e 'Not found in archive' -e 'Exiting with failure status due to previous errors' "$2/.tar-errors"; then rc=0; fi
cat "$2/.tar-errors" >&2; rm -f "$2/.tar-errors"; exit $rc`
	if out, err := exec.Command("bash", "-c", script, "unpack", deb, tmp).CombinedOutput(); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("unpack %s: %v: %s", deb, err, out)
	}
	// boot/System.map-RELEASE is where the tests look (testdata.Dump.DebugRoot).
	maps, _ := filepath.Glob(filepath.Join(tmp, "usr", "lib", "debug", "lib", "modules", "*", "System.map"))
	for _, m := range maps {
		rel := filepath.Base(filepath.Dir(m))
		link := filepath.Join(tmp, "usr", "lib", "debug", "boot", "System.map-"+rel)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return "", err
		}
		if err := os.Symlink(filepath.Join("..", "lib", "modules", rel, "System.map"), link); err != nil {
			return "", err
		}
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
