package main

import (
	"context"
	"fmt"
	"io"

	"github.com/kwalk/kwalk/repl"
	"github.com/kwalk/kwalk/symbols"
)

func runScript(ctx context.Context, prog *symbols.Program, inv invocation, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "kwalk run: not implemented yet")
	return repl.ExitFailed
}
