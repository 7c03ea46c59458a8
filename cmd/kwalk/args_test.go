package main

import (
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestParseCommandLine(t *testing.T) {
	files := map[string]bool{"vmcore": true, "vmlinux": true, "sys": true, "./sys": true, "script.go": true, "/var/crash/2024": true}
	// Paths that exist but cannot be reached.
	unreachable := map[string]error{
		"/root/vmcore":   &fs.PathError{Op: "stat", Path: "/root/vmcore", Err: syscall.EACCES},
		"/mnt/bad/dump":  &fs.PathError{Op: "stat", Path: "/mnt/bad/dump", Err: syscall.EIO},
		"vmcore/inside":  &fs.PathError{Op: "stat", Path: "vmcore/inside", Err: syscall.ENOTDIR},
		"long-argument":  &fs.PathError{Op: "stat", Path: "long-argument", Err: syscall.ENAMETOOLONG},
		"/var/crash/eio": &fs.PathError{Op: "stat", Path: "/var/crash/eio", Err: syscall.EIO},
	}
	exists := func(p string) error {
		if files[p] {
			return nil
		}
		if err, ok := unreachable[p]; ok {
			return err
		}
		return &fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist}
	}
	isCmd := func(n string) bool {
		switch n {
		case "ps", "bt", "sys", "deadlock", "help":
			return true
		}
		return false
	}
	tests := []struct {
		name string
		args []string
		want invocation
		err  bool
	}{
		{"unreachable dump", []string{"/root/vmcore"}, invocation{}, true},
		{"unreachable dump, -c", []string{"-c", "ps", "/mnt/bad/dump"}, invocation{}, true},
		{"unreachable dump, batch", []string{"ps", "/var/crash/eio"}, invocation{}, true},
		{"unreachable dump, script", []string{"run", "script.go", "/root/vmcore"}, invocation{}, true},
		{"argument under a file is not a dump", []string{"bt", "vmcore/inside"}, invocation{}, true},
		{"long argument is not a dump", []string{"bt", "long-argument"}, invocation{mode: modeBatch, words: []string{"bt", "long-argument"}}, false},
		{"live interactive", nil, invocation{mode: modeInteractive}, false},
		{"dump", []string{"vmcore"}, invocation{mode: modeInteractive, dump: "vmcore"}, false},
		{"dump and vmlinux", []string{"vmcore", "vmlinux"}, invocation{mode: modeInteractive, dump: "vmcore", vmlinux: "vmlinux"}, false},
		{"kdump dir", []string{"/var/crash/2024"}, invocation{mode: modeInteractive, dump: "/var/crash/2024"}, false},
		{"missing dump", []string{"nosuch"}, invocation{}, true},
		{"too many", []string{"vmcore", "vmlinux", "x"}, invocation{}, true},
		{"batch", []string{"deadlock", "vmcore"}, invocation{mode: modeBatch, dump: "vmcore", words: []string{"deadlock"}}, false},
		{"batch flags after", []string{"ps", "vmcore", "-m"}, invocation{mode: modeBatch, dump: "vmcore", words: []string{"ps", "-m"}}, false},
		{"batch args", []string{"bt", "vmcore", "1234"}, invocation{mode: modeBatch, dump: "vmcore", words: []string{"bt", "1234"}}, false},
		{"batch live", []string{"deadlock"}, invocation{mode: modeBatch, words: []string{"deadlock"}}, false},
		{"batch live args", []string{"bt", "1234"}, invocation{mode: modeBatch, words: []string{"bt", "1234"}}, false},
		{"batch json", []string{"--json", "ps", "vmcore"}, invocation{mode: modeBatch, json: true, dump: "vmcore", words: []string{"ps"}}, false},
		{"batch command json", []string{"ps", "vmcore", "--json"}, invocation{mode: modeBatch, dump: "vmcore", words: []string{"ps", "--json"}}, false},
		{"batch long flag after", []string{"ps", "vmcore", "--vmlinux", "vmlinux", "-m"}, invocation{mode: modeBatch, dump: "vmcore", vmlinux: "vmlinux", words: []string{"ps", "-m"}}, false},
		// "kwalk sys" from / must run sys on the live kernel, not open /sys.
		{"command beside a file of its name", []string{"sys"}, invocation{mode: modeBatch, words: []string{"sys"}}, false},
		{"file named like a command, by path", []string{"./sys"}, invocation{mode: modeInteractive, dump: "./sys"}, false},
		{"-c", []string{"-c", "ps; bt 1", "vmcore"}, invocation{mode: modeCommands, commands: "ps; bt 1", dump: "vmcore"}, false},
		{"-i", []string{"-i", "cmds.txt", "vmcore", "vmlinux"}, invocation{mode: modeCommands, inputFile: "cmds.txt", dump: "vmcore", vmlinux: "vmlinux"}, false},
		{"flags", []string{"--vmlinux=v", "--system-map", "m", "--debuginfo", "a", "--debuginfo", "b", "--zero-excluded", "--force-build-id", "vmcore"},
			invocation{mode: modeInteractive, vmlinux: "v", systemMap: "m", debugDirs: []string{"a", "b"}, zeroExcl: true, forceBID: true, dump: "vmcore"}, false},
		{"version", []string{"--version"}, invocation{mode: modeVersion}, false},
		{"help", []string{"-h"}, invocation{mode: modeHelp}, false},
		{"unknown flag", []string{"--frobnicate"}, invocation{}, true},
		{"missing value", []string{"--vmlinux"}, invocation{}, true},
		{"vmlinux twice", []string{"--vmlinux", "a", "vmcore", "vmlinux"}, invocation{}, true},
		{"batch flag before dump", []string{"deadlock", "--json", "vmcore"}, invocation{mode: modeBatch, dump: "vmcore", words: []string{"deadlock", "--json"}}, false},
		{"batch flags around dump", []string{"ps", "-m", "vmcore", "-G"}, invocation{mode: modeBatch, dump: "vmcore", words: []string{"ps", "-m", "-G"}}, false},
		{"batch mistyped dump", []string{"ps", "/var/crash/nosuch"}, invocation{}, true},
		{"batch mistyped vmcore", []string{"ps", "vmcore.1"}, invocation{}, true},
		{"batch symbol arg live", []string{"bt", "schedule"}, invocation{mode: modeBatch, words: []string{"bt", "schedule"}}, false},
		{"run", []string{"run", "script.go", "vmcore", "x"}, invocation{mode: modeScript, dump: "vmcore", words: []string{"script.go", "x"}}, false},
		{"run live", []string{"run", "script.go"}, invocation{mode: modeScript, words: []string{"script.go"}}, false},
		{"run no script", []string{"run"}, invocation{}, true},
	}
	for _, tc := range tests {
		got, err := parseCommandLine(tc.args, isCmd, exists)
		if (err != nil) != tc.err {
			t.Errorf("%s: %q: err = %v", tc.name, tc.args, err)
			continue
		}
		if !tc.err && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %q:\n got %+v\nwant %+v", tc.name, tc.args, got, tc.want)
		}
	}
}

// TestParseCommandLineUnreachable: a dump that exists but cannot be read
// is reported with the os error, not as "no such dump file".
func TestParseCommandLineUnreachable(t *testing.T) {
	isCmd := func(n string) bool { return n == "ps" }
	for _, tc := range []struct {
		args []string
		err  error
		want string
	}{
		{[]string{"/root/vmcore"}, syscall.EACCES, "dump /root/vmcore: stat /root/vmcore: permission denied"},
		{[]string{"ps", "/root/vmcore"}, syscall.EIO, "dump /root/vmcore: stat /root/vmcore: input/output error"},
		{[]string{"/nosuch/vmcore"}, fs.ErrNotExist, "/nosuch/vmcore: no such dump file"},
	} {
		stat := func(p string) error { return &fs.PathError{Op: "stat", Path: p, Err: tc.err} }
		_, err := parseCommandLine(tc.args, isCmd, stat)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.args, err, tc.want)
		}
		if tc.err != fs.ErrNotExist && strings.Contains(fmt.Sprint(err), "no such dump file") {
			t.Errorf("%q: %v: reported as missing", tc.args, err)
		}
	}
}

func TestVersionWord(t *testing.T) {
	inv, err := parseCommandLine([]string{"version"}, func(string) bool { return false }, func(string) error { return os.ErrNotExist })
	if err != nil || inv.mode != modeVersion {
		t.Fatalf("kwalk version: mode %v, err %v; want the version", inv.mode, err)
	}
}
