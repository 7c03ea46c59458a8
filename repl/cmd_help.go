package repl

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

func registerHelp(r *Registry) {
	r.Add(&Command{
		Name:      "help",
		Aliases:   []string{"h", "?"},
		Summary:   "list commands, or describe one command with its flags",
		Usage:     "help [-a] [COMMAND]",
		NoProgram: true,
		Help: `Without an argument, lists every command with a one-line summary.
With a command name, shows its usage, description, every flag and examples.

Every command also accepts --json (or -j): the result is written as one
line of JSON instead of text. Output can be piped to a shell command
("ps | grep bash") or redirected to a file ("log > dmesg.txt", ">>").

Exit status in batch mode: 0 success; 1 and 2 are a command's own
findings (deadlock: 1 blocked chains, 2 a cycle); 3 a command failed;
4 deadlock's analysis is incomplete (part of the dump could not be read);
64 usage error (unknown command or flag); 66 the dump could not be opened;
130 interrupted.
With several commands the highest status wins.`,
		Flags:    []Flag{{Name: "a", Help: "describe every command in full (a manual: help -a > kwalk.txt)"}},
		Examples: []string{"help", "help rd", "help -a --json"},
		Complete: func(c *Completion) []string { return c.Session.Reg.Names() },
		Run:      runHelp,
	})
}

// HelpList is the result of "help": the commands, sorted.
type HelpList struct {
	Commands []HelpSummary `json:"commands"`
}

// HelpSummary is one command in HelpList.
type HelpSummary struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
	Summary string   `json:"summary"`
}

// HelpCommand is the result of "help CMD".
type HelpCommand struct {
	Name     string     `json:"name"`
	Aliases  []string   `json:"aliases,omitempty"`
	Summary  string     `json:"summary"`
	Usage    string     `json:"usage"`
	Help     string     `json:"help"`
	Flags    []HelpFlag `json:"flags"`
	Examples []string   `json:"examples"`
}

// HelpFlag is one flag in HelpCommand.
type HelpFlag struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
	Arg     string   `json:"arg,omitempty"`
	Default string   `json:"default,omitempty"`
	Help    string   `json:"help"`
}

func runHelp(c *Call) (Result, error) {
	reg := c.Session.Reg
	if c.Bool("a") {
		var all HelpAll
		for _, cmd := range reg.Commands() {
			all.Commands = append(all.Commands, describeFull(reg, cmd))
		}
		return all, nil
	}
	if len(c.Args) == 0 {
		var hl HelpList
		for _, cmd := range reg.Commands() {
			hl.Commands = append(hl.Commands, HelpSummary{Name: cmd.Name, Aliases: cmd.Aliases, Summary: cmd.Summary})
		}
		return hl, nil
	}
	if err := c.NeedArgs(1, 1); err != nil {
		return nil, err
	}
	cmd, ok := reg.Lookup(c.Args[0])
	if !ok {
		return nil, UsageErrorf("no command %q", c.Args[0])
	}
	return describeFull(reg, cmd), nil
}

// describeFull is describeCommand with the registry-dependent help.
func describeFull(reg *Registry, cmd *Command) HelpCommand {
	h := describeCommand(cmd)
	if cmd.MoreHelp != nil {
		h.Help = strings.TrimRight(h.Help, "\n") + "\n\n" + cmd.MoreHelp(reg)
	}
	return h
}

// HelpAll is the result of "help -a": every command described.
// JSON: {"commands":[HelpCommand...]}.
type HelpAll struct {
	Commands []HelpCommand `json:"commands"`
}

// WriteText implements Result.
func (a HelpAll) WriteText(w io.Writer) error {
	for i, c := range a.Commands {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"+strings.Repeat("-", 72)+"\n\n"); err != nil {
				return err
			}
		}
		if err := c.WriteText(w); err != nil {
			return err
		}
	}
	return nil
}

func describeCommand(cmd *Command) HelpCommand {
	h := HelpCommand{Name: cmd.Name, Aliases: cmd.Aliases, Summary: cmd.Summary, Usage: cmd.Usage,
		Help: cmd.Help, Examples: cmd.Examples, Flags: []HelpFlag{}}
	for _, f := range cmd.Flags {
		h.Flags = append(h.Flags, HelpFlag(f))
	}
	h.Flags = append(h.Flags, HelpFlag{Name: "json", Aliases: []string{"j"}, Help: "write the result as one line of JSON"})
	if h.Examples == nil {
		h.Examples = []string{}
	}
	return h
}

// WriteText implements Result.
func (h HelpList) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, c := range h.Commands {
		name := c.Name
		if len(c.Aliases) > 0 {
			name += " (" + strings.Join(c.Aliases, ", ") + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\n", name, c.Summary)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprint(w, `
"help COMMAND" describes a command and its flags; any command takes --json.
";" separates commands; "CMD | shell command", "CMD > file" and
"CMD >> file" direct the output; "!cmd" runs a shell command.
TAB completes commands, symbols, types, members ("struct task_struct.se.")
and pids. Ctrl-C interrupts a command, Ctrl-D leaves.
`)
	return err
}

// WriteText implements Result.
func (h HelpCommand) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "NAME\n  %s - %s\n", h.Name, h.Summary)
	if len(h.Aliases) > 0 {
		fmt.Fprintf(&b, "  aliases: %s\n", strings.Join(h.Aliases, ", "))
	}
	fmt.Fprintf(&b, "\nUSAGE\n  %s\n", h.Usage)
	if h.Help != "" {
		b.WriteString("\nDESCRIPTION\n")
		for _, l := range strings.Split(strings.TrimRight(h.Help, "\n"), "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	b.WriteString("\nFLAGS\n")
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	for _, f := range h.Flags {
		spell := "-" + f.Name
		if len(f.Name) > 1 && !isNumber(f.Name) {
			spell = "--" + f.Name
		}
		for _, a := range f.Aliases {
			spell += ", -" + a
		}
		if f.Arg != "" {
			spell += " " + f.Arg
		}
		help := f.Help
		if f.Default != "" {
			help += " (default " + f.Default + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", spell, help)
	}
	tw.Flush()
	if len(h.Examples) > 0 {
		b.WriteString("\nEXAMPLES\n")
		for _, e := range h.Examples {
			b.WriteString("  " + e + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func isNumber(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func registerQuit(r *Registry) {
	r.Add(&Command{
		Name:      "q",
		Aliases:   []string{"quit", "exit"},
		Summary:   "leave kwalk",
		Usage:     "q",
		Help:      "Ends the session (Ctrl-D does the same at the prompt).",
		NoProgram: true,
		Examples:  []string{"q"},
		Run: func(c *Call) (Result, error) {
			c.Session.quit = true
			return nil, nil
		},
	})
}
