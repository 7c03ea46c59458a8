// Package fuzzlimit bounds how long go test -fuzz spends minimizing each
// new input, for the packages with fuzz targets:
//
//	func TestMain(m *testing.M) { fuzzlimit.Main(m) }
//
// The fuzzer minimizes every input that finds new coverage before it goes
// on, for up to -fuzzminimizetime (default 60 s), and the minimizer is
// quadratic in the length of an argument: one input of a few KiB held a
// single worker for most of a 20 s run (FuzzKallsymsDecode: 3 execs in
// 20 s, then 116,000 once minimization ended; FuzzXArray 2,769). Main sets
// -fuzzminimizetime to Runs executions unless the command line gives it;
// crashers are minimized within the same bound (give -fuzzminimizetime 60s
// to shrink one further).
package fuzzlimit

import (
	"flag"
	"os"
	"strconv"
	"testing"
)

// Runs is the default minimization budget, in executions of the target.
const Runs = 2000

// Main parses the test flags, sets -test.fuzzminimizetime to Runs
// executions unless it was given, and runs the tests.
func Main(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "test.fuzzminimizetime" {
			given = true
		}
	})
	if !given {
		if err := flag.Set("test.fuzzminimizetime", strconv.Itoa(Runs)+"x"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
