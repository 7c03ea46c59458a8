package repl

import (
	"fmt"
	"strings"
)

// statement is one command of a line: its words, and where its output goes.
type statement struct {
	Words []string
	// Pipe is shell text the output is piped to ("grep bash"), run with /bin/sh -c.
	Pipe string
	// Redirect is a file the output goes to; Append for ">>".
	Redirect string
	Append   bool
}

// splitStatements splits a line at unquoted ';' and parses each part's
// words, "| shell text" and "> file" / ">> file" redirection like crash.
// "->" in a word (member paths) is not a redirection. Empty statements are
// dropped.
func splitStatements(line string) ([]statement, error) {
	var out []statement
	for _, part := range splitUnquoted(line, ';') {
		st, err := parseStatement(part)
		if err != nil {
			return nil, err
		}
		if len(st.Words) == 0 {
			if st.Pipe != "" || st.Redirect != "" {
				return nil, UsageErrorf("missing command before | or >")
			}
			continue
		}
		out = append(out, st)
	}
	return out, nil
}

// splitUnquoted splits s at sep characters outside quotes.
func splitUnquoted(s string, sep byte) []string {
	var parts []string
	var q byte
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			} else if c == '\\' && q == '"' && i+1 < len(s) {
				i++
			}
		case c == '\\' && i+1 < len(s):
			i++
		case c == '\'' || c == '"':
			q = c
		case c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// parseStatement finds the first unquoted '|' or '>' (not part of "->",
// not inside parentheses), and splits the command words before it.
func parseStatement(s string) (statement, error) {
	var st statement
	var q byte
	cut := -1
	depth := 0 // inside parentheses | and > are operators ("eval (1 << 12 | 3)")
	for i := 0; i < len(s) && cut < 0; i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			} else if c == '\\' && q == '"' && i+1 < len(s) {
				i++
			}
		case c == '\\' && i+1 < len(s):
			i++
		case c == '\'' || c == '"':
			q = c
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '|':
			cut = i
		case c == '>' && (i == 0 || s[i-1] != '-'):
			cut = i
		}
	}
	if q != 0 {
		return st, UsageErrorf("unterminated %c quote", q)
	}
	cmdText := s
	if cut >= 0 {
		cmdText = s[:cut]
		rest := s[cut:]
		if rest[0] == '|' {
			st.Pipe = strings.TrimSpace(rest[1:])
			if st.Pipe == "" {
				return st, UsageErrorf("missing command after |")
			}
		} else {
			rest = rest[1:]
			if strings.HasPrefix(rest, ">") {
				st.Append = true
				rest = rest[1:]
			}
			words, err := splitWords(rest)
			if err != nil {
				return st, err
			}
			if len(words) != 1 {
				return st, UsageErrorf("redirection needs exactly one file name, got %d words", len(words))
			}
			if words[0] == "" {
				return st, UsageErrorf("redirection to an empty file name")
			}
			st.Redirect = words[0]
		}
	}
	words, err := splitWords(cmdText)
	if err != nil {
		return st, err
	}
	st.Words = words
	return st, nil
}

// splitWords splits at unquoted blanks; quotes group and are removed, a
// backslash escapes the next character outside single quotes.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q == '\'':
			if c == '\'' {
				q = 0
			} else {
				cur.WriteByte(c)
			}
		case q == '"':
			switch {
			case c == '"':
				q = 0
			case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			q = c
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if q != 0 {
		return nil, fmt.Errorf("unterminated %c quote", q)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
