package repl

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kwalk/kwalk/symbols"
)

// evalAddr evaluates an address expression: terms joined by + and -, where
// a term is a symbol name (its address; "&name" too), a number with 0x, or
// a bare number. The first term's bare number is hex like crash ("rd
// ffffffff81000000"); later bare numbers are decimal ("jiffies+8",
// "init_task+0x10").
func evalAddr(prog *symbols.Program, expr string) (uint64, error) {
	s := strings.TrimSpace(expr)
	if s == "" {
		return 0, UsageErrorf("empty address")
	}
	var total uint64
	sign := uint64(1)
	first := true
	for len(s) > 0 {
		end := termEnd(s)
		term := s
		if end >= 0 {
			term = s[:end]
		}
		s = s[len(term):]
		term = strings.TrimSpace(term)
		v, err := evalTerm(prog, term, first)
		if err != nil {
			return 0, fmt.Errorf("address %q: %w", expr, err)
		}
		total += sign * v
		first = false
		if len(s) > 0 {
			if s[0] == '-' {
				sign = ^uint64(0) // -1
			} else {
				sign = 1
			}
			s = s[1:]
			if strings.TrimSpace(s) == "" {
				return 0, UsageErrorf("address %q: trailing operator", expr)
			}
		}
	}
	return total, nil
}

// termEnd returns the index of the + or - (not "->") that ends the first
// term of s, or -1.
func termEnd(s string) int {
	for i := 1; i < len(s); i++ {
		if s[i] == '+' || s[i] == '-' && (i+1 >= len(s) || s[i+1] != '>') {
			return i
		}
	}
	return -1
}

func evalTerm(prog *symbols.Program, term string, hexDefault bool) (uint64, error) {
	term = strings.TrimPrefix(term, "&")
	if prog != nil && strings.ContainsAny(term, ".>[:(") {
		// A member path ("init_task.tasks"): the member's address.
		o, err := evalObject(prog, term)
		if err != nil {
			return 0, err
		}
		a, ok := o.Address()
		if !ok {
			return 0, fmt.Errorf("%s is not in memory", term)
		}
		return a, nil
	}
	if term == "" {
		return 0, fmt.Errorf("empty term")
	}
	if strings.HasPrefix(term, "0x") || strings.HasPrefix(term, "0X") {
		return strconv.ParseUint(term[2:], 16, 64)
	}
	if hexDefault {
		if v, err := strconv.ParseUint(term, 16, 64); err == nil {
			// A word that is both a hex number and a symbol ("add"): the
			// symbol wins when it exists.
			if prog != nil && !isDecimalDigits(term) {
				if a, err := prog.Symbol(term); err == nil {
					return a, nil
				}
			}
			return v, nil
		}
	} else if v, err := strconv.ParseUint(term, 10, 64); err == nil {
		return v, nil
	}
	if prog == nil {
		return 0, fmt.Errorf("symbol %s: no kernel opened", term)
	}
	return prog.Symbol(term)
}

func isDecimalDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// parseCount parses a count argument (decimal, or 0x hex).
func parseCount(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, UsageErrorf("count %q is not a number", s)
	}
	return v, nil
}

// lookupTypeLoose finds a type by a name as users type it to struct/whatis:
// "task_struct", "struct task_struct", "u64", "struct page *".
func lookupTypeLoose(prog *symbols.Program, name string) (*symbols.Type, error) {
	return prog.Type(strings.TrimSpace(name))
}

func itoa(i int) string { return strconv.Itoa(i) }

// sortSlice sorts s by less (stable).
func sortSlice[T any](s []T, less func(a, b T) bool) {
	sort.SliceStable(s, func(i, j int) bool { return less(s[i], s[j]) })
}
