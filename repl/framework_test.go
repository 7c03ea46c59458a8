package repl

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kwalk/kwalk/repl/internal/synth"
)

func newTestSession(t *testing.T) (*Session, *bytes.Buffer, *bytes.Buffer, *synth.Kernel) {
	t.Helper()
	k := synth.New()
	reg := NewDefaultRegistry()
	if err := reg.Err(); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	s := NewSession(k.Prog, reg, &out, &errb)
	return s, &out, &errb, k
}

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		line string
		want []statement
		err  bool
	}{
		{"ps", []statement{{Words: []string{"ps"}}}, false},
		{"ps -m; bt 12", []statement{{Words: []string{"ps", "-m"}}, {Words: []string{"bt", "12"}}}, false},
		{"ps | grep hangfs", []statement{{Words: []string{"ps"}, Pipe: "grep hangfs"}}, false},
		{"ps | grep 'a;b'", []statement{{Words: []string{"ps"}, Pipe: "grep 'a;b'"}}, false},
		{"log > dmesg.txt", []statement{{Words: []string{"log"}, Redirect: "dmesg.txt"}}, false},
		{"log >> 'my file'", []statement{{Words: []string{"log"}, Redirect: "my file", Append: true}}, false},
		{"p init_task->comm", []statement{{Words: []string{"p", "init_task->comm"}}}, false},
		{"eval (1 | 2) > f", []statement{{Words: []string{"eval", "(1", "|", "2)"}, Redirect: "f"}}, false},
		{`sym "a b" c\ d`, []statement{{Words: []string{"sym", "a b", "c d"}}}, false},
		{"  ;; ", nil, false},
		{"ps |", nil, true},
		{"| grep x", nil, true},
		{"log > a b", nil, true},
		{"sym 'unterminated", nil, true},
	}
	for _, tc := range tests {
		got, err := splitStatements(tc.line)
		if (err != nil) != tc.err {
			t.Errorf("%q: err = %v, want error %v", tc.line, err, tc.err)
			continue
		}
		if !tc.err && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %#v\nwant %#v", tc.line, got, tc.want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	cmd := &Command{Name: "rd", Flags: []Flag{
		{Name: "p"}, {Name: "64"}, {Name: "o", Aliases: []string{"offsets"}},
		{Name: "n", Arg: "N", Default: "1"},
	}}
	tests := []struct {
		words []string
		flags map[string]string
		args  []string
		json  bool
		err   bool
	}{
		{[]string{"jiffies"}, map[string]string{}, []string{"jiffies"}, false, false},
		{[]string{"-p", "1000", "-64"}, map[string]string{"p": "true", "64": "true"}, []string{"1000"}, false, false},
		{[]string{"--offsets", "x"}, map[string]string{"o": "true"}, []string{"x"}, false, false},
		{[]string{"-n", "5", "a"}, map[string]string{"n": "5"}, []string{"a"}, false, false},
		{[]string{"-n=7"}, map[string]string{"n": "7"}, nil, false, false},
		{[]string{"--json", "a"}, map[string]string{}, []string{"a"}, true, false},
		{[]string{"a", "-1"}, map[string]string{}, []string{"a", "-1"}, false, false},
		{[]string{"--", "-p"}, map[string]string{}, []string{"-p"}, false, false},
		{[]string{"-x"}, nil, nil, false, true},
		{[]string{"-n"}, nil, nil, false, true},
		{[]string{"-p=3"}, nil, nil, false, true},
	}
	for _, tc := range tests {
		f, a, j, err := parseArgs(cmd, tc.words)
		if (err != nil) != tc.err {
			t.Errorf("%q: err = %v", tc.words, err)
			continue
		}
		if tc.err {
			continue
		}
		if !reflect.DeepEqual(f, tc.flags) || !reflect.DeepEqual(a, tc.args) || j != tc.json {
			t.Errorf("%q: got %v %q %v, want %v %q %v", tc.words, f, a, j, tc.flags, tc.args, tc.json)
		}
	}
}

func TestRegistryDuplicates(t *testing.T) {
	r := NewRegistry()
	run := func(*Call) (Result, error) { return nil, nil }
	r.Add(&Command{Name: "a", Aliases: []string{"b"}, Run: run})
	r.Add(&Command{Name: "b", Run: run})
	if r.Err() == nil {
		t.Fatal("duplicate name not reported")
	}
	if c, _ := r.Lookup("b"); c.Name != "a" {
		t.Errorf("b resolves to %s, want the first registration", c.Name)
	}
}

func TestBuiltinsHaveHelp(t *testing.T) {
	r := NewDefaultRegistry()
	for _, c := range r.Commands() {
		if c.Summary == "" || c.Usage == "" || c.Help == "" || len(c.Examples) == 0 {
			t.Errorf("command %s lacks summary, usage, help or an example", c.Name)
		}
		for _, f := range c.Flags {
			if f.Help == "" {
				t.Errorf("command %s flag -%s has no help", c.Name, f.Name)
			}
		}
	}
}

func TestExecStatuses(t *testing.T) {
	s, out, errb, _ := newTestSession(t)
	ctx := context.Background()
	if st := s.Exec(ctx, "help"); st != ExitOK {
		t.Errorf("help: status %d, stderr %s", st, errb)
	}
	if !strings.Contains(out.String(), "help COMMAND") {
		t.Errorf("help output: %s", out)
	}
	if st := s.Exec(ctx, "nosuchcmd"); st != ExitUsage {
		t.Errorf("unknown command: status %d", st)
	}
	if st := s.Exec(ctx, "help -z"); st != ExitUsage {
		t.Errorf("unknown flag: status %d", st)
	}
	if st := s.Exec(ctx, "help nosuch"); st != ExitUsage {
		t.Errorf("help nosuch: status %d", st)
	}
}

func TestPipeAndRedirect(t *testing.T) {
	s, out, errb, _ := newTestSession(t)
	ctx := context.Background()
	if st := s.Exec(ctx, "help | grep -c '^help'"); st != ExitOK {
		t.Fatalf("status %d: %s", st, errb)
	}
	if strings.TrimSpace(out.String()) != "1" {
		t.Errorf("piped output %q, want 1", out)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "out.txt")
	out.Reset()
	s.Exec(ctx, "help help > "+f)
	s.Exec(ctx, "help q >> "+f)
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "help - list commands") || !strings.Contains(string(b), "q - leave kwalk") {
		t.Errorf("redirected file: %s", b)
	}
	if out.Len() != 0 {
		t.Errorf("redirected output leaked to stdout: %q", out)
	}
	// A pipe reader that exits early must not fail the command.
	if st := s.Exec(ctx, "help | head -1"); st != ExitOK {
		t.Errorf("early-exit pipe: status %d", st)
	}
}

func TestShellEscape(t *testing.T) {
	s, out, _, _ := newTestSession(t)
	if st := s.Exec(context.Background(), "!echo hello | tr a-z A-Z"); st != ExitOK || out.String() != "HELLO\n" {
		t.Errorf("status %d, output %q", st, out)
	}
}

func TestJSONErrorDocument(t *testing.T) {
	s, out, _, _ := newTestSession(t)
	s.JSON = true
	s.Exec(context.Background(), "help nosuch; help q")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 JSON lines, got %q", out)
	}
	var e errorDoc
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil || e.Command != "help" || e.Error == "" {
		t.Errorf("error document %q: %v", lines[0], err)
	}
	var h HelpCommand
	if err := json.Unmarshal([]byte(lines[1]), &h); err != nil || h.Name != "q" {
		t.Errorf("help document %q: %v", lines[1], err)
	}
}

func TestCancelledCommand(t *testing.T) {
	s, _, errb, _ := newTestSession(t)
	s.Reg.Add(&Command{Name: "spin", Summary: "x", Usage: "spin", Help: "x", Examples: []string{"spin"},
		Run: func(c *Call) (Result, error) {
			<-c.Ctx.Done()
			return nil, c.Ctx.Err()
		}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if st := s.Exec(ctx, "spin"); st != ExitOK {
		// A cancelled context stops the line before the command runs.
		t.Errorf("status %d: %s", st, errb)
	}
}

func TestPanicBecomesError(t *testing.T) {
	s, _, errb, _ := newTestSession(t)
	s.Reg.Add(&Command{Name: "boom", Summary: "x", Usage: "boom", Help: "x", Examples: []string{"boom"}, NoProgram: true,
		Run: func(c *Call) (Result, error) { panic("bad") }})
	if st := s.Exec(context.Background(), "boom"); st != ExitFailed {
		t.Errorf("status %d", st)
	}
	if !strings.Contains(errb.String(), "internal error") {
		t.Errorf("stderr %q", errb)
	}
}

func TestNeedsProgram(t *testing.T) {
	r := NewDefaultRegistry()
	for line, want := range map[string]bool{"help": false, "help; q": false, "help | grep x": false, "sys": true, "help; p jiffies": true, "nosuch": false} {
		if got := r.NeedsProgram(line); got != want {
			t.Errorf("%q: %v, want %v", line, got, want)
		}
	}
}
