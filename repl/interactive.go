package repl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/chzyer/readline"
)

// InteractiveOptions configure RunInteractive.
type InteractiveOptions struct {
	// HistoryFile keeps the command history across sessions; "" disables it.
	HistoryFile string
	// Prompt defaults to "kwalk> ".
	Prompt string
}

// DefaultHistoryFile is ~/.kwalk_history, or "" when there is no home.
func DefaultHistoryFile() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".kwalk_history")
}

// RunInteractive reads commands at a prompt until Ctrl-D or "q". Ctrl-C
// cancels the running command (its context) and returns to the prompt;
// at the prompt it clears the line.
func (s *Session) RunInteractive(ctx context.Context, opts InteractiveOptions) error {
	prompt := opts.Prompt
	if prompt == "" {
		prompt = "kwalk> "
	}
	s.Interactive = true
	cfg := &readline.Config{
		Prompt:            prompt,
		HistoryFile:       opts.HistoryFile,
		HistorySearchFold: true,
		AutoComplete:      &readlineCompleter{s: s, ctx: ctx},
		InterruptPrompt:   "^C",
		EOFPrompt:         "",
	}
	if !isTerminal(s.Stdout) && isTerminal(s.Stderr) {
		// Output redirected (kwalk vmcore > log): keep the prompt and the
		// line being edited on the terminal.
		cfg.Stdout = s.Stderr
	}
	rl, err := readline.NewEx(cfg)
	if err != nil {
		return fmt.Errorf("starting the line editor: %w", err)
	}
	defer rl.Close()
	for {
		line, err := rl.Readline()
		switch {
		case errors.Is(err, readline.ErrInterrupt):
			continue
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("reading a command: %w", err)
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		s.execInterruptible(ctx, line)
		if s.quit || ctx.Err() != nil {
			return nil
		}
	}
}

// execInterruptible runs a line with SIGINT cancelling it.
func (s *Session) execInterruptible(parent context.Context, line string) int {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt)
	defer signal.Stop(sigc)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-sigc:
			cancel()
		case <-done:
		}
	}()
	return s.Exec(ctx, line)
}

// readlineCompleter adapts Session.Complete to readline.
type readlineCompleter struct {
	s   *Session
	ctx context.Context
}

// Do implements readline.AutoCompleter: the suffixes to append to the word
// before the cursor, and that word's length.
func (r *readlineCompleter) Do(line []rune, pos int) ([][]rune, int) {
	word, cands := r.s.Complete(r.ctx, string(line[:pos]))
	wl := len([]rune(word))
	out := make([][]rune, 0, len(cands))
	for _, c := range cands {
		rc := []rune(c)
		if len(rc) < wl {
			continue
		}
		suffix := rc[wl:]
		// A unique completion ends the word, except inside a member path
		// where the user may go on with "." or "->".
		if len(cands) == 1 && !strings.ContainsAny(c, ".>[") && !strings.HasSuffix(c, "/") {
			suffix = append(suffix, ' ')
		}
		out = append(out, suffix)
	}
	return out, wl
}
