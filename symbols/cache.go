package symbols

import "sync"

// typeCache memoises name → type lookups; sources may be slow (DWARF).
type typeCache struct {
	mu sync.Mutex
	m  map[string]typeCacheEntry
}

type typeCacheEntry struct {
	t   *Type
	err error
}

func newTypeCache() *typeCache { return &typeCache{m: make(map[string]typeCacheEntry)} }

func (c *typeCache) lookup(name string, f func(string) (*Type, error)) (*Type, error) {
	c.mu.Lock()
	e, ok := c.m[name]
	c.mu.Unlock()
	if ok {
		return e.t, e.err
	}
	t, err := f(name)
	c.mu.Lock()
	c.m[name] = typeCacheEntry{t, err}
	c.mu.Unlock()
	return t, err
}
