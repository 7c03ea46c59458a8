package kwalk

import (
	"errors"

	"github.com/kwalk/kwalk/symbols"
)

// FrameVarsAt lets bt -v find variable locations through the chain (the
// DWARF source knows them, BTF does not).
func (c *chainTypes) FrameVarsAt(addr uint64) ([]symbols.FrameScope, error) {
	for _, s := range []symbols.TypeSource{c.first, c.second} {
		if fl, ok := s.(symbols.FrameVarLocator); ok {
			return fl.FrameVarsAt(addr)
		}
	}
	return nil, errNoVarInfo
}

// CalleeSavedAt delegates to the DWARF source of the chain.
func (c *chainTypes) CalleeSavedAt(addr uint64) (map[int]int64, map[int]bool, bool) {
	for _, s := range []symbols.TypeSource{c.first, c.second} {
		if fl, ok := s.(symbols.FrameVarLocator); ok {
			return fl.CalleeSavedAt(addr)
		}
	}
	return nil, nil, false
}

var errNoVarInfo = errors.New("no DWARF variable information (give a vmlinux with debug info)")
