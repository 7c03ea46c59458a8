package repl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

func TestAddJSONWarnings(t *testing.T) {
	for _, c := range []struct {
		doc   string
		extra []string
		want  string
	}{
		{`{"a":1}`, nil, `{"a":1}`},
		{`{"a":1}`, []string{"cut"}, `{"a":1,"warnings":["cut"]}`},
		{`{}`, []string{"cut"}, `{"warnings":["cut"]}`},
		{`{"a":1,"warnings":["own"],"b":{"warnings":[1]}}`, []string{"cut"}, `{"a":1,"warnings":["cut","own"],"b":{"warnings":[1]}}`},
		{`{"warnings":["cut"]}`, []string{"cut"}, `{"warnings":["cut"]}`},
		{`{"b":{"warnings":["x"]}}`, []string{"cut"}, `{"b":{"warnings":["x"]},"warnings":["cut"]}`},
		{`{"warnings":null}`, []string{"cut"}, `{"warnings":["cut"]}`},
		{`[1,2]`, []string{"cut"}, `[1,2]`},
	} {
		got := string(addJSONWarnings([]byte(c.doc), c.extra))
		if got != c.want {
			t.Errorf("addJSONWarnings(%s, %q) = %s, want %s", c.doc, c.extra, got, c.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("%s is not valid JSON", got)
		}
	}
}

// warnResult is a result with warnings, as the walkers' results have.
type warnResult struct {
	Value    int      `json:"value"`
	Warnings []string `json:"warnings,omitempty"`
}

func (r warnResult) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "value %d\n", r.Value)
	return err
}

func (r warnResult) ResultWarnings() []string { return r.Warnings }

// tail of the test stream: JSON members after the rows, and a text line.
type streamTail struct {
	Count    int      `json:"count"`
	Warnings []string `json:"warnings,omitempty"`
}

func (s streamTail) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%d rows\n", s.Count)
	return err
}

func (s streamTail) ResultWarnings() []string { return s.Warnings }

func testRegistry(t *testing.T) *Registry {
	t.Helper()
	reg := NewDefaultRegistry()
	reg.Add(&Command{
		Name: "warny", Summary: "s", Usage: "warny", Help: "h", Examples: []string{"warny"},
		Run: func(c *Call) (Result, error) {
			return warnResult{Value: 7, Warnings: []string{"one", "two\nthree"}}, nil
		},
	})
	reg.Add(&Command{
		Name: "rows", Summary: "s", Usage: "rows [-f]", Help: "h", Examples: []string{"rows"},
		Flags: []Flag{{Name: "f", Help: "fail after two rows"}},
		Run: func(c *Call) (Result, error) {
			fail := c.Bool("f")
			out := c.Out.(*strings.Builder)
			return &Stream{Head: struct {
				Name string `json:"name"`
			}{"r"}, Field: "rows", Rows: func(emit func(Result) error) (any, error) {
				for i := 0; i < 3; i++ {
					if i == 2 && fail {
						return nil, errors.New("row 2 unreadable")
					}
					before := out.Len()
					if err := emit(warnResult{Value: i, Warnings: []string{fmt.Sprint("row ", i)}}); err != nil {
						return nil, err
					}
					if out.Len() == before {
						t.Errorf("row %d was not written as it came", i)
					}
				}
				return streamTail{Count: 3, Warnings: []string{"tail"}}, nil
			}}, nil
		},
	})
	if err := reg.Err(); err != nil {
		t.Fatal(err)
	}
	return reg
}

// Warnings never go into a command's output: stderr in text mode, the
// document's "warnings" in JSON; streamed rows are written as they come.
func TestWarningsAndStreams(t *testing.T) {
	for _, c := range []struct {
		line       string
		wantOut    string
		wantErr    string
		wantStatus int
	}{
		{"warny", "value 7\n", "warny: warning: one\nwarny: warning: two\nwarny: warning: three\n", ExitOK},
		{"warny --json", `{"value":7,"warnings":["one","two\nthree"]}` + "\n", "", ExitOK},
		{"rows", "value 0\nvalue 1\nvalue 2\n3 rows\n", "rows: warning: row 0\nrows: warning: row 1\nrows: warning: row 2\nrows: warning: tail\n", ExitOK},
		{"rows --json", `{"name":"r","rows":[{"value":0,"warnings":["row 0"]},{"value":1,"warnings":["row 1"]},{"value":2,"warnings":["row 2"]}],"count":3,"warnings":["tail"]}` + "\n", "", ExitOK},
		{"rows -f", "value 0\nvalue 1\n", "rows: warning: row 0\nrows: warning: row 1\nrows: row 2 unreadable\n", ExitFailed},
		{"rows -f --json", `{"name":"r","rows":[{"value":0,"warnings":["row 0"]},{"value":1,"warnings":["row 1"]}],"error":"row 2 unreadable"}` + "\n", "rows: row 2 unreadable\n", ExitFailed},
	} {
		t.Run(c.line, func(t *testing.T) {
			s, _, _, _ := newTestSession(t)
			s.Reg = testRegistry(t)
			var out, errb strings.Builder
			s.Stdout, s.Stderr = &out, &errb
			st := s.Exec(context.Background(), c.line)
			if out.String() != c.wantOut {
				t.Errorf("stdout %q, want %q", out.String(), c.wantOut)
			}
			if errb.String() != c.wantErr {
				t.Errorf("stderr %q, want %q", errb.String(), c.wantErr)
			}
			if st != c.wantStatus {
				t.Errorf("status %d, want %d", st, c.wantStatus)
			}
			if strings.Contains(c.line, "--json") && !json.Valid([]byte(out.String())) {
				t.Errorf("not one JSON document: %s", out.String())
			}
		})
	}
}

// No built-in command writes a warning into its text output: on the
// synthetic kernel (whose task lists lack thread links, so the task walk
// warns) the warnings are on stderr, and in the JSON document.
func TestNoWarningsInOutput(t *testing.T) {
	for _, line := range []string{"ps", "ps -m", "foreach bt", "foreach task -R pid", "mount", "log", "fuse", "files", "blocked", "deadlock", "sys", "fuser /"} {
		t.Run(line, func(t *testing.T) {
			s, out, errb, _ := newTestSession(t)
			s.Exec(context.Background(), line)
			if strings.Contains(out.String(), "warning") {
				t.Errorf("stdout has a warning:\n%s", out.String())
			}
			if line == "ps" && !strings.Contains(errb.String(), "ps: warning: ") {
				t.Errorf("ps: the task walk's warning is not on stderr: %q", errb.String())
			}
		})
	}
}

// search stops at -c, at most maxSearchHits, and says so on stderr (text)
// or in "warnings" with "truncated" (JSON).
func TestSearchLimit(t *testing.T) {
	for _, c := range []struct {
		line       string
		wantErr    []string
		wantStatus int
	}{
		{"search -s init_task -e init_task+0x100 -c 1 0", []string{"search: warning: stopped at the hit limit of 1 (-c)"}, ExitOK},
		{"search -s init_task -e init_task+0x100 -c 100000000 0", []string{"search: warning: -c 100000000 is more than the limit of 1000000 hits"}, ExitOK},
		{"search -s init_task -e init_task+0x100 -c 0 0", nil, ExitUsage},
	} {
		t.Run(c.line, func(t *testing.T) {
			s, out, errb, _ := newTestSession(t)
			if st := s.Exec(context.Background(), c.line); st != c.wantStatus {
				t.Fatalf("status %d, want %d: %s", st, c.wantStatus, errb)
			}
			for _, w := range c.wantErr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q: %s", w, errb)
				}
			}
			if strings.Contains(out.String(), "warning") {
				t.Errorf("stdout has a warning: %s", out)
			}
		})
	}
	s, out, _, _ := newTestSession(t)
	s.Exec(context.Background(), "search -s init_task -e init_task+0x100 -c 1 0 --json")
	var doc SearchResult
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(doc.Hits) != 1 || !doc.Truncated || len(doc.Warnings) == 0 {
		t.Errorf("JSON: %s", out)
	}
}
