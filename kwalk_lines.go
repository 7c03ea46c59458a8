package kwalk

import (
	"errors"

	"github.com/kwalk/kwalk/symbols"
)

// LineForAddr makes a chain of type sources a symbols.LineLocator when one
// of its sources has line tables (DWARF), for bt -l.
func (c *chainTypes) LineForAddr(addr uint64) (string, int, []symbols.InlinedFrame, error) {
	for _, s := range []symbols.TypeSource{c.first, c.second} {
		if ll, ok := s.(symbols.LineLocator); ok {
			return ll.LineForAddr(addr)
		}
	}
	return "", 0, nil, errors.New("no line tables loaded")
}
