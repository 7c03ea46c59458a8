package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmuxSession drives kwalk in a detached tmux session.
type tmuxSession struct {
	t    *testing.T
	name string
}

func (s *tmuxSession) send(keys ...string) {
	s.t.Helper()
	args := append([]string{"send-keys", "-t", s.name}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		s.t.Fatalf("tmux send-keys %q: %v: %s", keys, err, out)
	}
}

func (s *tmuxSession) pane() string {
	out, _ := exec.Command("tmux", "capture-pane", "-p", "-J", "-S", "-500", "-t", s.name).Output()
	return string(out)
}

// waitFor polls the pane until ok accepts it.
func (s *tmuxSession) waitFor(what string, timeout time.Duration, ok func(pane string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p := s.pane()
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s; pane:\n%s", what, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *tmuxSession) waitText(text string, timeout time.Duration) string {
	s.t.Helper()
	return s.waitFor(fmt.Sprintf("%q", text), timeout, func(p string) bool { return strings.Contains(p, text) })
}

func startTmux(t *testing.T, home string, args ...string) *tmuxSession {
	t.Helper()
	name := fmt.Sprintf("kwalktest%d", time.Now().UnixNano())
	cmdline := fmt.Sprintf("HOME=%s %s %s; echo KWALK-EXITED=$?; sleep 60", home, kwalkBinary(t), strings.Join(args, " "))
	if out, err := exec.Command("tmux", "new-session", "-d", "-s", name, "-x", "160", "-y", "50", cmdline).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", name).Run() })
	return &tmuxSession{t: t, name: name}
}

// countPrompts counts "kwalk> " prompts in the pane.
func countPrompts(p string) int { return strings.Count(p, "kwalk> ") }

// TestInteractiveTmux runs a real session on the real dump: TAB completion
// of a member, a pipe to grep, Ctrl-C of a long command, Ctrl-D, and the
// history file across sessions.
func TestInteractiveTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("SKIP: tmux not installed; the interactive session is not tested")
	}
	needRealDump(t)
	home := t.TempDir()
	s := startTmux(t, home, realDump)
	s.waitText("kwalk> ", 20*time.Second)

	// TAB completes a member of a member's type.
	s.send("struct task_struct.se.vrun", "Tab")
	s.waitText("kwalk> struct task_struct.se.vruntime", 5*time.Second)
	s.send("Enter")
	s.waitText("u64 vruntime;", 5*time.Second)

	// A pipe through the shell.
	n := countPrompts(s.pane())
	s.send("ps | grep hangfs", "Enter")
	p := s.waitFor("ps | grep output and a new prompt", 10*time.Second, func(p string) bool { return countPrompts(p) > n })
	out := p[strings.LastIndex(p, "ps | grep hangfs"):]
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 {
		t.Fatalf("ps | grep hangfs printed too little:\n%s", out)
	}
	for _, l := range lines[1 : len(lines)-1] {
		if !strings.Contains(l, "hangfs") {
			t.Errorf("grep let through %q", l)
		}
	}

	// Ctrl-C cancels a long command and returns to the prompt.
	n = countPrompts(s.pane())
	// The reader never reads, so rd blocks writing (16 MiB of output, a
	// 64 KiB pipe) until Ctrl-C: the interrupt cannot come too late.
	s.send("rd -p 100000 2000000 | sleep 30", "Enter")
	time.Sleep(500 * time.Millisecond)
	s.send("C-c")
	p = s.waitFor("the prompt after Ctrl-C", 10*time.Second, func(p string) bool { return countPrompts(p) > n })
	if !strings.Contains(p, "rd: interrupted") {
		t.Errorf("no \"rd: interrupted\" after Ctrl-C:\n%s", p)
	}

	// Long output goes through the pager (less -FRX) on a terminal.
	last := "rd -p 100000 2000000 | sleep 30"
	if _, err := exec.LookPath("less"); err == nil {
		last = "sym -l"
		n = countPrompts(s.pane())
		s.send("sym -l", "Enter")
		s.waitFor("the pager's prompt", 10*time.Second, func(p string) bool {
			l := strings.Split(strings.TrimRight(p, "\n"), "\n")
			return strings.HasPrefix(l[len(l)-1], ":")
		})
		s.send("q")
		s.waitFor("the prompt after the pager", 10*time.Second, func(p string) bool { return countPrompts(p) > n })
	} else {
		t.Log("less not installed: paging not tested")
	}

	// Ctrl-D exits cleanly.
	s.send("C-d")
	s.waitText("KWALK-EXITED=0", 10*time.Second)

	hist, err := os.ReadFile(filepath.Join(home, ".kwalk_history"))
	if err != nil {
		t.Fatalf("history file: %v", err)
	}
	for _, want := range []string{"struct task_struct.se.vruntime", "ps | grep hangfs", "rd -p 100000 2000000 | sleep 30"} {
		if !strings.Contains(string(hist), want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}

	// History persists: Up in a new session recalls the last command.
	s2 := startTmux(t, home, realDump)
	s2.waitText("kwalk> ", 20*time.Second)
	s2.send("Up")
	s2.waitText("kwalk> "+last, 5*time.Second)
	s2.send("C-c")
	s2.send("C-d")
	s2.waitText("KWALK-EXITED=0", 10*time.Second)
}
