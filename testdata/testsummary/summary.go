package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// event is one line of go test -json (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output
}

// summarizer turns go test -json events back into go test's plain output
// and counts the results of tests and subtests.
type summarizer struct {
	stdout, stderr io.Writer
	verbose        bool
	pkgs           map[string]*pkgState

	ran, skipped, dumpSkips int
}

// pkgState holds the output of a package's running top-level tests (with
// their subtests), printed only if they fail.
type pkgState struct {
	groups map[string]*group
	order  []string // top-level tests in the order they started
}

type group struct {
	tests  []string // the group's tests in the order they started
	lines  []line
	failed map[string]bool
	output map[string]*strings.Builder // each test's own lines, for its skip reason
}

type line struct{ test, text string }

func newSummarizer(stdout, stderr io.Writer, verbose bool) *summarizer {
	return &summarizer{stdout: stdout, stderr: stderr, verbose: verbose, pkgs: make(map[string]*pkgState)}
}

// read consumes the event stream; a line that is not JSON (go test writes
// some errors as text) is passed through.
func (s *summarizer) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		b := sc.Bytes()
		var e event
		if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &e) != nil {
			fmt.Fprintf(s.stdout, "%s\n", b)
			continue
		}
		s.event(e)
	}
	return sc.Err()
}

func (s *summarizer) pkg(name string) *pkgState {
	p := s.pkgs[name]
	if p == nil {
		p = &pkgState{groups: make(map[string]*group)}
		s.pkgs[name] = p
	}
	return p
}

func (s *summarizer) event(e event) {
	switch e.Action {
	case "build-output":
		fmt.Fprint(s.stderr, e.Output)
		return
	case "build-fail", "start":
		return
	}
	if e.Test == "" {
		s.packageEvent(e)
		return
	}
	p := s.pkg(e.Package)
	top, _, _ := strings.Cut(e.Test, "/")
	g := p.groups[top]
	if g == nil {
		g = &group{failed: make(map[string]bool), output: make(map[string]*strings.Builder)}
		p.groups[top] = g
		p.order = append(p.order, top)
	}
	if !slices.Contains(g.tests, e.Test) {
		g.tests = append(g.tests, e.Test)
	}
	switch e.Action {
	case "output":
		if s.verbose {
			fmt.Fprint(s.stdout, e.Output)
			return
		}
		if framing(e.Output) {
			return
		}
		g.lines = append(g.lines, line{e.Test, e.Output})
		b := g.output[e.Test]
		if b == nil {
			b = new(strings.Builder)
			g.output[e.Test] = b
		}
		if b.Len() < 4096 {
			b.WriteString(e.Output)
		}
	case "pass", "fail", "skip":
		s.ran++
		if e.Action == "skip" {
			s.skipped++
			reason := ""
			if b := g.output[e.Test]; b != nil {
				reason = b.String()
			}
			if needsDumps(reason) {
				s.dumpSkips++
			}
		}
		if e.Action == "fail" {
			g.failed[e.Test] = true
		}
		if e.Test == top {
			if e.Action == "fail" && !s.verbose {
				g.print(s.stdout, func(test string) bool { return g.failed[test] })
			}
			delete(p.groups, top)
		}
	}
}

// packageEvent handles the lines go test prints for a package ("ok",
// "FAIL", "?   ... [no test files]") and its end: the output of tests that
// never ended (a panic, a timeout) is shown.
func (s *summarizer) packageEvent(e event) {
	switch e.Action {
	case "output":
		if !s.verbose && (e.Output == "PASS\n" || framing(e.Output)) {
			return
		}
		fmt.Fprint(s.stdout, e.Output)
	case "fail":
		p := s.pkg(e.Package)
		if !s.verbose {
			for _, top := range p.order {
				if g := p.groups[top]; g != nil {
					g.print(s.stdout, func(string) bool { return true })
				}
			}
		}
		delete(s.pkgs, e.Package)
	case "pass", "skip":
		delete(s.pkgs, e.Package)
	}
}

// print writes the lines of the tests show selects as plain go test does:
// each test's "--- FAIL" line first, then its log, subtests indented.
func (g *group) print(w io.Writer, show func(test string) bool) {
	for _, t := range g.tests {
		if !show(t) {
			continue
		}
		indent := strings.Repeat("    ", strings.Count(t, "/"))
		var header, body []string
		for _, l := range g.lines {
			if l.test != t {
				continue
			}
			if strings.HasPrefix(l.text, "--- ") {
				header = append(header, l.text)
			} else {
				body = append(body, l.text)
			}
		}
		for _, x := range append(header, body...) {
			fmt.Fprint(w, indent+x)
		}
	}
}

// framing tells test2json's progress lines, which plain go test does not
// print.
func framing(out string) bool {
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(out, p) {
			return true
		}
	}
	return false
}

// needsDumps tells a skip for lack of real dumps or of the debug packages
// the generator fetches, by its message.
func needsDumps(reason string) bool {
	r := strings.ToLower(reason)
	for _, w := range []string{"dump", "testdata/gen", "-dbg", "debug vmlinux", "kwalk_debug_root", "console.log", "debug package"} {
		if strings.Contains(r, w) {
			return true
		}
	}
	return false
}

// finish writes the summary line.
func (s *summarizer) finish() {
	switch {
	case s.ran == 0:
		return
	case s.skipped == 0:
		fmt.Fprintf(s.stdout, "=== %d tests and subtests ran, none skipped\n", s.ran)
	case s.dumpSkips == 0:
		fmt.Fprintf(s.stdout, "=== SKIPPED %d of %d tests and subtests, none for lack of real dumps (go test -v says why)\n", s.skipped, s.ran)
	default:
		other := ""
		if n := s.skipped - s.dumpSkips; n > 0 {
			other = fmt.Sprintf(" (%d more for other reasons)", n)
		}
		fmt.Fprintf(s.stdout, "=== SKIPPED %d of %d tests and subtests: %d for lack of real dumps%s — make them with: %s (testdata/README.md)\n",
			s.skipped, s.ran, s.dumpSkips, other, generateCommand)
	}
}
