package waitkind

import "github.com/kwalk/kwalk/symbols"

// BaseName is symbols.BaseName: a function's name without compiler
// suffixes (".constprop.0", ".isra.N", ".part.N", ".cold", ".llvm.N").
func BaseName(sym string) string { return symbols.BaseName(sym) }

// Frames is a set of kernel function names that mark a wait. It matches
// symbols modulo compiler suffixes (BaseName): the one place where frame
// names are compared.
type Frames map[string]bool

// NewFrames makes a Frames from function names.
func NewFrames(names ...string) Frames {
	f := make(Frames, len(names))
	for _, n := range names {
		f[BaseName(n)] = true
	}
	return f
}

// Match reports whether sym (a frame's or a return address's symbol) is
// one of the set's functions.
func (f Frames) Match(sym string) bool {
	return len(f) > 0 && f[BaseName(sym)]
}

// Union returns a set with the functions of f and all of others.
func (f Frames) Union(others ...Frames) Frames {
	out := make(Frames, len(f))
	for n := range f {
		out[n] = true
	}
	for _, o := range others {
		for n := range o {
			out[n] = true
		}
	}
	return out
}
