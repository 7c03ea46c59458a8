package symbols

// nameIndex finds a table's symbols by name: a hash map to the first symbol
// of each name and a chain through the rest in address order. Building it
// costs a third of sorting ~10^5 kernel names.
type nameIndex struct {
	slots map[string]nameSlot
	next  []int32 // next[i]: the next symbol (in table order) named as i, or -1
}

// nameSlot is where a name's symbols are.
type nameSlot struct {
	head   int32 // the first symbol of that name in table order
	lookup int32 // what Lookup answers: the first global, else the first
}

func buildNameIndex(syms []Symbol) *nameIndex {
	ix := &nameIndex{slots: make(map[string]nameSlot, len(syms)), next: make([]int32, len(syms))}
	// Backwards, so that each chain runs in table order and the symbol seen
	// last is the first.
	for i := len(syms) - 1; i >= 0; i-- {
		name := syms[i].Name
		s, ok := ix.slots[name]
		if !ok {
			ix.next[i] = -1
			s.lookup = int32(i)
		} else {
			ix.next[i] = s.head
			if syms[i].isGlobal() || !syms[s.lookup].isGlobal() {
				s.lookup = int32(i)
			}
		}
		s.head = int32(i)
		ix.slots[name] = s
	}
	return ix
}

// lookup returns the index of the symbol Lookup answers for name.
func (ix *nameIndex) lookup(name string) (int, bool) {
	s, ok := ix.slots[name]
	return int(s.lookup), ok
}

// all returns the indices of the symbols called name: globals, then
// locals, each in table order.
func (ix *nameIndex) all(syms []Symbol, name string) []int {
	s, ok := ix.slots[name]
	if !ok {
		return nil
	}
	var out []int
	for _, global := range []bool{true, false} {
		for i := s.head; i >= 0; i = ix.next[i] {
			if syms[i].isGlobal() == global {
				out = append(out, int(i))
			}
		}
	}
	return out
}
