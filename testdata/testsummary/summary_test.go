package main

import (
	"os"
	"strings"
	"testing"
)

func TestSummarizer(t *testing.T) {
	tests := []struct {
		file    string
		verbose bool
		stdout  string
	}{
		{"fail.json", false, `--- FAIL: TestFail (0.00s)
    --- FAIL: TestFail/bad (0.00s)
        a_test.go:8: boom
FAIL
FAIL	tsx	0.010s
=== SKIPPED 3 of 7 tests and subtests: 2 for lack of real dumps (1 more for other reasons) — make them with: go run ./testdata/gen (testdata/README.md)
`},
		{"panic.json", false, `?   	tsx/p3	[no test files]
--- FAIL: TestPanics (0.00s)
    b_test.go:3: before
panic: assignment to entry in nil map [recovered, repanicked]
`},
		{"fail.json", true, `=== RUN   TestPass
    a_test.go:3: quiet
--- PASS: TestPass (0.00s)
`},
	}
	for _, tt := range tests {
		f, err := os.Open("testdata/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		var out, errOut strings.Builder
		s := newSummarizer(&out, &errOut, tt.verbose)
		if err := s.read(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		s.finish()
		if !strings.HasPrefix(out.String(), tt.stdout) {
			t.Errorf("%s (verbose %v): output\n%s\nwant it to start with\n%s", tt.file, tt.verbose, out.String(), tt.stdout)
		}
	}
}

func TestSummarizerEnd(t *testing.T) {
	f, err := os.Open("testdata/panic.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out, errOut strings.Builder
	s := newSummarizer(&out, &errOut, false)
	if err := s.read(f); err != nil {
		t.Fatal(err)
	}
	s.finish()
	want := "FAIL\ttsx/p2\t0.023s\nok  \ttsx/p4\t(cached)\n=== 1 tests and subtests ran, none skipped\n"
	if !strings.HasSuffix(out.String(), want) {
		t.Errorf("output ends\n%s\nwant\n%s", out.String(), want)
	}
}
