package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kwalk/kwalk"
	"github.com/kwalk/kwalk/testdata"
)

// TestBtVarsSharedDump runs bt -v on the shared 6.1 dump with its debug
// vmlinux: the rm of the square scenario must show, under vfs_unlink, the
// dentry of the file the record's dd holds open on /mnt/w.
func TestBtVarsSharedDump(t *testing.T) {
	d := testdata.SharedDump(t)
	matches, _ := filepath.Glob(filepath.Join(testdata.CacheDir(), "debug", "*", "usr", "lib", "debug", "boot", "vmlinux-"+d.Release))
	if d.Release == "" || len(matches) == 0 {
		t.Skipf("SKIP: no debug vmlinux-%s under %s (%s)", d.Release, filepath.Join(testdata.CacheDir(), "debug"), testdata.GenerateCommand)
	}
	if _, err := os.Stat(matches[0]); err != nil {
		t.Skipf("SKIP: %v", err)
	}
	prog, err := kwalk.Open(d.Path, kwalk.Options{Vmlinux: matches[0]})
	if err != nil {
		t.Fatal(err)
	}
	rm, want := 0, ""
	for _, tk := range d.Truth.Tasks {
		if tk.Comm == "rm" {
			rm = tk.PID
		}
		for _, fd := range tk.FDs {
			if tk.Comm == "dd" && strings.HasPrefix(fd.Target, "/mnt/w/") {
				want = path.Base(fd.Target)
			}
		}
	}
	if rm == 0 || want == "" {
		t.Fatalf("record has no rm (%d) or no dd writing on /mnt/w (%q)", rm, want)
	}
	run := func(line string, json bool) string {
		var out, errb bytes.Buffer
		s := NewSession(prog, NewDefaultRegistry(), &out, &errb)
		s.JSON = json
		if st := s.Exec(context.Background(), line); st != ExitOK {
			t.Fatalf("%s: status %d: %s%s", line, st, out.String(), errb.String())
		}
		return out.String()
	}
	text := run("bt -v "+itoa(rm), false)
	block := regexp.MustCompile(`(?s)vfs_unlink\+0x[0-9a-f]+ at [0-9a-f]+\n(.*?)\n *#`).FindStringSubmatch(text)
	if block == nil {
		t.Fatalf("no vfs_unlink frame in:\n%s", text)
	}
	if !regexp.MustCompile(`(?m)^    dentry = \(struct dentry \*\)0x[0-9a-f]+ "` + regexp.QuoteMeta(want) + `"$`).MatchString(block[1]) {
		t.Errorf("vfs_unlink variables lack dentry %q:\n%s", want, block[1])
	}
	var res struct {
		Traces []struct {
			Frames []struct {
				Symbol string
				Vars   []struct {
					Function string
					Vars     []struct {
						Name, Text, Value string
						Known             bool
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(run("bt -v "+itoa(rm), true)), &res); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range res.Traces[0].Frames {
		for _, sc := range f.Vars {
			for _, v := range sc.Vars {
				if f.Symbol == "vfs_unlink" && sc.Function == "vfs_unlink" && v.Name == "dentry" {
					found = v.Known && strings.HasPrefix(v.Value, "0xffff") && strings.HasSuffix(v.Text, `"`+want+`"`)
				}
			}
		}
	}
	if !found {
		t.Errorf("JSON: no known vfs_unlink dentry %q", want)
	}
}
