package repl

import (
	"testing"
	"time"
)

func TestFormatSinceRan(t *testing.T) {
	for _, c := range []struct {
		ns   int64
		want string
	}{
		{0, "  0 00:00:00.000"},
		{int64(5500 * time.Millisecond), "  0 00:00:05.500"},
		{int64(26*time.Hour + 3*time.Minute + 7*time.Second + 42*time.Millisecond), "  1 02:03:07.042"},
		{-1, "  - --:--:--.---"},
	} {
		ns := &c.ns
		if c.ns == -1 {
			ns = nil
		}
		if got := formatSinceRan(ns); got != c.want {
			t.Errorf("formatSinceRan(%d) = %q, want %q", c.ns, got, c.want)
		}
	}
}

func TestParseStates(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		err  bool
	}{
		{"D", "D", false},
		{"DZ", "DZ", false},
		{"UN,ZO", "DZ", false},
		{"un", "D", false},
		{"Q", "", true},
	} {
		got, err := parseStates(c.in)
		if (err != nil) != c.err {
			t.Errorf("parseStates(%q) error %v", c.in, err)
			continue
		}
		for _, l := range c.want {
			if !got[string(l)] {
				t.Errorf("parseStates(%q) lacks %c", c.in, l)
			}
		}
		if len(got) != len(c.want) {
			t.Errorf("parseStates(%q) = %v", c.in, got)
		}
	}
}
