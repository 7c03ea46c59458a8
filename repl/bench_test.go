package repl

import (
	"context"
	"io"
	"testing"
)

// BenchmarkDecodeTaskStruct decodes and renders init_task (about 10 KB of
// nested structs) from the real dump: the cost of "task" and "struct
// task_struct ADDR".
func BenchmarkDecodeTaskStruct(b *testing.B) {
	prog := openRealDump(b)
	o, err := prog.Variable("init_task")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		n := DecodeObject(o)
		if n.Err != "" {
			b.Fatal(n.Err)
		}
		if err := (ObjectResult{Type: "struct task_struct", Value: n}).WriteText(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompleteSymbol completes a symbol prefix over the real dump's
// ~87k kallsyms names (one TAB).
func BenchmarkCompleteSymbol(b *testing.B) {
	prog := openRealDump(b)
	s := NewSession(prog, NewDefaultRegistry(), io.Discard, io.Discard)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, c := s.Complete(ctx, "dis mutex_lo"); len(c) == 0 {
			b.Fatal("no completions")
		}
	}
}

// BenchmarkCompleteMember completes a member path of a struct type.
func BenchmarkCompleteMember(b *testing.B) {
	prog := openRealDump(b)
	s := NewSession(prog, NewDefaultRegistry(), io.Discard, io.Discard)
	ctx := context.Background()
	for b.Loop() {
		if _, c := s.Complete(ctx, "struct task_struct.se.v"); len(c) == 0 {
			b.Fatal("no completions")
		}
	}
}

// BenchmarkCompleteType completes a struct name over the BTF type names.
func BenchmarkCompleteType(b *testing.B) {
	prog := openRealDump(b)
	s := NewSession(prog, NewDefaultRegistry(), io.Discard, io.Discard)
	ctx := context.Background()
	for b.Loop() {
		if _, c := s.Complete(ctx, "struct task_s"); len(c) == 0 {
			b.Fatal("no completions")
		}
	}
}
