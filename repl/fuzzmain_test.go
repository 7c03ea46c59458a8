package repl

import (
	"testing"

	"github.com/kwalk/kwalk/internal/fuzzlimit"
)

// TestMain bounds the fuzzer's minimization of new inputs (see fuzzlimit).
func TestMain(m *testing.M) { fuzzlimit.Main(m) }
