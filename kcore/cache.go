package kcore

import (
	"sync"
	"sync/atomic"
)

// DefaultCacheBytes is the default bound of the decoded-page cache.
const DefaultCacheBytes = 64 << 20

const cacheShards = 16

// pageCache is a bounded LRU of decoded pages keyed by page frame number,
// sharded to keep lock hold times short under concurrent readers. Cached
// pages are never modified or reused, so a reader may copy from a page after
// the lock is dropped even if it is evicted meanwhile.
type pageCache struct {
	shards   [cacheShards]cacheShard
	pageSize int
	hits     atomic.Uint64
	misses   atomic.Uint64
	evicts   atomic.Uint64
}

type cacheShard struct {
	mu    sync.Mutex
	m     map[uint64]*cacheEntry
	head  cacheEntry // sentinel: head.next is most recent
	limit int        // pages
}

type cacheEntry struct {
	pfn        uint64
	data       []byte
	prev, next *cacheEntry
}

// newPageCache bounds the cache to maxBytes (at least one page per shard).
func newPageCache(maxBytes, pageSize int) *pageCache {
	if maxBytes <= 0 {
		maxBytes = DefaultCacheBytes
	}
	c := &pageCache{pageSize: pageSize}
	per := max(1, maxBytes/pageSize/cacheShards)
	for i := range c.shards {
		s := &c.shards[i]
		s.m = make(map[uint64]*cacheEntry)
		s.head.next, s.head.prev = &s.head, &s.head
		s.limit = per
	}
	return c
}

func (c *pageCache) shard(pfn uint64) *cacheShard {
	// Spread neighbouring pages over shards.
	return &c.shards[(pfn^pfn>>4)%cacheShards]
}

func (c *pageCache) get(pfn uint64) []byte {
	s := c.shard(pfn)
	s.mu.Lock()
	var data []byte
	if e := s.m[pfn]; e != nil {
		s.unlink(e)
		s.pushFront(e)
		data = e.data
	}
	s.mu.Unlock()
	if data == nil {
		c.misses.Add(1)
		return nil
	}
	c.hits.Add(1)
	return data
}

func (c *pageCache) put(pfn uint64, data []byte) {
	s := c.shard(pfn)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[pfn]; e != nil {
		// Another reader decoded the same page meanwhile; keep its
		// copy, which readers may be using.
		s.unlink(e)
		s.pushFront(e)
		return
	}
	for len(s.m) >= s.limit {
		old := s.head.prev
		s.unlink(old)
		delete(s.m, old.pfn)
		c.evicts.Add(1)
	}
	e := &cacheEntry{pfn: pfn, data: data}
	s.m[pfn] = e
	s.pushFront(e)
}

func (s *cacheShard) unlink(e *cacheEntry) {
	e.prev.next = e.next
	e.next.prev = e.prev
}

func (s *cacheShard) pushFront(e *cacheEntry) {
	e.prev = &s.head
	e.next = s.head.next
	s.head.next.prev = e
	s.head.next = e
}

// CacheStats describes the decoded-page cache.
type CacheStats struct {
	Pages     int    // pages held now
	Bytes     int    // bytes held now
	MaxBytes  int    // the bound
	Hits      uint64 // lookups served from the cache
	Misses    uint64 // lookups that had to read and decode
	Evictions uint64
}

func (c *pageCache) stats() CacheStats {
	st := CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evicts.Load()}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		st.Pages += len(s.m)
		st.MaxBytes += s.limit * c.pageSize
		s.mu.Unlock()
	}
	st.Bytes = st.Pages * c.pageSize
	return st
}
