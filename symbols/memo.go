package symbols

import "sync"

// memo holds values derived once per Program by layers above (the ORC
// tables of the unwinder, feature structs of walkers).
type memo struct {
	mu sync.Mutex
	m  map[any]*memoEntry
}

type memoEntry struct {
	once sync.Once
	v    any
	err  error
}

// Memo returns the value build computes for key, computing it at most once
// per Program (concurrent callers wait for the first). Keys should be
// unexported types of the calling package, like context keys, so packages
// cannot collide. A build error is remembered too.
func (p *Program) Memo(key any, build func() (any, error)) (any, error) {
	p.memo.mu.Lock()
	if p.memo.m == nil {
		p.memo.m = make(map[any]*memoEntry)
	}
	e, ok := p.memo.m[key]
	if !ok {
		e = &memoEntry{}
		p.memo.m[key] = e
	}
	p.memo.mu.Unlock()
	e.once.Do(func() { e.v, e.err = build() })
	return e.v, e.err
}
