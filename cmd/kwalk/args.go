package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
)

// mode is what kind of run the command line asks for.
type mode int

const (
	modeInteractive mode = iota
	modeBatch            // one command: kwalk COMMAND [VMCORE] [ARGS]
	modeCommands         // -c 'cmd; cmd' or -i FILE
	modeScript           // kwalk run SCRIPT.go [VMCORE] [ARGS]
	modeVersion
	modeHelp
	modeDemo
)

// invocation is the parsed command line.
type invocation struct {
	mode         mode
	dump         string // "" for the live kernel
	vmlinux      string
	systemMap    string
	debugDirs    []string
	zeroExcl     bool
	forceBID     bool
	noDebuginfod bool // --no-debuginfod
	json         bool
	commands     string   // -c
	inputFile    string   // -i
	words        []string // modeBatch: command and its args; modeScript: script and its args
}

// parseCommandLine parses kwalk's arguments. isCommand tells REPL command
// names; stat tells whether a path exists (a dump file or directory): nil,
// or why not. A path that exists but cannot be reached (permission denied,
// an I/O error) is reported with the real error, not as missing.
//
//	kwalk [FLAGS] [VMCORE [VMLINUX]]           interactive (no VMCORE: /proc/kcore)
//	kwalk [FLAGS] COMMAND [VMCORE] [ARGS...]   run one command
//	kwalk [FLAGS] -c 'CMD; CMD' [VMCORE [VMLINUX]]
//	kwalk [FLAGS] -i FILE [VMCORE [VMLINUX]]
//	kwalk [FLAGS] run SCRIPT.go [VMCORE] [ARGS...]
//
// The first argument is a command when it names one and is not an existing
// file; after a command, the first non-flag argument is the dump when it
// names an existing file. Long kwalk flags (--vmlinux ...) are also
// accepted after a command.
func parseCommandLine(args []string, isCommand func(string) bool, stat func(string) error) (invocation, error) {
	var inv invocation
	// exists reports whether p names a file; err is set when p may exist
	// but cannot be reached.
	exists := func(p string) (ok bool, err error) {
		serr := stat(p)
		switch {
		case serr == nil:
			return true, nil
		case isMissing(serr):
			return false, nil
		}
		return false, fmt.Errorf("dump %s: %w", p, serr)
	}
	var pos []string
	i := 0
	// Leading flags, then positionals. After a command word, only long
	// kwalk flags are taken; the rest belongs to the command.
	takeFlag := func(a string, afterCommand bool) (bool, error) {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		long := strings.HasPrefix(a, "--")
		needVal := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag %s needs a value", a)
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case name == "vmlinux":
			inv.vmlinux, err = needVal()
		case name == "system-map":
			inv.systemMap, err = needVal()
		case name == "debuginfo":
			var d string
			d, err = needVal()
			inv.debugDirs = append(inv.debugDirs, d)
		case name == "zero-excluded" && !hasVal:
			inv.zeroExcl = true
		case name == "force-build-id" && !hasVal:
			inv.forceBID = true
		case name == "no-debuginfod" && !hasVal:
			inv.noDebuginfod = true
		case afterCommand:
			return false, nil
		case name == "json" && !hasVal:
			inv.json = true
		case name == "c" && !long:
			inv.commands, err = needVal()
			inv.mode = modeCommands
		case name == "i" && !long:
			inv.inputFile, err = needVal()
			inv.mode = modeCommands
		case name == "version" && !hasVal:
			inv.mode = modeVersion
		case (name == "h" || name == "help") && !hasVal:
			inv.mode = modeHelp
		default:
			return false, fmt.Errorf("unknown flag %s", a)
		}
		return true, err
	}
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' && len(pos) == 0 {
			if _, err := takeFlag(a, false); err != nil {
				return inv, err
			}
			continue
		}
		if len(pos) > 0 && (inv.mode == modeBatch || inv.mode == modeScript) && strings.HasPrefix(a, "--") {
			ok, err := takeFlag(a, true)
			if err != nil {
				return inv, err
			}
			if ok {
				continue
			}
		}
		if len(pos) == 0 && inv.mode == modeInteractive {
			switch {
			// A command name wins over a file of that name unless the word
			// has a slash: "kwalk sys" run from / must not open /sys as a
			// dump; "./sys" opens the file.
			case a == "run" && !strings.Contains(a, "/"):
				inv.mode = modeScript
				pos = append(pos, a)
				continue
			case a == "demo" && len(pos) == 0 && i == len(args)-1:
				// "kwalk demo": make a real dump with staged hangs and
				// analyse it (demo.go).
				inv.mode = modeDemo
				continue
			case a == "version" && len(pos) == 0 && i == len(args)-1:
				// "kwalk version", like --version (a file named version
				// is ./version).
				inv.mode = modeVersion
				continue
			case isCommand(a) && !strings.Contains(a, "/"):
				inv.mode = modeBatch
			}
		}
		pos = append(pos, a)
	}
	switch inv.mode {
	case modeVersion, modeHelp, modeDemo:
		return inv, nil
	case modeInteractive, modeCommands:
		if len(pos) > 2 {
			return inv, fmt.Errorf("too many arguments: %q (kwalk [VMCORE [VMLINUX]])", pos)
		}
		if len(pos) >= 1 {
			ok, err := exists(pos[0])
			if err != nil {
				return inv, err
			}
			if !ok {
				if inv.mode == modeInteractive {
					return inv, fmt.Errorf("%s: no such dump file, and not a kwalk command", pos[0])
				}
				return inv, fmt.Errorf("%s: no such dump file", pos[0])
			}
			inv.dump = pos[0]
		}
		if len(pos) == 2 {
			if inv.vmlinux != "" {
				return inv, fmt.Errorf("vmlinux given twice: %s and --vmlinux %s", pos[1], inv.vmlinux)
			}
			inv.vmlinux = pos[1]
		}
	case modeBatch:
		// The dump is the first argument after the command, flags skipped,
		// that names an existing file ("kwalk ps vmcore -m", "kwalk
		// deadlock --json vmcore"); none: the live kernel.
		inv.words = []string{pos[0]}
		rest := pos[1:]
		for i, a := range rest {
			if strings.HasPrefix(a, "-") {
				continue
			}
			ok, err := exists(a)
			switch {
			case ok:
				inv.dump = a
				rest = append(rest[:i:i], rest[i+1:]...)
			case err != nil:
				return inv, err
			case looksLikePath(a):
				return inv, fmt.Errorf("%s: no such dump file", a)
			}
			break
		}
		inv.words = append(inv.words, rest...)
	case modeScript:
		rest := pos[1:]
		if len(rest) == 0 {
			return inv, fmt.Errorf("run: missing SCRIPT.go (kwalk run SCRIPT.go [VMCORE] [ARGS])")
		}
		inv.words = []string{rest[0]}
		rest = rest[1:]
		if len(rest) > 0 {
			ok, err := exists(rest[0])
			if err != nil {
				return inv, err
			}
			if ok {
				inv.dump = rest[0]
				rest = rest[1:]
			}
		}
		inv.words = append(inv.words, rest...)
	}
	return inv, nil
}

const usageText = `usage:
  kwalk [FLAGS] [VMCORE [VMLINUX]]           interactive session (no VMCORE: live /proc/kcore)
  kwalk [FLAGS] COMMAND [VMCORE] [ARGS...]   run one command, e.g. kwalk ps vmcore -m
  kwalk [FLAGS] -c 'CMD; CMD' [VMCORE]       run several commands
  kwalk [FLAGS] -i FILE [VMCORE]             run the commands in FILE, one a line
  kwalk [FLAGS] run SCRIPT.go [VMCORE] [ARGS] run a Go script against the kernel
  kwalk demo                                 in a clone of kwalk: make a real dump with staged
                                             hangs (once, cached) and show what kwalk says of it
  kwalk version                              the version

VMCORE may be a dump file or a kdump-tools directory (/var/crash/STAMP); a dump
named like a command is given by path (./ps).

flags:
  --vmlinux FILE       vmlinux with debug info (default: found next to the dump
                       or under /usr/lib/debug; else symbols and BTF from the dump)
  --system-map FILE    System.map for symbols
  --debuginfo DIR      more places to look for vmlinux and module debug info (repeatable)
  --zero-excluded      read pages the dump left out as zeros
  --force-build-id     accept a vmlinux whose build-id differs from the dump's
  --no-debuginfod      never fetch a vmlinux from $DEBUGINFOD_URLS (fetched by
                       build-id, into elfutils' cache, when bt -l/-v or dis -l
                       need DWARF or the kernel has no BTF; a cached one is used)
  --json               write each command's result as one line of JSON
                       (several commands: JSON lines, one document per command)
  -c 'CMDS'            run ';'-separated commands and exit
  -i FILE              run commands from FILE and exit ('#' starts a comment)
  --version            print the version (also: kwalk version)
  -h, --help           this help; "kwalk help" lists commands, "kwalk help CMD" one

exit status: 0 success; 1, 2 a command's findings (deadlock: 1 blocked chains,
2 a cycle); 3 a command failed; 64 usage error; 66 dump or debug info unreadable;
128+N ended by signal N (130 SIGINT, 143 SIGTERM; a second signal, or work that
does not stop within 2 s, ends kwalk at once).
With several commands the highest status wins.
`

// isMissing tells a path that does not exist (or cannot, under a file
// or with a name too long) from one that exists but cannot be reached.
func isMissing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.ENAMETOOLONG)
}

// looksLikePath tells a mistyped dump path from a command argument: a
// path has a "/" or a dump file's usual name; arguments (pids, symbols,
// addresses, flags) do not.
func looksLikePath(a string) bool {
	if strings.HasPrefix(a, "-") {
		return false
	}
	return strings.Contains(a, "/") || strings.HasPrefix(a, "vmcore") || strings.HasPrefix(a, "dump.")
}
