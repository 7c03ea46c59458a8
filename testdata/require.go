package testdata

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// GenerateCommand is how to make the dumps, from the repository root.
const GenerateCommand = "go run ./testdata/gen"

// Filter selects dumps; the zero value selects every dump.
type Filter struct {
	Kernel   string // Kernel.ID, "" for any
	Guest    string // GuestHangs, ..., "" for any
	Scenario string // a scenario the guest staged, "" for any
	Format   Format // a format the dump must have, "" for any
	// Trigger selects kdump guests by what made them panic
	// (TriggerHungTask, TriggerSysrqC, TriggerOops), TriggerAny for every
	// kdump guest; "" for any guest, kdump or not.
	Trigger string
}

func (f Filter) match(g Guest) bool {
	// aarch64 dumps need the System.map of their -dbg package (Debian's
	// arm64 kernels have no data symbols in kallsyms): tests that know it
	// ask for them by kernel (RequireArm64); the others see x86_64 dumps.
	if IsArm64(g) && f.Kernel != g.Kernel {
		return false
	}
	if f.Kernel != "" && f.Kernel != g.Kernel {
		return false
	}
	if f.Guest != "" && f.Guest != g.Name {
		return false
	}
	if f.Trigger != "" && (!g.IsKdump() || (f.Trigger != TriggerAny && f.Trigger != g.Trigger)) {
		return false
	}
	if f.Scenario != "" {
		for _, s := range g.Scenarios {
			if s == f.Scenario {
				return true
			}
		}
		return false
	}
	return true
}

// Require returns the generated dumps that match f. When none is there it
// skips the test with a message naming what is missing and the command that
// makes it; when only some are there it logs that message and returns those.
// With KWALK_REQUIRE_DUMPS=1 (CI) any missing dump fails the test instead.
func Require(t testing.TB, f Filter) []*Dump {
	t.Helper()
	found, missing := Dumps()
	var out []*Dump
	for _, d := range found {
		if f.match(d.Guest) && (f.Format == "" || d.Path(f.Format) != "") {
			out = append(out, d)
		}
	}
	var lack []string
	for _, m := range missing {
		if f.match(m.Guest) {
			lack = append(lack, fmt.Sprintf("%s/%s (%s: %v)", m.Guest.Kernel, m.Guest.Name, m.Dir, m.Err))
		}
	}
	if len(out) == 0 && len(lack) == 0 {
		lack = append(lack, fmt.Sprintf("no guest matches %+v", f))
	}
	if len(lack) > 0 {
		msg := fmt.Sprintf("MISSING real dumps: %s\n  generate them with: %s   (cache: %s)",
			strings.Join(lack, "; "), GenerateCommand, CacheDir())
		switch {
		case os.Getenv("KWALK_REQUIRE_DUMPS") == "1":
			t.Fatal(msg)
		case len(out) == 0:
			t.Skip("SKIP: " + msg)
		default:
			// Test what is there, and say loudly what is not.
			t.Log("PARTIAL: " + msg)
		}
	}
	return out
}

// RequireOne is Require for a single kernel and guest.
func RequireOne(t testing.TB, kernel, guest string) *Dump {
	t.Helper()
	ds := Require(t, Filter{Kernel: kernel, Guest: guest})
	return ds[0]
}
