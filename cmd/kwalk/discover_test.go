package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestDiscover(t *testing.T) {
	const rel = "6.1.0-50-cloud-amd64"
	mk := func(t *testing.T, root string, files ...string) {
		for _, f := range files {
			p := filepath.Join(root, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if f[len(f)-1] == '/' {
				continue
			}
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		files   []string
		dump    string // relative to root
		release string
		want    discovered // paths relative to root
	}{
		{"nothing", []string{"d/vmcore"}, "d/vmcore", rel, discovered{Dump: "d/vmcore"}},
		{"vmlinux beside", []string{"d/vmcore", "d/vmlinux"}, "d/vmcore", "", discovered{Dump: "d/vmcore", Vmlinux: "d/vmlinux"}},
		{"vmlinux-release beside", []string{"d/vmcore", "d/vmlinux-" + rel}, "d/vmcore", rel, discovered{Dump: "d/vmcore", Vmlinux: "d/vmlinux-" + rel}},
		{"single vmlinux-* beside", []string{"d/vmcore", "d/vmlinux-6.2"}, "d/vmcore", "", discovered{Dump: "d/vmcore", Vmlinux: "d/vmlinux-6.2"}},
		{"two vmlinux-* beside: ambiguous", []string{"d/vmcore", "d/vmlinux-6.2", "d/vmlinux-6.3"}, "d/vmcore", "", discovered{Dump: "d/vmcore"}},
		{"debian dbg", []string{"d/vmcore", "usr/lib/debug/boot/vmlinux-" + rel}, "d/vmcore", rel,
			discovered{Dump: "d/vmcore", Vmlinux: "usr/lib/debug/boot/vmlinux-" + rel}},
		{"fedora debuginfo", []string{"d/vmcore", "usr/lib/debug/lib/modules/" + rel + "/vmlinux"}, "d/vmcore", rel,
			discovered{Dump: "d/vmcore", Vmlinux: "usr/lib/debug/lib/modules/" + rel + "/vmlinux", DebugDirs: []string{"usr/lib/debug/lib/modules/" + rel}}},
		{"module dir only", []string{"d/vmcore", "usr/lib/debug/lib/modules/" + rel + "/kernel/fs/fuse/fuse.ko"}, "d/vmcore", rel,
			discovered{Dump: "d/vmcore", DebugDirs: []string{"usr/lib/debug/lib/modules/" + rel}}},
		{"kdump-tools dir", []string{"var/crash/202411220344/dump.202411220344", "var/crash/202411220344/dmesg.202411220344"}, "var/crash/202411220344", "",
			discovered{Dump: "var/crash/202411220344/dump.202411220344"}},
		{"rhel dir", []string{"var/crash/127.0.0.1-2024/vmcore", "var/crash/127.0.0.1-2024/vmcore-dmesg.txt"}, "var/crash/127.0.0.1-2024", "",
			discovered{Dump: "var/crash/127.0.0.1-2024/vmcore"}},
		{"live", []string{"usr/lib/debug/boot/vmlinux-" + rel}, "", rel, discovered{Vmlinux: "usr/lib/debug/boot/vmlinux-" + rel}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			mk(t, root, tc.files...)
			abs := func(p string) string {
				if p == "" {
					return ""
				}
				return filepath.Join(root, p)
			}
			got := discover(root, abs(tc.dump), tc.release)
			got.Notes = nil
			want := tc.want
			want.Dump, want.Vmlinux = abs(want.Dump), abs(want.Vmlinux)
			for i, d := range want.DebugDirs {
				want.DebugDirs[i] = abs(d)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}
