package repl

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestExpressionLimits runs hostile and boundary expressions through the
// session: deep nesting is a usage error naming the bound (not a fatal
// stack overflow), long input is not echoed whole, parsing stays fast, and
// eval refuses what does not fit 64 bits.
func TestExpressionLimits(t *testing.T) {
	const huge = 1000000
	tests := []struct {
		name   string
		line   string
		status int
		want   string // in stdout (ExitOK) or stderr
	}{
		{"million derefs", "p " + strings.Repeat("*", huge) + "init_task", ExitUsage, "nested more than 256 deep"},
		{"million address-ofs", "p " + strings.Repeat("&", huge) + "init_task", ExitUsage, "nested more than 256 deep"},
		{"400k parentheses", "p " + strings.Repeat("(", 400000) + "init_task" + strings.Repeat(")", 400000), ExitUsage, "nested more than 256 deep"},
		{"400k unclosed parentheses", "p " + strings.Repeat("(", 400000), ExitUsage, "missing )"},
		{"cast chain", "p " + strings.Repeat("(struct task_struct *)", huge/20) + "0x10", ExitUsage, "nested more than 256 deep"},
		{"nesting within the bound", "p " + strings.Repeat("(", 200) + "init_task" + strings.Repeat(")", 200) + ".pid", ExitOK, ".pid = 0"},
		{"deref and address within the bound", "p " + strings.Repeat("*&", 100) + "init_task.pid", ExitOK, "init_task.pid = 0"},
		{"eval million parentheses", "eval " + strings.Repeat("(", huge) + "1" + strings.Repeat(")", huge), ExitUsage, "nested more than 256 deep"},
		{"eval million minus", "eval (" + strings.Repeat("-", huge) + "1)", ExitUsage, "nested more than 256 deep"},
		{"eval 1<<64", "eval 1<<64", ExitUsage, "shift count 64 is not below 64"},
		{"eval 1<<(1<<16)", "eval 1<<(1<<16)", ExitUsage, "shift count 65536"},
		{"eval right shift 64", "eval (1>>64)", ExitUsage, "shift count 64"},
		{"eval 1<<63", "eval 1<<63", ExitOK, "hexadecimal: 8000000000000000"},
		{"eval (2>>1)", "eval (2>>1)", ExitOK, "decimal: 1\n"},
		{"eval decimal too big", "eval 18446744073709551616", ExitUsage, "does not fit in 64 bits"},
		{"eval hex too big", "eval 0x1ffffffffffffffff", ExitUsage, "does not fit in 64 bits"},
		{"eval bare hex too big", "eval ffff888000101234f", ExitUsage, "does not fit in 64 bits"},
		{"long unknown flag", "eval -" + strings.Repeat("x", huge), ExitUsage, "unknown flag -xxx"},
		{"long unknown command", strings.Repeat("x", huge), ExitUsage, "unknown command"},
		{"eval max", "eval 0xffffffffffffffff", ExitOK, "decimal: 18446744073709551615"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, out, errb, _ := newTestSession(t)
			s.Reg.SetTaskSource(nil)
			start := time.Now()
			st := s.Exec(context.Background(), tc.line)
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("took %v", el)
			}
			if st != tc.status {
				t.Fatalf("status %d, want %d; stdout %.300q; stderr %.300q", st, tc.status, out, errb)
			}
			got := errb.String()
			if st == ExitOK {
				got = out.String()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("output lacks %q: %.300q", tc.want, got)
			}
			if errb.Len() > 1000 {
				t.Errorf("%d bytes of diagnostics: the input is echoed whole", errb.Len())
			}
		})
	}
}

// TestExpressionParenthesesLinear checks that parsing cost grows linearly
// with the nesting of parentheses: an expression at the depth bound
// followed by many unmatched ")" must not be rescanned per "(".
func TestExpressionParenthesesLinear(t *testing.T) {
	toks := strings.Repeat("( ", 200000) + strings.Repeat(") ", 200000)
	start := time.Now()
	m := matchParens(strings.Fields(toks))
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("matching 200,000 parentheses took %v", el)
	}
	if m[0] != 399999 || m[199999] != 200000 {
		t.Errorf("match[0] = %d, match[199999] = %d", m[0], m[199999])
	}
}
