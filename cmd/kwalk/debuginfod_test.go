package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kwalk/kwalk/debuginfod"
	"github.com/kwalk/kwalk/testdata"
)

func TestNeedsDWARF(t *testing.T) {
	tests := []struct {
		inv  invocation
		want bool
	}{
		{invocation{mode: modeBatch, words: []string{"bt", "-l", "1"}}, true},
		{invocation{mode: modeBatch, words: []string{"bt", "-fv"}}, true},
		{invocation{mode: modeBatch, words: []string{"bt", "-a"}}, false},
		{invocation{mode: modeBatch, words: []string{"bt", "--json", "1"}}, false},
		{invocation{mode: modeBatch, words: []string{"dis", "-l", "schedule"}}, true},
		{invocation{mode: modeBatch, words: []string{"ps", "-l"}}, false},
		{invocation{mode: modeCommands, commands: "ps; foreach bt -v"}, true},
		{invocation{mode: modeCommands, commands: "foreach UN task -l"}, false},
		{invocation{mode: modeCommands, commands: "sys; dis schedule"}, false},
		{invocation{mode: modeInteractive}, false},
	}
	for _, tt := range tests {
		if got := needsDWARF(tt.inv); got != tt.want {
			t.Errorf("needsDWARF(%q %q) = %v, want %v", tt.inv.words, tt.inv.commands, got, tt.want)
		}
	}
}

// TestDebuginfodServer runs elfutils' debuginfod on localhost over the 6.1
// -dbg vmlinux, and kwalk against it: bt -l on a 6.1 dump with no vmlinux
// beside it fetches the vmlinux by the dump's build-id into the cache
// (elfutils' layout), and shows source lines; a second run asks the server
// nothing; --no-debuginfod fetches nothing.
func TestDebuginfodServer(t *testing.T) {
	server, err := exec.LookPath("debuginfod")
	if err != nil {
		if os.Getenv("KWALK_REQUIRE_DUMPS") == "1" {
			t.Fatal("debuginfod is not installed (apt-get install debuginfod; .ci/run does)")
		}
		t.Skip("SKIP: debuginfod is not installed (apt-get install debuginfod)")
	}
	d := testdata.RequireOne(t, "6.1", "hangs")
	if d.DebugRoot == "" {
		t.Skipf("SKIP: no unpacked 6.1 -dbg package (%s makes it)", testdata.GenerateCommand)
	}
	vmlinux := filepath.Join(d.DebugRoot, "boot", "vmlinux-"+d.Release)
	id, err := debuginfod.FileBuildID(vmlinux)
	if err != nil {
		t.Skipf("SKIP: the debug vmlinux: %v", err)
	}
	dump := d.Path(testdata.FormatKdumpZlibFlat)
	if dump == "" {
		dump = d.Path(testdata.FormatELF)
	}

	// A task asleep in the fuse module (its /proc stack has [fuse] frames):
	// bt -l shows the module's lines once its debug file is fetched too.
	fuseKo := filepath.Join(d.DebugRoot, "lib", "modules", d.Release, "kernel", "fs", "fuse", "fuse.ko")
	fuseID, fuseErr := debuginfod.FileBuildID(fuseKo)
	fusePID := 0
	for _, tk := range d.Truth.Tasks {
		for _, f := range tk.Stack {
			if f.Module == "fuse" && fusePID == 0 {
				fusePID = tk.TID
			}
		}
	}

	// The server scans a directory holding only links to the vmlinux and
	// the fuse module's debug file.
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	os.Mkdir(files, 0o755)
	if err := os.Symlink(vmlinux, filepath.Join(files, filepath.Base(vmlinux))); err != nil {
		t.Fatal(err)
	}
	if fuseErr == nil {
		if err := os.Symlink(fuseKo, filepath.Join(files, "fuse.ko")); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	logPath := filepath.Join(dir, "server.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	srv := exec.Command(server, "-F", "-L", "-d", filepath.Join(dir, "db.sqlite"), "-p", fmt.Sprint(port), files)
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Kill()
		srv.Wait()
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitServed(t, url+"/buildid/"+id+"/debuginfo", logPath)
	requests := func() int {
		b, _ := os.ReadFile(logPath)
		return strings.Count(string(b), "GET /buildid/")
	}

	cache := filepath.Join(dir, "cache")
	env := []string{"DEBUGINFOD_URLS=" + url, "DEBUGINFOD_CACHE_PATH=" + cache}
	before := requests()
	r := runKwalk(t, env, "bt", dump, "-l", "1")
	if r.status != 0 || !strings.Contains(r.stdout, "kernel/sched/core.c:") {
		t.Fatalf("bt -l with debuginfod: status %d, no source lines:\n%s\n%s", r.status, r.stdout, r.stderr)
	}
	cached := filepath.Join(cache, id, "debuginfo")
	if got, err := debuginfod.FileBuildID(cached); err != nil || got != id {
		t.Errorf("cache %s: build-id %q, %v; want %s", cached, got, err, id)
	}
	if n := requests() - before; n != 1 {
		t.Errorf("%d requests for the first run, want 1", n)
	}
	if strings.Contains(r.stderr, "\r") {
		t.Errorf("a progress line went to stderr that is not a terminal: %q", r.stderr)
	}

	// A module's lines: its debug file comes by the build-id the dump's
	// module notes hold.
	if fuseErr != nil || fusePID == 0 {
		t.Errorf("no fuse module debug file (%v) or no task in the fuse module (pid %d) to check module lines with", fuseErr, fusePID)
	} else {
		waitServed(t, url+"/buildid/"+fuseID+"/debuginfo", logPath)
		r := runKwalk(t, env, "bt", dump, "-l", fmt.Sprint(fusePID))
		if !strings.Contains(r.stdout, "fs/fuse/") {
			t.Errorf("bt -l %d with debuginfod: no fuse module source lines:\n%s\n%s", fusePID, r.stdout, r.stderr)
		}
		if got, err := debuginfod.FileBuildID(filepath.Join(cache, fuseID, "debuginfo")); err != nil || got != fuseID {
			t.Errorf("fuse.ko in the cache: build-id %q, %v; want %s", got, err, fuseID)
		}
	}

	// Cached: the server is not asked; elfutils' own client finds it too.
	before = requests()
	r = runKwalk(t, env, "-c", "bt -l 1", dump)
	if !strings.Contains(r.stdout, "kernel/sched/core.c:") {
		t.Errorf("second run: no source lines:\n%s\n%s", r.stdout, r.stderr)
	}
	if find, err := exec.LookPath("debuginfod-find"); err == nil {
		cmd := exec.Command(find, "debuginfo", id)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != cached {
			t.Errorf("debuginfod-find debuginfo %s = %q, %v; want the file kwalk cached", id, out, err)
		}
	}
	if n := requests() - before; n != 0 {
		t.Errorf("%d requests with the file cached, want 0", n)
	}

	// --no-debuginfod, and commands that need no DWARF, fetch nothing.
	env2 := []string{"DEBUGINFOD_URLS=" + url, "DEBUGINFOD_CACHE_PATH=" + filepath.Join(dir, "cache2")}
	before = requests()
	r = runKwalk(t, env2, "--no-debuginfod", "bt", dump, "-l", "1")
	if strings.Contains(r.stdout, "kernel/sched/core.c:") {
		t.Errorf("--no-debuginfod: source lines shown:\n%s", r.stdout)
	}
	runKwalk(t, env2, "ps", dump)
	if n := requests() - before; n != 0 {
		t.Errorf("%d requests with --no-debuginfod or ps, want 0", n)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitServed waits until the server has scanned the file (a GET answers
// 200; the body is not read), up to a minute.
func waitServed(t *testing.T, url, logPath string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	f, _ := os.Open(logPath)
	defer f.Close()
	var tail []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		tail = append(tail, sc.Text())
		if len(tail) > 10 {
			tail = tail[1:]
		}
	}
	t.Fatalf("debuginfod did not serve %s within a minute:\n%s", url, strings.Join(tail, "\n"))
}
