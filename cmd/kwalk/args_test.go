package main

import (
	"reflect"
	"testing"
)

func TestParseCommandLine(t *testing.T) {
	files := map[string]bool{"vmcore": true, "vmlinux": true, "sys": true, "./sys": true, "script.go": true, "/var/crash/2024": true}
	exists := func(p string) bool { return files[p] }
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
