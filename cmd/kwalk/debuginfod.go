package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/kwalk/kwalk/debuginfod"
	"golang.org/x/sys/unix"
)

// needsDWARF tells whether the commands of a batch or -c run want a
// vmlinux with DWARF: bt -l / bt -v (lines, frame variables, also under
// foreach) and dis -l. Interactive sessions are not guessed at: they use a
// vmlinux already in the debuginfod cache.
func needsDWARF(inv invocation) bool {
	var lines [][]string
	switch inv.mode {
	case modeBatch:
		lines = append(lines, inv.words)
	case modeCommands:
		for _, c := range strings.Split(inv.commands, ";") {
			lines = append(lines, strings.Fields(c))
		}
	}
	for _, w := range lines {
		if len(w) > 0 && w[0] == "foreach" {
			for i, a := range w {
				if a == "bt" {
					w = w[i:]
					break
				}
			}
		}
		if len(w) == 0 {
			continue
		}
		var want string
		switch w[0] {
		case "bt":
			want = "lv"
		case "dis":
			want = "l"
		default:
			continue
		}
		for _, a := range w[1:] {
			if len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.ContainsAny(a[1:], want) {
				return true
			}
		}
	}
	return false
}

// fetchVmlinux returns the vmlinux with DWARF for buildID from the
// debuginfod servers of $DEBUGINFOD_URLS (or elfutils' cache), "" when
// there is none to use. With fetch false only the cache is looked at.
// Progress goes to stderr on a terminal; Ctrl-C stops the download.
func fetchVmlinux(ctx context.Context, buildID, release string, fetch bool, stderr io.Writer) (string, error) {
	c := debuginfod.FromEnv()
	if c == nil || buildID == "" {
		return "", nil
	}
	id, err := debuginfod.NormalizeBuildID(buildID)
	if err != nil {
		// Some 6.12-era stable kernels write garbage there (kcore.VMCoreInfo.BuildID).
		if !fetch {
			return "", nil
		}
		return "", fmt.Errorf("the kernel's build-id: %w", err)
	}
	if p := c.CachePath(id, debuginfod.Debuginfo); fileNonEmpty(p) {
		fetch = true // in the cache: Fetch checks it and asks no server
	}
	if !fetch {
		return "", nil
	}
	if isTerminal(stderr) {
		c.Progress = stderr
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	name := "vmlinux"
	if release != "" {
		name += "-" + release
	}
	return c.Fetch(ctx, id, debuginfod.Debuginfo, name)
}

// fetchModuleDebug returns the debug file of a loaded module by its
// build-id from $DEBUGINFOD_URLS (or elfutils' cache), "" without servers.
// It is asked only when a vmlinux's DWARF is in use (bt -l/-v, dis -l) and
// a module's source lines are wanted.
func fetchModuleDebug(ctx context.Context, module, buildID string, stderr io.Writer) (string, error) {
	c := debuginfod.FromEnv()
	if c == nil {
		return "", nil
	}
	id, err := debuginfod.NormalizeBuildID(buildID)
	if err != nil {
		return "", fmt.Errorf("module %s: %w", module, err)
	}
	if isTerminal(stderr) {
		c.Progress = stderr
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	p, err := c.Fetch(ctx, id, debuginfod.Debuginfo, module+".ko")
	if err != nil {
		fmt.Fprintf(stderr, "kwalk: debuginfod: module %s: %s\n", module, err)
		return "", err
	}
	return p, nil
}

// liveBuildID is the running kernel's build-id, from /sys/kernel/notes.
func liveBuildID() string {
	b, err := os.ReadFile("/sys/kernel/notes")
	if err != nil {
		return ""
	}
	id, _ := debuginfod.NotesBuildID(b)
	return id
}

func fileNonEmpty(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Size() > 0
}

// isTerminal tells whether w is a terminal (progress lines go only there).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
