package waitkind

// keptValue is a value MemoExact kept, and whether computing it met pages
// the dump lacks.
type keptValue[T any] struct {
	v      T
	missed bool
}

// MemoExact is c.Memo for a value read from memory that each of many
// waits uses (a lock's description, a file lock's holders): computed once
// per analysis, unless computing it met pages the dump lacks — it is then
// computed again for each wait, which so counts those pages as before.
func MemoExact[T any](c Context, key any, fn func() T) T {
	p := c.Prog()
	missed := func() uint64 {
		if p.Dump == nil {
			return 0
		}
		return p.Dump.MissedReads()
	}
	first := false
	k := c.Memo(key, func() any {
		first = true
		m0 := missed()
		v := fn()
		return keptValue[T]{v, missed() != m0}
	}).(keptValue[T])
	if k.missed && !first {
		return fn()
	}
	return k.v
}
