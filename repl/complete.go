package repl

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kwalk/kwalk/symbols"
)

// Completion is what a command's Complete function gets: the words typed
// so far and the word under the cursor.
type Completion struct {
	Ctx     context.Context
	Session *Session
	Prog    *symbols.Program // nil when no kernel is open
	Args    []string         // words before Word, command name excluded
	Word    string           // the partial word being completed
}

// maxCompletions bounds the candidates offered for one TAB.
const maxCompletions = 2000

// Complete returns the candidates for the word ending at pos in line:
// command names for the first word of a statement, otherwise what the
// command's Complete function offers. Each candidate is a whole word.
func (s *Session) Complete(ctx context.Context, line string) (word string, cands []string) {
	stmt := line
	if i := strings.LastIndexByte(stmt, ';'); i >= 0 {
		stmt = stmt[i+1:]
	}
	if t := strings.TrimRight(stmt, " \t"); strings.HasSuffix(t, ">") && !strings.HasSuffix(t, "->") {
		return "", completeFiles("") // "log > <TAB>"
	}
	if st, err := parseStatement(stmt); err == nil {
		switch {
		case st.Pipe != "":
			return "", nil
		case st.Redirect != "":
			// A redirection: complete the file name.
			i := strings.LastIndexByte(stmt, '>')
			word := strings.TrimLeft(stmt[i+1:], " \t")
			if strings.ContainsAny(word, " \t") {
				return "", nil
			}
			return word, completeFiles(word)
		}
	}
	words, err := splitWords(stmt)
	if err != nil {
		return "", nil
	}
	if len(stmt) == 0 || stmt[len(stmt)-1] == ' ' || stmt[len(stmt)-1] == '\t' {
		words = append(words, "")
	}
	if len(words) == 0 {
		words = []string{""}
	}
	word = words[len(words)-1]
	if len(words) == 1 {
		return word, filterPrefix(s.Reg.Names(), word)
	}
	cmd, ok := s.Reg.Lookup(words[0])
	if !ok {
		return word, nil
	}
	c := &Completion{Ctx: ctx, Session: s, Prog: s.Prog, Args: words[1 : len(words)-1], Word: word}
	if strings.HasPrefix(word, "-") {
		var names []string
		for _, f := range cmd.Flags {
			names = append(names, "-"+f.Name)
		}
		names = append(names, "--json")
		sort.Strings(names)
		return word, filterPrefix(names, word)
	}
	var out []string
	if cmd.Complete != nil {
		out = cmd.Complete(c)
	} else {
		out = c.Symbols()
	}
	return word, filterPrefix(out, word)
}

// filterPrefix returns the elements of names (sorted or not) that start
// with prefix, at most maxCompletions of them, sorted.
func filterPrefix(names []string, prefix string) []string {
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
			if len(out) >= maxCompletions {
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// Symbols completes symbol names, and member paths of global variables
// ("init_task.se.<TAB>").
func (c *Completion) Symbols() []string {
	if c.Prog == nil {
		return nil
	}
	if i := strings.IndexAny(c.Word, ".-["); i > 0 {
		v, err := c.Prog.Variable(c.Word[:i])
		if err != nil {
			return nil
		}
		return completeMemberPath(v.Type(), c.Word[:i], c.Word[i:])
	}
	return prefixRange(c.Session.symbolNames(), c.Word)
}

// symbolNames returns the sorted symbol names, kept for the session: a
// symbol table may build the list on each call.
func (s *Session) symbolNames() []string {
	if s.Prog == nil || s.Prog.Syms == nil {
		return nil
	}
	if s.symNames == nil || s.symNamesOf != s.Prog {
		s.symNames, s.symNamesOf = s.Prog.Syms.Names(), s.Prog
	}
	return s.symNames
}

// prefixRange returns the names in sorted that start with prefix (binary
// search), at most maxCompletions; nothing for an empty prefix when the
// list is long.
func prefixRange(sorted []string, prefix string) []string {
	i := sort.SearchStrings(sorted, prefix)
	var out []string
	for ; i < len(sorted) && strings.HasPrefix(sorted[i], prefix); i++ {
		out = append(out, sorted[i])
		if len(out) >= maxCompletions {
			if prefix == "" {
				return nil
			}
			break
		}
	}
	return out
}

// Types completes type names as "struct" takes them: "task_struct" for
// struct/union/enum tags (without the keyword), typedef names as they are,
// and member paths after the type ("task_struct.se.<TAB>").
func (c *Completion) Types() []string {
	if c.Prog == nil || c.Prog.Types == nil {
		return nil
	}
	if i := strings.IndexAny(c.Word, ".-["); i > 0 {
		t, err := lookupTypeLoose(c.Prog, c.Word[:i])
		if err != nil {
			return nil
		}
		return completeMemberPath(t, c.Word[:i], c.Word[i:])
	}
	var out []string
	for _, n := range c.Prog.Types.TypeNames() {
		for _, kw := range []string{"struct ", "union ", "enum "} {
			n = strings.TrimPrefix(n, kw)
		}
		if strings.HasPrefix(n, c.Word) && !strings.Contains(n, " ") {
			out = append(out, n)
		}
	}
	return dedupSorted(out)
}

// Pids completes the pids of tasks (and thread-group comms are shown by the
// caller's own listing). The list is cached in the session for completion.
func (c *Completion) Pids() []string {
	tasks := c.Session.completionTasks(c.Ctx)
	var out []string
	for _, t := range tasks {
		out = append(out, itoa(t.PID))
	}
	return dedupSorted(out)
}

// completionTasks lists tasks for completion, cached for a few seconds (a
// dump's tasks do not change; a live kernel's do).
func (s *Session) completionTasks(ctx context.Context) []TaskInfo {
	if s.Prog == nil {
		return nil
	}
	if s.taskCache != nil && time.Since(s.taskCacheAt) < 10*time.Second {
		return s.taskCache
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	tasks, _ := s.Reg.Tasks(ctx, s.Prog)
	s.taskCache, s.taskCacheAt = tasks, time.Now()
	return tasks
}

// completeMemberPath completes "rest" (".se.vru", "->comm") as a member path
// of t, returning whole words head+path.
func completeMemberPath(t *symbols.Type, head, rest string) []string {
	// Split rest into complete members and the partial last one.
	norm := strings.ReplaceAll(rest, "->", ".")
	last := strings.LastIndexAny(norm, ".")
	if last < 0 {
		return nil
	}
	cur := t
	for _, name := range strings.Split(norm[:last], ".") {
		if name == "" {
			continue
		}
		if i := strings.IndexByte(name, '['); i >= 0 {
			name = name[:i]
			m, ok := cur.FindMember(name)
			if !ok {
				return nil
			}
			cur = m.Type.Resolve()
			if cur != nil && (cur.Kind == symbols.KindArray || cur.Kind == symbols.KindPointer) {
				cur = cur.Elem
			}
			continue
		}
		m, ok := cur.FindMember(name)
		if !ok {
			return nil
		}
		cur = m.Type
		cur = derefPointers(cur)
	}
	cur = derefPointers(cur)
	partial := norm[last+1:]
	// Keep the user's spelling of the path so far ("->" stays "->").
	typedHead := head + rest[:len(rest)-len(partial)]
	var out []string
	for _, n := range memberNames(cur) {
		if strings.HasPrefix(n, partial) {
			out = append(out, typedHead+n)
		}
	}
	sort.Strings(out)
	return out
}

func derefPointers(t *symbols.Type) *symbols.Type {
	for i := 0; i < 4; i++ {
		r := t.Resolve()
		if r == nil || r.Kind != symbols.KindPointer {
			return t
		}
		t = r.Elem
	}
	return t
}

// memberNames lists the member names of a struct/union, flattening
// anonymous members.
func memberNames(t *symbols.Type) []string {
	var out []string
	var walk func(t *symbols.Type, depth int)
	walk = func(t *symbols.Type, depth int) {
		r := t.Resolve()
		if r == nil || depth > 16 || (r.Kind != symbols.KindStruct && r.Kind != symbols.KindUnion) {
			return
		}
		for _, m := range r.Members {
			if m.Name == "" {
				walk(m.Type, depth+1)
				continue
			}
			out = append(out, m.Name)
		}
	}
	walk(t, 0)
	return out
}

func dedupSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// completeFiles completes a file name; directories get a trailing "/".
func completeFiles(prefix string) []string {
	m, _ := filepath.Glob(globEscape(prefix) + "*")
	var out []string
	for _, f := range m {
		if st, err := os.Stat(f); err == nil && st.IsDir() {
			f += "/"
		}
		out = append(out, f)
		if len(out) >= maxCompletions {
			break
		}
	}
	sort.Strings(out)
	return out
}

func globEscape(s string) string {
	r := strings.NewReplacer("*", "\\*", "?", "\\?", "[", "\\[", "\\", "\\\\")
	return r.Replace(s)
}
