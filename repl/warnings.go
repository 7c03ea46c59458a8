package repl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Warner is a Result that carries warnings: problems that did not stop the
// command but leave its answer partial (a corrupt list, a task that could
// not be read). WriteText must not print them: in text mode the session
// writes each to stderr as "CMD: warning: ..." after the output, so a pipe
// or a file gets the answer alone; in JSON they are the document's
// "warnings" array (give the result a Warnings field with that tag).
type Warner interface {
	ResultWarnings() []string
}

// writeWarnings writes a result's warnings to w (stderr), one line each.
func writeWarnings(w io.Writer, name string, res any) {
	wr, ok := res.(Warner)
	if !ok {
		return
	}
	for _, m := range wr.ResultWarnings() {
		// A warning joining several errors is one line per error.
		for _, l := range strings.Split(m, "\n") {
			fmt.Fprintln(w, Printable(name+": warning: "+l))
		}
	}
}

// dumpWarnings are the image's own problems (a truncated file): they make
// every answer partial, so every JSON document carries them.
func (s *Session) dumpWarnings() []string {
	if s.Prog == nil || s.Prog.Dump == nil {
		return nil
	}
	return s.Prog.Dump.Warnings()
}

// addJSONWarnings puts extra first in the "warnings" array of the JSON
// object doc (one line, as encoding/json writes it), adding the member
// when doc has none; doc is returned unchanged when it is not an object
// or extra is empty.
func addJSONWarnings(doc []byte, extra []string) []byte {
	doc = bytes.TrimRight(doc, "\n")
	if len(extra) == 0 || len(doc) < 2 || doc[0] != '{' || doc[len(doc)-1] != '}' {
		return doc
	}
	start, end, ok := topLevelMember(doc, "warnings")
	if !ok {
		arr, _ := json.Marshal(extra)
		out := append([]byte(nil), doc[:len(doc)-1]...)
		if len(bytes.TrimSpace(doc[1:len(doc)-1])) > 0 {
			out = append(out, ',')
		}
		out = append(out, `"warnings":`...)
		out = append(out, arr...)
		return append(out, '}')
	}
	var own []string
	if json.Unmarshal(doc[start:end], &own) != nil {
		return doc // not an array of strings: leave it alone
	}
	seen := map[string]bool{}
	var all []string
	for _, w := range append(append([]string(nil), extra...), own...) {
		if !seen[w] {
			seen[w] = true
			all = append(all, w)
		}
	}
	arr, _ := json.Marshal(all)
	out := append([]byte(nil), doc[:start]...)
	out = append(out, arr...)
	return append(out, doc[end:]...)
}

// topLevelMember finds the value of member name of the JSON object doc:
// its byte range [start, end).
func topLevelMember(doc []byte, name string) (start, end int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, 0, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return 0, 0, false
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return 0, 0, false
		}
		if key == name {
			end = int(dec.InputOffset())
			return end - len(v), end, true
		}
	}
	return 0, 0, false
}
