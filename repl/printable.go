package repl

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Printable escapes what a terminal should not receive raw: control
// characters (an ESC from a garbage dump header could drive the terminal)
// and invalid UTF-8, as strconv.Quote does, keeping newlines and tabs.
// Error messages carry bytes read from dumps; kwalk prints them through
// Printable.
func Printable(s string) string {
	clean := utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool {
		return r != '\n' && r != '\t' && !strconv.IsPrint(r)
	}) < 0
	if clean {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == utf8.RuneError && n == 1, !strconv.IsPrint(r):
			q := strconv.Quote(s[:n])
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}
