package main

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"

	"github.com/kwalk/kwalk/repl"
	"github.com/kwalk/kwalk/repl/scriptsyms"
	"github.com/kwalk/kwalk/symbols"
	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
)

// scriptEntry is the function a script defines to get the opened kernel.
const scriptEntry = "Main"

// A script is a Go file in package main, interpreted by yaegi with the
// standard library and kwalk's packages (repl/scriptsyms) available. It
// either defines
//
//	func Main(prog *symbols.Program, args []string) error
//
// and kwalk calls it with the opened kernel (the dump given, else the live
// one) and the arguments after the dump; or it defines func main() and
// opens what it wants itself (os.Args are the script, the dump and the
// arguments).
func runScript(ctx context.Context, inv invocation, stdout, stderr io.Writer) int {
	path := inv.words[0]
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "kwalk run:", err)
		return repl.ExitNoInput
	}
	hasMain, err := declaresFunc(path, src, scriptEntry)
	if err != nil {
		fmt.Fprintln(stderr, "kwalk run:", err)
		return repl.ExitUsage
	}
	args := inv.words[1:]
	osArgs := []string{path}
	if inv.dump != "" {
		osArgs = append(osArgs, inv.dump)
	}
	osArgs = append(osArgs, args...)
	i := interp.New(interp.Options{Stdout: stdout, Stderr: stderr, Args: osArgs, Env: os.Environ()})
	if err := i.Use(stdlib.Symbols); err != nil {
		fmt.Fprintln(stderr, "kwalk run: loading the standard library:", err)
		return repl.ExitFailed
	}
	if err := i.Use(scriptsyms.Symbols); err != nil {
		fmt.Fprintln(stderr, "kwalk run: loading kwalk's packages:", err)
		return repl.ExitFailed
	}
	var prog *symbols.Program
	if hasMain {
		if prog, err = openProgram(ctx, inv, stderr); err != nil {
			fmt.Fprintln(stderr, "kwalk:", err)
			return repl.ExitNoInput
		}
		warn(prog, stderr)
	}
	// Evaluating the file runs func main when it has one.
	if _, err := i.EvalWithContext(ctx, string(src)); err != nil {
		return scriptError(stderr, path, err)
	}
	if !hasMain {
		return repl.ExitOK
	}
	v, err := i.EvalWithContext(ctx, "main."+scriptEntry)
	if err != nil {
		return scriptError(stderr, path, err)
	}
	fn, ok := v.Interface().(func(*symbols.Program, []string) error)
	if !ok {
		fmt.Fprintf(stderr, "kwalk run: %s: %s has type %s, want func(*symbols.Program, []string) error\n", path, scriptEntry, v.Type())
		return repl.ExitUsage
	}
	if err := callScript(fn, prog, args); err != nil {
		fmt.Fprintf(stderr, "kwalk run: %s: %v\n", path, err)
		return repl.ExitFailed
	}
	return repl.ExitOK
}

// callScript calls the script's Main, turning a panic into an error.
func callScript(fn func(*symbols.Program, []string) error, prog *symbols.Program, args []string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn(prog, args)
}

func scriptError(stderr io.Writer, path string, err error) int {
	fmt.Fprintf(stderr, "kwalk run: %s: %v\n", path, err)
	var p interp.Panic
	if errors.As(err, &p) {
		return repl.ExitFailed
	}
	if errors.Is(err, context.Canceled) {
		return repl.ExitInterrupted
	}
	return repl.ExitFailed
}

// declaresFunc reports whether the Go file declares a top-level function
// name (not a method).
func declaresFunc(path string, src []byte, name string) (bool, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.SkipObjectResolution)
	if err != nil {
		return false, err
	}
	if f.Name.Name != "main" {
		return false, fmt.Errorf("%s: package %s, a script must be package main", path, f.Name.Name)
	}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == name {
			return true, nil
		}
	}
	return false, nil
}
