package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// discovered is where debug information was found for a dump.
type discovered struct {
	Dump      string   // the dump file (a kdump-tools directory resolved to its dump)
	Vmlinux   string   // a vmlinux to use, "" if none was found
	DebugDirs []string // directories with module debug info
	Notes     []string // what was found, for the banner
}

// discover finds the dump file and debug information the way a user lays
// them out, without flags. root is the file-system root ("/"; a temp dir in
// tests); release is the kernel release ("6.1.0-50-cloud-amd64") when
// known. Looked at, in order:
//
//   - dump: a directory is a kdump-tools or RHEL crash directory: its
//     dump.<STAMP> (kdump-tools: /var/crash/<STAMP>/dump.<STAMP>) or vmcore;
//   - a vmlinux next to the dump: vmlinux, vmlinux-<release>, vmlinux-*
//     (the only one);
//   - /usr/lib/debug/boot/vmlinux-<release> (Debian/Ubuntu -dbg packages),
//     /usr/lib/debug/lib/modules/<release>/vmlinux (Fedora/RHEL debuginfo);
//   - module debug info: /usr/lib/debug/lib/modules/<release>/.
func discover(root, dump, release string) discovered {
	var d discovered
	d.Dump = resolveDumpDir(dump)
	exists := func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && st.Mode().IsRegular()
	}
	isDir := func(p string) bool {
		st, err := os.Stat(p)
		return err == nil && st.IsDir()
	}
	if d.Dump != "" {
		dir := filepath.Dir(d.Dump)
		cands := []string{filepath.Join(dir, "vmlinux")}
		if release != "" {
			cands = append(cands, filepath.Join(dir, "vmlinux-"+release))
		}
		for _, c := range cands {
			if exists(c) {
				d.Vmlinux = c
				break
			}
		}
		if d.Vmlinux == "" {
			if m, _ := filepath.Glob(filepath.Join(dir, "vmlinux-*")); len(m) == 1 && exists(m[0]) {
				d.Vmlinux = m[0]
			}
		}
		if d.Vmlinux != "" {
			d.Notes = append(d.Notes, "vmlinux next to the dump: "+d.Vmlinux)
		}
	}
	if release != "" {
		debug := filepath.Join(root, "usr/lib/debug")
		if d.Vmlinux == "" {
			for _, c := range []string{
				filepath.Join(debug, "boot", "vmlinux-"+release),
				filepath.Join(debug, "lib/modules", release, "vmlinux"),
			} {
				if exists(c) {
					d.Vmlinux = c
					d.Notes = append(d.Notes, "debug vmlinux: "+c)
					break
				}
			}
		}
		if md := filepath.Join(debug, "lib/modules", release); isDir(md) {
			d.DebugDirs = append(d.DebugDirs, md)
		}
	}
	return d
}

// resolveDumpDir turns a crash directory into its dump file: kdump-tools
// writes /var/crash/<STAMP>/dump.<STAMP> (and dmesg.<STAMP>); kexec-tools'
// kdump writes /var/crash/<host>-<date>/vmcore. A file is returned as is.
func resolveDumpDir(p string) string {
	st, err := os.Stat(p)
	if err != nil || !st.IsDir() {
		return p
	}
	base := filepath.Base(filepath.Clean(p))
	for _, c := range []string{"dump." + base, "vmcore", "vmcore.kdump"} {
		if f := filepath.Join(p, c); isRegular(f) {
			return f
		}
	}
	// Any single dump.* file.
	m, _ := filepath.Glob(filepath.Join(p, "dump.*"))
	var files []string
	for _, f := range m {
		if isRegular(f) && !strings.HasSuffix(f, ".tmp") {
			files = append(files, f)
		}
	}
	sort.Strings(files)
	if len(files) == 1 {
		return files[0]
	}
	return p
}

func isRegular(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
