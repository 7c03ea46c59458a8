package repl

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestCompleteFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "dmesg.txt"), nil, 0o644)
	os.Mkdir(filepath.Join(dir, "dumps"), 0o755)
	s, _, _, _ := newTestSession(t)
	word, got := s.Complete(context.Background(), "log > "+dir+"/d")
	want := []string{dir + "/dmesg.txt", dir + "/dumps/"}
	if word != dir+"/d" || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q %q, want %q", word, got, want)
	}
	if _, got := s.Complete(context.Background(), "p init_task->co"); len(got) != 1 {
		t.Errorf("-> taken for a redirection: %q", got)
	}
	if word, _ := s.Complete(context.Background(), "log > "); word != "" {
		t.Errorf("empty file word: %q", word)
	}
	if word, got := s.Complete(context.Background(), "eval (jiffies > 1) + jiff"); word != "jiff" || len(got) != 1 {
		t.Errorf("> inside parentheses taken for a redirection: %q %q", word, got)
	}
}

func TestComplete(t *testing.T) {
	tests := []struct {
		line     string
		word     string
		want     []string // exactly, when wantSome is nil
		wantSome []string // at least these
	}{
		{"he", "he", []string{"help"}, nil},
		{"s", "s", nil, []string{"set", "struct", "sym", "sys"}},
		{"p jiff", "jiff", []string{"jiffies"}, nil},
		{"p init_task.c", "init_task.c", []string{"init_task.comm", "init_task.cpu"}, nil},
		{"p init_task.se.v", "init_task.se.v", []string{"init_task.se.vruntime"}, nil},
		{"p init_task->se.", "init_task->se.", []string{"init_task->se.nr_migrations", "init_task->se.on_rq", "init_task->se.vruntime"}, nil},
		{"p init_task.mm->t", "init_task.mm->t", []string{"init_task.mm->total_vm"}, nil},
		{"p init_task.anon_", "init_task.anon_", []string{"init_task.anon_a", "init_task.anon_b"}, nil},
		{"struct task_s", "task_s", []string{"task_struct"}, nil},
		{"struct task_struct.se.", "task_struct.se.", []string{"task_struct.se.nr_migrations", "task_struct.se.on_rq", "task_struct.se.vruntime"}, nil},
		{"struct task_struct.parent->pi", "task_struct.parent->pi", []string{"task_struct.parent->pid"}, nil},
		{"struct task_struct.nosuch.", "task_struct.nosuch.", nil, nil},
		{"set ", "", []string{"0", "1", "42"}, nil},
		{"set 4", "4", []string{"42"}, nil},
		{"rd -", "-", nil, []string{"-64", "-p", "-s", "--json"}},
		{"help st", "st", []string{"struct"}, nil},
		{"foreach U", "U", []string{"UN"}, nil},
		{"foreach ta", "ta", []string{"task"}, nil},
		{"sys; p jiff", "jiff", []string{"jiffies"}, nil},
		{"ps | gre", "", nil, nil},
		{"nosuch x", "x", nil, nil},
	}
	for _, tc := range tests {
		s, _, _, _ := newTestSession(t)
		s.Reg.SetTaskSource(nil)
		word, got := s.Complete(context.Background(), tc.line)
		if word != tc.word {
			t.Errorf("%q: word %q, want %q", tc.line, word, tc.word)
		}
		if tc.wantSome == nil {
			if len(got) == 0 && len(tc.want) == 0 {
				continue
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%q: got %q, want %q", tc.line, got, tc.want)
			}
			continue
		}
		have := map[string]bool{}
		for _, g := range got {
			have[g] = true
		}
		for _, w := range tc.wantSome {
			if !have[w] {
				t.Errorf("%q: %q missing from %q", tc.line, w, got)
			}
		}
	}
}

// TestReadlineCompleter checks the suffixes handed to readline.
func TestReadlineCompleter(t *testing.T) {
	s, _, _, _ := newTestSession(t)
	rc := &readlineCompleter{s: s, ctx: context.Background()}
	line := []rune("p init_task.se.vr")
	cands, n := rc.Do(line, len(line))
	if n != len("init_task.se.vr") || len(cands) != 1 || string(cands[0]) != "untime" {
		t.Errorf("got %q, %d", cands, n)
	}
	line = []rune("struct task_struct.s")
	cands, _ = rc.Do(line, len(line))
	if len(cands) != 1 || string(cands[0]) != "e" {
		t.Errorf("member path: got %q, want [\"e\"] (no space, the path may go on)", cands)
	}
	line = []rune("he")
	cands, _ = rc.Do(line, len(line))
	if len(cands) != 1 || string(cands[0]) != "lp " {
		t.Errorf("command: got %q", cands)
	}
}
